//! Unit tests of the comparator and the report text.

use super::*;
use crate::parse::parse_schema_sql;

fn catalog(sql: &str) -> Catalog {
    parse_schema_sql(sql, "test.sql").unwrap().catalog
}

#[test]
fn the_original_report_text_is_kept_exactly() {
    let expected = catalog(
        "CREATE TABLE items (id int, a text, b text, e text, f text);\n\
         CREATE TABLE products (id int, name text, price numeric, active bool);\n\
         CREATE TABLE categories (id int);\n\
         CREATE TABLE zeta (id int);",
    );
    let actual = catalog(
        "CREATE TABLE items (id int, a text);\n\
         CREATE TABLE products (id int, name text);\n\
         CREATE TABLE legacy (id int);\n\
         CREATE TABLE audit (id int);",
    );
    let r = validate(&expected, &actual);
    assert!(!r.valid);
    assert_eq!(r.missing_tables, ["categories", "zeta"]);
    assert_eq!(r.extra_tables, ["audit", "legacy"]);
    assert_eq!(r.error_count(), 7);
    assert_eq!(
        r.missing_columns[0].message,
        "Column 'b' missing from table 'items'"
    );
    assert_eq!(
        r.format_report(),
        "Schema validation failed:\n\
         \n  Missing tables (2):\n    - categories\n    - zeta\n\
         \n  Missing columns (5):\n    - items.b\n    - items.e\n    - items.f\n    - products.active\n    - products.price\n\
         \n  Extra tables (warning): audit, legacy"
    );
}

#[test]
fn equal_schemas_are_valid_and_spelling_does_not_matter() {
    let expected = catalog(
        "CREATE TABLE t (id serial PRIMARY KEY, n varchar(20) NOT NULL DEFAULT 'x', at timestamptz DEFAULT now(), ok bool);",
    );
    let mut actual = expected.clone();
    let t = actual.tables.get_mut("t").unwrap();
    t.columns.get_mut("n").unwrap().data_type = "character varying(20)".into();
    t.columns.get_mut("n").unwrap().default = Some("'x'::character varying".into());
    t.columns.get_mut("id").unwrap().default = Some("nextval('t_id_seq'::regclass)".into());
    let r = validate(&expected, &actual);
    assert!(r.valid, "{}", r.format_report());
    assert_eq!(r.format_report(), "Schema valid");
    assert!(validate(&Catalog::default(), &actual).valid);
}

#[test]
fn drift_beyond_names_is_typed_and_reported_after_the_original_sections() {
    let expected = catalog(
        "CREATE TABLE cats (id int PRIMARY KEY);\n\
         CREATE TABLE items (\n\
           id int PRIMARY KEY, cat_id int REFERENCES cats ON DELETE CASCADE,\n\
           price numeric(10,2) NOT NULL CHECK (price >= 0), sku text UNIQUE, note text DEFAULT 'n'\n\
         );\n\
         CREATE INDEX items_note_idx ON items (lower(note)) WHERE note IS NOT NULL;",
    );
    let actual = catalog(
        "CREATE TABLE cats (id int PRIMARY KEY);\n\
         CREATE TABLE items (id int, cat_id int, price integer, sku text, note text DEFAULT 'm', extra int);\n\
         CREATE INDEX items_sku_idx ON items (sku);",
    );
    let r = validate(&expected, &actual);
    assert!(!r.valid);
    assert!(r.missing_columns.is_empty() && r.missing_tables.is_empty());
    let kinds: Vec<String> = r
        .differences
        .iter()
        .map(|d| {
            serde_json::to_value(d).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "nullability",
            "default",
            "column_type",
            "nullability",
            "extra_column",
            "primary_key",
            "missing_foreign_key",
            "missing_unique",
            "missing_check",
            "missing_index",
            "extra_index"
        ]
    );
    let report = r.format_report();
    assert!(
        report.starts_with("Schema validation failed:\n\n  Schema drift (8):\n"),
        "{report}"
    );
    assert!(
        report.contains("    - items.price: type is integer, expected numeric(10,2)"),
        "{report}"
    );
    assert!(
        report.contains("    - items.id: is nullable, expected NOT NULL"),
        "{report}"
    );
    assert!(report.contains(
        "    - items: missing foreign key (cat_id) -> cats(id) on delete cascade on update no action"
    ));
    assert!(
        report.contains("\n\n  Warnings (3):\n    - items.note: default is 'm', expected 'n'"),
        "{report}"
    );
    assert_eq!(r.error_count(), 8);
}

#[test]
fn changed_foreign_keys_and_indexes_and_enums() {
    let expected = catalog(
        "CREATE TYPE mood AS ENUM ('a', 'b');\n\
         CREATE TABLE p (x int, y int, PRIMARY KEY (x, y));\n\
         CREATE TABLE c (x int, y int, FOREIGN KEY (x, y) REFERENCES p ON DELETE SET NULL);\n\
         CREATE UNIQUE INDEX c_x ON c (x);\n\
         CREATE VIEW v AS SELECT 1;",
    );
    let actual = catalog(
        "CREATE TYPE mood AS ENUM ('a');\n\
         CREATE TABLE p (x int, y int, PRIMARY KEY (x, y));\n\
         CREATE TABLE c (x int, y int, FOREIGN KEY (x, y) REFERENCES p (x, y));\n\
         CREATE INDEX c_x ON c (x);",
    );
    let r = validate(&expected, &actual);
    let texts: Vec<String> = r.errors().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "c: foreign key c_x_y_fkey is (x, y) -> p(x, y) on delete no action on update no action, \
             expected (x, y) -> p(x, y) on delete set null on update no action",
            "c: index is c_x using btree (x), expected unique c_x using btree (x)",
            "v: missing view",
            "mood: enum labels are (a), expected (a, b)",
        ]
    );
}

