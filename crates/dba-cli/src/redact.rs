//! A last line of defence against printing secrets: every password and API key the CLI resolves is
//! registered here, and every line it prints (text, JSON, errors, `-v`) has them replaced by `***`.
//!
//! The libraries already keep secrets out of their messages; this catches a driver error or a server
//! message that echoes one back.

use std::sync::Mutex;

use dba::config::{Connection, Resolved};

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers `secret` so that it is never printed.
pub(crate) fn register(secret: &str) {
    // Very short values would blank out ordinary words; the libraries' own redaction covers them.
    if secret.len() < 4 {
        return;
    }
    if let Ok(mut secrets) = SECRETS.lock()
        && !secrets.iter().any(|s| s == secret)
    {
        secrets.push(secret.to_owned());
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Registers the password or API key of a resolved profile.
pub(crate) fn register_resolved(resolved: &Resolved) {
    match &resolved.connection {
        Connection::Postgres(pg) => {
            let standby = pg.read_replica.as_deref();
            for settings in std::iter::once(pg).chain(standby) {
                if let Some(password) = conninfo_value(settings.conninfo.expose(), "password") {
                    register(&password);
                }
            }
        }
        Connection::Supabase(sb) => register(sb.key.expose()),
        _ => {}
    }
}

/// `text` with every registered secret replaced by `***`.
pub(crate) fn clean(text: &str) -> String {
    let Ok(secrets) = SECRETS.lock() else {
        return text.to_owned();
    };
    let mut out = text.to_owned();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// The value of `key` in a libpq `key='value'` string (quotes and `\` escapes undone).
fn conninfo_value(conninfo: &str, key: &str) -> Option<String> {
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        chars.peek()?;
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return None;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    value.extend(chars.next());
                } else {
                    value.push(c);
                    chars.next();
                }
            }
        }
        if name == key {
            return Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_and_bare_values() {
        let info = r"host='db' user=app password='it\'s s3cret' dbname='x'";
        assert_eq!(
            conninfo_value(info, "password").as_deref(),
            Some("it's s3cret")
        );
        assert_eq!(conninfo_value(info, "user").as_deref(), Some("app"));
        assert_eq!(conninfo_value(info, "port"), None);
    }

    #[test]
    fn replaces_registered_secrets() {
        register("hunter2-secret");
        assert_eq!(
            clean("login failed for hunter2-secret!"),
            "login failed for ***!"
        );
        register("ab");
        assert_eq!(clean("ab"), "ab");
    }
}
