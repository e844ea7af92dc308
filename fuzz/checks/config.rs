// Shared by the cargo-fuzz target fuzz_targets/config.rs and the corpus regression test that runs in the
// normal test suite (see docs/testing.md, "Fuzzing"). Included with `include!`, so plain comments only.
//
// `dba_config::Config::from_str_with_env` on any db.toml text, then resolution of every profile and of
// the environment-selected profile or URL with `Resolver`, all against a fixed in-memory environment.

use std::path::Path;

use dba_config::{Config, Connection, MapEnv, Resolver, apply_password_placeholder, redact_url};

fn env() -> MapEnv {
    MapEnv::new()
        .with("DB_PASSWORD", "s3cr:et@/x")
        .with("SUPABASE_KEY", "key")
        .with("APP_USER_ID", "u1")
}

pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The text as a URL too: DATABASE_URL, --url and the redaction helpers take any string.
    let first = text.lines().next().unwrap_or_default();
    let _ = redact_url(first);
    let _ = apply_password_placeholder(first, Some("p@ss:w/rd"));
    let no_lock = Path::new("/nonexistent/dba-fuzz");
    let by_url = Resolver::new().with_env(env()).lock_dir(no_lock).url(Some(first));
    if let Ok(resolved) = by_url.resolve(None) {
        let _ = resolved.display_target();
        if let Connection::Postgres(pg) = &resolved.connection {
            let _ = pg.redacted();
        }
    }
    let Ok(config) = Config::from_str_with_env(text, Path::new("/fuzz/db.toml"), &env()) else {
        return;
    };
    let _ = config.warnings();
    let _ = (config.schema_file(), config.column_defs(), config.backup_schema());
    let _ = (config.sync_tables(), config.user_id_env(), config.validate_on_connect());
    let resolver = Resolver::new().with_env(env()).lock_dir(no_lock);
    for name in config.profile_names() {
        if let Ok(resolved) = resolver.resolve_profile(&config, &name) {
            let _ = resolved.display_target();
            if let Connection::Postgres(pg) = &resolved.connection {
                let _ = pg.redacted();
            }
            let _ = format!("{resolved:?}");
        }
    }
    let by_env = Resolver::new()
        .with_env(env().with("DB_PROFILE", first).with("DATABASE_URL", first))
        .lock_dir(no_lock);
    let _ = by_env.resolve(Some(&config));
}
