//! TLS against private clusters serving certificates made here (rcgen): `verify-full` needs the right CA
//! and host name, `verify-ca` only the CA, and `require` is encrypted or fails, never plaintext.

use std::path::{Path, PathBuf};

use dba_core::{DatabaseClient, Error, ErrorKind, Value};
use dba_postgres::PostgresAdapter;
use dba_testkit::Cluster;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA: its certificate (PEM) and what signs server certificates.
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

/// A server certificate for `names` signed by `issuer`: (certificate PEM, key PEM).
fn server_cert(names: &[&str], issuer: &Issuer<'static, KeyPair>) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "dba test server");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A scratch file holding `pem`, removed on drop.
struct PemFile(PathBuf);

impl PemFile {
    fn new(name: &str, pem: &str) -> PemFile {
        let path = std::env::temp_dir().join(format!("dba-tls-{}-{name}.pem", std::process::id()));
        std::fs::write(&path, pem).unwrap();
        PemFile(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PemFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn url(host: &str, port: u16, sslmode: &str, root: Option<&Path>) -> String {
    let mut url = format!("postgresql://postgres@{host}:{port}/postgres?sslmode={sslmode}");
    if let Some(root) = root {
        url.push_str(&format!("&sslrootcert={}", root.display()));
    }
    url
}

/// Connects (one round trip) and returns whether the session is encrypted, from pg_stat_ssl.
async fn encrypted(url: &str) -> Result<bool, Error> {
    let adapter = PostgresAdapter::connect(url).await?;
    let rows = adapter
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    adapter.close().await;
    Ok(rows[0]["ssl"] == Value::Bool(true))
}

/// A refused connection: a connection error whose message says why (one of `why`).
fn assert_refused(result: Result<bool, Error>, why: &[&str], what: &str) {
    let err = match result {
        Ok(ssl) => panic!("{what}: connected (ssl={ssl}) but must be refused"),
        Err(err) => err,
    };
    assert_eq!(err.kind(), ErrorKind::Connection, "{what}: {err:?}");
    let text = format!("{err} {err:?}");
    assert!(
        why.iter().any(|w| text.contains(w)),
        "{what}: the error should say one of {why:?}: {text}"
    );
}

#[tokio::test]
async fn verify_full_needs_the_right_ca_and_host_and_require_is_encrypted() {
    let (ca_pem, issuer) = ca("dba test CA");
    let (other_ca_pem, _) = ca("another CA");
    // The certificate names localhost and db.example, but not 127.0.0.1.
    let (cert, key) = server_cert(&["localhost", "db.example"], &issuer);
    let cluster = Cluster::start_with_tls(&cert, &key);
    let port = cluster.port();
    let right = PemFile::new("right-ca", &ca_pem);
    let wrong = PemFile::new("wrong-ca", &other_ca_pem);

    // Right CA, right host: encrypted.
    let full = url("localhost", port, "verify-full", Some(right.path()));
    assert!(encrypted(&full).await.unwrap(), "verify-full must encrypt");

    // Wrong CA: refused in both verifying modes.
    for mode in ["verify-full", "verify-ca", "require"] {
        assert_refused(
            encrypted(&url("localhost", port, mode, Some(wrong.path()))).await,
            &["invalid peer certificate: UnknownIssuer"],
            &format!("{mode} with the wrong CA"),
        );
    }

    // Wrong host (127.0.0.1 is not in the certificate): verify-full refuses, verify-ca accepts.
    assert_refused(
        encrypted(&url("127.0.0.1", port, "verify-full", Some(right.path()))).await,
        &["certificate not valid for name \"127.0.0.1\""],
        "verify-full with the wrong host name",
    );
    assert!(
        encrypted(&url("127.0.0.1", port, "verify-ca", Some(right.path())))
            .await
            .unwrap(),
        "verify-ca ignores the host name but must encrypt"
    );

    // require (no CA): encrypted, whatever the certificate.
    assert!(
        encrypted(&url("127.0.0.1", port, "require", None))
            .await
            .unwrap()
    );
    // And the check can tell: a disabled session on the same server is plaintext.
    assert!(
        !encrypted(&url("127.0.0.1", port, "disable", None))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn require_never_falls_back_to_plaintext() {
    let cluster = Cluster::start();
    let port = cluster.port();
    for mode in ["require", "verify-ca", "verify-full"] {
        assert_refused(
            encrypted(&url("127.0.0.1", port, mode, None)).await,
            &["server does not support TLS"],
            &format!("{mode} against a server without TLS"),
        );
    }
    // prefer falls back, which shows the server itself answers.
    assert!(
        !encrypted(&url("127.0.0.1", port, "prefer", None))
            .await
            .unwrap()
    );
}
