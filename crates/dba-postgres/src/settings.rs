//! Connection settings: the URL or libpq key=value string, pool sizing, timeouts and the statement mode.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use dba_core::{Error, Result};

use crate::tls::SslMode;

/// How statements are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatementMode {
    /// [`Unnamed`](StatementMode::Unnamed) behind a transaction-mode pooler (port 6543, or `pgbouncer=true`
    /// in the URL), [`Cached`](StatementMode::Cached) otherwise.
    #[default]
    Auto,
    /// Named prepared statements cached per connection: parse once, then bind and execute.
    Cached,
    /// One unnamed statement per query (Parse, Bind and Execute in one round trip). Works through
    /// PgBouncer and Supavisor in transaction mode, where named statements break.
    Unnamed,
}

impl FromStr for StatementMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<StatementMode> {
        match s {
            "auto" => Ok(StatementMode::Auto),
            "cached" | "session" => Ok(StatementMode::Cached),
            "unnamed" | "transaction" => Ok(StatementMode::Unnamed),
            other => Err(Error::invalid_input(format!(
                "unknown statement mode {other:?}; expected auto, cached (session) or unnamed (transaction)"
            ))),
        }
    }
}

/// Pool and connection options; [`Default`] gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Most connections the pool opens (default 10).
    pub pool_size: usize,
    /// Connect timeout when the URL sets none (default 5 s).
    pub connect_timeout: Duration,
    /// How long a caller waits for a free pooled connection (default 30 s).
    pub wait_timeout: Option<Duration>,
    /// How long the health check on checkout may take (default 5 s).
    pub recycle_timeout: Option<Duration>,
    /// Connections older than this are closed instead of reused (default 30 min).
    pub max_lifetime: Option<Duration>,
    /// A pooled connection idle at least this long is checked with a round trip before it is handed out
    /// (default 500 ms, as HikariCP does); busier connections are checked only for a closed socket.
    pub health_check_after_idle: Duration,
    /// Server-side `statement_timeout` for every connection (default none). Not applied behind a
    /// transaction-mode pooler ([`StatementMode::Unnamed`]), which refuses session settings at startup.
    pub statement_timeout: Option<Duration>,
    /// Named or unnamed statements (default auto).
    pub statement_mode: StatementMode,
    /// Schema put first on the `search_path` of every connection (default the server's). Not applied behind a
    /// transaction-mode pooler ([`StatementMode::Unnamed`]); qualify table names there (`schema.table`).
    pub schema: Option<String>,
    /// TLS mode overriding the connection string's `sslmode` (default: the string's, else `prefer`).
    pub ssl_mode: Option<crate::tls::SslMode>,
    /// Root certificates overriding the connection string's `sslrootcert`.
    pub ssl_root_cert: Option<PathBuf>,
    /// How many single-statement calls may share one pooled connection at once, their statements
    /// pipelined (default 1: each call has a connection of its own). With 2 or more, the adapter's calls
    /// that run one statement outside a transaction (selects, counts, updates, deletes, and inserts and
    /// upserts of one statement, with their `_one`, `_first`, `_many` and `_returning` forms) join the
    /// busiest connection already carrying fewer than this many calls, and take another from the pool
    /// only when every one in use is full; once the pool has none left, the least busy is shared beyond
    /// the depth rather than waited for (when none is open, the call waits as usual), and while another
    /// caller waits for a connection of the full pool, calls go to the busiest so the others drain. On
    /// two cores, 16 tasks selecting by key made 1.3 to 1.5 times the calls per second on two connections
    /// of eight calls each as on sixteen connections of one (see docs/benchmarks.md).
    ///
    /// The price is head-of-line waiting: a call answers only after the calls sent before it on its
    /// connection, so one slow statement delays the fast ones behind it; keep it at 1 where calls
    /// differ widely in length. A statement waiting for a row lock holds up its connection too: a task
    /// whose transaction holds that lock and which waits, before committing, for a call queued behind
    /// the statement is never answered. Where transactions and pipelined calls write the same rows, set
    /// [`statement_timeout`](Self::statement_timeout). Transactions, streams, `execute`, `query`, and
    /// writes of several statements or by `COPY` always have a connection of their own. Applies only
    /// with [`StatementMode::Cached`] (a direct connection): behind a transaction-mode pooler each call
    /// keeps its own connection.
    pub pipeline_depth: usize,
}

