//! Walking the spanned TOML tree of a `db.toml`, with positions for every message.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::Config;
use crate::conninfo::{self, Form};
use crate::env::{Env, ExpandError, expand};
use crate::error::{ConfigError, Result};
use crate::profile::{PoolerMode, Profile, Provider, SslMode, table_name};
use crate::secret::Secret;

type Key<'i> = Spanned<Cow<'i, str>>;
type Value<'i> = Spanned<DeValue<'i>>;

pub(crate) fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Config> {
    let root = DeTable::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let (line, column) = line_col(text, span.start);
        let mut message = e.message().to_owned();
        // The parser says only "duplicate key"; which key it is matters in a file of many profiles.
        let key = text.get(span).unwrap_or("").trim();
        if message == "duplicate key" && !key.is_empty() && !key.contains('\n') {
            message = format!("duplicate key `{key}`");
        }
        ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    })?;
    let mut walker = Walker {
        text,
        path,
        env,
        warnings: Vec::new(),
    };
    let mut config = Config {
        path: path.to_owned(),
        profiles: BTreeMap::new(),
        schema_file: "schema.sql".to_owned(),
        validate_on_connect: true,
        column_defs: None,
        backup_schema: None,
        sync_tables: None,
        user_id_env: None,
        warnings: Vec::new(),
    };
    for (key, value) in root.get_ref() {
        match key.get_ref().as_ref() {
            "profiles" => {
                for (name, table) in walker.table(key, value, "the top level")? {
                    let profile = walker.profile(name, table)?;
                    config.profiles.insert(profile.name.clone(), profile);
                }
            }
            "schema" => {
                for (k, v) in walker.table(key, value, "the top level")? {
                    let t = "[schema]";
                    match k.get_ref().as_ref() {
                        "file" => config.schema_file = walker.expanded(k, v, t)?,
                        "validate_on_connect" => {
                            config.validate_on_connect = walker.boolean(k, v, t)?
                        }
                        "column_defs" => config.column_defs = Some(walker.expanded(k, v, t)?),
                        "backup_schema" => config.backup_schema = Some(walker.expanded(k, v, t)?),
                        _ => walker.unknown(k, t),
                    }
                }
            }
            "sync" => {
                for (k, v) in walker.table(key, value, "the top level")? {
                    match k.get_ref().as_ref() {
                        "tables" => config.sync_tables = Some(walker.strings(k, v, "[sync]")?),
                        _ => walker.unknown(k, "[sync]"),
                    }
                }
            }
            "defaults" => {
                for (k, v) in walker.table(key, value, "the top level")? {
                    match k.get_ref().as_ref() {
                        "user_id_env" => {
                            config.user_id_env = Some(walker.string(k, v, "[defaults]")?)
                        }
                        _ => walker.unknown(k, "[defaults]"),
                    }
                }
            }
            _ if value.get_ref().is_table() => {
                let warning = format!(
                    "{}: unknown section [{}]",
                    walker.loc(key.span()),
                    key.get_ref()
                );
                walker.warnings.push((key.span().start, warning));
            }
            _ => walker.unknown(key, "the top level"),
        }
    }
    // Report in file order, not in the (alphabetical) order the tables were walked.
    walker.warnings.sort_by_key(|(offset, _)| *offset);
    config.warnings = walker.warnings.into_iter().map(|(_, w)| w).collect();
    Ok(config)
}

/// 1-based line and column (in characters) of byte `offset` in `text`, as an editor shows them: a byte order
/// mark at the start of the file is not counted.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_text = &before[line_start..];
    let line_text = if line_start == 0 {
        line_text.strip_prefix('\u{feff}').unwrap_or(line_text)
    } else {
        line_text
    };
    (line, line_text.chars().count() + 1)
}

struct Walker<'a> {
    text: &'a str,
    path: &'a Path,
    env: &'a dyn Env,
    /// Warnings with the byte offset they refer to.
    warnings: Vec<(usize, String)>,
}

impl<'a> Walker<'a> {
    fn loc(&self, span: Range<usize>) -> String {
        let (line, column) = line_col(self.text, span.start);
        format!("{}:{line}:{column}", self.path.display())
    }

    fn invalid(&self, span: Range<usize>, message: String) -> ConfigError {
        ConfigError::Invalid {
            location: self.loc(span),
            message,
        }
    }

    fn unknown(&mut self, key: &Key<'_>, table: &str) {
        let warning = format!(
            "{}: unknown key {:?} in {table}",
            self.loc(key.span()),
            key.get_ref()
        );
        self.warnings.push((key.span().start, warning));
    }

    fn wrong_type(
        &self,
        key: &Key<'_>,
        value: &Value<'_>,
        table: &str,
        expected: &str,
    ) -> ConfigError {
        self.invalid(
            value.span(),
            format!(
                "`{}` in {table} must be {expected}, found {}",
                key.get_ref(),
                value.get_ref().type_str()
            ),
        )
    }

