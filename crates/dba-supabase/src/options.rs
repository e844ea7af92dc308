//! Settings of a [`SupabaseAdapter`](crate::SupabaseAdapter) beyond its URL and API key.

use std::fmt;
use std::time::Duration;

/// Settings of a [`SupabaseAdapter`](crate::SupabaseAdapter).
///
/// Build it from [`SupabaseOptions::default`] and the chaining setters:
///
/// ```
/// use std::time::Duration;
/// use dba_supabase::SupabaseOptions;
///
/// let options = SupabaseOptions::default()
///     .schema("app")
///     .request_timeout(Duration::from_secs(10))
///     .max_rows(1000);
/// assert_eq!(options.page_size, 1000);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SupabaseOptions {
    /// The schema for unqualified table names, sent as `Accept-Profile` (reads) and `Content-Profile`
    /// (writes). `None` leaves it to the server (its first exposed schema, `public` on Supabase). A
    /// qualified name such as `app.items` always uses its own schema.
    pub schema: Option<String>,
    /// The longest one HTTP request may take, response included (default 30 s). A read that pages makes
    /// several requests, each with this limit.
    pub request_timeout: Duration,
    /// The longest opening a connection may take (default 10 s).
    pub connect_timeout: Duration,
    /// Rows asked for per request when reading (default 1,000, Supabase's default cap). Reads page past
    /// it transparently.
    pub page_size: u64,
    /// The server's `max-rows` setting ("Max rows" in Supabase's API settings), when known. With it, a
    /// page shorter than asked ends a read at once; without it (the default) a short page is confirmed by
    /// one more request, so a server cap lower than `page_size` can never truncate a read silently. Never
    /// set it higher than the server's real setting.
    pub max_rows: Option<u64>,
    /// A user's access token (JWT) sent as `Authorization: Bearer …` in place of the API key, so
    /// row-level security applies as that user. The API key is still sent as `apikey`.
    pub access_token: Option<String>,
}

impl Default for SupabaseOptions {
    fn default() -> SupabaseOptions {
        SupabaseOptions {
            schema: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            page_size: 1000,
            max_rows: None,
            access_token: None,
        }
    }
}

impl SupabaseOptions {
    /// Sets [`schema`](SupabaseOptions::schema).
    pub fn schema(mut self, schema: impl Into<String>) -> SupabaseOptions {
        self.schema = Some(schema.into());
        self
    }

    /// Sets [`request_timeout`](SupabaseOptions::request_timeout).
    pub fn request_timeout(mut self, timeout: Duration) -> SupabaseOptions {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](SupabaseOptions::connect_timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> SupabaseOptions {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`page_size`](SupabaseOptions::page_size) (at least 1).
    pub fn page_size(mut self, rows: u64) -> SupabaseOptions {
        self.page_size = rows.max(1);
        self
    }

    /// Sets [`max_rows`](SupabaseOptions::max_rows) (at least 1).
    pub fn max_rows(mut self, rows: u64) -> SupabaseOptions {
        self.max_rows = Some(rows.max(1));
        self
    }

    /// Sets [`access_token`](SupabaseOptions::access_token).
    pub fn access_token(mut self, token: impl Into<String>) -> SupabaseOptions {
        self.access_token = Some(token.into());
        self
    }
}

impl fmt::Debug for SupabaseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupabaseOptions")
            .field("schema", &self.schema)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("page_size", &self.page_size)
            .field("max_rows", &self.max_rows)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}
