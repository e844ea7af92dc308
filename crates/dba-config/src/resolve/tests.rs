use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::test_support::TempDir;
use crate::{
    Config, ConfigError, Connection, MapEnv, PoolerMode, PostgresSettings, Provider, Resolved,
    Resolver, Source, SslMode, SupabaseSettings, write_lock,
};

const CONFIG: &str = r#"
[profiles.dev]
url = "postgresql://app@localhost:5432/app"
description = "local"

[profiles.prod]
provider = "supabase"
url = "postgresql://postgres.abcd:[YOUR-PASSWORD]@aws-0.pooler.supabase.com:6543/postgres"
db_password = "p@ss/w:rd"

[profiles.envpw]
url = "postgresql://app@db:5432/app?sslmode=require&pgbouncer=true"
password_env = "APP_PW"
sslmode = "verify-full"
sslrootcert = "certs/ca.pem"
pool_size = 20
pipeline_depth = 4
connect_timeout = "1500ms"
statement_timeout = 30
pooler = "session"
schema = "${SCHEMA}"

[profiles.kv]
url = "host=db port=6543 user=app password=[YOUR-PASSWORD] dbname=app"
password_env = "APP_PW"

[profiles.vars]
url = "postgresql://${DB_USER}@${DB_HOST}/app"

[profiles.api]
provider = "supabase"
url = "https://abcd.supabase.co/"
key_env = "SUPABASE_KEY"
schema = "api"
statement_timeout = "0s"

[profiles.api_inline]
provider = "supabase"
url = "https://abcd.supabase.co"
key = "${SB_KEY}"

[profiles.api_nokey]
provider = "supabase"
url = "https://abcd.supabase.co"

[profiles.holder]
url = "postgresql://app:[YOUR-PASSWORD]@db/app"
"#;

fn config() -> Config {
    Config::from_str_with_env(CONFIG, Path::new("/proj/db.toml"), &MapEnv::new()).unwrap()
}

fn resolver(env: MapEnv) -> Resolver {
    Resolver::new()
        .with_env(env)
        .lock_dir("/nonexistent-dba-lock-dir")
}

fn pg(resolved: &Resolved) -> &PostgresSettings {
    match &resolved.connection {
        Connection::Postgres(pg) => pg,
        Connection::Supabase(_) => panic!("expected postgres"),
    }
}

fn sb(resolved: &Resolved) -> &SupabaseSettings {
    match &resolved.connection {
        Connection::Supabase(sb) => sb,
        Connection::Postgres(_) => panic!("expected supabase"),
    }
}

fn err(resolver: Resolver, name: &str) -> String {
    resolver
        .profile(Some(name))
        .resolve(Some(&config()))
        .unwrap_err()
        .to_string()
}

#[test]
fn resolves_an_original_profile() {
    let r = resolver(MapEnv::new())
        .profile(Some("dev"))
        .resolve(Some(&config()))
        .unwrap();
    assert_eq!(r.source, Source::ExplicitProfile);
    assert_eq!(r.profile.as_deref(), Some("dev"));
    assert_eq!(r.description, "local");
    assert_eq!(r.provider, Provider::Postgres);
    let pg = pg(&r);
    assert_eq!(
        pg.conninfo.expose(),
        "host='localhost' port='5432' user='app' dbname='app' sslmode='prefer' connect_timeout='10'"
    );
    assert_eq!(pg.sslmode, SslMode::Prefer);
    assert_eq!(pg.pool_size, 5);
    assert_eq!(pg.pipeline_depth, 1);
    assert_eq!(pg.connect_timeout, Duration::from_secs(10));
    assert_eq!(pg.statement_timeout, None);
    assert_eq!(pg.pooler, PoolerMode::Session);
    assert_eq!(pg.schema, "public");
    assert!(r.warnings.is_empty());
    assert_eq!(r.display_target(), "dev");
}

