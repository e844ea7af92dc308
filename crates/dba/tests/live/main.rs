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

/// A profile's `pipeline_depth` reaches the adapter: eight slow selects at once share two connections (four
/// calls each) of a pool of four, where with a connection per call they would use all four.
#[tokio::test(flavor = "multi_thread")]
async fn a_profiles_pipeline_depth_lets_calls_share_connections() {
    let db = TestDb::create(test_path!("a_profiles_pipeline_depth")).await;
    db.client()
        .await
        .batch_execute(
            "CREATE VIEW slow AS SELECT pg_backend_pid() AS pid, pg_sleep(0.2) IS NULL AS slept",
        )
        .await
        .unwrap();
    let text = format!(
        "[profiles.local]\nurl = \"{}\"\nsslmode = \"disable\"\npool_size = 4\npipeline_depth = 4\n",
        db.url()
    );
    let config = Config::from_str_with_env(&text, "db.toml".as_ref(), &MapEnv::new()).unwrap();
    let resolved = Resolver::new()
        .with_env(MapEnv::new())
        .profile(Some("local"))
        .resolve(Some(&config))
        .unwrap();
    let client = dba::connect(&resolved).await.unwrap();
    let mut calls = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            let rows = client.select("slow", &dba::Query::new()).await.unwrap();
            rows[0]["pid"].as_i64().unwrap()
        }));
    }
    let mut pids = std::collections::HashSet::new();
    for call in calls {
        pids.insert(call.await.unwrap());
    }
    assert!(pids.len() <= 2, "{} connections: {pids:?}", pids.len());
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

    // Unreachable: not connected, no lock; the typed reason is kept, and each cause is named once.
    let down = dba::connect_and_validate(Some(&config), Some("down"), "", false, &dir).await;
    assert!(!down.success);
    let error = down.error.as_deref().unwrap();
    assert!(
        error.starts_with("Failed to connect to database: profile down: connection error:"),
        "{down:?}"
    );
    assert_eq!(error.matches("Connection refused").count(), 1, "{error}");
    assert!(
        matches!(down.failure, Some(ConnectError::Client { .. })),
        "{down:?}"
    );
    assert_eq!(
        down.schema_file.as_deref(),
        Some(dir.join("schema.sql").as_path())
    );
    assert!(!down.lock_written);
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
    assert!(ok.lock_written && ok.switched_from.is_none(), "{ok:?}");
    assert_eq!(
        ok.resolved.as_ref().unwrap().profile.as_deref(),
        Some("local")
    );

    // Through the options form: the same profile under another name switches the lock and says from what;
    // validate_only never writes it.
    let toml = std::fs::read_to_string(&config).unwrap();
    let other = toml.replacen("[profiles.local]", "[profiles.other]", 1);
    std::fs::write(
        &config,
        format!("{toml}\n{}", other.split("[profiles.down]").next().unwrap()),
    )
    .unwrap();
    let loaded = Config::load(&config).unwrap();
    let options = dba::ConnectOptions::new(&dir).profile(Some("other"));
    let switched = dba::connect_and_validate_with(Some(&loaded), &options).await;
    assert!(switched.success, "{switched:?}");
    assert_eq!(switched.switched_from.as_deref(), Some("local"));
    let check = dba::connect_and_validate_with(
        Some(&loaded),
        &dba::ConnectOptions::new(&dir)
            .profile(Some("local"))
            .validate_only(true),
    )
    .await;
    assert!(check.success && !check.lock_written, "{check:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join(".db-profile")).unwrap(),
        "other"
    );
    let bare = dba::connect_and_validate_with(None, &options).await;
    assert!(!bare.success);
    // No config: connected without validation would need a URL; a profile without a config is an error.
    assert!(bare.failure.is_some(), "{bare:?}");

    // A schema file that does not parse fails naming the file, before any connection is tried.
    std::fs::write(dir.join("schema.sql"), "CREATE TABLE items (id int,\n").unwrap();
    let broken = dba::connect_and_validate(Some(&config), Some("down"), "", false, &dir).await;
    assert!(
        matches!(broken.failure, Some(ConnectError::Schema(_))),
        "{broken:?}"
    );
    assert!(
        broken.error.as_deref().unwrap().contains("schema.sql:"),
        "{broken:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    db.drop_db().await;
}

/// A profile's `read_url` gives the client a standby that only a reader uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_with_read_url_reads_from_the_standby_only_through_a_reader() {
    let primary = dba_testkit::Cluster::start();
    let standby = tokio::task::block_in_place(|| primary.start_standby());
    let text = format!(
        "[profiles.app]\nurl = \"{}\"\nread_url = \"{}\"\nmax_replica_lag = \"10s\"\nsslmode = \"disable\"\n",
        primary.url(),
        standby.url()
    );
    let config = Config::from_str_with_env(&text, "db.toml".as_ref(), &MapEnv::new()).unwrap();
    let resolved = Resolver::new()
        .with_env(MapEnv::new())
        .profile(Some("app"))
        .resolve(Some(&config))
        .unwrap();
    let client = dba::connect(&resolved).await.unwrap();
    let where_am_i = "SELECT pg_is_in_recovery() AS standby";
    assert_eq!(
        client.query(where_am_i, &[]).await.unwrap()[0]["standby"],
        json!(false)
    );
    let reader = client.reader().await.expect("a standby is configured");
    assert_eq!(reader.target(), dba::ReadTarget::Standby, "{reader:?}");
    assert_eq!(
        reader.client().query(where_am_i, &[]).await.unwrap()[0]["standby"],
        json!(true)
    );

    tokio::task::block_in_place(|| standby.stop());
    let reader = client.reader().await.expect("a standby is configured");
    assert_eq!(reader.target(), dba::ReadTarget::Primary);
    assert!(
        reader.fallback().unwrap().contains("cannot be used"),
        "{reader:?}"
    );
    assert_eq!(
        reader.client().query(where_am_i, &[]).await.unwrap()[0]["standby"],
        json!(false)
    );
}
