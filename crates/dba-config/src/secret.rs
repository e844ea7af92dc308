//! Keeping passwords and API keys out of output.

use std::fmt;

/// A value that must not be printed: `Debug` and `Display` show `***`.
///
/// Read it with [`expose`](Secret::expose) only where the value is handed to a driver or client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The secret value itself.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Secret<T> {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Parameter names whose values are secrets, in URL query strings and key=value connection strings.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "apikey",
    "api_key",
    "key",
    "token",
    "access_token",
    "secret",
    "sslpassword",
];

fn is_secret_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    SECRET_KEYS.contains(&key.as_str())
}

/// Returns `url` with every secret replaced by `***`.
///
/// Handles `scheme://user:password@host/...` URLs (the password part of the user info, and query parameters such
/// as `password`, `apikey`, `key` or `token`) and libpq `key=value` strings (`password=...`, quoted or not).
/// Anything that cannot be parsed is cut off at the first secret-looking key, so a malformed string never leaks.
///
/// ```
/// assert_eq!(
///     dba_config::redact_url("postgresql://app:S3cr3t@db:5432/app?sslmode=require"),
///     "postgresql://app:***@db:5432/app?sslmode=require"
/// );
/// assert_eq!(dba_config::redact_url("host=db password='x y' user=app"), "host=db password=*** user=app");
/// ```
pub fn redact_url(url: &str) -> String {
    match url.find("://") {
        Some(scheme_end) => redact_uri(url, scheme_end + 3),
        None => redact_conninfo(url),
    }
}

fn redact_uri(url: &str, body_start: usize) -> String {
    let body = &url[body_start..];
    let (before_query, query) = match body.find('?') {
        Some(q) => (&body[..q], Some(&body[q + 1..])),
        None => (body, None),
    };
    let mut out = String::from(&url[..body_start]);
    // The user info ends at the last `@` before the query, so an unencoded `/` or `@` in a password stays hidden.
    match before_query.rfind('@') {
        Some(at) => {
            let userinfo = &before_query[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&before_query[at..]);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        let (query, fragment) = match query.find('#') {
            Some(h) => (&query[..h], Some(&query[h..])),
            None => (query, None),
        };
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _))
                    if is_secret_key(&crate::conninfo::percent_decode(k).unwrap_or_default()) =>
                {
                    format!("{k}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
        if let Some(fragment) = fragment {
            out.push_str(fragment);
        }
    }
    out
}

fn redact_conninfo(text: &str) -> String {
    match crate::conninfo::tokenize_conninfo(text) {
        Ok(pairs) => pairs
            .iter()
            .map(|(k, v)| {
                if is_secret_key(k) {
                    format!("{k}=***")
                } else if v.is_empty()
                    || v.chars()
                        .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
                {
                    format!("{k}={}", crate::conninfo::quote_value(v))
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => {
            // Unparseable: keep only the part before the first secret-looking key.
            let lower = text.to_ascii_lowercase();
            let cut = SECRET_KEYS
                .iter()
                .filter_map(|k| lower.find(k))
                .min()
                .unwrap_or(text.len());
            if cut < text.len() {
                format!("{}***", &text[..cut])
            } else {
                text.to_owned()
            }
        }
    }
}

/// Percent-encodes `value` like Python's `urllib.parse.quote(value, safe="")`: every byte except ASCII letters,
/// digits and `_.-~` becomes `%XX` (uppercase hex).
///
/// ```
/// assert_eq!(dba_config::percent_encode("p@ss/w:rd"), "p%40ss%2Fw%3Ard");
/// ```
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The literal placeholder the original tool (and Supabase's dashboard) puts where the password goes.
pub const PASSWORD_PLACEHOLDER: &str = "[YOUR-PASSWORD]";

/// The Python original's `resolve_url` rule: when `password` is non-empty and `url` contains
/// [`PASSWORD_PLACEHOLDER`], every occurrence is replaced by the [percent-encoded](percent_encode) password;
/// otherwise `url` is returned unchanged. A password already written in the URL is never overridden.
///
/// ```
/// let url = dba_config::apply_password_placeholder("postgresql://u:[YOUR-PASSWORD]@h/db", Some("p@ss/w:rd"));
/// assert_eq!(url, "postgresql://u:p%40ss%2Fw%3Ard@h/db");
/// ```
pub fn apply_password_placeholder(url: &str, password: Option<&str>) -> String {
    match password {
        Some(pw) if !pw.is_empty() && url.contains(PASSWORD_PLACEHOLDER) => {
            url.replace(PASSWORD_PLACEHOLDER, &percent_encode(pw))
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("S3cr3t!pw".to_owned());
        assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "S3cr3t!pw");
    }

    #[test]
    fn redacts_urls() {
        let cases = [
            ("postgres://u:S3cr3t!pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h/db", "postgres://h/db"),
            (
                "postgres://u:pa/ss@w@h:5432/db?x=1",
                "postgres://u:***@h:5432/db?x=1",
            ),
            (
                "postgres://h/db?password=S3cr3t&sslmode=require",
                "postgres://h/db?password=***&sslmode=require",
            ),
            (
                "https://x.supabase.co/rest?apikey=K3y#frag",
                "https://x.supabase.co/rest?apikey=***#frag",
            ),
            ("mysql://root:S3cr3t@h", "mysql://root:***@h"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn redacts_conninfo() {
        assert_eq!(
            redact_url("host=h password=S3cr3t user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(
            redact_url("host=h PASSWORD = 'S3 cr\\'et'"),
            "host=h PASSWORD=***"
        );
        assert_eq!(
            redact_url("host=h application_name='a b'"),
            "host=h application_name='a b'"
        );
        assert_eq!(redact_url("host=h password='S3cr3t"), "host=h ***");
        assert_eq!(redact_url("S3cr3t"), "S3cr3t");
    }

    #[test]
    fn encodes_like_python_quote() {
        assert_eq!(percent_encode("p@ss/w:rd"), "p%40ss%2Fw%3Ard");
        assert_eq!(percent_encode("a b!~_.-é"), "a%20b%21~_.-%C3%A9");
    }

    #[test]
    fn applies_the_placeholder_rule() {
        let url = "postgresql://u:[YOUR-PASSWORD]@h/[YOUR-PASSWORD]";
        assert_eq!(
            apply_password_placeholder(url, Some("p w")),
            "postgresql://u:p%20w@h/p%20w"
        );
        assert_eq!(apply_password_placeholder(url, None), url);
        assert_eq!(apply_password_placeholder(url, Some("")), url);
        assert_eq!(
            apply_password_placeholder("postgresql://u:x@h", Some("pw")),
            "postgresql://u:x@h"
        );
    }
}
