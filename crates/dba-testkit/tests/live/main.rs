//! Live tests of dba-testkit against the PostgreSQL at the admin URL.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly; `allow`, not `expect`: clippy.toml already allows unwrap inside #[test] fns"
)]

use std::path::Path;
use std::str::FromStr;

use dba_testkit::{PgBouncer, TestDb, admin_url, test_path};
use tokio_postgres::{Client, Config, NoTls};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

async fn connect(url: &str) -> Client {
    let (client, connection) = Config::from_str(url).unwrap().connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn database_exists(name: &str) -> bool {
    let admin = connect(&admin_url()).await;
    admin
        .query_typed_opt(
            "select 1 from pg_database where datname = $1",
            &[(&name, tokio_postgres::types::Type::TEXT)],
        )
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn create_then_drop() {
    let db = TestDb::create(test_path!("create_then_drop")).await;
    assert!(db.name().starts_with("dba_test_"));
    assert!(db.url().starts_with("postgresql://"));
    assert!(db.url().ends_with(db.name()), "{}", db.url());
    assert_eq!(db.config().get_dbname(), Some(db.name()));
    assert!(database_exists(db.name()).await);

    // url(), config() and client() all reach the test's own database.
    let via_url = connect(db.url()).await;
    let row = via_url
        .query_typed_one("select current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.name());
    let row = db
        .client()
        .await
        .query_typed_one("select current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.name());

    let name = db.name().to_owned();
    // drop_db forces open connections (via_url) closed.
    db.drop_db().await;
    assert!(!database_exists(&name).await);
}

#[tokio::test]
async fn create_again_replaces_a_leftover() {
    let first = TestDb::create(test_path!("create_again_replaces_a_leftover")).await;
    let client = first.client().await;
    client
        .batch_execute("create table leftover (id int)")
        .await
        .unwrap();
    // The first run "failed": no drop_db. The next run of the same test:
    let second = TestDb::create(test_path!("create_again_replaces_a_leftover")).await;
    assert_eq!(first.name(), second.name());
    let row = second
        .client()
        .await
        .query_typed_one("select to_regclass('leftover') is null", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "the leftover table survived");
    second.drop_db().await;
}

#[tokio::test]
async fn fixtures_apply_in_order() {
    let db = TestDb::with_fixtures(
        test_path!("fixtures_apply_in_order"),
        fixtures(),
        &["users"],
    )
    .await;
    // posts references users, so it only works after users.
    db.apply_fixtures(fixtures(), &["posts"]).await;
    let rows = db
        .client()
        .await
        .query_typed(
            "select u.name, p.title from posts p join users u on u.id = p.user_id order by p.id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        [
            ("ada".to_owned(), "notes".to_owned()),
            ("grace".to_owned(), "compilers".to_owned())
        ]
    );
    db.drop_db().await;
}

#[tokio::test]
async fn fixtures_given_together_apply_in_the_given_order() {
    let db = TestDb::with_fixtures(
        test_path!("fixtures_given_together_apply_in_the_given_order"),
        fixtures(),
        &["users", "posts"],
    )
    .await;
    let row = db
        .client()
        .await
        .query_typed_one("select count(*) from posts", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    db.drop_db().await;
}

#[tokio::test]
async fn pgbouncer_in_transaction_mode_serves_unnamed_statements() {
    let db = TestDb::with_fixtures(
        test_path!("pgbouncer_in_transaction_mode_serves_unnamed_statements"),
        fixtures(),
        &["users"],
    )
    .await;
    let bouncer = PgBouncer::start(&db).await;
    assert!(
        bouncer
            .url()
            .contains(&format!("@127.0.0.1:{}/{}", bouncer.port(), db.name())),
        "{}",
        bouncer.url()
    );

    let mut client = connect(bouncer.url()).await;
    let row = client.query_typed_one("select 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    let row = client
        .query_typed_one("select current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.name());

    // Two sequential transactions, each possibly on a different server connection.
    for (id, name) in [(3_i64, "edsger"), (4, "barbara")] {
        let tx = client.transaction().await.unwrap();
        tx.query_typed(
            "insert into users (id, name) values ($1, $2)",
            &[
                (&id, tokio_postgres::types::Type::INT8),
                (&name, tokio_postgres::types::Type::TEXT),
            ],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let row = client
        .query_typed_one("select count(*) from users", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 4);

    drop(client);
    drop(bouncer);
    db.drop_db().await;
}

#[tokio::test]
async fn a_private_cluster_restarts_stops_and_is_deleted_on_drop() {
    let cluster = dba_testkit::Cluster::start();
    let dir = cluster.dir().to_path_buf();
    let url = cluster.create_database("scratch").await;
    assert!(url.ends_with("/scratch"), "{url}");
    let admin = cluster.admin().await;
    let one: i32 = admin.query_one("select 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);

    // A restart ends every session; new ones work on the same port.
    cluster.restart();
    assert!(admin.query_one("select 1", &[]).await.is_err());
    let client = connect(&url).await;
    let ssl: bool = client
        .query_one(
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!ssl);

    cluster.stop();
    assert!(
        tokio_postgres::connect(&url, NoTls).await.is_err(),
        "a stopped cluster must refuse connections"
    );
    cluster.restart();
    connect(&cluster.url()).await;

    drop(cluster);
    assert!(!dir.exists(), "{} should be deleted", dir.display());
}

async fn in_recovery(c: &Client) -> bool {
    c.query_one("select pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0)
}

/// A standby started from the primary streams its writes and refuses its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_streams_from_its_primary() {
    let primary = dba_testkit::Cluster::start();
    let standby = primary.start_standby();
    let p = primary.admin().await;
    let s = standby.admin().await;
    assert!(!in_recovery(&p).await);
    assert!(in_recovery(&s).await);
    p.batch_execute("create table t (id int); insert into t values (1), (2)")
        .await
        .unwrap();
    tokio::task::block_in_place(|| standby.wait_replayed(&primary));
    let n: i64 = s
        .query_one("select count(*) from t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let err = s
        .batch_execute("insert into t values (3)")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
    );
    assert_eq!(standby.psql("select count(*) from t"), "2");
    assert_ne!(standby.port(), primary.port());
}
