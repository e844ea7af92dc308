//! Connection URLs: building one for a test's database, masking passwords in
//! messages, and naming databases after tests.

use std::fmt::Write as _;

use tokio_postgres::Config;
use tokio_postgres::config::{Host, SslMode};

/// `dba_test_` plus the 64-bit FNV-1a hash of `test_path` in 16 hex digits.
///
/// Deterministic (the next run of a test finds and replaces its leftover),
/// well under PostgreSQL's 63-byte identifier limit, and a valid lowercase
/// bare identifier.
pub(crate) fn db_name(test_path: &str) -> String {
    let hash = test_path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("dba_test_{hash:016x}")
}

/// Quotes an SQL identifier (`"` doubled).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Renders `config` as a `postgresql://` URL pointing at `dbname`.
///
/// Keeps user, password, every host (TCP or Unix socket directory,
/// percent-encoded) with its port, and the options that change behaviour:
/// `sslmode`, `options`, `application_name` and `connect_timeout`.
pub(crate) fn build_url(config: &Config, dbname: &str) -> String {
    let mut url = String::from("postgresql://");
    if let Some(user) = config.get_user() {
        url.push_str(&encode(user));
        if let Some(password) = config.get_password() {
            url.push(':');
            url.push_str(&encode(&String::from_utf8_lossy(password)));
        }
        url.push('@');
    }

    let ports = config.get_ports();
    let port_for = |i: usize| match ports {
        [] => None,
        [one] => Some(*one),
        many => many.get(i).copied(),
    };
    let hosts: Vec<String> = if config.get_hosts().is_empty() {
        // `hostaddr` alone is allowed; use the addresses as hosts.
        config
            .get_hostaddrs()
            .iter()
            .map(|addr| match addr {
                std::net::IpAddr::V4(v4) => v4.to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            })
            .collect()
    } else {
        config
            .get_hosts()
            .iter()
            .map(|host| match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                Host::Tcp(name) => encode(name),
                Host::Unix(path) => encode(&path.to_string_lossy()),
            })
            .collect()
    };
    let netloc: Vec<String> = hosts
        .into_iter()
        .enumerate()
        .map(|(i, host)| match port_for(i) {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
        .collect();
    url.push_str(&netloc.join(","));
    url.push('/');
    url.push_str(&encode(dbname));

    let mut params = Vec::new();
    match config.get_ssl_mode() {
        SslMode::Disable => params.push("sslmode=disable".to_owned()),
        SslMode::Require => params.push("sslmode=require".to_owned()),
        _ => {} // prefer is the default
    }
    if let Some(options) = config.get_options() {
        params.push(format!("options={}", encode(options)));
    }
    if let Some(name) = config.get_application_name() {
        params.push(format!("application_name={}", encode(name)));
    }
    if let Some(timeout) = config.get_connect_timeout() {
        params.push(format!("connect_timeout={}", timeout.as_secs().max(1)));
    }
    if !params.is_empty() {
        url.push('?');
        url.push_str(&params.join("&"));
    }
    url
}

/// Replaces the password in a connection string with `***`, for messages.
///
/// Handles URLs (`postgresql://user:secret@host/db`) and key=value strings
/// (`password=secret`, quoted or not).
pub(crate) fn mask_password(conn: &str) -> String {
    if let Some(scheme_end) = conn.find("://") {
        let rest_start = scheme_end + 3;
        let rest = &conn[rest_start..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &conn[..rest_start],
                    &userinfo[..colon],
                    &conn[rest_start + at..]
                );
            }
        }
        return conn.to_owned();
    }
    let Some(start) = conn.find("password") else {
        return conn.to_owned();
    };
    let after_key = &conn[start + "password".len()..];
    let Some(eq) = after_key.find('=') else {
        return conn.to_owned();
    };
    if !after_key[..eq].trim().is_empty() {
        return conn.to_owned();
    }
    let value_start = start + "password".len() + eq + 1;
    let value = conn[value_start..].trim_start();
    let skipped = conn.len() - value_start - value.len();
    let value_len = if let Some(quoted) = value.strip_prefix('\'') {
        // Ends at the first unescaped quote.
        let mut escaped = false;
        let mut end = quoted.len();
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '\'' => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        1 + end
    } else {
        value.find(char::is_whitespace).unwrap_or(value.len())
    };
    let end = value_start + skipped + value_len;
    format!("{}***{}", &conn[..value_start + skipped], &conn[end..])
}
