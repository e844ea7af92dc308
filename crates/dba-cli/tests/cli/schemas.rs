//! Several schemas end to end: a profile whose schema is `app` beside a schema `billing`, each with a table
//! named `items` and foreign keys across them, validated, fixed, backed up, restored and synced.

use dba_testkit::{TestDb, test_path};

use crate::support::{Workdir, db, run, scalar};

const SCHEMA_SQL: &str = "\
CREATE TABLE customers (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, UNIQUE (user_id, slug));
CREATE TABLE items (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, label text, UNIQUE (user_id, slug));
CREATE TABLE billing.items (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, price numeric,
    UNIQUE (user_id, slug));
CREATE TABLE billing.invoices (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL,
    customer_id int NOT NULL REFERENCES customers (id), item_id int REFERENCES billing.items (id),
    UNIQUE (user_id, slug));
CREATE TABLE payments (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL,
    invoice_id int NOT NULL REFERENCES billing.invoices (id), item_id int REFERENCES items (id),
    UNIQUE (user_id, slug));
";

/// Names as a profile whose schema is `app` writes them: its own tables bare, billing's qualified.
const BACKUP_SCHEMA: &str = r#"{"tables": [
  {"name": "customers"},
  {"name": "items"},
  {"name": "billing.items"},
  {"name": "billing.invoices", "parent": {"table": "customers", "field": "customer_id"},
   "optional_refs": [{"table": "billing.items", "field": "item_id"}]},
  {"name": "payments", "parent": {"table": "billing.invoices", "field": "invoice_id"},
   "optional_refs": [{"table": "app.items", "field": "item_id"}]}
]}"#;

/// Every row of u1 joined by slug across both schemas, so ids do not matter.
const JOINED: &str = "SELECT md5(string_agg(r, '|' ORDER BY r)) FROM ( \
    SELECT concat_ws(',', i.slug, c.slug, bi.slug, bi.price) AS r FROM billing.invoices i \
    JOIN app.customers c ON c.id = i.customer_id LEFT JOIN billing.items bi ON bi.id = i.item_id \
    WHERE i.user_id = 'u1' \
    UNION ALL SELECT concat_ws(',', p.slug, i.slug, ai.slug, ai.label) FROM app.payments p \
    JOIN billing.invoices i ON i.id = p.invoice_id LEFT JOIN app.items ai ON ai.id = p.item_id \
    WHERE p.user_id = 'u1') t";

async fn text(db: &TestDb, sql: &str) -> String {
    let client = db.client().await;
    client
        .query_one(sql, &[])
        .await
        .unwrap()
        .get::<_, String>(0)
}

async fn exec(db: &TestDb, sql: &str) {
    db.client().await.batch_execute(sql).await.unwrap();
}

/// The same slugs in both items tables, with ids that differ between them.
const DATA: &str = "\
INSERT INTO app.customers (user_id, slug) VALUES ('u2', 'other'), ('u1', 'ann'), ('u1', 'bob');
INSERT INTO app.items (user_id, slug, label) VALUES ('u1', 'a', 'app a'), ('u1', 'b', 'app b');
INSERT INTO billing.items (user_id, slug, price) VALUES ('u2', 'z', 0), ('u1', 'b', 20), ('u1', 'a', 10);
INSERT INTO billing.invoices (user_id, slug, customer_id, item_id) VALUES ('u1', 'inv1', 2, 3), ('u1', 'inv2', 3, 2);
INSERT INTO app.payments (user_id, slug, invoice_id, item_id) VALUES ('u1', 'pay1', 1, 2), ('u1', 'pay2', 2, 1);
";

/// Other users' rows, so the destination assigns other ids.
const NOISE: &str = "\
INSERT INTO app.customers (user_id, slug) SELECT 'u9', 'c' || g FROM generate_series(1, 5) g;
INSERT INTO app.items (user_id, slug) SELECT 'u9', 'i' || g FROM generate_series(1, 7) g;
INSERT INTO billing.items (user_id, slug) SELECT 'u9', 'b' || g FROM generate_series(1, 3) g;
";

fn workdir(name: &str, profiles: &[(&str, &str)], backup_schema: bool) -> Workdir {
    let dir = Workdir::new(name);
    let mut toml = String::new();
    for (profile, url) in profiles {
        toml.push_str(&format!(
            "[profiles.{profile}]\nurl = \"{url}\"\nschema = \"app\"\n\n"
        ));
    }
    toml.push_str("[schema]\nfile = \"schema.sql\"\n");
    if backup_schema {
        toml.push_str("backup_schema = \"backup-schema.json\"\n");
    }
    toml.push_str("\n[defaults]\nuser_id_env = \"APP_USER\"\n");
    dir.write("db.toml", &toml);
    dir.write("schema.sql", SCHEMA_SQL);
    dir.write("backup-schema.json", BACKUP_SCHEMA);
    dir
}