#[test]
fn the_placeholder_gets_the_percent_encoded_password() {
    let r = resolver(MapEnv::new())
        .profile(Some("prod"))
        .resolve(Some(&config()))
        .unwrap();
    // A Supabase profile with a postgres URL is a Postgres connection to the Supabase database.
    assert_eq!(r.provider, Provider::Supabase);
    let pg = pg(&r);
    assert_eq!(
        pg.conninfo.expose(),
        "host='aws-0.pooler.supabase.com' port='6543' user='postgres.abcd' password='p@ss/w:rd' \
         dbname='postgres' sslmode='prefer' connect_timeout='10'"
    );
    assert_eq!(pg.pooler, PoolerMode::Transaction);
    assert_eq!(
        pg.redacted(),
        "host=aws-0.pooler.supabase.com port=6543 user=postgres.abcd password=*** dbname=postgres \
         sslmode=prefer connect_timeout=10"
    );
}

#[test]
fn new_keys_shape_the_settings() {
    let env = MapEnv::new()
        .with("APP_PW", "it's")
        .with("SCHEMA", "tenant1");
    let r = resolver(env.clone())
        .profile(Some("envpw"))
        .resolve(Some(&config()))
        .unwrap();
    let settings = pg(&r);
    assert_eq!(
        settings.conninfo.expose(),
        "host='db' port='5432' user='app' password='it\\'s' dbname='app' sslmode='require' connect_timeout='2'"
    );
    assert_eq!(settings.sslmode, SslMode::VerifyFull);
    assert_eq!(
        settings.ssl_root_cert,
        Some(PathBuf::from("/proj/certs/ca.pem"))
    );
    assert_eq!(settings.pool_size, 20);
    assert_eq!(settings.pipeline_depth, 4);
    assert_eq!(settings.connect_timeout, Duration::from_millis(1500));
    assert_eq!(settings.statement_timeout, Some(Duration::from_secs(30)));
    assert_eq!(settings.pooler, PoolerMode::Session);
    assert_eq!(settings.schema, "tenant1");
    assert_eq!(
        r.warnings,
        ["ignored connection parameter `pgbouncer` in `url` of [profiles.envpw] in /proj/db.toml"]
    );
    // In key=value form the placeholder takes the raw password.
    let r = resolver(env)
        .profile(Some("kv"))
        .resolve(Some(&config()))
        .unwrap();
    assert_eq!(
        pg_conninfo(&r),
        "host='db' port='6543' user='app' password='it\\'s' dbname='app' sslmode='prefer' connect_timeout='10'"
    );
    assert_eq!(pg(&r).pooler, PoolerMode::Transaction);
}

fn pg_conninfo(r: &Resolved) -> String {
    pg(r).conninfo.expose().clone()
}

#[test]
fn variables_expand_when_the_profile_is_resolved() {
    let env = MapEnv::new().with("DB_USER", "u").with("DB_HOST", "h");
    let r = resolver(env)
        .profile(Some("vars"))
        .resolve(Some(&config()))
        .unwrap();
    assert_eq!(
        pg_conninfo(&r),
        "host='h' user='u' dbname='app' sslmode='prefer' connect_timeout='10'"
    );
    assert_eq!(
        err(resolver(MapEnv::new().with("DB_USER", "u")), "vars"),
        "/proj/db.toml: environment variable DB_HOST used by `url` in [profiles.vars] is not set"
    );
    assert_eq!(
        err(resolver(MapEnv::new().with("APP_PW", "x")), "envpw"),
        "/proj/db.toml: environment variable SCHEMA used by `schema` in [profiles.envpw] is not set"
    );
}

#[test]
fn secret_variables_must_be_set() {
    assert_eq!(
        err(resolver(MapEnv::new()), "envpw"),
        "/proj/db.toml: environment variable APP_PW named by `password_env` in [profiles.envpw] is not set"
    );
    assert_eq!(
        err(resolver(MapEnv::new().with("SUPABASE_KEY", "")), "api"),
        "/proj/db.toml: environment variable SUPABASE_KEY named by `key_env` in [profiles.api] is not set"
    );
    assert_eq!(
        err(resolver(MapEnv::new()), "api_inline"),
        "/proj/db.toml: environment variable SB_KEY used by `key` in [profiles.api_inline] is not set"
    );
    assert_eq!(
        err(resolver(MapEnv::new()), "api_nokey"),
        "/proj/db.toml: [profiles.api_nokey] has a Supabase project url but neither `key_env` nor `key` for its API key"
    );
    assert_eq!(
        err(resolver(MapEnv::new()), "holder"),
        "invalid connection string in `url` of [profiles.holder] in /proj/db.toml: it contains [YOUR-PASSWORD] \
         but the profile sets neither `db_password` nor `password_env`"
    );
}

