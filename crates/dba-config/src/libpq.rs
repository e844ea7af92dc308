//! libpq's defaults for what a connection string leaves open: service files, `PG*` variables and `.pgpass`.
//!
//! Order, as in libpq: values in the connection string win; then the `service` section's values; then the
//! environment variables; then `.pgpass` for a still-missing password.

use std::fs;
use std::path::{Path, PathBuf};

use crate::conninfo::Params;
use crate::env::Env;
use crate::error::{ConfigError, Result};

/// Connection keywords filled from environment variables when unset.
const ENV_DEFAULTS: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("hostaddr", "PGHOSTADDR"),
    ("port", "PGPORT"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("dbname", "PGDATABASE"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("options", "PGOPTIONS"),
];

/// Fills unset keywords from the service named by `service=` or `PGSERVICE`, then from the `PG*` variables.
pub(crate) fn apply_defaults(params: &mut Params, env: &dyn Env) -> Result<()> {
    let service = params
        .remove("service")
        .or_else(|| env.non_empty("PGSERVICE"));
    if let Some(name) = service {
        for (key, value) in lookup_service(&name, env)? {
            params.entry(key).or_insert(value);
        }
    }
    for (key, var) in ENV_DEFAULTS {
        if !params.contains_key(*key)
            && let Some(value) = env.non_empty(var)
        {
            params.insert((*key).to_owned(), value);
        }
    }
    Ok(())
}

fn home(env: &dyn Env) -> Option<PathBuf> {
    env.non_empty("HOME")
        .or_else(|| env.non_empty("USERPROFILE"))
        .map(PathBuf::from)
}

/// The service files searched, in order: `PGSERVICEFILE` (or `~/.pg_service.conf`), then
/// `$PGSYSCONFDIR/pg_service.conf`.
fn service_files(env: &dyn Env) -> Vec<PathBuf> {
    let mut files = Vec::new();
    match env.non_empty("PGSERVICEFILE") {
        Some(file) => files.push(PathBuf::from(file)),
        None => files.extend(home(env).map(|h| h.join(".pg_service.conf"))),
    }
    files.extend(
        env.non_empty("PGSYSCONFDIR")
            .map(|d| Path::new(&d).join("pg_service.conf")),
    );
    files
}

/// The keywords of service `name`, from the first service file that defines it.
pub(crate) fn lookup_service(name: &str, env: &dyn Env) -> Result<Params> {
    let mut searched = Vec::new();
    for file in service_files(env) {
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(ConfigError::Io {
                    action: "read",
                    path: file,
                    source,
                });
            }
        };
        if let Some(params) = parse_service_file(&text, name, &file)? {
            return Ok(params);
        }
        searched.push(file);
    }
    Err(ConfigError::ServiceNotFound {
        name: name.to_owned(),
        searched,
    })
}

/// Reads the `[name]` section of a pg_service.conf text; `None` when the section is absent.
pub(crate) fn parse_service_file(text: &str, name: &str, path: &Path) -> Result<Option<Params>> {
    let mut found: Option<Params> = None;
    let mut in_section = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let section = section
                .strip_suffix(']')
                .ok_or_else(|| ConfigError::Invalid {
                    location: format!("{}:{}", path.display(), index + 1),
                    message: "syntax error in service file: a section header has no closing \"]\""
                        .to_owned(),
                })?;
            if found.is_some() {
                break;
            }
            in_section = section.trim() == name;
            if in_section {
                found = Some(Params::new());
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError::Invalid {
                location: format!("{}:{}", path.display(), index + 1),
                message: "syntax error in service file: expected key=value".to_owned(),
            });
        };
        if in_section {
            let key = key.trim();
            if key == "service" {
                return Err(ConfigError::Invalid {
                    location: format!("{}:{}", path.display(), index + 1),
                    message: "nested service specifications are not supported".to_owned(),
                });
            }
            if let Some(params) = found.as_mut() {
                params.insert(key.to_owned(), value.trim().to_owned());
            }
        }
    }
    Ok(found)
}

/// The `.pgpass` file: `PGPASSFILE`, else `~/.pgpass`.
fn pgpass_path(env: &dyn Env) -> Option<PathBuf> {
    env.non_empty("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| home(env).map(|h| h.join(".pgpass")))
}

/// The password `.pgpass` holds for the first host of `params`, if any.
///
/// The file is read only when it is a regular file that group and others cannot access (mode 0600 or
/// stricter), as libpq requires; otherwise a warning is added and it is ignored.
pub(crate) fn pgpass_password(
    params: &Params,
    env: &dyn Env,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let path = pgpass_path(env)?;
    let meta = fs::metadata(&path).ok()?;
    if !meta.is_file() {
        warnings.push(format!(
            "password file {} is not a plain file",
            path.display()
        ));
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            warnings.push(format!(
                "password file {} has group or world access and is ignored; permissions should be u=rw (0600) or less",
                path.display()
            ));
            return None;
        }
    }
    let text = fs::read_to_string(&path).ok()?;
    let first = |key: &str, default: &str| {
        params
            .get(key)
            .and_then(|v| v.split(',').next())
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_owned()
    };
    let mut host = first("host", "localhost");
    // libpq matches a Unix-socket directory against "localhost".
    if host.starts_with('/') {
        host = "localhost".to_owned();
    }
    let port = first("port", "5432");
    let user = first("user", "");
    let dbname = params
        .get("dbname")
        .cloned()
        .unwrap_or_else(|| user.clone());
    pgpass_lookup(&text, [&host, &port, &dbname, &user])
}

/// The password of the first `.pgpass` line matching host, port, database and user; `*` matches anything and
/// `\:` / `\\` escape.
pub(crate) fn pgpass_lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = fields
            .iter()
            .zip(wanted)
            .all(|(field, want)| field == "*" || field == want);
        if matches {
            return Some(fields[4].clone());
        }
    }
    None
}

/// Splits on unescaped `:` into at most five fields (the password keeps any further `:`), unescaping `\x`.
fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields
                .last_mut()
                .into_iter()
                .for_each(|f| f.extend(chars.next())),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().into_iter().for_each(|f| f.push(c)),
        }
    }
    fields
}

#[cfg(test)]
mod tests;
