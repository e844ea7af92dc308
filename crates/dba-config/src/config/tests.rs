use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::parse::{line_col, parse_duration};
use crate::test_support::TempDir;
use crate::{Config, ConfigError, MapEnv, PoolerMode, Provider, SslMode};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_with_env(text, Path::new("db.toml"), &MapEnv::new())
}

fn parse_err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const ORIGINAL: &str = r#"
[profiles.dev]
url = "postgresql://app@localhost:5432/app"
description = "local"

[profiles.prod]
url = "postgresql://postgres.abcd:[YOUR-PASSWORD]@aws-0.pooler.supabase.com:6543/postgres"
db_password = "p@ss/w:rd"
provider = "supabase"

[schema]
file = "db/schema.sql"
validate_on_connect = false
column_defs = "column-defs.json"
backup_schema = "/abs/backup-schema.json"

[sync]
tables = ["users", "posts"]

[defaults]
user_id_env = "APP_USER_ID"
"#;

#[test]
fn loads_the_original_format() {
    let config =
        Config::from_str_with_env(ORIGINAL, Path::new("/proj/db.toml"), &MapEnv::new()).unwrap();
    assert_eq!(config.warnings(), &[] as &[String]);
    assert_eq!(config.profile_names(), ["dev", "prod"]);
    let dev = config.profile("dev").unwrap();
    assert_eq!(dev.description(), "local");
    assert_eq!(dev.provider(), Provider::Postgres);
    assert_eq!(dev.raw_url(), "postgresql://app@localhost:5432/app");
    assert!(dev.db_password().is_none());
    let prod = config.profile("prod").unwrap();
    assert_eq!(prod.provider(), Provider::Supabase);
    assert_eq!(prod.db_password().unwrap().expose(), "p@ss/w:rd");
    assert_eq!(config.schema_file(), PathBuf::from("/proj/db/schema.sql"));
    assert!(!config.validate_on_connect());
    assert_eq!(
        config.column_defs(),
        Some(PathBuf::from("/proj/column-defs.json"))
    );
    assert_eq!(
        config.backup_schema(),
        Some(PathBuf::from("/abs/backup-schema.json"))
    );
    assert_eq!(
        config.sync_tables(),
        Some(&["users".to_owned(), "posts".to_owned()][..])
    );
    assert_eq!(config.user_id_env(), Some("APP_USER_ID"));
    assert_eq!(config.path(), Path::new("/proj/db.toml"));
}

#[test]
fn applies_the_original_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.profile_names(), [] as [String; 0]);
    assert_eq!(config.schema_file(), PathBuf::from("schema.sql"));
    assert!(config.validate_on_connect());
    assert_eq!(config.column_defs(), None);
    assert_eq!(config.backup_schema(), None);
    assert_eq!(config.sync_tables(), None);
    assert_eq!(config.user_id_env(), None);
    let config = parse("[profiles.a]\nurl = \"\"\n").unwrap();
    let a = config.profile("a").unwrap();
    assert_eq!(
        (a.description(), a.provider(), a.pooler()),
        ("", Provider::Postgres, None)
    );
}

#[test]
fn reads_the_new_profile_keys() {
    let config = parse(
        r#"[profiles.x]
url = "host=h"
password_env = "PW"
sslmode = "verify-full"
sslrootcert = "ca.pem"
pool_size = 12
pipeline_depth = 8
connect_timeout = 3
statement_timeout = "1500ms"
pooler = "transaction"
schema = "app"
[profiles.y]
provider = "supabase"
url = "https://abcd.supabase.co"
key_env = "SUPABASE_KEY"
pooler = "auto"
connect_timeout = "2m"
"#,
    )
    .unwrap();
    let x = config.profile("x").unwrap();
    assert_eq!(x.password_env(), Some("PW"));
    assert_eq!(x.sslmode(), Some(SslMode::VerifyFull));
    assert_eq!(x.pool_size(), Some(12));
    assert_eq!(x.pipeline_depth(), Some(8));
    assert_eq!(x.connect_timeout(), Some(Duration::from_secs(3)));
    assert_eq!(x.statement_timeout(), Some(Duration::from_millis(1500)));
    assert_eq!(x.pooler(), Some(PoolerMode::Transaction));
    assert_eq!(x.schema(), Some("app"));
    let y = config.profile("y").unwrap();
    assert_eq!(y.key_env(), Some("SUPABASE_KEY"));
    assert_eq!(y.pooler(), None);
    assert_eq!(y.connect_timeout(), Some(Duration::from_secs(120)));
}