impl Default for PostgresOptions {
    fn default() -> PostgresOptions {
        PostgresOptions {
            pool_size: 10,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Some(Duration::from_secs(30)),
            recycle_timeout: Some(Duration::from_secs(5)),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            health_check_after_idle: Duration::from_millis(500),
            statement_timeout: None,
            statement_mode: StatementMode::Auto,
            schema: None,
            ssl_mode: None,
            ssl_root_cert: None,
            pipeline_depth: 1,
        }
    }
}

/// A parsed connection string: what tokio-postgres understands plus the TLS and pooler settings it does
/// not. Its `Debug` never shows the password.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) ssl_mode: SslMode,
    pub(crate) root_cert: Option<PathBuf>,
    pub(crate) pooler_hint: bool,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .field("ssl_mode", &self.ssl_mode)
            .finish_non_exhaustive()
    }
}

/// Parameters tokio-postgres does not accept, handled here instead.
const OWN_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "pgbouncer",
    "sslcert",
    "sslkey",
    "sslnegotiation",
];

impl Target {
    /// Parses a `postgres://` / `postgresql://` URL (also the original's `postgresql+asyncpg://`) or a
    /// libpq key=value string. Errors never echo the password.
    pub(crate) fn parse(conn: &str) -> Result<Target> {
        let conn = conn.trim();
        let (rest, own) = if let Some(pos) = conn.find("://") {
            let scheme = &conn[..pos];
            if !matches!(
                scheme,
                "postgres" | "postgresql" | "postgresql+asyncpg" | "postgres+asyncpg"
            ) {
                return Err(Error::invalid_input(format!(
                    "unsupported URL scheme {scheme:?}; expected postgres:// or postgresql://"
                )));
            }
            split_url(&format!("postgresql{}", &conn[pos..]))
        } else {
            split_keyvalue(conn)?
        };
        let config = tokio_postgres::Config::from_str(&rest).map_err(|e| {
            Error::invalid_input(format!("invalid connection string {}: {e}", redact(conn)))
        })?;
        let mut target = Target {
            config,
            ssl_mode: SslMode::Prefer,
            root_cert: None,
            pooler_hint: false,
        };
        for (key, value) in own {
            match key.as_str() {
                "sslmode" => target.ssl_mode = SslMode::parse(&value)?,
                "sslrootcert" => target.root_cert = Some(PathBuf::from(value)),
                "pgbouncer" => target.pooler_hint = value == "true" || value == "1",
                // Client certificates are not supported yet; refusing beats silently ignoring them.
                other => {
                    return Err(Error::invalid_input(format!(
                        "connection parameter {other} is not supported"
                    )));
                }
            }
        }
        if target.config.get_ports().contains(&6543) {
            target.pooler_hint = true;
        }
        Ok(target)
    }
}

/// Splits our own query parameters off a URL.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut keep = Vec::new();
    let mut own = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if OWN_PARAMS.contains(&k) {
            own.push((k.to_owned(), percent_decode(v)));
        } else {
            keep.push(pair);
        }
    }
    let rest = if keep.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", keep.join("&"))
    };
    (rest, own)
}

/// Splits our own parameters off a libpq key=value string.
fn split_keyvalue(conn: &str) -> Result<(String, Vec<(String, String)>)> {
    let mut keep = Vec::new();
    let mut own = Vec::new();
    for (key, raw, value) in keyvalue_tokens(conn)? {
        if OWN_PARAMS.contains(&key.as_str()) {
            own.push((key, value));
        } else {
            keep.push(format!("{key}={raw}"));
        }
    }
    Ok((keep.join(" "), own))
}