#[test]
fn supabase_rest_profiles_resolve_to_rest_settings() {
    let r = resolver(MapEnv::new().with("SUPABASE_KEY", "K3y"))
        .profile(Some("api"))
        .resolve(Some(&config()))
        .unwrap();
    assert_eq!(r.provider, Provider::Supabase);
    let rest = sb(&r);
    assert_eq!(rest.url, "https://abcd.supabase.co");
    assert_eq!(rest.key.expose(), "K3y");
    assert_eq!(rest.schema, "api");
    assert_eq!(rest.connect_timeout, Duration::from_secs(10));
    assert_eq!(rest.statement_timeout, None);
    assert_eq!(r.display_target(), "api");
    let r = resolver(MapEnv::new().with("SB_KEY", "K"))
        .profile(Some("api_inline"))
        .resolve(Some(&config()))
        .unwrap();
    assert_eq!(
        (sb_key(&r), sb(&r).schema.as_str()),
        ("K".to_owned(), "public")
    );
}

fn sb_key(r: &Resolved) -> String {
    sb(r).key.expose().clone()
}

#[test]
fn the_resolution_order_is_explicit_env_lock_url() {
    let dir = TempDir::new("resolve-order");
    let config = config();
    let env = MapEnv::new()
        .with("MC_DB_PROFILE", "prod")
        .with("MC_DATABASE_URL", "postgres://url@h/db")
        .with("DB_PROFILE", "ignored-without-prefix");
    let base = Resolver::new()
        .with_env(env)
        .env_prefix("MC_")
        .lock_dir(dir.path());
    write_lock(dir.path(), "dev").unwrap();

    let r = base
        .clone()
        .profile(Some("dev"))
        .resolve(Some(&config))
        .unwrap();
    assert_eq!(r.source, Source::ExplicitProfile);
    let r = base
        .clone()
        .url(Some("postgres://x@h/db"))
        .resolve(Some(&config))
        .unwrap();
    assert_eq!(
        (r.source.clone(), r.profile.clone()),
        (Source::ExplicitUrl, None)
    );
    assert_eq!(
        pg_conninfo(&r),
        "host='h' user='x' dbname='db' sslmode='prefer' connect_timeout='10'"
    );
    let r = base.clone().resolve(Some(&config)).unwrap();
    assert_eq!(
        r.source,
        Source::EnvProfile {
            var: "MC_DB_PROFILE".into()
        }
    );
    assert_eq!(r.profile.as_deref(), Some("prod"));

    let no_env_profile = base
        .clone()
        .with_env(MapEnv::new().with("MC_DATABASE_URL", "postgres://url@h/db"));
    let r = no_env_profile.resolve(Some(&config)).unwrap();
    assert_eq!(
        r.source,
        Source::LockFile {
            path: dir.path().join(".db-profile")
        }
    );
    assert_eq!(
        r.source.to_string(),
        format!("lock file {}", dir.path().join(".db-profile").display())
    );
    assert_eq!(r.profile.as_deref(), Some("dev"));

    let only_url = Resolver::new()
        .with_env(MapEnv::new().with("MC_DATABASE_URL", "postgres://url:S3cr3t@h/db"))
        .env_prefix("MC_")
        .lock_dir(dir.path().join("elsewhere"));
    let r = only_url.resolve(None).unwrap();
    assert_eq!(
        r.source,
        Source::EnvUrl {
            var: "MC_DATABASE_URL".into()
        }
    );
    assert_eq!(r.source.to_string(), "MC_DATABASE_URL");
    assert_eq!(
        r.display_target(),
        "host=h user=url password=*** dbname=db sslmode=prefer connect_timeout=10"
    );
}

