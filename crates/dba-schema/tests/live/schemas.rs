//! A profile whose `schema` is not `public`: unqualified names in schema.sql are read in that schema,
//! qualified ones in their own, and tables of the same name in other schemas are never confused.

use dba_core::DatabaseClient;
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_schema::{
    ApplyOptions, Catalog, IntrospectOptions, PlanOptions, StepKind, apply, introspect,
    parse_column_defs, parse_schema_sql_in, plan_fix, validate,
};
use dba_testkit::{TestDb, test_path};

use crate::fixtures;

const EXPECTED: &str = "\
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10,2));
CREATE TABLE orders (id serial PRIMARY KEY, item_id int REFERENCES items (id));
CREATE TABLE billing.items (id int PRIMARY KEY, amount numeric(10,2) NOT NULL);
CREATE TABLE billing.invoices (id int PRIMARY KEY, order_id int REFERENCES orders (id));
";

/// The database of `app_schemas.sql`, through an adapter whose search path starts with `app`, as a profile
/// with `schema = "app"` connects.
async fn app_profile(test_path: &str) -> (TestDb, PostgresAdapter) {
    let db = TestDb::with_fixtures(test_path, &fixtures(), &["app_schemas"]).await;
    let mut options = PostgresOptions::default();
    options.schema = Some("app".to_owned());
    let adapter = PostgresAdapter::new(db.url(), options).unwrap();
    (db, adapter)
}

fn schemas_of(catalog: &Catalog) -> Vec<String> {
    let mut schemas: Vec<String> = catalog.tables.values().map(|t| t.schema.clone()).collect();
    schemas.sort();
    schemas.dedup();
    schemas
}

async fn live(client: &dyn DatabaseClient, expected: &Catalog) -> Catalog {
    let options = IntrospectOptions::default().with_schemas(schemas_of(expected));
    introspect(client, &options).await.unwrap()
}

#[tokio::test]
async fn unqualified_tables_are_expected_in_the_profile_schema() {
    let (db, adapter) = app_profile(test_path!("unqualified_in_profile_schema")).await;
    let expected = parse_schema_sql_in(EXPECTED, "schema.sql", "app")
        .unwrap()
        .catalog;
    assert_eq!(
        expected.tables.keys().collect::<Vec<_>>(),
        [
            "app.items",
            "app.orders",
            "billing.invoices",
            "billing.items"
        ]
    );
    assert_eq!(schemas_of(&expected), ["app", "billing"]);
    let invoices = &expected.tables["billing.invoices"];
    let fk = invoices.foreign_keys.values().next().unwrap();
    assert_eq!(fk.referenced_key(), "app.orders");

    let actual = live(&adapter, &expected).await;
    // public.items (id, legacy) is neither read nor mistaken for app.items.
    assert!(
        !actual.tables.contains_key("items"),
        "{:?}",
        actual.tables.keys()
    );
    let result = validate(&expected, &actual);
    assert!(
        result.missing_tables.is_empty(),
        "{}",
        result.format_report()
    );
    assert!(result.extra_tables.is_empty(), "{}", result.format_report());
    assert_eq!(
        result
            .missing_columns
            .iter()
            .map(|c| format!("{}.{}", c.table, c.column))
            .collect::<Vec<_>>(),
        ["app.items.price"],
        "{}",
        result.format_report()
    );
    assert_eq!(result.error_count(), 1, "{}", result.format_report());

    let options = PlanOptions {
        introspect: IntrospectOptions::default().with_schemas(schemas_of(&expected)),
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &options).unwrap();
    assert_eq!(plan.steps.len(), 1, "{}", plan.script());
    assert_eq!(plan.steps[0].kind, StepKind::AddColumn);
    assert_eq!(
        plan.steps[0].sql,
        "ALTER TABLE \"app\".\"items\" ADD COLUMN \"price\" numeric(10,2)"
    );
    assert_eq!(plan.tables_to_back_up(), ["app.items"]);
    apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();

    let after = live(&adapter, &expected).await;
    assert!(validate(&expected, &after).valid);
    let columns = |schema: &str| {
        format!(
            "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) AS c \
             FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = 'items'"
        )
    };
    for (schema, want) in [
        ("app", "id,name,price"),
        ("public", "id,legacy"),
        ("billing", "id,amount"),
    ] {
        let rows = adapter.query(&columns(schema), &[]).await.unwrap();
        assert_eq!(rows[0]["c"], want, "{schema}.items");
    }
    drop(adapter);
    db.drop_db().await;
}

#[tokio::test]
async fn drift_in_one_schema_is_not_hidden_by_a_table_of_the_same_name_in_another() {
    let (db, adapter) = app_profile(test_path!("same_name_two_schemas")).await;
    // billing.items lacks `currency`; app.items has every column schema.sql gives it.
    let sql = "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);\n\
               CREATE TABLE billing.items (id int PRIMARY KEY, amount numeric(10,2) NOT NULL, currency text);\n";
    let expected = parse_schema_sql_in(sql, "schema.sql", "app")
        .unwrap()
        .catalog;
    let actual = live(&adapter, &expected).await;
    let result = validate(&expected, &actual);
    assert_eq!(
        result
            .missing_columns
            .iter()
            .map(|c| format!("{}.{}", c.table, c.column))
            .collect::<Vec<_>>(),
        ["billing.items.currency"],
        "{}",
        result.format_report()
    );
    // The original's column-defs keys name no schema: a bare name held by one expected table finds it,
    // one held by two is refused rather than guessed.
    let defs = parse_column_defs(r#"{"invoices.x": "int"}"#, "defs.json").unwrap();
    let mut with_invoices = parse_schema_sql_in(EXPECTED, "schema.sql", "app")
        .unwrap()
        .catalog;
    dba_schema::apply_column_defs(&mut with_invoices, &defs).unwrap();
    assert!(
        with_invoices.tables["billing.invoices"]
            .columns
            .contains_key("x")
    );
    let defs = parse_column_defs(r#"{"items.name": "varchar(5)"}"#, "defs.json").unwrap();
    let err = dba_schema::apply_column_defs(&mut with_invoices, &defs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid column definition for items.name: the table name is ambiguous: it is one of app.items, \
         billing.items; write schema.table.column"
    );
    drop(adapter);
    db.drop_db().await;
}
