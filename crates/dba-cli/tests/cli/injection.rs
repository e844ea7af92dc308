//! Hostile names and values through every flag and file that names something: `--profile`, `--from`,
//! `--tables`, `--user-id`, backup-schema table and field names, column-defs keys, schema.sql identifiers
//! fed to `fix`, sync tables, and restore files with hostile keys and values. Each is refused with a clear
//! error or quoted, so that the literally-named object is the one used. Proven server-side: triggers record
//! any DML on a canary table and any DDL at all (`tamper_log`), the canary's contents and the set of tables
//! are compared before and after, and `pg_stat_statements` (on a private server started with it loaded)
//! must show no statement that drops, truncates or touches the canary outside a quoted identifier.

use dba_testkit::{Cluster, TestDb, test_path};
use serde_json::json;

use crate::support::{SCHEMA_SECTIONS, Workdir, fixtures, run};

const WEIRD: &str = "weird; DROP TABLE canary; --";
const WEIRD_SLUG: &str = "slug' OR 1=1";
const HOSTILE_VALUE: &str = "a'); DROP TABLE canary; --";

/// Names that must never be taken for SQL.
const HOSTILE: &[&str] = &[
    "canary; DROP TABLE canary",
    "x'; DROP TABLE canary; --",
    "products\"; DROP TABLE canary; --",
    "categories) OR (1=1",
    "$1",
];

/// A backup schema holding the table with the hostile name, written quoted as a table name must be.
fn weird_schema() -> serde_json::Value {
    json!({"tables": [{"name": format!("\"{WEIRD}\""), "pk": "id", "slug_field": WEIRD_SLUG,
                       "user_field": "user_id"}]})
}

async fn hostile_db(cluster: &Cluster, path: &str, base: &str) -> TestDb {
    TestDb::with_fixtures_on(&cluster.url(), path, &fixtures(), &[base, "hostile"]).await
}

/// A private server that records every statement it runs in pg_stat_statements, so the check below never
/// depends on how the shared test server is configured.
fn recording_cluster() -> Cluster {
    Cluster::start_with_settings(
        "shared_preload_libraries = 'pg_stat_statements'\n\
         pg_stat_statements.track = all\n\
         pg_stat_statements.max = 10000",
    )
}