#[test]
fn nothing_selected_lists_what_was_tried() {
    let err = resolver(MapEnv::new().with("DB_PROFILE", ""))
        .resolve(Some(&config()))
        .unwrap_err();
    assert!(matches!(err, ConfigError::NothingSelected { .. }));
    assert_eq!(
        err.to_string(),
        "no database selected (tried an explicit profile or url, DB_PROFILE, lock file \
         /nonexistent-dba-lock-dir/.db-profile, DATABASE_URL); available profiles: api, api_inline, api_nokey, \
         dev, envpw, holder, kv, prod, vars"
    );
    let err = resolver(MapEnv::new())
        .env_prefix("MC")
        .resolve(None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no database selected (tried an explicit profile or url, MCDB_PROFILE, lock file \
         /nonexistent-dba-lock-dir/.db-profile, MCDATABASE_URL); available profiles: none"
    );
}

#[test]
fn selected_names_must_exist() {
    let dir = TempDir::new("resolve-unknown");
    write_lock(dir.path(), "gone").unwrap();
    let config = config();
    let err = Resolver::new()
        .with_env(MapEnv::new())
        .lock_dir(dir.path())
        .resolve(Some(&config))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "profile \"gone\" (from lock file {}) not found in /proj/db.toml; available profiles: api, api_inline, \
             api_nokey, dev, envpw, holder, kv, prod, vars",
            dir.path().join(".db-profile").display()
        )
    );
    let err = resolver(MapEnv::new().with("DB_PROFILE", "stage"))
        .resolve(None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "profile \"stage\" (from DB_PROFILE) cannot be resolved because no config file was loaded"
    );
    let err = resolver(MapEnv::new())
        .profile(Some("stage"))
        .resolve(None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "profile \"stage\" cannot be resolved because no config file was loaded"
    );
    assert_eq!(
        err_of(
            resolver(MapEnv::new())
                .profile(Some("x"))
                .url(Some("postgres://h"))
        ),
        "both a profile (\"x\") and a url were given; pass only one"
    );
    assert_eq!(
        resolver(MapEnv::new())
            .resolve_profile(&config, "nope")
            .unwrap_err()
            .to_string(),
        "profile \"nope\" not found in /proj/db.toml; available profiles: api, api_inline, api_nokey, dev, envpw, \
         holder, kv, prod, vars"
    );
}

fn err_of(resolver: Resolver) -> String {
    resolver.resolve(Some(&config())).unwrap_err().to_string()
}

#[test]
fn bad_urls_name_their_origin() {
    let url = |u: &str| err_of(resolver(MapEnv::new()).url(Some(u)));
    assert_eq!(
        url("https://x.supabase.co"),
        "invalid connection string in the explicit url: an http(s) url needs a profile with provider = \
         \"supabase\"; expected postgres://, postgresql:// or key=value pairs"
    );
    assert_eq!(
        url("mysql://u:S3cr3t@h"),
        "invalid connection string in the explicit url: unsupported scheme \"mysql\"; expected postgres://, \
         postgresql:// or key=value pairs"
    );
    assert_eq!(
        url("postgres://u@h/db?sslmode=strict"),
        "invalid connection string in the explicit url: invalid sslmode \"strict\"; expected disable, allow, \
         prefer, require, verify-ca or verify-full"
    );
    assert_eq!(
        url("postgres://u@h/db?connect_timeout=soon"),
        "invalid connection string in the explicit url: invalid connect_timeout: expected whole seconds"
    );
    let env_url = resolver(MapEnv::new().with("DATABASE_URL", "postgres://u@h:99999/db"));
    assert_eq!(
        err_of(env_url),
        "invalid connection string in DATABASE_URL: invalid port: expected a number from 1 to 65535"
    );
    let bad_pgport = resolver(MapEnv::new().with("PGPORT", "x")).url(Some("postgres://u@h/db"));
    assert_eq!(
        err_of(bad_pgport),
        "invalid connection string in the explicit url: invalid port: expected a number from 1 to 65535"
    );
    assert_eq!(
        url("postgres://h/db"),
        "invalid connection string in the explicit url: no user name: set one in the url, PGUSER or USER"
    );
}

