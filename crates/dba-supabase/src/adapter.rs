//! `SupabaseAdapter`: its construction and the one place requests are sent.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dba_core::{Error, ErrorKind, Result, Row, TableName};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, Url};

use crate::errors;
use crate::options::SupabaseOptions;

/// Async CRUD over JSON rows on Supabase, through its REST API (PostgREST).
///
/// Cheap to clone: clones share one HTTP connection pool. No transactions and no raw SQL
/// ([`Capabilities::REST`](dba_core::Capabilities::REST)); every other call of the client trait works as
/// on the Postgres backend, and reads page past the server's row cap.
///
/// ```no_run
/// # async fn demo() -> dba_core::Result<()> {
/// use dba_core::{DatabaseClient, Filter, Query, json};
/// use dba_supabase::{SupabaseAdapter, SupabaseOptions};
///
/// let db = SupabaseAdapter::new(
///     "https://abcdefgh.supabase.co",
///     "service-role-or-anon-key",
///     SupabaseOptions::default(),
/// )?;
/// let row = json!({"name": "Widget", "price": "9.99"}).as_object().cloned().unwrap_or_default();
/// let created = db.insert("items", &row).await?;
/// let cheap = db
///     .select("items", &Query::new().filter(Filter::new().lt("price", 10)).order_by("price DESC"))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SupabaseAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    /// `https://<project>.supabase.co/rest/v1`, without a trailing slash.
    rest: Url,
    /// `apikey` and `Authorization`, both marked sensitive.
    headers: HeaderMap,
    schema: Option<String>,
    page_size: u64,
    max_rows: Option<u64>,
    request_timeout: Duration,
    closed: AtomicBool,
}

