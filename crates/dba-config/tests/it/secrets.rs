//! No password or API key appears in any message, `Display` or `Debug`, whatever fails.

use std::path::Path;

use dba_config::{Config, ConfigError, MapEnv, Resolver, redact_url};

const PW: &str = "S3cr3t!pw";
const KEY: &str = "K3y-S3cr3t";

/// Every secret fragment that must never show (the raw and percent-encoded password, the key).
fn assert_clean(label: &str, text: &str) {
    for secret in [PW, "S3cr3t%21pw", "S3cr3t", KEY] {
        assert!(!text.contains(secret), "{label} leaks {secret:?}: {text}");
    }
}

fn check_error(label: &str, err: &ConfigError) {
    assert_clean(label, &err.to_string());
    assert_clean(label, &format!("{err:?}"));
    assert_clean(label, &format!("{err:#}"));
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        assert_clean(label, &s.to_string());
        source = s.source();
    }
}

/// Config texts that fail to load. Each carries the secrets somewhere.
fn failing_files() -> Vec<(&'static str, String)> {
    vec![
        (
            "unterminated string",
            format!("[profiles.a]\nurl = \"postgres://u:{PW}@h/db\ndb_password = \"{PW}\"\n"),
        ),
        (
            "unterminated password",
            format!("[profiles.a]\nurl = \"postgres://h\"\ndb_password = \"{PW}\n"),
        ),
        (
            "bad port",
            format!("[profiles.a]\nurl = \"postgres://u:{PW}@h:99x/db\"\n"),
        ),
        (
            "slash in password reads as port",
            format!("[profiles.a]\nurl = \"postgres://u@h:{PW}/db\"\n"),
        ),
        (
            "unencoded slash in password",
            format!("[profiles.a]\nurl = \"postgres://u:ab/{PW}@h:x/db\"\n"),
        ),
        (
            "wrong scheme",
            format!("[profiles.a]\nurl = \"mysql://u:{PW}@h/db\"\n"),
        ),
        (
            "https for postgres",
            format!("[profiles.a]\nurl = \"https://h/?apikey={KEY}\"\n"),
        ),
        (
            "bad percent-encoding",
            format!("[profiles.a]\nurl = \"postgres://u:{PW}%zz@h/db\"\n"),
        ),
        (
            "bad query",
            format!("[profiles.a]\nurl = \"postgres://h/db?{PW}\"\n"),
        ),
        (
            "unterminated conninfo quote",
            format!("[profiles.a]\nurl = \"host=h password='{PW}\"\n"),
        ),
        (
            "conninfo without =",
            format!("[profiles.a]\nurl = \"host=h {PW}\"\n"),
        ),
        (
            "both passwords",
            format!(
                "[profiles.a]\nurl = \"postgres://h\"\ndb_password = \"{PW}\"\npassword_env = \"X\"\n"
            ),
        ),
        (
            "both keys",
            format!(
                "[profiles.a]\nprovider = \"supabase\"\nurl = \"https://h\"\nkey = \"{KEY}\"\nkey_env = \"X\"\n"
            ),
        ),
        (
            "password as number",
            "[profiles.a]\nurl = \"postgres://h\"\ndb_password = 12345\n".to_owned(),
        ),
        ("no url", format!("[profiles.a]\ndb_password = \"{PW}\"\n")),
        (
            "wrong provider",
            format!("[profiles.a]\nurl = \"postgres://u:{PW}@h\"\nprovider = \"oracle\"\n"),
        ),
        (
            "missing variable",
            format!(
                "[profiles.a]\nurl = \"postgres://u:{PW}@h\"\n[schema]\nfile = \"${{NOPE}}\"\n"
            ),
        ),
        ("garbage", format!("{PW} = = {KEY}")),
        (
            "duplicate key",
            format!("[profiles.a]\nurl = \"postgres://u:{PW}@h\"\nurl = \"postgres://u:{PW}@h\"\n"),
        ),
    ]
}

#[test]
fn failing_files_never_show_a_secret() {
    for (label, text) in failing_files() {
        let err = match Config::from_str_with_env(&text, Path::new("db.toml"), &MapEnv::new()) {
            Ok(config) => panic!("{label}: expected an error, got {config:?}"),
            Err(err) => err,
        };
        check_error(label, &err);
    }
}

