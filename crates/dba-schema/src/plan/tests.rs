//! Unit tests of fix planning.

use super::*;
use crate::column_defs::parse_column_defs;
use crate::parse::parse_schema_sql;

fn catalog(sql: &str) -> Catalog {
    parse_schema_sql(sql, "test.sql").unwrap().catalog
}

fn sqls(plan: &FixPlan) -> Vec<&str> {
    plan.steps.iter().map(|s| s.sql.as_str()).collect()
}

#[test]
fn the_original_scenario_is_repaired_with_alters_only() {
    let expected = catalog(
        "CREATE TABLE categories (id SERIAL PRIMARY KEY, name TEXT NOT NULL);\n\
         CREATE TABLE items (id SERIAL PRIMARY KEY, a TEXT, b TEXT, e INT DEFAULT 0, f TEXT NOT NULL);\n\
         CREATE TABLE products (id SERIAL PRIMARY KEY, cat_id INT REFERENCES categories(id),\n\
           price NUMERIC(10,2) NOT NULL DEFAULT 0, active BOOLEAN NOT NULL DEFAULT true);",
    );
    let actual = catalog(
        "CREATE TABLE categories (id SERIAL PRIMARY KEY, name TEXT NOT NULL);\n\
         CREATE TABLE items (id SERIAL PRIMARY KEY, a TEXT);\n\
         CREATE TABLE products (id SERIAL PRIMARY KEY, cat_id INT REFERENCES categories(id));",
    );
    let defs = parse_column_defs(r#"{"items.b": "VARCHAR(10) DEFAULT 'x'"}"#, "defs.json").unwrap();
    let options = PlanOptions {
        column_defs: defs,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &options).unwrap();
    assert_eq!(
        sqls(&plan),
        [
            "ALTER TABLE \"public\".\"items\" ADD COLUMN \"b\" character varying(10) DEFAULT 'x'",
            "ALTER TABLE \"public\".\"items\" ADD COLUMN \"e\" integer DEFAULT 0",
            "ALTER TABLE \"public\".\"items\" ADD COLUMN \"f\" text",
            "ALTER TABLE \"public\".\"products\" ADD COLUMN \"active\" boolean DEFAULT true NOT NULL",
            "ALTER TABLE \"public\".\"products\" ADD COLUMN \"price\" numeric(10,2) DEFAULT 0 NOT NULL",
            "DO $dba$ BEGIN IF NOT EXISTS (SELECT 1 FROM \"public\".\"items\" WHERE \"f\" IS NULL) THEN \
             ALTER TABLE \"public\".\"items\" ALTER COLUMN \"f\" SET NOT NULL; END IF; END $dba$",
        ]
    );
    // Each added column is described with its definition as the step creates it (f is added nullable).
    let descriptions: Vec<&str> = plan.steps.iter().map(|s| s.description.as_str()).collect();
    assert_eq!(
        descriptions,
        [
            "add column items.b character varying(10) DEFAULT 'x'",
            "add column items.e integer DEFAULT 0",
            "add column items.f text",
            "add column products.active boolean DEFAULT true NOT NULL",
            "add column products.price numeric(10,2) DEFAULT 0 NOT NULL",
            "set not null on items.f unless a row is null",
        ]
    );
    assert!(plan.steps.iter().all(|s| s.hazard <= Hazard::Lock));
    assert_eq!(plan.tables_to_back_up(), ["items", "products"]);
    assert_eq!(
        plan.may_remain,
        [Difference::Nullability {
            table: "items".into(),
            column: "f".into(),
            expected_nullable: false
        }]
    );
    let script = plan.script().to_uppercase();
    assert!(
        !script.contains("DROP") && !script.contains("CASCADE"),
        "{script}"
    );
}

#[test]
fn missing_tables_come_in_foreign_key_order_and_cycles_close_afterwards() {
    let expected = catalog(
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, peer_id int);\n\
         CREATE TABLE parent (id int PRIMARY KEY, \"Name\" text UNIQUE CHECK (length(\"Name\") > 0));\n\
         CREATE TABLE a (id int PRIMARY KEY, b_id int REFERENCES b (id));\n\
         CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id));\n\
         CREATE INDEX child_peer ON child (peer_id) WHERE peer_id IS NOT NULL;",
    );
    let plan = plan_fix(&expected, &Catalog::default(), &PlanOptions::default()).unwrap();
    let order: Vec<String> = plan.steps.iter().map(|s| s.description.clone()).collect();
    assert_eq!(
        order,
        [
            "create table b",
            "create table a",
            "create table parent",
            "create table child",
            "add foreign key b_a_id_fkey to b",
            "create index child_peer on child",
        ]
    );
    assert_eq!(
        plan.steps[2].sql,
        "CREATE TABLE \"public\".\"parent\" (\n    \"id\" integer NOT NULL,\n    \"Name\" text,\n    \
         CONSTRAINT \"parent_pkey\" PRIMARY KEY (\"id\"),\n    CONSTRAINT \"parent_Name_key\" UNIQUE (\"Name\"),\n    \
         CONSTRAINT \"parent_Name_check\" CHECK (length(\"Name\") > 0)\n)"
    );
    assert!(plan.steps[3].sql.contains(
        "CONSTRAINT \"child_parent_id_fkey\" FOREIGN KEY (\"parent_id\") REFERENCES \"public\".\"parent\" (\"id\") \
         ON DELETE NO ACTION ON UPDATE NO ACTION"
    ));
    assert_eq!(
        plan.steps[5].sql,
        "CREATE INDEX \"child_peer\" ON \"public\".\"child\" USING btree ((peer_id)) WHERE peer_id IS NOT NULL"
    );
}

#[test]
fn altering_existing_columns_needs_the_hazard_opted_into() {
    let expected =
        catalog("CREATE TABLE t (id int PRIMARY KEY, n bigint NOT NULL, d text DEFAULT 'x');");
    let actual = catalog("CREATE TABLE t (id int PRIMARY KEY, n int, d text);");
    let plan = plan_fix(&expected, &actual, &PlanOptions::default()).unwrap();
    assert!(plan.steps.is_empty());
    let reasons: Vec<String> = plan.not_fixed.iter().map(|n| n.reason.clone()).collect();
    assert_eq!(plan.not_fixed.len(), 3);
    assert!(reasons[0].contains("takes a lock"), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("rewrites a table")),
        "{reasons:?}"
    );
    assert_eq!(plan.may_remain.len(), 3);

    let lock = PlanOptions {
        max_hazard: Hazard::Lock,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &lock).unwrap();
    assert_eq!(plan.steps.len(), 2);
    assert_eq!(plan.not_fixed.len(), 1);

    let rewrite = PlanOptions {
        max_hazard: Hazard::Rewrite,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &rewrite).unwrap();
    assert_eq!(
        sqls(&plan),
        [
            "ALTER TABLE \"public\".\"t\" ALTER COLUMN \"d\" SET DEFAULT 'x'",
            "ALTER TABLE \"public\".\"t\" ALTER COLUMN \"n\" TYPE bigint USING \"n\"::bigint",
            "DO $dba$ BEGIN IF NOT EXISTS (SELECT 1 FROM \"public\".\"t\" WHERE \"n\" IS NULL) THEN \
             ALTER TABLE \"public\".\"t\" ALTER COLUMN \"n\" SET NOT NULL; END IF; END $dba$",
        ]
    );
    // SET NOT NULL is checked first, so a NULL row leaves the difference instead of failing the fix.
    assert!(plan.may_remain.iter().any(|d| matches!(
        d,
        Difference::Nullability {
            expected_nullable: false,
            ..
        }
    )));
    assert!(plan.not_fixed.is_empty());
}

