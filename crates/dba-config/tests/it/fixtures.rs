use std::path::{Path, PathBuf};

use dba_config::{Config, Connection, MapEnv, PoolerMode, Provider, Resolver};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn the_original_file_loads_and_resolves_unchanged() {
    let path = fixture("original.toml");
    let config = Config::load_with_env(&path, &MapEnv::new()).unwrap();
    assert!(config.warnings().is_empty());
    assert_eq!(config.profile_names(), ["local", "supabase"]);
    assert_eq!(config.schema_file(), fixture("schema.sql"));
    assert_eq!(config.backup_schema(), Some(fixture("backup-schema.json")));
    assert_eq!(config.user_id_env(), Some("APP_USER_ID"));

    let resolved = Resolver::new()
        .with_env(MapEnv::new())
        .lock_dir(fixture("no-lock-here"))
        .profile(Some("supabase"))
        .resolve(Some(&config))
        .unwrap();
    assert_eq!(resolved.provider, Provider::Supabase);
    assert_eq!(resolved.description, "Supabase production");
    let Connection::Postgres(pg) = &resolved.connection else {
        panic!("expected postgres")
    };
    assert!(pg.conninfo.expose().contains("password='p@ss/w:rd'"));
    assert_eq!(pg.pooler, PoolerMode::Transaction);
}

#[test]
fn a_typo_is_an_error_naming_the_missing_key_and_the_unknown_one() {
    let path = fixture("typo.toml");
    let err = Config::load_with_env(&path, &MapEnv::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:11: [profiles.dev] has no `url` (the connection URL or key=value string); unknown keys in it: \"urll\"",
            path.display()
        )
    );
}