impl fmt::Debug for SupabaseAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupabaseAdapter")
            .field("url", &self.inner.rest.as_str())
            .field("schema", &self.inner.schema)
            .field("page_size", &self.inner.page_size)
            .field("max_rows", &self.inner.max_rows)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SupabaseAdapter {
    /// Builds an adapter for the project at `url` (`https://<project>.supabase.co`, or a PostgREST base
    /// URL ending in `/rest/v1`) with an API key (anon or service role). Nothing is sent until the first
    /// call; [`connect`](SupabaseAdapter::connect) also proves the server answers.
    ///
    /// The key is sent as `apikey` and, unless [`SupabaseOptions::access_token`] is set, as
    /// `Authorization: Bearer <key>`. It never appears in `Debug` output or in error messages.
    pub fn new(url: &str, key: &str, options: SupabaseOptions) -> Result<SupabaseAdapter> {
        let rest = rest_url(url)?;
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::invalid_input("the Supabase API key is empty"));
        }
        let mut headers = HeaderMap::new();
        headers.insert("apikey", secret_header(key, "the Supabase API key")?);
        let bearer = match &options.access_token {
            Some(token) => format!("Bearer {}", token.trim()),
            None => format!("Bearer {key}"),
        };
        headers.insert(
            reqwest::header::AUTHORIZATION,
            secret_header(&bearer, "the access token")?,
        );
        if let Some(schema) = &options.schema {
            profile_header(schema)?;
        }
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(rest.scheme() == "https")
            // A redirect could carry the `apikey` header to another host; PostgREST never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("dba/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::connection("cannot build the HTTP client", e))?;
        let page_size = options.page_size.max(1);
        Ok(SupabaseAdapter {
            inner: Arc::new(Inner {
                client,
                rest,
                headers,
                schema: options.schema,
                page_size: options
                    .max_rows
                    .map_or(page_size, |cap| page_size.min(cap.max(1))),
                max_rows: options.max_rows,
                request_timeout: options.request_timeout,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Builds an adapter with default options and proves the server answers and accepts the key.
    pub async fn connect(url: &str, key: &str) -> Result<SupabaseAdapter> {
        let adapter = SupabaseAdapter::new(url, key, SupabaseOptions::default())?;
        dba_core::DatabaseClient::test_connection(&adapter).await?;
        Ok(adapter)
    }

    /// The PostgREST base URL requests go to, e.g. `https://abcdefgh.supabase.co/rest/v1`.
    pub fn rest_url(&self) -> &str {
        self.inner.rest.as_str()
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::Connection,
                "the Supabase client is closed",
            ));
        }
        Ok(())
    }

    pub(crate) fn close_client(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    /// Rows per read request, and whether a shorter page may be taken as the end of the rows.
    pub(crate) fn paging(&self) -> (u64, bool) {
        (self.inner.page_size, self.inner.max_rows.is_some())
    }

    /// A postgrest request builder for `table`: its URL, the schema header and the key headers.
    pub(crate) fn builder(&self, table: &TableName) -> Result<postgrest::Builder> {
        let mut url = self.inner.rest.clone();
        url.path_segments_mut()
            .map_err(|()| Error::invalid_input("the Supabase URL cannot hold a table path"))?
            .push(table.name.as_str());
        let schema = match &table.schema {
            Some(schema) => Some(schema.as_str().to_owned()),
            None => self.inner.schema.clone(),
        };
        if let Some(schema) = &schema {
            // postgrest panics on a header value it cannot encode; refuse such a name first.
            profile_header(schema)?;
        }
        Ok(postgrest::Builder::new(
            url.as_str(),
            schema,
            self.inner.headers.clone(),
            self.inner.client.clone(),
        ))
    }

    /// Sends a request built by postgrest, adding what postgrest cannot say: extra query parameters
    /// (`limit`, `offset`, `columns`), a `Prefer` header replacing postgrest's own, and the HEAD method.
    /// A non-success status becomes the mapped error.
    pub(crate) async fn send(
        &self,
        builder: postgrest::Builder,
        req: Extra<'_>,
    ) -> Result<Response> {
        self.check_open()?;
        let mut request_builder = builder.build();
        if !req.query.is_empty() {
            request_builder = request_builder.query(req.query);
        }
        let mut request = request_builder.build().map_err(|e| {
            Error::invalid_input("cannot build the PostgREST request").with_source(e)
        })?;
        if let Some(prefer) = req.prefer {
            let value = HeaderValue::from_str(prefer)
                .map_err(|e| Error::invalid_input("invalid Prefer header").with_source(e))?;
            request
                .headers_mut()
                .insert(HeaderName::from_static("prefer"), value);
        }
        if req.head {
            *request.method_mut() = Method::HEAD;
        }
        let response = self
            .inner
            .client
            .execute(request)
            .await
            .map_err(|e| errors::from_transport(e, self.inner.request_timeout))?;
        check_status(response, self.inner.request_timeout).await
    }

    /// GETs the PostgREST root: proves the server answers and accepts the key.
    pub(crate) async fn ping(&self) -> Result<()> {
        self.check_open()?;
        let mut url = self.inner.rest.clone();
        url.set_path(&format!("{}/", self.inner.rest.path()));
        let response = self
            .inner
            .client
            .get(url)
            .headers(self.inner.headers.clone())
            .send()
            .await
            .map_err(|e| errors::from_transport(e, self.inner.request_timeout))?;
        let status = response.status().as_u16();
        // The root serves the OpenAPI description, which a project may withhold (403/404) from its
        // keys; any answer that is not an authentication failure or a server error proves the key works.
        if status == 401 || status >= 500 {
            let body = response.bytes().await.unwrap_or_default();
            return Err(errors::from_response(status, &body));
        }
        Ok(())
    }
}

/// What [`SupabaseAdapter::send`] adds to a postgrest request.
#[derive(Default)]
pub(crate) struct Extra<'a> {
    pub(crate) query: &'a [(&'a str, String)],
    pub(crate) prefer: Option<&'a str>,
    pub(crate) head: bool,
}

async fn check_status(response: Response, timeout: Duration) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| errors::from_transport(e, timeout))?;
    Err(errors::from_response(status.as_u16(), &body))
}

/// The rows of a JSON array response body.
pub(crate) async fn rows(response: Response, timeout: Duration) -> Result<Vec<Row>> {
    let body = response
        .bytes()
        .await
        .map_err(|e| errors::from_transport(e, timeout))?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!("PostgREST answered with something other than a JSON array of rows: {e}"),
        )
    })
}

