//! A profile whose `schema` is `app`: validate and fix read schema.sql's unqualified tables and views in
//! `app`, never in `public`, and a view is compared by what it does.

use dba_testkit::test_path;

use crate::support::{Workdir, db, run, scalar};

const SCHEMA_SQL: &str = "\
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2));
-- The live view, spelled differently.
create view named as select items.id, items.name from items where (items.name <> '');
";

#[tokio::test]
async fn validate_and_fix_work_in_the_profile_schema() {
    let app = db(test_path!("profile_schema_app"), "app_schema").await;
    let dir = Workdir::new("profile-schema");
    dir.write(
        "db.toml",
        &format!(
            "[profiles.dev]\nurl = \"{}\"\nschema = \"app\"\n\n[schema]\nfile = \"schema.sql\"\n",
            app.url()
        ),
    );
    dir.write("schema.sql", SCHEMA_SQL);
    run(dir.dba().args(["validate", "--profile", "dev"]))
        .code(1)
        .stdout_has("  Missing columns (1):\n    - app.items.price")
        .stdout_lacks("Missing tables")
        .stdout_lacks("named");
    // connect (through the facade's connect_and_validate) reads the same schema.
    run(dir.dba().args(["connect", "--profile", "dev"]))
        .code(1)
        .stdout_has("app.items.price");
    run(dir
        .dba()
        .args(["fix", "--profile", "dev", "--confirm", "--no-backup"]))
    .code(0);
    run(dir.dba().args(["validate", "--profile", "dev"]))
        .code(0)
        .stdout_has("Schema is valid");
    run(dir.dba().args(["connect", "--profile", "dev"]))
        .code(0)
        .stdout_has("Schema validation: PASSED");
    let columns = |schema: &str| {
        format!(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_schema = '{schema}' AND table_name = 'items'"
        )
    };
    assert_eq!(scalar(&app, &columns("app")).await, 3);
    assert_eq!(scalar(&app, &columns("public")).await, 2);

    // A view that does something else is drift, replaced in place once the lock hazard is allowed.
    dir.write(
        "schema.sql",
        &SCHEMA_SQL.replace("(items.name <> '')", "(items.name <> 'a')"),
    );
    run(dir.dba().args(["validate", "--profile", "dev"]))
        .code(1)
        .stdout_has(
            "app.named: view is `SELECT items.id, items.name FROM items WHERE items.name <> ''::text`, \
             expected `SELECT items.id, items.name FROM items WHERE items.name <> 'a'::text`",
        );
    run(dir.dba().args(["connect", "--profile", "dev"])).code(1);
    run(dir.dba().args([
        "fix",
        "--profile",
        "dev",
        "--confirm",
        "--no-backup",
        "--allow-hazard",
        "lock",
    ]))
    .code(0);
    run(dir.dba().args(["validate", "--profile", "dev"])).code(0);
    assert_eq!(scalar(&app, "SELECT count(*) FROM app.named").await, 1);
    dir.remove();
    app.drop_db().await;
}