#[test]
fn expressions_are_parsed_before_they_reach_a_step() {
    let mut expected = catalog("CREATE TABLE t (id int, x text);");
    let actual = catalog("CREATE TABLE t (id int);");
    expected
        .tables
        .get_mut("t")
        .unwrap()
        .columns
        .get_mut("x")
        .unwrap()
        .default = Some("'a'; DROP TABLE t; --".to_owned());
    let err = plan_fix(&expected, &actual, &PlanOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid expression for t:"),
        "{err}"
    );
}

#[test]
fn missing_constraints_on_existing_tables_are_added() {
    let expected = catalog(
        "CREATE TABLE p (id int PRIMARY KEY);\n\
         CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p ON DELETE CASCADE, code text UNIQUE, CHECK (id > 0));",
    );
    let actual = catalog(
        "CREATE TABLE p (id int PRIMARY KEY);\n\
         CREATE TABLE c (id int NOT NULL, p_id int, code text);",
    );
    let plan = plan_fix(&expected, &actual, &PlanOptions::default()).unwrap();
    assert_eq!(
        sqls(&plan),
        [
            "ALTER TABLE \"public\".\"c\" ADD CONSTRAINT \"c_pkey\" PRIMARY KEY (\"id\")",
            "ALTER TABLE \"public\".\"c\" ADD CONSTRAINT \"c_p_id_fkey\" FOREIGN KEY (\"p_id\") REFERENCES \
             \"public\".\"p\" (\"id\") ON DELETE CASCADE ON UPDATE NO ACTION",
            "ALTER TABLE \"public\".\"c\" ADD CONSTRAINT \"c_code_key\" UNIQUE (\"code\")",
            "ALTER TABLE \"public\".\"c\" ADD CONSTRAINT \"c_id_check\" CHECK (id > 0)",
        ]
    );
}

