//! libpq connection strings: `postgres://` URLs and `key=value` strings, parsed into one parameter map and
//! rendered back as a `key='value'` string that tokio-postgres accepts.

use std::collections::BTreeMap;

/// Connection parameters by libpq keyword. A later value for the same keyword wins, as in libpq.
pub(crate) type Params = BTreeMap<String, String>;

/// Keywords tokio-postgres' `Config::from_str` understands, in the order they are rendered.
pub(crate) const DRIVER_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslnegotiation",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "tcp_user_timeout",
];

/// What kind of string a connection string is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Form<'a> {
    /// `postgres://` or `postgresql://`.
    Url,
    /// `http://` or `https://` (a Supabase project URL).
    Http,
    /// Some other `scheme://`.
    OtherScheme(&'a str),
    /// libpq `key=value` pairs (or an empty string).
    KeyValue,
}

/// Classifies a connection string by its scheme.
pub(crate) fn form(text: &str) -> Form<'_> {
    let trimmed = text.trim_start();
    match trimmed.find("://") {
        Some(end) => {
            let scheme = &trimmed[..end];
            match scheme.to_ascii_lowercase().as_str() {
                "postgres" | "postgresql" => Form::Url,
                "http" | "https" => Form::Http,
                _ if scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) =>
                {
                    Form::OtherScheme(scheme)
                }
                _ => Form::KeyValue,
            }
        }
        None => Form::KeyValue,
    }
}

/// Parses a `postgres://` or `postgresql://` URL:
/// `scheme://[user[:password]@][host[:port][,host[:port]...]][/dbname][?key=value&...]`.
///
/// Errors are reasons that never quote the input.
pub(crate) fn parse_url(text: &str) -> Result<Params, String> {
    let text = text.trim();
    let body = match text.find("://") {
        Some(end) => &text[end + 3..],
        None => return Err("expected postgres:// or postgresql://".to_owned()),
    };
    let (before_query, query) = match body.find('?') {
        Some(q) => (&body[..q], Some(&body[q + 1..])),
        None => (body, None),
    };
    let mut params = Params::new();
    // The user info ends at the last `@` before the query, so an unencoded `/` or `@` in a password is still
    // read as part of the password (and never as a host or port that an error message might show).
    let rest = match before_query.rfind('@') {
        Some(at) => {
            let userinfo = &before_query[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                params.insert("user".into(), decode(user, "the user name")?);
            }
            if let Some(password) = password {
                params.insert("password".into(), decode(password, "the password")?);
            }
            &before_query[at + 1..]
        }
        None => before_query,
    };
    let (hostspec, dbname) = match rest.find('/') {
        Some(slash) => (&rest[..slash], Some(&rest[slash + 1..])),
        None => (rest, None),
    };
    if !hostspec.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for spec in hostspec.split(',') {
            let (host, port) = split_host_port(spec)?;
            hosts.push(decode(host, "a host name")?);
            ports.push(port.to_owned());
        }
        if hosts.iter().any(|h| !h.is_empty()) {
            params.insert("host".into(), hosts.join(","));
        }
        if ports.iter().any(|p| !p.is_empty()) {
            params.insert("port".into(), ports.join(","));
        }
    }
    if let Some(dbname) = dbname.filter(|d| !d.is_empty()) {
        params.insert("dbname".into(), decode(dbname, "the database name")?);
    }
    if let Some(query) = query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| "a query parameter has no \"=\"".to_owned())?;
            let key = decode(key, "a query parameter name")?;
            let value = decode(value, "a query parameter value")?;
            // libpq accepts the JDBC spelling `ssl=true`.
            if key == "ssl" && value == "true" {
                params.insert("sslmode".into(), "require".into());
            } else {
                params.insert(key, value);
            }
        }
    }
    Ok(params)
}

fn split_host_port(spec: &str) -> Result<(&str, &str), String> {
    let (host, port) = if let Some(inner) = spec.strip_prefix('[') {
        let close = inner
            .find(']')
            .ok_or_else(|| "an IPv6 host has no closing \"]\"".to_owned())?;
        let after = &inner[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => port,
            None if after.is_empty() => "",
            None => return Err("unexpected text after an IPv6 host".to_owned()),
        };
        (&inner[..close], port)
    } else {
        match spec.split_once(':') {
            Some((host, port)) => (host, port),
            None => (spec, ""),
        }
    };
    if !port.is_empty() {
        check_port(port)?;
    }
    Ok((host, port))
}

/// Checks one port number (1 to 65535). The error does not quote the value: with a mistyped URL the "port" may
/// be a fragment of a password.
pub(crate) fn check_port(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err("invalid port: expected a number from 1 to 65535".to_owned()),
    }
}

fn decode(text: &str, what: &str) -> Result<String, String> {
    percent_decode(text).ok_or_else(|| format!("invalid percent-encoding in {what}"))
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a libpq `key = value ...` string into pairs. Values may be single-quoted; a backslash escapes the
/// next character in both forms.
pub(crate) fn tokenize_conninfo(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        if key.is_empty() {
            if chars.peek().is_some() {
                return Err("a \"=\" has no keyword before it".to_owned());
            }
            return Ok(pairs);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err("a keyword has no \"=\" after it".to_owned());
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(format!("the quoted value of `{key}` is not terminated")),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// Parses a libpq `key=value` string into parameters.
pub(crate) fn parse_conninfo(text: &str) -> Result<Params, String> {
    Ok(tokenize_conninfo(text)?.into_iter().collect())
}

/// Single-quotes a value for a `key='value'` string, escaping `\` and `'`.
pub(crate) fn quote_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Renders the driver keywords of `params` as `key='value'` pairs in a fixed order.
pub(crate) fn render(params: &Params) -> String {
    DRIVER_KEYS
        .iter()
        .filter_map(|key| {
            params
                .get(*key)
                .map(|v| format!("{key}={}", quote_value(v)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