/// Profiles that load but fail to resolve, and resolver set-ups that fail.
#[test]
fn failing_resolutions_never_show_a_secret() {
    let text = format!(
        r#"
[profiles.holder]
url = "postgresql://u:[YOUR-PASSWORD]@h/db"
[profiles.var]
url = "postgresql://u:{PW}@${{MISSING_HOST}}/db"
[profiles.pwenv]
url = "postgresql://u@h/db"
password_env = "UNSET_PW"
[profiles.badvar]
url = "postgresql://u:{PW}@h/${{OPEN"
[profiles.nokey]
provider = "supabase"
url = "https://abcd.supabase.co"
[profiles.keyvar]
provider = "supabase"
url = "https://abcd.supabase.co"
key = "${{MISSING_KEY}}"
[profiles.keyenv]
provider = "supabase"
url = "https://abcd.supabase.co"
key_env = "UNSET_KEY"
[profiles.expanded]
url = "${{BAD_URL}}"
[profiles.schema]
url = "postgresql://u:{PW}@h/db"
schema = "${{NOPE}}"
[profiles.sslmode]
url = "postgresql://u:{PW}@h/db?sslmode=bogus"
"#
    );
    let config = Config::from_str_with_env(&text, Path::new("db.toml"), &MapEnv::new()).unwrap();
    assert_clean("config debug", &format!("{config:?}"));
    let env = MapEnv::new()
        .with("BAD_URL", format!("postgres://u:{PW}@h:{PW}/db"))
        .with("PGPORT", "not-a-port")
        .with("PASS", PW);
    for name in config.profile_names() {
        let result = Resolver::new()
            .with_env(env.clone())
            .lock_dir("/nonexistent-dba-lock-dir")
            .profile(Some(name.as_str()))
            .resolve(Some(&config));
        match result {
            Ok(resolved) => panic!("{name}: expected an error, got {resolved:?}"),
            Err(err) => check_error(&name, &err),
        }
    }
    // The secret also sits where a careless error would quote it (port, timeout), though only
    // the user info, `password` and `apikey` are secret positions that `Debug` of the resolver must redact.
    let urls = [
        (format!("postgres://u:{PW}@h:0/db"), true),
        (format!("mysql://u:{PW}@h"), true),
        (format!("https://h?apikey={KEY}"), true),
        (
            format!("postgres://u:{PW}@h/db?connect_timeout={PW}"),
            false,
        ),
        (format!("host=h password={PW} port={PW}"), false),
    ];
    for (url, redactable) in urls {
        let resolver = Resolver::new()
            .with_env(MapEnv::new())
            .lock_dir("/nonexistent-dba-lock-dir");
        if redactable {
            assert_clean(
                "resolver debug",
                &format!("{:?}", resolver.clone().url(Some(url.as_str()))),
            );
        }
        let env_resolver = resolver
            .clone()
            .with_env(MapEnv::new().with("DATABASE_URL", url.as_str()));
        for r in [resolver.clone().url(Some(url.as_str())), env_resolver] {
            match r.resolve(None) {
                Ok(resolved) => panic!("{url}: expected an error, got {resolved:?}"),
                Err(err) => check_error(&url, &err),
            }
        }
        let both = resolver.profile(Some("x")).url(Some(url.as_str()));
        check_error("profile and url", &both.resolve(None).unwrap_err());
    }
}

#[test]
fn successful_resolutions_hide_secrets_in_debug_and_display() {
    let text = format!(
        r#"
[profiles.pg]
url = "postgresql://u:[YOUR-PASSWORD]@h:6543/db"
db_password = "{PW}"
[profiles.kv]
url = "host=h user=u password='{PW}'"
[profiles.api]
provider = "supabase"
url = "https://abcd.supabase.co"
key = "{KEY}"
[profiles.extra]
url = "postgresql://u:{PW}@h/db?apikey={KEY}"
"#
    );
    let config = Config::from_str_with_env(&text, Path::new("db.toml"), &MapEnv::new()).unwrap();
    assert_clean("config debug", &format!("{config:?} {config:#?}"));
    for profile in config.profiles() {
        assert_clean("profile debug", &format!("{profile:?}"));
        assert_clean("profile url", &profile.display_url());
    }
    for name in config.profile_names() {
        let resolved = Resolver::new()
            .with_env(MapEnv::new())
            .lock_dir("/nonexistent-dba-lock-dir")
            .profile(Some(name.as_str()))
            .resolve(Some(&config))
            .unwrap();
        assert_clean(&name, &format!("{resolved:?} {resolved:#?}"));
        assert_clean(&name, &resolved.display_target());
        assert_clean(&name, &resolved.warnings.join("\n"));
        assert_clean(&name, &resolved.source.to_string());
        if let dba_config::Connection::Postgres(pg) = &resolved.connection {
            assert_clean(&name, &pg.redacted());
            assert_clean(&name, &pg.conninfo.to_string());
        }
    }
    assert_clean(
        "redact",
        &redact_url(&format!(
            "postgres://u:{PW}@h/db?password={PW}&apikey={KEY}"
        )),
    );
}