#[test]
fn warns_about_unknown_keys_and_sections() {
    let config = parse(
        "colour = 1\n[profiles.dev]\nurl = \"\"\nurll = \"x\"\n[schema]\nfiel = \"a\"\n[sync]\ntable = []\n\
         [defaults]\nuser = 1\n[databases]\nx = 1\n",
    )
    .unwrap();
    assert_eq!(
        config.warnings(),
        [
            "db.toml:1:1: unknown key \"colour\" in the top level",
            "db.toml:4:1: unknown key \"urll\" in [profiles.dev]",
            "db.toml:6:1: unknown key \"fiel\" in [schema]",
            "db.toml:8:1: unknown key \"table\" in [sync]",
            "db.toml:10:1: unknown key \"user\" in [defaults]",
            "db.toml:11:2: unknown section [databases]",
        ]
    );
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    assert_eq!(
        parse_err("[profiles.dev]\nurl = \"postgres://h\nx = 1\n"),
        "db.toml:2:20: invalid TOML: invalid basic string, expected `\"`"
    );
    assert_eq!(
        parse_err("[profiles.dev]\nurl = \n"),
        "db.toml:2:7: invalid TOML: string values must be quoted, expected literal string"
    );
    assert_eq!(
        parse_err("[a]\nb = 1\nb = 2\n"),
        "db.toml:3:1: invalid TOML: duplicate key `b`"
    );
}

#[test]
fn wrong_types_name_key_table_and_position() {
    let cases = [
        (
            "profiles = 1",
            "db.toml:1:12: `profiles` in the top level must be a table, found integer",
        ),
        (
            "[profiles]\ndev = \"x\"",
            "db.toml:2:7: `dev` in [profiles] must be a table, found string",
        ),
        (
            "[profiles.dev]\nurl = 5",
            "db.toml:2:7: `url` in [profiles.dev] must be a string, found integer",
        ),
        (
            "[profiles.\"my db\"]\nurl = []",
            "db.toml:2:7: `url` in [profiles.\"my db\"] must be a string, found array",
        ),
        (
            "[schema]\nvalidate_on_connect = \"yes\"",
            "db.toml:2:23: `validate_on_connect` in [schema] must be true or false, found string",
        ),
        (
            "[schema]\nfile = 1",
            "db.toml:2:8: `file` in [schema] must be a string, found integer",
        ),
        (
            "[sync]\ntables = \"a\"",
            "db.toml:2:10: `tables` in [sync] must be an array of strings, found string",
        ),
        (
            "[sync]\ntables = [\"a\", 2]",
            "db.toml:2:16: `tables` in [sync] must be an array of strings, found a integer item",
        ),
        (
            "[defaults]\nuser_id_env = false",
            "db.toml:2:15: `user_id_env` in [defaults] must be a string, found boolean",
        ),
        (
            "schema = 1",
            "db.toml:1:10: `schema` in the top level must be a table, found integer",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(text), want, "{text}");
    }
}