#[test]
fn a_missing_table_with_serial_columns_creates_its_sequences() {
    let expected =
        catalog("CREATE TABLE tags (id SERIAL PRIMARY KEY, big BIGSERIAL, name TEXT NOT NULL);");
    let plan = plan_fix(&expected, &Catalog::default(), &PlanOptions::default()).unwrap();
    let create = sqls(&plan)
        .into_iter()
        .find(|s| s.starts_with("CREATE TABLE"))
        .unwrap();
    assert!(
        create.contains("\"id\" serial") && create.contains("\"big\" bigserial"),
        "{create}"
    );
    assert!(!create.contains("nextval"), "{create}");
}

#[test]
fn a_changed_view_is_replaced_only_when_allowed_and_its_columns_permit() {
    let column = |n: &str, t: &str| crate::model::ViewColumn {
        name: n.to_owned(),
        data_type: t.to_owned(),
    };
    let mut expected = catalog("CREATE TABLE t (id int, s text);");
    let mut actual = expected.clone();
    let live = View {
        schema: "public".to_owned(),
        name: "v".to_owned(),
        materialized: false,
        definition: "SELECT t.id FROM t;".to_owned(),
        aliases: Vec::new(),
        rendered: Some("SELECT t.id FROM t;".to_owned()),
        columns: vec![column("id", "integer")],
    };
    actual.views.insert("v".to_owned(), live.clone());
    let mut want = View {
        definition: "SELECT id, s FROM t".to_owned(),
        rendered: Some("SELECT t.id, t.s FROM t;".to_owned()),
        columns: vec![column("id", "integer"), column("s", "text")],
        ..live.clone()
    };
    expected.views.insert("v".to_owned(), want.clone());

    let plan = plan_fix(&expected, &actual, &PlanOptions::default()).unwrap();
    assert!(plan.steps.is_empty());
    assert!(
        plan.not_fixed[0].reason.contains("takes a lock"),
        "{:?}",
        plan.not_fixed
    );
    let lock = PlanOptions {
        max_hazard: Hazard::Lock,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &lock).unwrap();
    assert_eq!(
        sqls(&plan),
        ["CREATE OR REPLACE VIEW \"public\".\"v\" AS SELECT id, s FROM t"]
    );
    assert_eq!(plan.steps[0].view.as_deref(), Some("v"));
    want.aliases = vec!["Id".to_owned(), "s".to_owned()];
    expected.views.insert("v".to_owned(), want.clone());
    let plan = plan_fix(&expected, &actual, &lock).unwrap();
    assert_eq!(
        sqls(&plan),
        ["CREATE OR REPLACE VIEW \"public\".\"v\" (\"Id\", \"s\") AS SELECT id, s FROM t"]
    );
    want.aliases.clear();
    assert!(plan.tables_to_back_up().is_empty());

    // A column that changes type cannot be replaced in place.
    want.columns = vec![column("id", "bigint")];
    expected.views.insert("v".to_owned(), want.clone());
    let plan = plan_fix(&expected, &actual, &lock).unwrap();
    assert!(plan.steps.is_empty());
    assert!(
        plan.not_fixed[0]
            .reason
            .starts_with("its columns change from (id integer) to (id bigint)"),
        "{:?}",
        plan.not_fixed
    );
    // Nor can a materialized view.
    want.columns = vec![column("id", "integer")];
    want.materialized = true;
    expected.views.insert("v".to_owned(), want.clone());
    actual.views.get_mut("v").unwrap().materialized = true;
    let plan = plan_fix(&expected, &actual, &lock).unwrap();
    assert!(plan.steps.is_empty());
    assert!(
        plan.not_fixed[0].reason.contains("materialized"),
        "{:?}",
        plan.not_fixed
    );
}

#[test]
fn a_column_whose_add_rewrites_the_table_needs_the_rewrite_opt_in() {
    let expected = catalog(
        "CREATE TABLE t (id int, n int GENERATED ALWAYS AS (id * 2) STORED, \
         g int GENERATED ALWAYS AS IDENTITY, s serial, plain text);",
    );
    let actual = catalog("CREATE TABLE t (id int);");
    for max_hazard in [Hazard::None, Hazard::Lock] {
        let options = PlanOptions {
            max_hazard,
            ..PlanOptions::default()
        };
        let plan = plan_fix(&expected, &actual, &options).unwrap();
        assert_eq!(
            plan.steps
                .iter()
                .map(|s| s.description.as_str())
                .collect::<Vec<_>>(),
            ["add column t.plain text"]
        );
        let left: Vec<&str> = plan
            .columns_left_missing
            .iter()
            .map(|c| c.column.as_str())
            .collect();
        assert_eq!(left, ["g", "n", "s"]);
        assert!(
            plan.not_fixed
                .iter()
                .all(|n| n.reason.contains("rewrites a table"))
        );
    }
    let rewrite = PlanOptions {
        max_hazard: Hazard::Rewrite,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &rewrite).unwrap();
    assert_eq!(plan.steps.len(), 4);
    assert!(plan.columns_left_missing.is_empty() && plan.not_fixed.is_empty());
    assert_eq!(
        plan.steps
            .iter()
            .filter(|s| s.hazard == Hazard::Rewrite)
            .count(),
        3
    );
}
