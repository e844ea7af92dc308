use super::*;

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn classifies_forms() {
    assert_eq!(form("postgres://h"), Form::Url);
    assert_eq!(form(" PostgreSQL://h"), Form::Url);
    assert_eq!(form("https://x.supabase.co"), Form::Http);
    assert_eq!(form("mysql://h"), Form::OtherScheme("mysql"));
    assert_eq!(form("host=h"), Form::KeyValue);
    assert_eq!(form("options='-c a://b'"), Form::KeyValue);
    assert_eq!(form(""), Form::KeyValue);
}

#[test]
fn parses_a_full_url() {
    let got = parse_url(
        "postgresql://app:p%40ss@db.example.com:6543/my%20db?sslmode=require&application_name=x",
    )
    .unwrap();
    let want = params(&[
        ("user", "app"),
        ("password", "p@ss"),
        ("host", "db.example.com"),
        ("port", "6543"),
        ("dbname", "my db"),
        ("sslmode", "require"),
        ("application_name", "x"),
    ]);
    assert_eq!(got, want);
}

#[test]
fn parses_url_variants() {
    assert_eq!(parse_url("postgres://").unwrap(), Params::new());
    assert_eq!(
        parse_url("postgres:///db").unwrap(),
        params(&[("dbname", "db")])
    );
    assert_eq!(
        parse_url("postgres://u:a/b@c@h/db").unwrap(),
        params(&[
            ("user", "u"),
            ("password", "a/b@c"),
            ("host", "h"),
            ("dbname", "db")
        ])
    );
    assert_eq!(
        parse_url("postgres://h1:5432,[::1]:5433,h3/db").unwrap(),
        params(&[
            ("host", "h1,::1,h3"),
            ("port", "5432,5433,"),
            ("dbname", "db")
        ])
    );
    assert_eq!(
        parse_url("postgres://%2Fvar%2Frun%2Fpostgresql/db?ssl=true").unwrap(),
        params(&[
            ("host", "/var/run/postgresql"),
            ("dbname", "db"),
            ("sslmode", "require")
        ])
    );
    assert_eq!(
        parse_url("postgres://u@h").unwrap(),
        params(&[("user", "u"), ("host", "h")])
    );
}

#[test]
fn rejects_bad_urls_without_quoting_them() {
    let cases = [
        (
            "postgres://h:abc/db",
            "invalid port: expected a number from 1 to 65535",
        ),
        (
            "postgres://h:0/db",
            "invalid port: expected a number from 1 to 65535",
        ),
        (
            "postgres://h:70000/db",
            "invalid port: expected a number from 1 to 65535",
        ),
        (
            "postgres://h:+5/db",
            "invalid port: expected a number from 1 to 65535",
        ),
        ("postgres://[::1/db", "an IPv6 host has no closing \"]\""),
        ("postgres://[::1]x/db", "unexpected text after an IPv6 host"),
        (
            "postgres://u:%zz@h",
            "invalid percent-encoding in the password",
        ),
        ("postgres://h/db?sslmode", "a query parameter has no \"=\""),
        ("postgres:/h", "expected postgres:// or postgresql://"),
    ];
    for (input, want) in cases {
        assert_eq!(parse_url(input).unwrap_err(), want, "{input}");
    }
}

#[test]
fn parses_conninfo() {
    let got =
        parse_conninfo(" host = h port=5432 password='a \\'b\\\\' dbname=d\\ b user=''").unwrap();
    assert_eq!(
        got,
        params(&[
            ("host", "h"),
            ("port", "5432"),
            ("password", "a 'b\\"),
            ("dbname", "d b"),
            ("user", "")
        ])
    );
    assert_eq!(parse_conninfo("").unwrap(), Params::new());
    assert_eq!(
        parse_conninfo("host=a host=b").unwrap(),
        params(&[("host", "b")])
    );
}

#[test]
fn rejects_bad_conninfo() {
    assert_eq!(
        parse_conninfo("host").unwrap_err(),
        "a keyword has no \"=\" after it"
    );
    assert_eq!(
        parse_conninfo("=x").unwrap_err(),
        "a \"=\" has no keyword before it"
    );
    assert_eq!(
        parse_conninfo("password='abc").unwrap_err(),
        "the quoted value of `password` is not terminated"
    );
}

#[test]
fn renders_in_driver_order_with_quoting() {
    let p = params(&[
        ("dbname", "d"),
        ("password", "it's\\"),
        ("host", "h"),
        ("port", "5432"),
        ("sslrootcert", "/x"),
    ]);
    assert_eq!(
        render(&p),
        "host='h' port='5432' password='it\\'s\\\\' dbname='d'"
    );
    // The rendered string parses back to the same values.
    let back = parse_conninfo(&render(&p)).unwrap();
    assert_eq!(back.get("password").map(String::as_str), Some("it's\\"));
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%20b%C3%A9").as_deref(), Some("a bé"));
    assert_eq!(percent_decode("%"), None);
    assert_eq!(percent_decode("%4"), None);
    assert_eq!(percent_decode("%FF"), None);
    assert_eq!(percent_decode("%é1"), None);
}