#[test]
fn invalid_values_name_key_and_profile() {
    let p = |body: &str| parse_err(&format!("[profiles.dev]\nurl = \"\"\n{body}\n"));
    assert_eq!(
        p("provider = \"mysql\""),
        "db.toml:3:12: unknown provider \"mysql\" in [profiles.dev]; expected \"postgres\" or \"supabase\""
    );
    assert_eq!(
        p("sslmode = \"strict\""),
        "db.toml:3:11: unknown sslmode \"strict\" in [profiles.dev]; expected disable, allow, prefer, require, verify-ca or verify-full"
    );
    assert_eq!(
        p("pooler = \"statement\""),
        "db.toml:3:10: unknown pooler \"statement\" in [profiles.dev]; expected auto, session or transaction"
    );
    let pool = "`pool_size` in [profiles.dev] must be an integer from 1 to 1000";
    assert_eq!(p("pool_size = 0"), format!("db.toml:3:13: {pool}"));
    assert_eq!(p("pool_size = 1001"), format!("db.toml:3:13: {pool}"));
    assert_eq!(p("pool_size = -1"), format!("db.toml:3:13: {pool}"));
    assert_eq!(p("pool_size = \"5\""), format!("db.toml:3:13: {pool}"));
    let depth = "`pipeline_depth` in [profiles.dev] must be an integer from 1 to 64";
    assert_eq!(p("pipeline_depth = 0"), format!("db.toml:3:18: {depth}"));
    assert_eq!(p("pipeline_depth = 65"), format!("db.toml:3:18: {depth}"));
    assert_eq!(p("pipeline_depth = 2.5"), format!("db.toml:3:18: {depth}"));
    let timeout = "`connect_timeout` in [profiles.dev] must be whole seconds or a string like \"500ms\", \"30s\", \"5m\" or \"1h\"";
    assert_eq!(
        p("connect_timeout = -3"),
        format!("db.toml:3:19: {timeout}")
    );
    assert_eq!(
        p("connect_timeout = \"soon\""),
        format!("db.toml:3:19: {timeout}")
    );
    assert_eq!(
        p("connect_timeout = 1.5"),
        format!("db.toml:3:19: {timeout}")
    );
    assert_eq!(
        p("db_password = \"a\"\npassword_env = \"B\""),
        "db.toml:1:11: [profiles.dev] sets both `db_password` and `password_env`; keep one"
    );
    assert_eq!(
        p("key = \"a\"\nkey_env = \"B\""),
        "db.toml:1:11: [profiles.dev] sets both `key` and `key_env`; keep one"
    );
}

#[test]
fn a_profile_without_url_names_the_missing_key() {
    assert_eq!(
        parse_err("[profiles.dev]\ndescription = \"x\"\n"),
        "db.toml:1:11: [profiles.dev] has no `url` (the connection URL or key=value string)"
    );
    assert_eq!(
        parse_err("[profiles]\nstaging = {}\n"),
        "db.toml:2:1: [profiles.staging] has no `url` (the connection URL or key=value string)"
    );
}

#[test]
fn bad_urls_are_caught_at_load_naming_profile_and_key() {
    let u = |url: &str| parse_err(&format!("[profiles.dev]\nurl = \"{url}\"\n"));
    let prefix = "invalid connection string in `url` of [profiles.dev] at db.toml:2:7";
    assert_eq!(
        u("mysql://root@h/db"),
        format!(
            "{prefix}: unsupported scheme \"mysql\"; expected postgres://, postgresql:// or key=value pairs"
        )
    );
    assert_eq!(
        u("postgres://h:54x2/db"),
        format!("{prefix}: invalid port: expected a number from 1 to 65535")
    );
    assert_eq!(
        u("https://abcd.supabase.co"),
        format!(
            "{prefix}: an http(s) url needs provider = \"supabase\"; a postgres profile expects postgres://, \
             postgresql:// or key=value pairs"
        )
    );
    assert_eq!(
        u("host=h password"),
        format!("{prefix}: a keyword has no \"=\" after it")
    );
    // A URL with variables is checked when the profile is resolved.
    assert!(parse("[profiles.dev]\nurl = \"${DB}:x\"\n").is_ok());
}