    fn table<'v, 'i>(
        &self,
        key: &Key<'_>,
        value: &'v Value<'i>,
        parent: &str,
    ) -> Result<&'v DeTable<'i>> {
        value
            .get_ref()
            .as_table()
            .ok_or_else(|| self.wrong_type(key, value, parent, "a table"))
    }

    fn string(&self, key: &Key<'_>, value: &Value<'_>, table: &str) -> Result<String> {
        value
            .get_ref()
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.wrong_type(key, value, table, "a string"))
    }

    /// A string with `${VAR}` expanded now (for the sections, which every command needs).
    fn expanded(&self, key: &Key<'_>, value: &Value<'_>, table: &str) -> Result<String> {
        let raw = self.string(key, value, table)?;
        expand(&raw, self.env)
            .map_err(|e| expand_error(e, self.loc(value.span()), key.get_ref(), table))
    }

    fn boolean(&self, key: &Key<'_>, value: &Value<'_>, table: &str) -> Result<bool> {
        value
            .get_ref()
            .as_bool()
            .ok_or_else(|| self.wrong_type(key, value, table, "true or false"))
    }

    fn strings(&self, key: &Key<'_>, value: &Value<'_>, table: &str) -> Result<Vec<String>> {
        let wrong = || self.wrong_type(key, value, table, "an array of strings");
        let array = value.get_ref().as_array().ok_or_else(wrong)?;
        array
            .iter()
            .map(|item| {
                let raw = item.get_ref().as_str().ok_or_else(|| {
                    self.invalid(
                        item.span(),
                        format!(
                            "`{}` in {table} must be an array of strings, found a {} item",
                            key.get_ref(),
                            item.get_ref().type_str()
                        ),
                    )
                })?;
                expand(raw, self.env)
                    .map_err(|e| expand_error(e, self.loc(item.span()), key.get_ref(), table))
            })
            .collect()
    }

    fn keyword<T>(
        &self,
        key: &Key<'_>,
        value: &Value<'_>,
        table: &str,
        choices: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T> {
        let raw = self.string(key, value, table)?;
        parse(&raw).ok_or_else(|| {
            self.invalid(
                value.span(),
                format!(
                    "unknown {} {raw:?} in {table}; expected {choices}",
                    key.get_ref()
                ),
            )
        })
    }

    fn duration(&self, key: &Key<'_>, value: &Value<'_>, table: &str) -> Result<Duration> {
        let bad = || {
            self.invalid(
                value.span(),
                format!(
                    "`{}` in {table} must be whole seconds or a string like \"500ms\", \"30s\", \"5m\" or \"1h\"",
                    key.get_ref()
                ),
            )
        };
        match value.get_ref() {
            DeValue::Integer(i) => {
                let secs = u64::from_str_radix(i.as_str(), i.radix());
                secs.map(Duration::from_secs).map_err(|_| bad())
            }
            DeValue::String(s) => parse_duration(s).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// An integer from 1 to `max` (`pool_size`, `pipeline_depth`).
    fn count(&self, key: &Key<'_>, value: &Value<'_>, table: &str, max: u32) -> Result<u32> {
        let bad = || {
            self.invalid(
                value.span(),
                format!(
                    "`{}` in {table} must be an integer from 1 to {max}",
                    key.get_ref()
                ),
            )
        };
        let int = value.get_ref().as_integer().ok_or_else(bad)?;
        let n = u32::from_str_radix(int.as_str(), int.radix()).map_err(|_| bad())?;
        if (1..=max).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    }

    fn profile(&mut self, name_key: &Key<'_>, value: &Value<'_>) -> Result<Profile> {
        let name = name_key.get_ref().to_string();
        let t = table_name(&name);
        let table = self.table(name_key, value, "[profiles]")?;
        let mut profile = Profile {
            name,
            description: String::new(),
            provider: Provider::Postgres,
            url: String::new(),
            read_url: None,
            max_replica_lag: None,
            db_password: None,
            password_env: None,
            key: None,
            key_env: None,
            sslmode: None,
            sslrootcert: None,
            pool_size: None,
            pipeline_depth: None,
            connect_timeout: None,
            statement_timeout: None,
            pooler: None,
            schema: None,
        };
        let mut url = None;
        let mut read_url = None;
        let mut unknown = Vec::new();
        for (k, v) in table {
            match k.get_ref().as_ref() {
                "url" => url = Some((self.string(k, v, &t)?, v.span())),
                "read_url" => read_url = Some((self.string(k, v, &t)?, v.span())),
                "max_replica_lag" => profile.max_replica_lag = Some(self.duration(k, v, &t)?),
                "description" => profile.description = self.string(k, v, &t)?,
                "db_password" => profile.db_password = Some(Secret::new(self.string(k, v, &t)?)),
                "password_env" => profile.password_env = Some(self.string(k, v, &t)?),
                "provider" => {
                    profile.provider =
                        self.keyword(k, v, &t, "\"postgres\" or \"supabase\"", Provider::parse)?;
                }
                "key" => profile.key = Some(Secret::new(self.string(k, v, &t)?)),
                "key_env" => profile.key_env = Some(self.string(k, v, &t)?),
                "sslmode" => {
                    profile.sslmode = Some(self.keyword(
                        k,
                        v,
                        &t,
                        "disable, allow, prefer, require, verify-ca or verify-full",
                        SslMode::parse,
                    )?);
                }
                "sslrootcert" => profile.sslrootcert = Some(self.string(k, v, &t)?),
                "pool_size" => profile.pool_size = Some(self.count(k, v, &t, 1000)?),
                "pipeline_depth" => profile.pipeline_depth = Some(self.count(k, v, &t, 64)?),
                "connect_timeout" => profile.connect_timeout = Some(self.duration(k, v, &t)?),
                "statement_timeout" => profile.statement_timeout = Some(self.duration(k, v, &t)?),
                "pooler" => {
                    profile.pooler =
                        self.keyword(k, v, &t, "auto, session or transaction", |s| match s {
                            "auto" => Some(None),
                            "session" => Some(Some(PoolerMode::Session)),
                            "transaction" => Some(Some(PoolerMode::Transaction)),
                            _ => None,
                        })?;
                }
                "schema" => profile.schema = Some(self.string(k, v, &t)?),
                _ => {
                    unknown.push(format!("{:?}", k.get_ref()));
                    self.unknown(k, &t);
                }
            }
        }
        let here = self.loc(name_key.span());
        let (url, url_span) = url.ok_or_else(|| {
            // A typo such as `urll` is the usual cause, so name the unknown keys right here.
            let hint = if unknown.is_empty() {
                String::new()
            } else {
                format!("; unknown keys in it: {}", unknown.join(", "))
            };
            ConfigError::Invalid {
                location: here.clone(),
                message: format!("{t} has no `url` (the connection URL or key=value string){hint}"),
            }
        })?;
        profile.url = url;
        if profile.db_password.is_some() && profile.password_env.is_some() {
            return Err(ConfigError::Invalid {
                location: here,
                message: format!("{t} sets both `db_password` and `password_env`; keep one"),
            });
        }
        if profile.key.is_some() && profile.key_env.is_some() {
            return Err(ConfigError::Invalid {
                location: here,
                message: format!("{t} sets both `key` and `key_env`; keep one"),
            });
        }
        // A URL without variables can be checked now, so a typo shows up whichever profile is used.
        if !profile.url.contains("${") {
            let origin = format!("`url` of {t} at {}", self.loc(url_span));
            check_connection_string(&profile.url, profile.provider, &origin)?;
        }
        if let Some((read_url, span)) = read_url {
            // A standby is reached over the wire protocol, whatever the provider.
            if !read_url.contains("${") {
                let origin = format!("`read_url` of {t} at {}", self.loc(span.clone()));
                check_connection_string(&read_url, Provider::Postgres, &origin)?;
            }
            profile.read_url = Some(read_url);
        }
        Ok(profile)
    }
}

fn expand_error(e: ExpandError, location: String, key: &str, table: &str) -> ConfigError {
    match e {
        ExpandError::Missing(var) => ConfigError::MissingVariable {
            location,
            var,
            via: "used by",
            key: key.to_owned(),
            table: table.to_owned(),
        },
        ExpandError::Unterminated => ConfigError::Invalid {
            location,
            message: format!(
                "`{key}` in {table} has a `${{` without a closing `}}` (write `$${{` for a literal `${{`)"
            ),
        },
        ExpandError::EmptyName => ConfigError::Invalid {
            location,
            message: format!("`{key}` in {table} has an empty `${{}}`"),
        },
    }
}

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"5min"`, `"1h"` or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let millis = match s[digits..].trim() {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" | "min" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(millis))
}

/// Checks that a connection string has a scheme the provider accepts and parses; errors name `origin`.
pub(crate) fn check_connection_string(text: &str, provider: Provider, origin: &str) -> Result<()> {
    let url_error = |reason: String| ConfigError::Url {
        origin: origin.to_owned(),
        reason,
    };
    match conninfo::form(text) {
        Form::Url => conninfo::parse_url(text).map(drop).map_err(url_error),
        Form::KeyValue => conninfo::parse_conninfo(text).map(drop).map_err(url_error),
        Form::Http if provider == Provider::Supabase => Ok(()),
        Form::Http => Err(url_error(
            "an http(s) url needs provider = \"supabase\"; a postgres profile expects postgres://, \
             postgresql:// or key=value pairs"
                .to_owned(),
        )),
        Form::OtherScheme(scheme) => Err(url_error(format!(
            "unsupported scheme {scheme:?}; expected postgres://, postgresql:// or key=value pairs"
        ))),
    }
}