#[tokio::test]
async fn validate_fix_backup_and_restore_two_schemas() {
    let src = db(test_path!("schemas_src"), "two_schemas").await;
    let dst = db(test_path!("schemas_dst"), "two_schemas").await;
    let dir = workdir("schemas", &[("src", src.url()), ("dst", dst.url())], true);

    // Only billing's items lacks price; app's items is not confused with it.
    run(dir.dba().args(["validate", "--profile", "src"]))
        .code(1)
        .stdout_has("billing.items.price")
        .stdout_lacks("app.items.price");
    // The pre-fix backup covers both schemas' tables, each under its own key.
    let out = run(dir
        .dba()
        .args(["--json", "fix", "--profile", "src", "--confirm"])
        .env("APP_USER", "u1"))
    .code(0)
    .json();
    let pre_fix: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out["backup"].as_str().unwrap()).unwrap())
            .unwrap();
    let keys: Vec<&str> = pre_fix
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "metadata",
            "customers",
            "items",
            "billing.items",
            "billing.invoices",
            "payments"
        ]
    );
    run(dir
        .dba()
        .args(["fix", "--profile", "dst", "--confirm", "--no-backup"]))
    .code(0);
    for profile in ["src", "dst"] {
        run(dir.dba().args(["validate", "--profile", profile]))
            .code(0)
            .stdout_has("Schema is valid");
    }
    exec(&src, DATA).await;
    exec(&dst, NOISE).await;

    let out = run(dir.dba().args([
        "--json",
        "backup",
        "--profile",
        "src",
        "--user-id",
        "u1",
        "-o",
        "b.json",
    ]))
    .code(0)
    .json();
    assert_eq!(
        out["tables"],
        serde_json::json!({
            "customers": 2, "items": 2, "billing.items": 2, "billing.invoices": 2, "payments": 2
        })
    );
    let file: serde_json::Value = serde_json::from_str(&dir.read("b.json")).unwrap();
    let keys: Vec<&str> = file
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "metadata",
            "customers",
            "items",
            "billing.items",
            "billing.invoices",
            "payments"
        ]
    );
    assert_eq!(file["metadata"]["items_count"], 2);
    assert_eq!(file["metadata"]["billing.items_count"], 2);
    assert!(file["billing.items"][0]["price"].is_number());
    assert!(file["items"][0].get("price").is_none());

    run(dir
        .dba()
        .args(["backup", "--profile", "src", "--validate", "b.json"]))
    .code(0)
    .stdout_has("Backup is valid");

    let out = run(dir.dba().args([
        "--json",
        "restore",
        "b.json",
        "--profile",
        "dst",
        "--user-id",
        "u1",
        "-y",
    ]))
    .code(0)
    .json();
    // The summary holds `dry_run`, then one entry per table.
    let tables = out["summary"].as_object().unwrap();
    let names: Vec<&str> = tables
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "dry_run")
        .collect();
    assert_eq!(
        names,
        [
            "customers",
            "items",
            "billing.items",
            "billing.invoices",
            "payments"
        ]
    );
    for name in names {
        assert_eq!(tables[name]["inserted"], 2, "{name}");
    }
    assert_eq!(text(&dst, JOINED).await, text(&src, JOINED).await);
    // The references point at the rows the destination numbered, past the noise.
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) FROM billing.invoices i JOIN app.customers c ON c.id = i.customer_id \
             WHERE c.user_id = 'u1' AND c.id > 5"
        )
        .await,
        2
    );
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) FROM app.payments p JOIN app.items i ON i.id = p.item_id \
             WHERE i.user_id = 'u1' AND i.id > 7"
        )
        .await,
        2
    );
    dir.remove();
    src.drop_db().await;
    dst.drop_db().await;
}

#[tokio::test]
async fn sync_infers_the_graph_across_schemas() {
    let src = db(test_path!("schemas_sync_src"), "two_schemas").await;
    let dst = db(test_path!("schemas_sync_dst"), "two_schemas").await;
    exec(&src, "ALTER TABLE billing.items ADD COLUMN price numeric").await;
    exec(&dst, "ALTER TABLE billing.items ADD COLUMN price numeric").await;
    exec(&src, DATA).await;
    exec(&dst, NOISE).await;
    let dir = workdir(
        "schemas-sync",
        &[("src", src.url()), ("dst", dst.url())],
        false,
    );
    let tables = "customers,items,billing.items,billing.invoices,payments";
    let out = run(dir.dba().args([
        "--json",
        "sync",
        "--from",
        "src",
        "--profile",
        "dst",
        "--user-id",
        "u1",
        "--tables",
        tables,
        "--confirm",
    ]))
    .code(0)
    .json();
    let plan = out["comparison"]["sync_plan"].as_object().unwrap();
    let mut names: Vec<&str> = plan.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "billing.invoices",
            "billing.items",
            "customers",
            "items",
            "payments"
        ]
    );
    assert_eq!(plan["items"]["new"], 2);
    assert_eq!(plan["billing.items"]["new"], 2);
    assert_eq!(text(&dst, JOINED).await, text(&src, JOINED).await);
    dir.remove();
    src.drop_db().await;
    dst.drop_db().await;
}