#[test]
fn libpq_conventions_fill_a_bare_url() {
    let dir = TempDir::new("resolve-libpq");
    let pgpass = dir.file("pgpass", "envhost:5433:envdb:envuser:passfromfile\n", 0o600);
    let env = MapEnv::new()
        .with("PGHOST", "envhost")
        .with("PGPORT", "5433")
        .with("PGUSER", "envuser")
        .with("PGDATABASE", "envdb")
        .with("PGSSLMODE", "verify-ca")
        .with("PGPASSFILE", pgpass.display().to_string());
    let r = resolver(env.clone())
        .url(Some("postgresql://"))
        .resolve(None)
        .unwrap();
    assert_eq!(
        pg_conninfo(&r),
        "host='envhost' port='5433' user='envuser' password='passfromfile' dbname='envdb' sslmode='require' \
         connect_timeout='10'"
    );
    assert_eq!(pg(&r).sslmode, SslMode::VerifyCa);
    // PGPASSWORD beats .pgpass; a password in the string beats both.
    let r = resolver(env.clone().with("PGPASSWORD", "envpw"))
        .url(Some("postgres://"))
        .resolve(None)
        .unwrap();
    assert!(pg_conninfo(&r).contains("password='envpw'"));
    let r = resolver(env.clone())
        .url(Some("postgres://a:own@h/db"))
        .resolve(None)
        .unwrap();
    assert!(pg_conninfo(&r).contains("password='own'"));
    // USER is the last resort for the user name.
    let r = resolver(MapEnv::new().with("USER", "me"))
        .url(Some("postgres://h"))
        .resolve(None)
        .unwrap();
    assert_eq!(
        pg_conninfo(&r),
        "host='h' user='me' sslmode='prefer' connect_timeout='10'"
    );
    // A service file supplies what the string leaves open.
    let services = dir.file(
        "services.conf",
        "[prod]\nhost=svc\nport=6543\nuser=svcuser\ndbname=svcdb\n",
        0o644,
    );
    let env = MapEnv::new().with("PGSERVICEFILE", services.display().to_string());
    let r = resolver(env)
        .url(Some("service=prod sslmode=disable"))
        .resolve(None)
        .unwrap();
    assert_eq!(
        pg_conninfo(&r),
        "host='svc' port='6543' user='svcuser' dbname='svcdb' sslmode='disable' connect_timeout='10'"
    );
    assert_eq!(pg(&r).pooler, PoolerMode::Transaction);
}

#[test]
fn a_profile_password_fills_a_url_without_one_but_never_overrides() {
    let config = Config::from_str_with_env(
        "[profiles.a]\nurl = \"postgres://u@h/db\"\npassword_env = \"PW\"\n\
         [profiles.b]\nurl = \"postgres://u:inurl@h/db\"\ndb_password = \"other\"\n",
        Path::new("db.toml"),
        &MapEnv::new(),
    )
    .unwrap();
    let r = resolver(MapEnv::new().with("PW", "fromenv"))
        .profile(Some("a"))
        .resolve(Some(&config))
        .unwrap();
    assert!(pg_conninfo(&r).contains("password='fromenv'"));
    let r = resolver(MapEnv::new())
        .profile(Some("b"))
        .resolve(Some(&config))
        .unwrap();
    assert!(pg_conninfo(&r).contains("password='inurl'"));
}

#[test]
fn debug_output_hides_secrets() {
    let r = resolver(MapEnv::new())
        .profile(Some("prod"))
        .resolve(Some(&config()))
        .unwrap();
    let debug = format!(
        "{r:?} {:?}",
        resolver(MapEnv::new()).url(Some("postgres://u:p@ss/w:rd@h"))
    );
    assert!(!debug.contains("p@ss"), "{debug}");
    assert!(debug.contains("conninfo: ***"), "{debug}");
}

const REPLICA_CONFIG: &str = r#"
[profiles.replicated]
url = "postgresql://app:[YOUR-PASSWORD]@primary.internal:5432/app"
read_url = "postgresql://app:[YOUR-PASSWORD]@${STANDBY_HOST}:5433/app"
password_env = "APP_PW"
sslmode = "require"
pool_size = 7
pipeline_depth = 3
max_replica_lag = "5s"

