//! Reading environment variables through a replaceable source.

use std::collections::BTreeMap;
use std::fmt;

/// A source of environment variables.
///
/// Resolution reads variables only through this trait, so tests can pass a [`MapEnv`] instead of mutating the
/// process environment (which is shared by tests running in parallel).
pub trait Env {
    /// The value of `name`, or `None` when unset or not valid Unicode.
    fn var(&self, name: &str) -> Option<String>;

    /// Like [`var`](Env::var), but an empty value counts as unset.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.var(name).filter(|v| !v.is_empty())
    }
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests and for embedding.
///
/// `Debug` lists the variable names only, never the values.
#[derive(Clone, Default)]
pub struct MapEnv {
    vars: BTreeMap<String, String>,
}

impl MapEnv {
    /// An empty environment.
    pub fn new() -> MapEnv {
        MapEnv::default()
    }

    /// Returns the environment with `name` set to `value`.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> MapEnv {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Sets `name` to `value`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> MapEnv {
        MapEnv {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

impl fmt::Debug for MapEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl<E: Env + ?Sized> Env for &E {
    fn var(&self, name: &str) -> Option<String> {
        (**self).var(name)
    }
}

/// Why `${VAR}` expansion failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExpandError {
    /// The named variable is unset or empty.
    Missing(String),
    /// A `${` has no closing `}`.
    Unterminated,
    /// `${}` names no variable.
    EmptyName,
}

/// Expands `${VAR}` in `raw`; `$${` is a literal `${`, and any other `$` is kept as is.
pub(crate) fn expand(raw: &str, env: &dyn Env) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').ok_or(ExpandError::Unterminated)?;
            let name = &tail[..end];
            if name.is_empty() {
                return Err(ExpandError::EmptyName);
            }
            let value = env
                .non_empty(name)
                .ok_or_else(|| ExpandError::Missing(name.to_owned()))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_variables_and_escapes() {
        let env = MapEnv::new().with("A", "1").with("B", "two");
        assert_eq!(expand("x${A}y${B}", &env), Ok("x1ytwo".to_owned()));
        assert_eq!(expand("$${A} $5 a$", &env), Ok("${A} $5 a$".to_owned()));
        assert_eq!(expand("", &env), Ok(String::new()));
    }

    #[test]
    fn reports_expansion_failures() {
        let env = MapEnv::new().with("EMPTY", "");
        assert_eq!(
            expand("${NOPE}", &env),
            Err(ExpandError::Missing("NOPE".to_owned()))
        );
        assert_eq!(
            expand("${EMPTY}", &env),
            Err(ExpandError::Missing("EMPTY".to_owned()))
        );
        assert_eq!(expand("a${B", &env), Err(ExpandError::Unterminated));
        assert_eq!(expand("${}", &env), Err(ExpandError::EmptyName));
    }

    #[test]
    fn map_env_debug_hides_values() {
        let env = MapEnv::new().with("PW", "S3cr3t!pw");
        assert_eq!(format!("{env:?}"), r#"{"PW"}"#);
    }
}
