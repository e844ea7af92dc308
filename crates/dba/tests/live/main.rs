//! The factory against a real PostgreSQL: a profile becomes a working client, and an unreachable one is an
//! error, never "connected".

use dba::config::{Config, MapEnv, Resolver};
use dba::{ConnectError, ErrorKind, Filter, json};
use dba_testkit::{TestDb, test_path};

#[tokio::test]
async fn a_profile_becomes_a_working_client() {
    let db = TestDb::create(test_path!("a_profile_becomes_a_working_client")).await;
    let text = format!(
        "[profiles.local]\nurl = \"{}\"\nsslmode = \"disable\"\npool_size = 3\n\n[profiles.down]\nurl = \"postgresql://postgres:S3cr3t@127.0.0.1:1/none\"\nconnect_timeout = 2\n",
        db.url()
    );
    let config = Config::from_str_with_env(&text, "db.toml".as_ref(), &MapEnv::new()).unwrap();
    let env = MapEnv::new().with("DB_PROFILE", "local");
    let resolved = Resolver::new()
        .with_env(env)
        .resolve(Some(&config))
        .unwrap();
    let client = dba::connect(&resolved).await.unwrap();
    client
        .execute("CREATE TABLE t (id serial PRIMARY KEY, v text)", &[])
        .await
        .unwrap();
    client
        .insert("t", &json!({"v": "x"}).as_object().cloned().unwrap())
        .await
        .unwrap();
    assert_eq!(client.count("t", &Filter::new()).await.unwrap(), 1);

    let down = Resolver::new()
        .with_env(MapEnv::new())
        .profile(Some("down"))
        .resolve(Some(&config))
        .unwrap();
    let err = dba::connect(&down).await.err().unwrap();
    let ConnectError::Client { profile, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (profile.as_str(), source.kind()),
        ("down", ErrorKind::Connection)
    );
    assert!(!format!("{err} {err:?}").contains("S3cr3t"), "{err}");
    client.close().await;
    db.drop_db().await;
}

#[cfg(feature = "schema")]
#[tokio::test]
async fn connect_and_validate_writes_the_lock_only_after_a_real_connect() {
    let db = TestDb::create(test_path!(
        "connect_and_validate_writes_the_lock_only_after_a_real_connect"
    ))
    .await;
    let dir = std::env::temp_dir().join(format!("dba-facade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("schema.sql"),
        "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);\n",
    )
    .unwrap();
    let toml = format!(
        "[profiles.local]\nurl = \"{}\"\nsslmode = \"disable\"\n\n[profiles.down]\nurl = \"postgresql://postgres@127.0.0.1:1/none\"\nconnect_timeout = 2\n\n[schema]\nfile = \"schema.sql\"\n",
        db.url()
    );
    std::fs::write(dir.join("db.toml"), toml).unwrap();
    let config = dir.join("db.toml");

    // Unreachable: not connected, no lock.
    let down = dba::connect_and_validate(Some(&config), Some("down"), "", false, &dir).await;
    assert!(!down.success);
    assert!(
        down.error
            .as_deref()
            .unwrap()
            .starts_with("Failed to connect to database:"),
        "{down:?}"
    );
    assert!(!dir.join(".db-profile").exists());

    // Reachable but drifted: the report says what is missing, and no lock.
    let drift = dba::connect_and_validate(Some(&config), Some("local"), "", false, &dir).await;
    assert_eq!((drift.success, drift.schema_valid), (false, Some(false)));
    assert_eq!(
        drift.error.as_deref(),
        Some("Schema validation failed: 1 errors")
    );
    assert_eq!(
        drift.schema_report.as_ref().unwrap().missing_tables,
        ["items"]
    );
    assert!(!dir.join(".db-profile").exists());

    // Valid: success, and the lock names the profile.
    drift
        .client
        .unwrap()
        .execute(
            "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL)",
            &[],
        )
        .await
        .unwrap();
    let ok = dba::connect_and_validate(Some(&config), Some("local"), "", false, &dir).await;
    assert_eq!(
        (ok.success, ok.schema_valid, ok.error.clone()),
        (true, Some(true), None),
        "{ok:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(".db-profile")).unwrap(),
        "local"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    db.drop_db().await;
}