[profiles.plain]
url = "postgresql://app@primary.internal/app"

[profiles.kv_standby]
url = "host=primary.internal user=app dbname=app"
read_url = "host=standby.internal user=app dbname=app password=s3cret"

[profiles.rest]
provider = "supabase"
url = "https://abcd.supabase.co"
key = "k"
read_url = "postgresql://app@standby.internal/app"
"#;

fn replica_config() -> Config {
    Config::from_str_with_env(REPLICA_CONFIG, Path::new("/proj/db.toml"), &MapEnv::new()).unwrap()
}

#[test]
fn read_url_resolves_like_url_with_the_profiles_password_and_settings() {
    let env = MapEnv::new()
        .with("APP_PW", "pw/with:odd@chars")
        .with("STANDBY_HOST", "standby.internal");
    let r = resolver(env)
        .profile(Some("replicated"))
        .resolve(Some(&replica_config()))
        .unwrap();
    let primary = pg(&r);
    assert_eq!(primary.max_replica_lag, Duration::from_secs(5));
    let standby = primary.read_replica.as_deref().expect("a standby");
    assert_eq!(
        standby.conninfo.expose(),
        "host='standby.internal' port='5433' user='app' password='pw/with:odd@chars' dbname='app' \
         sslmode='require' connect_timeout='10'"
    );
    assert_eq!(standby.sslmode, SslMode::Require);
    assert_eq!(standby.pool_size, 7);
    assert_eq!(standby.pipeline_depth, 3);
    assert!(standby.read_replica.is_none());
    // The password is in neither the Debug form nor the display form of either connection.
    let debug = format!("{r:?}");
    assert!(!debug.contains("pw/with"), "{debug}");
    assert!(!standby.redacted().contains("pw/with"));
    assert!(standby.redacted().contains("password=***"));
}

#[test]
fn without_read_url_there_is_no_standby_and_the_default_lag() {
    let r = resolver(MapEnv::new())
        .profile(Some("plain"))
        .resolve(Some(&replica_config()))
        .unwrap();
    assert!(pg(&r).read_replica.is_none());
    assert_eq!(pg(&r).max_replica_lag, crate::DEFAULT_MAX_REPLICA_LAG);
    assert_eq!(crate::DEFAULT_MAX_REPLICA_LAG, Duration::from_secs(30));
}

#[test]
fn a_key_value_read_url_keeps_its_own_password_out_of_debug() {
    let r = resolver(MapEnv::new().with("USER", "me"))
        .profile(Some("kv_standby"))
        .resolve(Some(&replica_config()))
        .unwrap();
    let standby = pg(&r).read_replica.as_deref().expect("a standby");
    assert!(standby.conninfo.expose().contains("password='s3cret'"));
    assert!(!format!("{r:?}").contains("s3cret"));
    assert!(!format!("{:?}", replica_config()).contains("s3cret"));
}

#[test]
fn read_url_problems_name_the_key_and_profile() {
    let e = resolver(MapEnv::new().with("APP_PW", "x"))
        .profile(Some("replicated"))
        .resolve(Some(&replica_config()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("STANDBY_HOST"), "{e}");
    assert!(e.contains("read_url"), "{e}");
    assert!(e.contains("[profiles.replicated]"), "{e}");

    let e = resolver(MapEnv::new())
        .profile(Some("rest"))
        .resolve(Some(&replica_config()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("read_url") && e.contains("[profiles.rest]"),
        "{e}"
    );

    let bad = "[profiles.x]\nurl = \"postgresql://a@h/d\"\nread_url = \"mysql://a@h/d\"\n";
    let e = Config::from_str_with_env(bad, Path::new("/proj/db.toml"), &MapEnv::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`read_url` of [profiles.x] at /proj/db.toml:3:12"),
        "{e}"
    );
    assert!(e.contains("mysql"), "{e}");

    let bad = "[profiles.x]\nurl = \"postgresql://a@h/d\"\nmax_replica_lag = \"soon\"\n";
    let e = Config::from_str_with_env(bad, Path::new("/proj/db.toml"), &MapEnv::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("max_replica_lag") && e.contains("/proj/db.toml:3"),
        "{e}"
    );
}