/// Tokenizes a libpq key=value string into (key, raw value as written, unescaped value), honouring
/// single quotes and backslash escapes.
fn keyvalue_tokens(conn: &str) -> Result<Vec<(String, String, String)>> {
    let mut tokens = Vec::new();
    let mut chars = conn.chars().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_ws(&mut chars);
        if chars.peek().is_none() {
            return Ok(tokens);
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        skip_ws(&mut chars);
        if chars.next() != Some('=') {
            return Err(Error::invalid_input(format!(
                "invalid connection string: expected '=' after {key:?}"
            )));
        }
        skip_ws(&mut chars);
        let quoted = chars.next_if_eq(&'\'').is_some();
        let mut raw = String::from(if quoted { "'" } else { "" });
        let mut value = String::new();
        loop {
            let c = match chars.peek() {
                None if quoted => {
                    return Err(Error::invalid_input(
                        "invalid connection string: unterminated quote",
                    ));
                }
                None => break,
                Some(c) if !quoted && c.is_whitespace() => break,
                Some(&c) => c,
            };
            chars.next();
            raw.push(c);
            match c {
                '\\' => {
                    let next = chars.next().unwrap_or('\\');
                    raw.push(next);
                    value.push(next);
                }
                '\'' if quoted => break,
                c => value.push(c),
            }
        }
        tokens.push((key, raw, value));
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The connection string with its password replaced by `***`, for messages.
pub fn redact(conn: &str) -> String {
    if let Some(pos) = conn.find("://") {
        let after = &conn[pos + 3..];
        let authority_end = after.find(['/', '?']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &conn[..pos + 3],
                    &userinfo[..colon],
                    &after[at..]
                );
            }
        }
        return conn.to_owned();
    }
    match keyvalue_tokens(conn) {
        Ok(tokens) => tokens
            .into_iter()
            .map(|(k, raw, _)| {
                if k == "password" {
                    format!("{k}=***")
                } else {
                    format!("{k}={raw}")
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "<unparseable connection string>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_keyvalue_strings_parse() {
        let t = Target::parse(
            "postgres://u:p%40ss@db.example.com:6543/app?sslmode=verify-full&application_name=x",
        )
        .unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert!(t.pooler_hint);
        assert_eq!(t.config.get_dbname(), Some("app"));
        assert_eq!(t.config.get_password(), Some(&b"p@ss"[..]));
        let t = Target::parse(
            "host=localhost user=postgres password='a b\\'c' sslmode=require sslrootcert=/x.pem",
        )
        .unwrap();
        assert_eq!(t.ssl_mode, SslMode::Require);
        assert_eq!(t.root_cert, Some(PathBuf::from("/x.pem")));
        assert_eq!(t.config.get_password(), Some(&b"a b'c"[..]));
        assert!(Target::parse("postgresql+asyncpg://u@h/db").is_ok());
    }

    #[test]
    fn bad_strings_are_refused_without_the_password() {
        let err = Target::parse("mysql://u:S3cr3t@h/db").unwrap_err();
        assert!(
            err.to_string().contains("unsupported URL scheme \"mysql\""),
            "{err}"
        );
        let err = Target::parse("postgresql://u:S3cr3t@h:notaport/db").unwrap_err();
        assert!(!err.to_string().contains("S3cr3t"), "{err}");
        assert!(Target::parse("postgresql://u@h/db?sslmode=sometimes").is_err());
        assert!(Target::parse("host=h password='open").is_err());
    }

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(
            redact("postgresql://u:S3cr3t@h:5432/db"),
            "postgresql://u:***@h:5432/db"
        );
        assert_eq!(
            redact("host=h password=S3cr3t user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(
            redact("host=h password='S3 cr\\'3t' user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(redact("postgresql://u@h/db"), "postgresql://u@h/db");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let t = Target::parse("postgresql://u:S3cr3t@h/db").unwrap();
        assert!(!format!("{t:?}").contains("S3cr3t"));
    }
}
