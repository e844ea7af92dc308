//! PostgREST responses and transport failures mapped to the core error kinds.
//!
//! The mapping, in order:
//! - A body whose `code` is a SQLSTATE (PostgreSQL's own error, passed on by PostgREST) becomes
//!   [`Error::database`] with the same [`DbErrorInfo`] the Postgres backend builds, so `23505` is a
//!   [`ErrorKind::UniqueViolation`] on both backends, `42501` (permission denied, row-level security) a
//!   [`ErrorKind::Database`], `57014` a [`ErrorKind::Timeout`], and so on.
//! - PostgREST's own `PGRST…` codes: a missing table (`PGRST205`, or `PGRST200`-series schema-cache misses)
//!   is reported with SQLSTATE `42P01` and a missing column (`PGRST204`) with `42703`, as PostgreSQL would;
//!   a schema that is not exposed (`PGRST106`) with `3F000`; a singular response with no row (`PGRST116`)
//!   is [`ErrorKind::NotFound`]; request-parsing errors (`PGRST1xx`) are [`ErrorKind::InvalidInput`]; JWT
//!   errors (`PGRST3xx`) are authentication failures; `PGRST003` (no pooled connection in time) is
//!   [`ErrorKind::Timeout`] and the other `PGRST0xx` (PostgREST cannot reach PostgreSQL) are
//!   [`ErrorKind::Connection`].
//! - **Authentication** (HTTP 401, or 403 without a SQLSTATE, e.g. the gateway's "Invalid API key") is
//!   [`ErrorKind::Connection`]: like a wrong password, nothing will work until the profile is fixed. A
//!   permission error PostgreSQL raised for one table (`42501`) stays a [`ErrorKind::Database`] error.
//! - Other statuses without a usable body: 404 → `42P01` [`ErrorKind::Database`], 406 → `NotFound`, 408 and
//!   504 → [`ErrorKind::Timeout`], 502, 503 and redirects (never followed, so the key cannot leak to another
//!   host) → [`ErrorKind::Connection`], 4xx → `InvalidInput`, 5xx →
//!   `Database`.
//! - Transport failures: a request timeout is [`ErrorKind::Timeout`]; anything else (DNS, refused
//!   connection, TLS, a dropped connection) is [`ErrorKind::Connection`].

use std::time::Duration;

use dba_core::{DbErrorInfo, Error, ErrorKind, Value};

/// The error for a response with a non-success `status` and its `body`.
pub(crate) fn from_response(status: u16, body: &[u8]) -> Error {
    let parsed: Option<serde_json::Map<String, Value>> = serde_json::from_slice(body).ok();
    let field = |name: &str| -> Option<String> {
        parsed
            .as_ref()
            .and_then(|m| m.get(name))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
    };
    let code = field("code").unwrap_or_default();
    let message = field("message")
        .or_else(|| field("msg"))
        .or_else(|| field("error"))
        .unwrap_or_else(|| fallback_message(status, body));
    let mut info = DbErrorInfo::new(code.clone(), message.clone());
    info.detail = field("details");
    info.hint = field("hint");

    if is_sqlstate(&code) {
        return Error::database(info);
    }
    if let Some(pgrst) = code.strip_prefix("PGRST") {
        return from_pgrst(pgrst, status, info);
    }
    from_status(status, info)
}

/// A SQLSTATE is five characters of digits and upper-case letters.
fn is_sqlstate(code: &str) -> bool {
    code.len() == 5
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

fn from_pgrst(number: &str, status: u16, info: DbErrorInfo) -> Error {
    let code = format!("PGRST{number}");
    let with_sqlstate = |sqlstate: &str, mut info: DbErrorInfo| {
        info.code = sqlstate.to_owned();
        Error::database(info).context(format!("PostgREST {code}"))
    };
    match number {
        "205" | "200" | "201" | "202" => with_sqlstate("42P01", info),
        "204" => with_sqlstate("42703", info),
        "106" => with_sqlstate("3F000", info),
        "116" => plain(ErrorKind::NotFound, &code, info),
        "003" => plain(ErrorKind::Timeout, &code, info),
        n if n.starts_with('0') => plain(ErrorKind::Connection, &code, info),
        n if n.starts_with('1') => plain(ErrorKind::InvalidInput, &code, info),
        n if n.starts_with('3') => auth(status, &code, info),
        _ => from_status(status, info),
    }
}

fn from_status(status: u16, info: DbErrorInfo) -> Error {
    let code = format!("HTTP {status}");
    match status {
        401 | 403 => auth(status, &code, info),
        404 => {
            let mut info = info;
            info.code = "42P01".to_owned();
            Error::database(info).context("HTTP 404")
        }
        300..=399 => plain(
            ErrorKind::Connection,
            &format!("{code}, a redirect; use the final URL"),
            info,
        ),
        406 => plain(ErrorKind::NotFound, &code, info),
        408 | 504 => plain(ErrorKind::Timeout, &code, info),
        502 | 503 => plain(ErrorKind::Connection, &code, info),
        400..=499 => plain(ErrorKind::InvalidInput, &code, info),
        _ => plain(ErrorKind::Database, &code, info),
    }
}

/// An authentication failure: the API key or access token was refused.
fn auth(status: u16, code: &str, info: DbErrorInfo) -> Error {
    let mut message = format!(
        "authentication failed (HTTP {status}, {code}): {}",
        info.message
    );
    if let Some(hint) = &info.hint {
        message.push_str(&format!(" ({hint})"));
    }
    Error::new(ErrorKind::Connection, message)
}

fn plain(kind: ErrorKind, code: &str, info: DbErrorInfo) -> Error {
    let mut message = format!("{} ({code})", info.message);
    if let Some(detail) = &info.detail {
        message = format!("{}: {detail} ({code})", info.message);
    }
    Error::new(kind, message)
}

fn fallback_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("the server answered HTTP {status}")
    } else {
        // An HTML error page from a proxy can be long; the start says enough.
        text.chars().take(200).collect()
    }
}

/// The error for a request that got no response.
pub(crate) fn from_transport(e: reqwest::Error, timeout: Duration) -> Error {
    if e.is_timeout() {
        return Error::new(
            ErrorKind::Timeout,
            format!("no response from PostgREST within {timeout:?}"),
        )
        .with_source(e);
    }
    let message = if e.is_connect() {
        "cannot connect to PostgREST"
    } else if e.is_builder() {
        "cannot build the request to PostgREST"
    } else {
        "the request to PostgREST failed"
    };
    Error::connection(message, e)
}

#[cfg(test)]
mod tests;
