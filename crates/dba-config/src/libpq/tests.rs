use std::path::Path;

use crate::conninfo::Params;
use crate::libpq::{
    apply_defaults, lookup_service, parse_service_file, pgpass_lookup, pgpass_password,
};
use crate::test_support::TempDir;
use crate::{ConfigError, MapEnv};

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn environment_fills_only_what_is_open() {
    let env = MapEnv::new()
        .with("PGHOST", "envhost")
        .with("PGPORT", "5433")
        .with("PGUSER", "envuser")
        .with("PGPASSWORD", "envpw")
        .with("PGDATABASE", "envdb")
        .with("PGSSLMODE", "require")
        .with("PGAPPNAME", "");
    let mut p = params(&[("host", "h"), ("user", "u")]);
    apply_defaults(&mut p, &env).unwrap();
    assert_eq!(
        p,
        params(&[
            ("host", "h"),
            ("port", "5433"),
            ("user", "u"),
            ("password", "envpw"),
            ("dbname", "envdb"),
            ("sslmode", "require"),
        ])
    );
}

const SERVICES: &str = "\
# comment
[other]
host=other

[prod]
host = prod.example.com
port=6543
; another comment
dbname=app
";

#[test]
fn service_sections_are_read() {
    let got = parse_service_file(SERVICES, "prod", Path::new("s.conf")).unwrap();
    assert_eq!(
        got,
        Some(params(&[
            ("host", "prod.example.com"),
            ("port", "6543"),
            ("dbname", "app")
        ]))
    );
    assert_eq!(
        parse_service_file(SERVICES, "none", Path::new("s.conf")).unwrap(),
        None
    );
}

#[test]
fn service_file_syntax_errors_name_file_and_line() {
    let err = parse_service_file("[a]\nhost\n", "a", Path::new("s.conf")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "s.conf:2: syntax error in service file: expected key=value"
    );
    let err = parse_service_file("[a\n", "a", Path::new("s.conf")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "s.conf:1: syntax error in service file: a section header has no closing \"]\""
    );
    let err = parse_service_file("[a]\nservice=b\n", "a", Path::new("s.conf")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "s.conf:2: nested service specifications are not supported"
    );
}

#[test]
fn services_come_from_the_user_file_then_the_system_file() {
    let home = TempDir::new("libpq-home");
    let sys = TempDir::new("libpq-sys");
    home.file(".pg_service.conf", "[mine]\nhost=mine\n", 0o644);
    sys.file(
        "pg_service.conf",
        "[mine]\nhost=theirs\n[shared]\nhost=shared\n",
        0o644,
    );
    let env = MapEnv::new()
        .with("HOME", home.path().display().to_string())
        .with("PGSYSCONFDIR", sys.path().display().to_string());
    assert_eq!(
        lookup_service("mine", &env).unwrap(),
        params(&[("host", "mine")])
    );
    assert_eq!(
        lookup_service("shared", &env).unwrap(),
        params(&[("host", "shared")])
    );
    let err = lookup_service("nope", &env).unwrap_err();
    assert!(matches!(err, ConfigError::ServiceNotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "definition of service \"nope\" not found (searched {}, {})",
            home.path().join(".pg_service.conf").display(),
            sys.path().join("pg_service.conf").display()
        )
    );
    let err = lookup_service("x", &MapEnv::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "definition of service \"x\" not found (searched no service file exists)"
    );
}

#[test]
fn service_values_lose_to_the_connection_string_and_beat_the_environment() {
    let dir = TempDir::new("libpq-service");
    let file = dir.file(
        "services.conf",
        "[prod]\nhost=svc\nport=6543\nuser=svcuser\n",
        0o644,
    );
    let env = MapEnv::new()
        .with("PGSERVICEFILE", file.display().to_string())
        .with("PGSERVICE", "prod")
        .with("PGUSER", "envuser")
        .with("PGDATABASE", "envdb");
    let mut p = params(&[("port", "5432")]);
    apply_defaults(&mut p, &env).unwrap();
    assert_eq!(
        p,
        params(&[
            ("host", "svc"),
            ("port", "5432"),
            ("user", "svcuser"),
            ("dbname", "envdb")
        ])
    );
    // `service=` in the string beats PGSERVICE.
    let mut p = params(&[("service", "missing")]);
    let err = apply_defaults(&mut p, &env).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "definition of service \"missing\" not found (searched {})",
            file.display()
        )
    );
}

#[test]
fn pgpass_lines_match_with_wildcards_and_escapes() {
    let text = "\
# host:port:db:user:password
other:5432:*:*:no
db.example.com:*:app:app:first\\:pw\\\\x:y
*:*:*:*:fallback
";
    assert_eq!(
        pgpass_lookup(text, ["db.example.com", "6543", "app", "app"]).as_deref(),
        Some("first:pw\\x:y")
    );
    assert_eq!(
        pgpass_lookup(text, ["h", "1", "d", "u"]).as_deref(),
        Some("fallback")
    );
    assert_eq!(pgpass_lookup("a:b:c:d\n", ["a", "b", "c", "d"]), None);
    assert_eq!(pgpass_lookup("", ["a", "b", "c", "d"]), None);
}

#[test]
fn pgpass_is_read_only_when_private() {
    let dir = TempDir::new("libpq-pgpass");
    let file = dir.file("pgpass", "localhost:5432:app:app:S3cr3t!pw\n", 0o600);
    let env = MapEnv::new().with("PGPASSFILE", file.display().to_string());
    let p = params(&[("user", "app"), ("dbname", "app")]);
    let mut warnings = Vec::new();
    assert_eq!(
        pgpass_password(&p, &env, &mut warnings).as_deref(),
        Some("S3cr3t!pw")
    );
    assert!(warnings.is_empty());
    // A Unix-socket host matches "localhost".
    let socket = params(&[
        ("host", "/run/postgresql"),
        ("user", "app"),
        ("dbname", "app"),
    ]);
    assert_eq!(
        pgpass_password(&socket, &env, &mut warnings).as_deref(),
        Some("S3cr3t!pw")
    );
    // No match for another user; dbname defaults to the user.
    assert_eq!(
        pgpass_password(&params(&[("user", "x")]), &env, &mut warnings),
        None
    );
    assert_eq!(
        pgpass_password(&params(&[("user", "app")]), &env, &mut warnings).as_deref(),
        Some("S3cr3t!pw")
    );

    #[cfg(unix)]
    {
        dir.file("pgpass", "localhost:5432:app:app:S3cr3t!pw\n", 0o640);
        assert_eq!(pgpass_password(&p, &env, &mut warnings), None);
        assert_eq!(
            warnings,
            [format!(
                "password file {} has group or world access and is ignored; permissions should be u=rw (0600) or less",
                file.display()
            )]
        );
    }
    let mut warnings = Vec::new();
    let folder_env = MapEnv::new().with("PGPASSFILE", dir.path().display().to_string());
    assert_eq!(pgpass_password(&p, &folder_env, &mut warnings), None);
    assert_eq!(
        warnings,
        [format!(
            "password file {} is not a plain file",
            dir.path().display()
        )]
    );
    // From $HOME/.pgpass when PGPASSFILE is unset; a missing file is silently skipped.
    let home = MapEnv::new().with("HOME", dir.path().display().to_string());
    assert_eq!(pgpass_password(&p, &home, &mut warnings), None);
    dir.file(".pgpass", "*:*:*:*:homepw\n", 0o600);
    assert_eq!(
        pgpass_password(&p, &home, &mut warnings).as_deref(),
        Some("homepw")
    );
}