#[test]
fn expands_variables_in_the_sections() {
    let env = MapEnv::new().with("DIR", "sql").with("T", "users");
    let config = Config::from_str_with_env(
        "[schema]\nfile = \"${DIR}/schema.sql\"\ncolumn_defs = \"$${DIR}.json\"\n[sync]\ntables = [\"${T}\"]\n",
        Path::new("conf/db.toml"),
        &env,
    )
    .unwrap();
    assert_eq!(config.schema_file(), PathBuf::from("conf/sql/schema.sql"));
    assert_eq!(
        config.column_defs(),
        Some(PathBuf::from("conf/${DIR}.json"))
    );
    assert_eq!(config.sync_tables(), Some(&["users".to_owned()][..]));
}

#[test]
fn expansion_failures_name_variable_key_table_and_file() {
    assert_eq!(
        parse_err("[schema]\nfile = \"${SCHEMA_DIR}/s.sql\""),
        "db.toml:2:8: environment variable SCHEMA_DIR used by `file` in [schema] is not set"
    );
    assert_eq!(
        parse_err("[sync]\ntables = [\"${T}\"]"),
        "db.toml:2:11: environment variable T used by `tables` in [sync] is not set"
    );
    assert_eq!(
        parse_err("[schema]\nbackup_schema = \"${X\""),
        "db.toml:2:17: `backup_schema` in [schema] has a `${` without a closing `}` (write `$${` for a literal `${`)"
    );
    assert_eq!(
        parse_err("[schema]\nfile = \"${}\""),
        "db.toml:2:8: `file` in [schema] has an empty `${}`"
    );
}

#[test]
fn profile_lookup_lists_the_available_profiles() {
    let config = parse(ORIGINAL).unwrap();
    assert_eq!(
        config.profile("staging").unwrap_err().to_string(),
        "profile \"staging\" not found in db.toml; available profiles: dev, prod"
    );
    assert_eq!(
        parse("").unwrap().profile("dev").unwrap_err().to_string(),
        "profile \"dev\" not found in db.toml; available profiles: none"
    );
}

#[test]
fn load_reports_a_missing_file_with_the_original_text() {
    let dir = TempDir::new("config-missing");
    let path = dir.path().join("db.toml");
    let err = Config::load(&path).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "Database config not found: {}\nCopy db.toml.example to db.toml and configure your profiles.",
            path.display()
        )
    );
    let err = Config::load(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("failed to read {}", dir.path().display())
    );
}

#[test]
fn load_reads_a_file() {
    let dir = TempDir::new("config-load");
    let path = dir.file("db.toml", ORIGINAL, 0o644);
    let config = Config::load(&path).unwrap();
    assert_eq!(config.profile_names(), ["dev", "prod"]);
    assert_eq!(config.schema_file(), dir.path().join("db/schema.sql"));
}

#[test]
fn locate_prefers_explicit_then_env_then_default() {
    let env = MapEnv::new().with("DBA_CONFIG", "/etc/dba.toml");
    assert_eq!(
        Config::locate_with_env(Some(Path::new("x.toml")), &env),
        (PathBuf::from("x.toml"), false)
    );
    assert_eq!(
        Config::locate_with_env(None, &env),
        (PathBuf::from("/etc/dba.toml"), false)
    );
    let empty = MapEnv::new().with("DBA_CONFIG", "");
    assert_eq!(
        Config::locate_with_env(None, &empty),
        (PathBuf::from("db.toml"), true)
    );
    assert_eq!(
        Config::locate(Some(Path::new("y.toml"))),
        PathBuf::from("y.toml")
    );
}

#[test]
fn discover_tolerates_only_a_missing_default_file() {
    let dir = TempDir::new("config-discover");
    let missing = dir.path().join("nope.toml");
    let err = Config::discover(Some(&missing), &MapEnv::new()).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }));
    let env = MapEnv::new().with("DBA_CONFIG", missing.display().to_string());
    assert!(matches!(
        Config::discover(None, &env),
        Err(ConfigError::NotFound { .. })
    ));
    let path = dir.file("db.toml", "[profiles.a]\nurl = \"\"\n", 0o644);
    let found = Config::discover(Some(&path), &MapEnv::new())
        .unwrap()
        .unwrap();
    assert_eq!(found.profile_names(), ["a"]);
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration(" 30 s "), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("5min"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("h"), None);
    assert_eq!(parse_duration("1d"), None);
    assert_eq!(parse_duration("99999999999999999999s"), None);
    assert_eq!(parse_duration("18446744073709551615h"), None);
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("ab\ncé d", 7), (2, 4));
    assert_eq!(line_col("é", 1), (1, 1));
    assert_eq!(line_col("x", 99), (1, 2));
}