impl SupabaseAdapter {
    pub(crate) fn timeout(&self) -> Duration {
        self.inner.request_timeout
    }
}

/// The total after the `/` of a `Content-Range` header (`0-24/3573458`, `*/7`); `None` when the server
/// did not count (`*`) or sent no header.
pub(crate) fn content_range_total(response: &Response) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    let (_, total) = value.rsplit_once('/')?;
    total.trim().parse().ok()
}

/// The PostgREST base URL for a project URL.
fn rest_url(url: &str) -> Result<Url> {
    let mut parsed = Url::parse(url.trim())
        .map_err(|e| Error::invalid_input(format!("the Supabase URL is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(Error::invalid_input(format!(
            "the Supabase URL must be http(s)://host[/…], got scheme {:?}",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid_input(
            "the Supabase URL must not hold credentials; pass the API key separately",
        ));
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    let path = parsed.path().trim_end_matches('/').to_owned();
    if path.ends_with("/rest/v1") {
        parsed.set_path(&path);
    } else {
        parsed.set_path(&format!("{path}/rest/v1"));
    }
    Ok(parsed)
}

fn secret_header(value: &str, what: &str) -> Result<HeaderValue> {
    // The error deliberately leaves out the value and the parser's message.
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        Error::invalid_input(format!(
            "{what} holds characters an HTTP header cannot carry"
        ))
    })?;
    header.set_sensitive(true);
    Ok(header)
}

fn profile_header(schema: &str) -> Result<()> {
    HeaderValue::from_str(schema).map(drop).map_err(|_| {
        Error::invalid_input(format!(
            "schema {schema:?} cannot be sent in a PostgREST profile header"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_urls_become_rest_urls() {
        for (given, rest) in [
            ("https://abc.supabase.co", "https://abc.supabase.co/rest/v1"),
            (
                "https://abc.supabase.co/",
                "https://abc.supabase.co/rest/v1",
            ),
            (
                "https://abc.supabase.co/rest/v1/",
                "https://abc.supabase.co/rest/v1",
            ),
            (
                "http://127.0.0.1:54321?x=1",
                "http://127.0.0.1:54321/rest/v1",
            ),
            (
                "https://proxy.example/pg/rest/v1",
                "https://proxy.example/pg/rest/v1",
            ),
        ] {
            assert_eq!(rest_url(given).unwrap().as_str(), rest, "{given}");
        }
        for bad in [
            "abc.supabase.co",
            "ftp://x",
            "https://user:pw@abc.supabase.co",
            "",
        ] {
            let err = rest_url(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }

    #[test]
    fn the_key_never_shows() {
        let key = "super-secret-key";
        let adapter = SupabaseAdapter::new(
            "https://abc.supabase.co",
            key,
            SupabaseOptions::default().access_token("user-jwt"),
        )
        .unwrap();
        let debug = format!(
            "{adapter:?} {:?}",
            SupabaseOptions::default().access_token("user-jwt")
        );
        assert!(
            !debug.contains(key) && !debug.contains("user-jwt"),
            "{debug}"
        );
        let err = SupabaseAdapter::new(
            "https://abc.supabase.co",
            "bad\nkey-secret",
            SupabaseOptions::default(),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("key-secret"), "{err}");
        assert!(!format!("{err:?}").contains("key-secret"), "{err:?}");
        assert_eq!(
            SupabaseAdapter::new("https://abc.supabase.co", " ", SupabaseOptions::default())
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn the_page_never_exceeds_the_server_cap() {
        let options = SupabaseOptions::default().page_size(5000).max_rows(1000);
        let adapter = SupabaseAdapter::new("https://abc.supabase.co", "k", options).unwrap();
        assert_eq!(adapter.paging(), (1000, true));
        let adapter =
            SupabaseAdapter::new("https://abc.supabase.co", "k", SupabaseOptions::default())
                .unwrap();
        assert_eq!(adapter.paging(), (1000, false));
    }
}
