#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly; `allow`, not `expect`: clippy.toml may already allow unwrap in tests"
)]

use std::str::FromStr;

use tokio_postgres::Config;
use tokio_postgres::config::Host;

use super::url::{build_url, db_name, mask_password, quote_ident};
use super::{connect_admin, parse_admin};

#[test]
fn db_name_is_a_stable_fnv1a_identifier() {
    // FNV-1a 64 of the empty string is its offset basis.
    assert_eq!(db_name(""), "dba_test_cbf29ce484222325");
    // Known FNV-1a 64 vector: "a" -> af63dc4c8601ec8c.
    assert_eq!(db_name("a"), "dba_test_af63dc4c8601ec8c");
    let name = db_name("dba_postgres::live::insert_then_select");
    assert_eq!(name, db_name("dba_postgres::live::insert_then_select"));
    assert_ne!(name, db_name("dba_postgres::live::insert_then_delete"));
    assert_eq!(name.len(), "dba_test_".len() + 16);
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    );
}

#[test]
fn test_path_macro_joins_module_and_name() {
    assert_eq!(crate::test_path!("x"), "dba_testkit::tests::x");
}

#[test]
fn quote_ident_doubles_quotes() {
    assert_eq!(quote_ident("dba_test_00"), "\"dba_test_00\"");
    assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
}

#[test]
fn build_url_swaps_the_database_and_keeps_the_rest() {
    let admin =
        Config::from_str("postgresql://postgres:p%40ss@db.example:6543/postgres?sslmode=disable")
            .unwrap();
    let url = build_url(&admin, "dba_test_0123456789abcdef");
    assert_eq!(
        url,
        "postgresql://postgres:p%40ss@db.example:6543/dba_test_0123456789abcdef?sslmode=disable"
    );
    let back = Config::from_str(&url).unwrap();
    assert_eq!(back.get_dbname(), Some("dba_test_0123456789abcdef"));
    assert_eq!(back.get_password(), Some(&b"p@ss"[..]));
    assert_eq!(back.get_hosts(), admin.get_hosts());
    assert_eq!(back.get_ports(), &[6543]);
}

#[test]
fn build_url_percent_encodes_unix_socket_hosts() {
    let admin =
        Config::from_str("host=/var/run/postgresql port=5433 user=me dbname=postgres").unwrap();
    let url = build_url(&admin, "dba_test_x");
    assert_eq!(
        url,
        "postgresql://me@%2Fvar%2Frun%2Fpostgresql:5433/dba_test_x"
    );
    let back = Config::from_str(&url).unwrap();
    assert_eq!(
        back.get_hosts(),
        &[Host::Unix("/var/run/postgresql".into())]
    );
    assert_eq!(back.get_ports(), &[5433]);
    assert_eq!(back.get_user(), Some("me"));
}

#[test]
fn build_url_keeps_several_hosts_and_ipv6() {
    let admin = Config::from_str("postgresql://u@[::1]:1,127.0.0.1:2/postgres").unwrap();
    let url = build_url(&admin, "d");
    assert_eq!(url, "postgresql://u@[::1]:1,127.0.0.1:2/d");
    assert_eq!(Config::from_str(&url).unwrap().get_ports(), &[1, 2]);
}

#[test]
fn mask_password_hides_secrets_in_urls_and_key_values() {
    assert_eq!(
        mask_password("postgresql://postgres:s3cret@127.0.0.1:5432/postgres"),
        "postgresql://postgres:***@127.0.0.1:5432/postgres"
    );
    assert_eq!(
        mask_password("postgresql://postgres@127.0.0.1/postgres"),
        "postgresql://postgres@127.0.0.1/postgres"
    );
    assert_eq!(
        mask_password("host=h password=s3cret user=u"),
        "host=h password=*** user=u"
    );
    assert_eq!(
        mask_password("host=h password = 'a b\\'c' user=u"),
        "host=h password = *** user=u"
    );
}

#[test]
fn an_unparseable_admin_url_names_it_masked() {
    let err = parse_admin("postgresql://u:s3cret@h:notaport/db").unwrap_err();
    assert!(err.contains("postgresql://u:***@h:notaport/db"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_fails_naming_the_url() {
    // A port that was free a moment ago: nothing answers there.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgresql://postgres:s3cret@127.0.0.1:{port}/postgres");
    let (admin, shown) = parse_admin(&url).unwrap();
    let started = std::time::Instant::now();
    let Err(err) = connect_admin(&admin, &shown).await else {
        panic!("connecting to a closed port succeeded");
    };
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        err.contains(&format!(
            "cannot reach PostgreSQL at postgresql://postgres:***@127.0.0.1:{port}/postgres"
        )),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains(crate::URL_VAR), "{err}");
}