/// What must not change: the canary's rows and the list of tables.
async fn state(db: &TestDb) -> (String, String) {
    let client = db.client().await;
    let row = client
        .query_one(
            "SELECT (SELECT string_agg(id || '=' || name, ',' ORDER BY id) FROM canary), \
                    (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
                     WHERE schemaname = 'public')",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn tamper_log(db: &TestDb) -> Vec<String> {
    let client = db.client().await;
    client
        .query("SELECT what FROM tamper_log", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Turns on pg_stat_statements for this database and forgets what the fixtures ran.
async fn statements_on(db: &TestDb) {
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset(); \
             DELETE FROM tamper_log",
        )
        .await
        .unwrap();
}

/// Statements seen by pg_stat_statements in this database that drop, truncate or name the canary once
/// quoted identifiers and string literals are taken out.
async fn bad_statements(db: &TestDb) -> Vec<String> {
    let client = db.client().await;
    client
        .query(
            "SELECT query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
             WHERE d.datname = current_database() \
             AND regexp_replace(regexp_replace(query, '\"([^\"]|\"\")*\"', '\"\"', 'g'), \
                                '''([^'']|'''')*''', '''''', 'g') ~* '\\m(drop|truncate|canary)\\M' \
             AND query !~* 'pg_stat_statements|tamper_log|FROM canary\\)|string_agg'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// How many statements pg_stat_statements recorded in this database (so an empty list of bad statements
/// is not an empty record).
async fn statements_seen(db: &TestDb) -> i64 {
    db.client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
             WHERE d.datname = current_database() AND query ~* '^(insert|select|update|delete)'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn hostile_names_are_refused_or_quoted_and_nothing_else_runs() {
    let cluster = recording_cluster();
    let src = hostile_db(&cluster, test_path!("injection_src"), "full").await;
    let dst = hostile_db(&cluster, test_path!("injection_dst"), "empty").await;
    src.client()
        .await
        .execute(
            &format!(
                "INSERT INTO \"{}\" (\"{WEIRD_SLUG}\", user_id) VALUES ($1, 'u1')",
                WEIRD.replace('"', "\"\"")
            ),
            &[&HOSTILE_VALUE],
        )
        .await
        .unwrap();
    statements_on(&src).await;
    statements_on(&dst).await;
    let (src_before, dst_before) = (state(&src).await, state(&dst).await);
    let dir = Workdir::with_profiles(
        "injection",
        &[("src", src.url()), ("dst", dst.url())],
        SCHEMA_SECTIONS,
    );
    dir.write("weird-schema.json", &weird_schema().to_string());

    for name in HOSTILE {
        // Profile names: looked up in db.toml, never sent anywhere.
        for verb in [
            &["validate"][..],
            &["backup", "--user-id", "u1"],
            &["restore", "weird-schema.json", "-y", "--user-id", "u1"],
            &["fix", "--confirm"],
        ] {
            run(dir.dba().args(verb).args(["--profile", name]))
                .code(1)
                .stderr_has(&format!("profile \"{name}\" not found in db.toml"));
        }
        run(dir.dba().args([
            "sync",
            "--profile",
            "dst",
            "--from",
            name,
            "--user-id",
            "u1",
            "--confirm",
        ]))
        .code(1)
        .stderr_has(&format!("profile \"{name}\" not found in db.toml"));
        run(dir
            .dba()
            .args(["validate", "--profile", "dst", "--against", name]))
        .code(1)
        .stderr_has(&format!("profile \"{name}\" not found in db.toml"));
        // Table lists: only tables of the backup schema.
        let tables = format!("categories,{name}");
        run(dir.dba().args([
            "backup",
            "--profile",
            "src",
            "--user-id",
            "u1",
            "-o",
            "t.json",
            "--tables",
            &tables,
        ]))
        .code(1)
        .stderr_has(&format!("table '{name}' is not in the schema"));
        run(dir.dba().args([
            "sync",
            "--profile",
            "dst",
            "--from",
            "src",
            "--user-id",
            "u1",
            "--tables",
            &tables,
            "--confirm",
        ]))
        .code(1)
        .stderr_has(&format!("table '{name}' is not in the schema"));
        // Table names in a backup schema: refused unless they parse as one (quoted) name.
        let schema = json!({"tables": [{"name": name, "pk": "id", "slug_field": "slug", "user_field": "user_id"}]});
        dir.write("hostile-schema.json", &schema.to_string());
        let out = run(dir.dba().args([
            "backup",
            "--profile",
            "src",
            "--user-id",
            "u1",
            "-o",
            "h.json",
            "--backup-schema",
            "hostile-schema.json",
        ]));
        out.code(1);
        assert!(
            out.stderr.contains("table name") || out.stderr.contains("does not exist"),
            "{name}: {}",
            out.stderr
        );
        // Field names: quoted, so PostgreSQL looks for a column of that very name.
        for field in ["pk", "slug_field", "user_field"] {
            let mut schema = json!({"tables": [{"name": "categories", "pk": "id", "slug_field": "slug",
                                                "user_field": "user_id"}]});
            schema["tables"][0][field] = json!(name);
            dir.write("hostile-fields.json", &schema.to_string());
            let out = run(dir.dba().args([
                "backup",
                "--profile",
                "src",
                "--user-id",
                "u1",
                "-o",
                "f.json",
                "--backup-schema",
                "hostile-fields.json",
            ]));
            if field == "slug_field" {
                // The natural key is read from each row, not named in SQL: a missing field is a warning.
                out.code(0);
            } else {
                out.code(1)
                    .stderr_has(&format!("column \"{name}\" does not exist"));
            }
        }
        // A user id is a bound value: it matches no row, whatever it says.
        let out = run(dir.dba().args([
            "backup",
            "--profile",
            "src",
            "--user-id",
            name,
            "-o",
            "u.json",
            "--json",
        ]));
        out.code(0);
        assert_eq!(
            out.json()["tables"],
            json!({"categories": 0, "products": 0}),
            "{name}"
        );
        // Restore files with hostile column names: the column does not exist; nothing is committed.
        let file = json!({"metadata": {"user_id": "u1", "version": "1.1", "categories_count": 1, "products_count": 0},
                          "categories": [{"id": 1, "slug": "c1", "name": "C", "user_id": "u1", *name: 1}],
                          "products": []});
        dir.write("hostile-keys.json", &file.to_string());
        run(dir.dba().args([
            "restore",
            "hostile-keys.json",
            "--profile",
            "dst",
            "--user-id",
            "u1",
            "-y",
        ]))
        .code(1)
        .stderr_has("nothing was committed");
        // Column-defs keys: a key naming no table of schema.sql is ignored, never sent.
        dir.write(
            "hostile-defs.json",
            &json!({format!("{name}.b"): "TEXT"}).to_string(),
        );
        let doc = run(dir.dba().args([
            "fix",
            "--profile",
            "dst",
            "--column-defs",
            "hostile-defs.json",
            "--json",
        ]))
        .code(0)
        .json();
        assert_eq!(doc["valid"], true, "{name}: {doc}");
    }
    assert_eq!(tamper_log(&src).await, Vec::<String>::new(), "source");
    assert_eq!(tamper_log(&dst).await, Vec::<String>::new(), "destination");

    // The literally-named table and column are the ones used: backed up, restored and synced by name.
    run(dir.dba().args([
        "backup",
        "--profile",
        "src",
        "--user-id",
        "u1",
        "-o",
        "weird.json",
        "--backup-schema",
        "weird-schema.json",
    ]))
    .code(0);
    let backup: serde_json::Value = serde_json::from_str(&dir.read("weird.json")).unwrap();
    assert_eq!(backup[format!("\"{WEIRD}\"")][0][WEIRD_SLUG], HOSTILE_VALUE);
    run(dir.dba().args([
        "restore",
        "weird.json",
        "--profile",
        "dst",
        "--user-id",
        "u2",
        "-y",
        "--backup-schema",
        "weird-schema.json",
    ]))
    .code(0);
    let quoted = format!("\"{}\"", WEIRD.replace('"', "\"\""));
    let restored: String = dst
        .client()
        .await
        .query_one(
            &format!("SELECT \"{WEIRD_SLUG}\" || '/' || user_id FROM {quoted}"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(restored, format!("{HOSTILE_VALUE}/u2"));
    // The slug is unique across users: make room for the sync of u1's row.
    dst.client()
        .await
        .batch_execute(&format!("DELETE FROM {quoted}"))
        .await
        .unwrap();
    dir.write(
        "db-weird.toml",
        &format!(
            "[profiles.src]\nurl = \"{}\"\n[profiles.dst]\nurl = \"{}\"\n[schema]\nbackup_schema = \"weird-schema.json\"\n",
            src.url(),
            dst.url()
        ),
    );
    let out = run(dir.dba().args([
        "--config",
        "db-weird.toml",
        "sync",
        "--profile",
        "dst",
        "--from",
        "src",
        "--user-id",
        "u1",
        "--tables",
        &format!("\"{WEIRD}\""),
        "--confirm",
        "--mode",
        "upsert",
        "--json",
    ]));
    out.code(0);
    assert_eq!(out.json()["result"]["synced_count"], 1, "{}", out.stdout);
    let synced: String = dst
        .client()
        .await
        .query_one(
            &format!("SELECT \"{WEIRD_SLUG}\" || '/' || user_id FROM {quoted}"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(synced, format!("{HOSTILE_VALUE}/u1"));
    assert_eq!(tamper_log(&src).await, Vec::<String>::new(), "source");
    assert_eq!(tamper_log(&dst).await, Vec::<String>::new(), "destination");
    assert_eq!(state(&src).await, src_before);
    assert_eq!(state(&dst).await, dst_before);

    // fix with hostile identifiers in schema.sql and column-defs: the one intended CREATE TABLE and ALTER
    // TABLE, on objects named exactly as written.
    let table = "x\"\"; DROP TABLE canary; --";
    let column = "a'); DELETE FROM canary; --";
    dir.write(
        "hostile-schema.sql",
        &format!("CREATE TABLE \"{table}\" (id SERIAL PRIMARY KEY, \"{column}\" TEXT);\n\
                  CREATE TABLE canary (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \"n); DROP TABLE canary; --\" TEXT);\n"),
    );
    dir.write(
        "hostile-defs.json",
        &json!({"canary.n); DROP TABLE canary; --": "TEXT DEFAULT 'x''); DROP TABLE canary; --'"})
            .to_string(),
    );
    run(dir.dba().args([
        "fix",
        "--profile",
        "dst",
        "--schema-file",
        "hostile-schema.sql",
        "--column-defs",
        "hostile-defs.json",
        "--confirm",
        "--no-backup",
    ]))
    .code(0)
    .stdout_has("Schema fix complete!");
    let mut log = tamper_log(&dst).await;
    log.sort();
    assert_eq!(
        log,
        ["ALTER TABLE", "CREATE TABLE"],
        "only the intended DDL ran"
    );
    let client = dst.client().await;
    let found: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND \
             ((table_name = $1 AND column_name = $2) OR (table_name = 'canary' AND column_name = $3 AND \
              column_default = $4))",
            &[&"x\"; DROP TABLE canary; --", &column, &"n); DROP TABLE canary; --", &"'x''); DROP TABLE canary; --'::text"],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        found, 2,
        "the literally-named table, column and default exist"
    );
    assert_eq!(state(&dst).await.0, dst_before.0, "the canary's rows");
    assert_eq!(bad_statements(&src).await, Vec::<String>::new());
    assert_eq!(bad_statements(&dst).await, Vec::<String>::new());
    assert!(
        statements_seen(&dst).await > 0,
        "pg_stat_statements recorded the CLI's statements"
    );
    dir.remove();
    src.drop_db().await;
    dst.drop_db().await;
}