#[test]
fn debug_redacts_the_profile_secrets() {
    let config = parse(
        "[profiles.a]\nurl = \"postgres://u:S3cr3t!pw@h/db\"\ndb_password = \"S3cr3t!pw\"\n\
         [profiles.b]\nprovider = \"supabase\"\nurl = \"https://x.supabase.co\"\nkey = \"K3y!secret\"\n",
    )
    .unwrap();
    let debug = format!("{config:?} {:#?}", config.profile("a").unwrap());
    assert!(!debug.contains("S3cr3t"), "{debug}");
    assert!(!debug.contains("K3y!secret"), "{debug}");
    assert!(debug.contains("postgres://u:***@h/db"), "{debug}");
    assert_eq!(
        config.profile("a").unwrap().display_url(),
        "postgres://u:***@h/db"
    );
}

/// A db.toml of thirty profiles after a multi-byte comment and a multi-line string, so an error at its end
/// lies about a hundred lines deep.
fn long_config(tail: &str) -> String {
    let mut text = String::from(
        "# Configuración ✓ — ünïcödé\n[profiles.dev]\nurl = \"postgresql://localhost/dev\"\n\
         description = \"\"\"\nmulti\nline ✓✓\n\"\"\"\n\n",
    );
    for i in 0..30 {
        text.push_str(&format!(
            "[profiles.p{i}]\nurl = \"postgresql://h/d{i}\" # base n° {i}\n\n"
        ));
    }
    text.push_str(tail);
    text
}

#[test]
fn errors_deep_in_a_long_file_name_the_true_line_and_column() {
    let cases = [
        (
            "[schema]\nfile = \"ééé\" x\n",
            "db.toml:100:14: invalid TOML: unexpected key or value, expected newline, `#`",
        ),
        (
            "[schema]\n  validate_on_connect = \"ééé\"\n",
            "db.toml:100:25: `validate_on_connect` in [schema] must be true or false, found string",
        ),
        (
            "[profiles.\"ü\"]\n  url = \"postgresql://h/d\"\n  pool_size = 0\n",
            "db.toml:101:15: `pool_size` in [profiles.\"ü\"] must be an integer from 1 to 1000",
        ),
        (
            "[profiles.dev]\nurl = \"x\"\n",
            "db.toml:99:11: invalid TOML: duplicate key `dev`",
        ),
    ];
    for (tail, expected) in cases {
        let text = long_config(tail);
        assert_eq!(parse_err(&text), expected, "{tail}");
        assert_eq!(
            parse_err(&text.replace('\n', "\r\n")),
            expected,
            "CRLF {tail}"
        );
        assert_eq!(
            parse_err(&format!("\u{feff}{text}")),
            expected,
            "BOM {tail}"
        );
    }
}

#[test]
fn a_byte_order_mark_is_not_a_column() {
    assert_eq!(
        parse_err("\u{feff}x = = 1\n"),
        "db.toml:1:5: invalid TOML: extra `=`, expected nothing"
    );
}

#[test]
fn a_file_that_is_not_utf8_names_the_first_bad_byte() {
    let dir = TempDir::new("config-latin1");
    let path = dir.path().join("db.toml");
    let mut bytes = long_config("[schema]\nfile = \"caf").into_bytes();
    bytes.extend_from_slice(b"\xe9.sql\"\n");
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        Config::load(&path).unwrap_err().to_string(),
        format!(
            "{}:100:12: invalid TOML: the file is not valid UTF-8",
            path.display()
        )
    );
}