#[test]
fn checks_match_by_expression_then_name() {
    let expected = catalog(
        "CREATE TABLE t (a int CHECK (a > 0), b text, CONSTRAINT b_in CHECK (b IN ('x', 'y')));",
    );
    let mut actual = expected.clone();
    let t = actual.tables.get_mut("t").unwrap();
    t.check_constraints.get_mut("t_a_check").unwrap().expression = "(a > (0)::integer)".into();
    t.check_constraints.get_mut("b_in").unwrap().expression =
        "b = ANY (ARRAY['x'::text, 'y'::text])".into();
    let r = validate(&expected, &actual);
    assert!(r.valid);
    assert_eq!(r.warnings().count(), 1);
    assert!(matches!(r.differences[0], Difference::CheckChanged { .. }));
}

fn view(definition: &str, rendered: Option<&str>, columns: &[(&str, &str)]) -> View {
    View {
        schema: "public".to_owned(),
        name: "v".to_owned(),
        materialized: false,
        definition: definition.to_owned(),
        aliases: Vec::new(),
        rendered: rendered.map(str::to_owned),
        columns: columns
            .iter()
            .map(|(n, t)| crate::model::ViewColumn {
                name: (*n).to_owned(),
                data_type: (*t).to_owned(),
            })
            .collect(),
    }
}

#[test]
fn views_compare_by_rendering_and_by_name_without_one() {
    let live = " SELECT t.id\n   FROM t\n  WHERE t.s = 'a  b'::text;";
    let mut expected = catalog("CREATE TABLE t (id int, s text);");
    let mut actual = expected.clone();
    actual
        .views
        .insert("v".to_owned(), view(live, Some(live), &[]));
    // Not rendered: compared by name only, as the file's text never matches PostgreSQL's print-out.
    expected.views.insert(
        "v".to_owned(),
        view("SELECT id FROM t WHERE s = 'x'", None, &[]),
    );
    assert!(validate(&expected, &actual).valid);
    // Rendered: equal up to whitespace outside literals and a final semicolon.
    let same = "SELECT t.id FROM t WHERE t.s = 'a  b'::text";
    expected
        .views
        .insert("v".to_owned(), view("x", Some(same), &[]));
    assert!(validate(&expected, &actual).valid);
    let other = "SELECT t.id FROM t WHERE t.s = 'a b'::text";
    expected
        .views
        .insert("v".to_owned(), view("x", Some(other), &[]));
    let r = validate(&expected, &actual);
    assert!(!r.valid);
    assert_eq!(
        r.differences[0].to_string(),
        "v: view is `SELECT t.id FROM t WHERE t.s = 'a  b'::text`, expected `SELECT t.id FROM t WHERE t.s = 'a b'::text`"
    );
    // Materialized on one side only.
    let mut m = view("x", Some(same), &[]);
    m.materialized = true;
    expected.views.insert("v".to_owned(), m);
    assert_eq!(
        validate(&expected, &actual).differences[0].to_string(),
        "v: is a view, expected a materialized view"
    );
}

#[test]
fn schemas_keep_tables_of_the_same_name_apart() {
    let sql = "CREATE TABLE items (id int, a text REFERENCES orders (id));\n\
               CREATE TABLE orders (id int PRIMARY KEY);\n\
               CREATE TABLE billing.items (id int, b text);";
    let expected = crate::parse::parse_schema_sql_in(sql, "s.sql", "app")
        .unwrap()
        .catalog;
    assert_eq!(
        expected.tables.keys().collect::<Vec<_>>(),
        ["app.items", "app.orders", "billing.items"]
    );
    assert_eq!(
        expected.tables["app.items"].foreign_keys["items_a_fkey"].referenced_key(),
        "app.orders"
    );
    let mut actual = expected.clone();
    actual
        .tables
        .get_mut("billing.items")
        .unwrap()
        .columns
        .remove("b");
    let r = validate(&expected, &actual);
    assert_eq!(r.missing_columns.len(), 1);
    assert_eq!(
        (
            r.missing_columns[0].table.as_str(),
            r.missing_columns[0].column.as_str()
        ),
        ("billing.items", "b")
    );
}

#[test]
fn the_introspection_scope_is_the_schemas_the_file_names() {
    let expected = crate::parse::parse_schema_sql_in(
        "CREATE TABLE items (id int);\nCREATE VIEW billing.v AS SELECT 1;\nCREATE TYPE audit.mood AS ENUM ('a');",
        "s.sql",
        "app",
    )
    .unwrap()
    .catalog;
    let options = crate::IntrospectOptions::for_expected(&expected, "app");
    assert_eq!(options.schemas, ["app", "audit", "billing"]);
    let options = crate::IntrospectOptions::for_expected(&Catalog::default(), "app");
    assert_eq!(options.schemas, ["app"]);
}
