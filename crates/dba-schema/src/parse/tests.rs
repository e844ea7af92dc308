//! Unit tests of the schema.sql reader.

use std::collections::BTreeMap;

use super::*;
use crate::column_defs::{apply_column_defs, parse_column_defs};

fn parse(sql: &str) -> ExpectedSchema {
    parse_schema_sql(sql, "schema.sql").unwrap()
}

#[test]
fn one_line_and_multi_line_tables_give_every_column() {
    let s = parse(
        "CREATE TABLE t (id INT, a TEXT, b TEXT);\n\
         -- a comment; with a semicolon\n\
         CREATE TABLE IF NOT EXISTS public.items (\n\
           id SERIAL PRIMARY KEY, /* block; comment */\n\
           price NUMERIC(10,\n 2) NOT NULL DEFAULT 0,\n\
           note TEXT DEFAULT 'multi\nline',\n\
           CONSTRAINT price_positive CHECK (price >= 0)\n\
         );",
    );
    let t = &s.catalog.tables["t"];
    assert_eq!(t.columns.keys().collect::<Vec<_>>(), ["a", "b", "id"]);
    assert_eq!(t.columns["id"].data_type, "integer");
    let items = &s.catalog.tables["items"];
    let names: Vec<_> = items
        .ordered_columns()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["id", "price", "note"]);
    assert_eq!(items.columns["price"].data_type, "numeric(10,2)");
    assert!(!items.columns["price"].nullable);
    assert_eq!(items.columns["price"].default.as_deref(), Some("0"));
    assert_eq!(
        items.columns["id"].default.as_deref(),
        Some("nextval('items_id_seq'::regclass)")
    );
    assert!(!items.columns["id"].nullable);
    assert_eq!(items.primary_key.as_ref().unwrap().columns, ["id"]);
    assert_eq!(items.primary_key.as_ref().unwrap().name, "items_pkey");
    assert_eq!(
        items.check_constraints["price_positive"].expression,
        "price >= 0"
    );
}

#[test]
fn names_fold_like_postgresql() {
    let s = parse(
        "CREATE TABLE \"Mixed\" (\"Id\" int, Other TEXT);\n\
         CREATE TABLE Lower (x int);\n\
         CREATE TABLE app.\"Events\" (id bigint);",
    );
    let keys: Vec<_> = s.catalog.tables.keys().cloned().collect();
    assert_eq!(keys, ["Mixed", "app.Events", "lower"]);
    let mixed = &s.catalog.tables["Mixed"];
    assert_eq!(mixed.columns.keys().collect::<Vec<_>>(), ["Id", "other"]);
    assert_eq!(s.catalog.tables["app.Events"].schema, "app");
}

#[test]
fn constraints_and_references_with_or_without_columns() {
    let s = parse(
        "CREATE TABLE cats (id int PRIMARY KEY, slug varchar(20) UNIQUE);\n\
         CREATE TABLE prods (\n\
           id int, cat_id int REFERENCES cats ON DELETE CASCADE,\n\
           a int, b int,\n\
           PRIMARY KEY (id),\n\
           UNIQUE (a, b),\n\
           CONSTRAINT fk_ab FOREIGN KEY (a, b) REFERENCES public.pairs (x, y) ON UPDATE SET NULL DEFERRABLE INITIALLY DEFERRED\n\
         );\n\
         CREATE TABLE pairs (x int, y int, PRIMARY KEY (x, y));",
    );
    let prods = &s.catalog.tables["prods"];
    let fk = &prods.foreign_keys["prods_cat_id_fkey"];
    assert_eq!(fk.referenced_table, "cats");
    assert!(fk.referenced_columns.is_empty());
    assert_eq!(fk.on_delete, "CASCADE");
    let ab = &prods.foreign_keys["fk_ab"];
    assert_eq!(ab.columns, ["a", "b"]);
    assert_eq!(ab.referenced_columns, ["x", "y"]);
    assert_eq!(ab.on_update, "SET NULL");
    assert!(ab.deferrable && ab.initially_deferred);
    assert_eq!(
        prods.unique_constraints["prods_a_b_key"].columns,
        ["a", "b"]
    );
    assert!(!prods.columns["id"].nullable);
    assert_eq!(
        s.catalog.tables["cats"].unique_constraints["cats_slug_key"].columns,
        ["slug"]
    );
    assert_eq!(
        s.catalog.tables["cats"].columns["slug"].data_type,
        "character varying(20)"
    );
}

#[test]
fn indexes_views_enums_and_alter_table_are_modeled() {
    let s = parse(
        "CREATE TYPE mood AS ENUM ('sad', 'happy');\n\
         CREATE TABLE people (id int, email text, m mood, active bool);\n\
         CREATE UNIQUE INDEX people_email_lower ON people (lower(email)) WHERE active;\n\
         CREATE INDEX ON people USING gin (email);\n\
         CREATE VIEW active_people AS SELECT id FROM people WHERE active;\n\
         ALTER TABLE people ADD CONSTRAINT people_pkey PRIMARY KEY (id);\n\
         CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.x := 1; RETURN NEW; END $$;\n\
         INSERT INTO people VALUES (1, 'a', 'sad', true);",
    );
    let people = &s.catalog.tables["people"];
    let idx = &people.indexes["people_email_lower"];
    assert!(idx.unique);
    assert_eq!(idx.columns, ["lower(email)"]);
    assert_eq!(idx.predicate.as_deref(), Some("active"));
    assert_eq!(people.indexes["people_email_idx"].method, "gin");
    assert_eq!(people.columns["m"].data_type, "mood");
    assert_eq!(people.primary_key.as_ref().unwrap().columns, ["id"]);
    assert_eq!(s.catalog.enums["mood"].labels, ["sad", "happy"]);
    assert!(s.catalog.views.contains_key("active_people"));
    let skipped: Vec<_> = s.skipped.iter().map(|k| k.statement.clone()).collect();
    assert_eq!(skipped, ["CREATE FUNCTION f", "INSERT INTO people"]);
}

#[test]
fn identity_generated_and_types() {
    let s = parse(
        "CREATE TABLE t (\n\
           id bigint GENERATED ALWAYS AS IDENTITY,\n\
           k int GENERATED BY DEFAULT AS IDENTITY,\n\
           total numeric GENERATED ALWAYS AS (k * 2) STORED,\n\
           at timestamptz DEFAULT now(),\n\
           tags text[],\n\
           flag boolean NOT NULL DEFAULT false\n\
         );",
    );
    let t = &s.catalog.tables["t"];
    assert_eq!(t.columns["id"].identity, Some(Identity::Always));
    assert!(!t.columns["id"].nullable);
    assert_eq!(t.columns["k"].identity, Some(Identity::ByDefault));
    assert_eq!(t.columns["total"].generated.as_deref(), Some("k * 2"));
    assert_eq!(t.columns["at"].data_type, "timestamp with time zone");
    assert_eq!(t.columns["tags"].data_type, "text[]");
    assert_eq!(t.columns["flag"].data_type, "boolean");
}

#[test]
fn a_malformed_create_table_names_file_line_and_column() {
    let err = parse_schema_sql(
        "CREATE TABLE ok (id int);\n\nCREATE TABLE broken (\n  id int,\n  name text text text\n);",
        "db/schema.sql",
    )
    .unwrap_err();
    let SchemaError::Parse {
        file, line, column, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((file.as_str(), *line), ("db/schema.sql", 5));
    assert!(*column > 1, "{err}");
    assert!(err.to_string().starts_with("db/schema.sql:5:"), "{err}");
}

#[test]
fn a_file_without_tables_is_an_error() {
    let err = parse_schema_sql("-- nothing\nSELECT 1;", "empty.sql").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no create table statements found in empty.sql"
    );
}

#[test]
fn column_defs_are_parsed_and_injection_is_refused() {
    let mut s = parse("CREATE TABLE items (id int, b text);").catalog;
    let defs = parse_column_defs(
        r#"{"items.b": "VARCHAR(5) NOT NULL DEFAULT 'x'", "items.c": "INT REFERENCES items(id)", "other.z": "int"}"#,
        "defs.json",
    )
    .unwrap();
    apply_column_defs(&mut s, &defs).unwrap();
    let items = &s.tables["items"];
    assert_eq!(items.columns["b"].data_type, "character varying(5)");
    assert!(!items.columns["b"].nullable);
    assert_eq!(items.columns["c"].position, 3);
    assert_eq!(
        items.foreign_keys["items_c_fkey"].referenced_columns,
        ["id"]
    );

    for bad in [
        "TEXT); DROP TABLE items; --",
        "TEXT, d int",
        "NOT A TYPE (",
        "",
    ] {
        let defs = BTreeMap::from([("items.b".to_owned(), bad.to_owned())]);
        let err = apply_column_defs(&mut s, &defs).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid column definition for items.b"),
            "{bad}: {err}"
        );
    }
    assert!(parse_column_defs("[1]", "defs.json").is_err());
}

#[test]
fn duplicates_and_a_cut_off_table_are_errors_with_a_position() {
    let cases = [
        (
            "CREATE TABLE a (id int);\nCREATE TABLE a (b text);\n",
            "s.sql:2:14: malformed create table: table a is already defined above",
        ),
        (
            "CREATE TABLE a (id int,\n  ID text);\n",
            "s.sql:2:3: malformed create table: column id of table a is specified more than once",
        ),
        (
            "CREATE TABLE a (id int);\n\nCREATE TABLE b (\n  id int,\n",
            "s.sql:4:10: malformed create table: Expected: column name or constraint definition, found: EOF",
        ),
    ];
    for (sql, message) in cases {
        let err = parse_schema_sql(sql, "s.sql").unwrap_err();
        assert_eq!(err.to_string(), message, "{sql}");
    }
    let twice = parse("CREATE TABLE a (id int);\nCREATE TABLE IF NOT EXISTS a (b text);\n");
    assert!(twice.catalog.tables["a"].columns.contains_key("id"));
}

/// Deeply nested expressions are refused with an error, never a stack overflow: sqlparser's recursion limit
/// holds and `recursive-protection` grows the stack on demand, on a 2 MiB thread stack (as tokio and the
/// test harness use).
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let nested = format!(
        "int DEFAULT {}1{}",
        "f(g[".repeat(5_000),
        "])".repeat(5_000)
    );
    let sql = format!("CREATE TABLE items (id {nested});");
    let column = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let mut s = parse_schema_sql("CREATE TABLE items (id int, b text);", "s.sql")
                .unwrap()
                .catalog;
            let defs = BTreeMap::from([("items.b".to_owned(), nested)]);
            let column = apply_column_defs(&mut s, &defs).unwrap_err().to_string();
            let table = parse_schema_sql(&sql, "deep.sql").unwrap_err().to_string();
            (column, table)
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(column.0.contains("recursion limit"), "{}", column.0);
    assert!(column.1.starts_with("deep.sql:1:"), "{}", column.1);
    assert!(column.1.contains("recursion limit"), "{}", column.1);
}

/// A schema file whose first forty-odd lines hold everything that could shift a position: comments, blank
/// lines, multi-byte characters, statements that are skipped, and a dollar-quoted body with semicolons.
fn long_schema(tail: &str) -> String {
    let mut sql = String::from(
        "-- Schéma de démonstration ✓✓✓\n\
         /* a block comment\n   over two lines; with a semicolon */\n\
         \n\
         CREATE TABLE users (\n\
         \x20   id serial PRIMARY KEY,\n\
         \x20   name text NOT NULL DEFAULT 'Zoë ✓' -- naïve comment\n\
         );\n\
         \n\
         CREATE FUNCTION touch() RETURNS trigger AS $body$\n\
         BEGIN\n\
         \x20   NEW.name := 'é;è'; -- CREATE TABLE fake (x int);\n\
         \x20   RETURN NEW;\n\
         END;\n\
         $body$ LANGUAGE plpgsql;\n\
         GRANT SELECT ON users TO PUBLIC;\n",
    );
    for i in 0..10 {
        sql.push_str(&format!(
            "\n-- table n° {i}\nCREATE TABLE t{i} (\n    id int PRIMARY KEY,\n    label text DEFAULT '✓'\n);\n"
        ));
    }
    sql.push_str(tail);
    sql
}

fn parse_error(sql: &str) -> String {
    parse_schema_sql(sql, "db/schema.sql")
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn syntax_errors_are_located_in_the_file_as_given() {
    let base = long_schema("");
    let lines = u64::try_from(base.lines().count()).unwrap();
    let tail = "\nCREATE TABLE orders (\n    note text DEFAULT 'ünï;cödé',\n    total numeric numeric\n);\n";
    let sql = long_schema(tail);
    let expected = format!(
        "db/schema.sql:{}:19: malformed create table: Expected: ',' or ')' after column definition, found: numeric",
        lines + 4
    );
    assert_eq!(parse_error(&sql), expected);
    assert_eq!(parse_error(&sql.replace('\n', "\r\n")), expected);
    assert_eq!(parse_error(&format!("\u{feff}{sql}")), expected);

    // The parser objects to a token it has already consumed: its own position is the true one.
    let sql = long_schema("CREATE TABLE orders (\n  id int,\n  ✓ 123\n);\n");
    assert_eq!(
        parse_error(&sql),
        format!(
            "db/schema.sql:{}:5: malformed create table: Expected: a data type name, found: 123",
            lines + 3
        )
    );
}

#[test]
fn semantic_errors_point_at_the_offending_name() {
    let lines = u64::try_from(long_schema("").lines().count()).unwrap();
    let sql = long_schema("CREATE TABLE orders (\n  id int,\n  note text,\n   id bigint\n);\n");
    assert_eq!(
        parse_error(&sql),
        format!(
            "db/schema.sql:{}:4: malformed create table: column id of table orders is specified more than once",
            lines + 4
        )
    );
    let sql =
        long_schema("CREATE TABLE x (a int); CREATE TABLE éé (b int); CREATE TABLE t3 (c int);\n");
    assert_eq!(
        parse_error(&sql),
        format!(
            "db/schema.sql:{}:63: malformed create table: table t3 is already defined above",
            lines + 1
        )
    );
}

#[test]
fn a_byte_order_mark_hides_no_statement() {
    let s = parse("\u{feff}CREATE TABLE a (id int);\n");
    assert!(s.catalog.tables.contains_key("a"), "{s:?}");
}

#[test]
fn column_defs_errors_name_line_column_and_key() {
    let mut json = String::from("{\n");
    for i in 0..20 {
        json.push_str(&format!("  \"t{i}.label\": \"text DEFAULT 'é✓'\",\n"));
    }
    let deep = format!("{json}  \"items.ü\": \"TEXT DEFAULT 'Zoë'\" \"x\"\n}}\n");
    let expected = "defs.json:22:35: invalid column definitions: expected `,` or `}`";
    assert_eq!(
        parse_column_defs(&deep, "defs.json")
            .unwrap_err()
            .to_string(),
        expected
    );
    assert_eq!(
        parse_column_defs(&deep.replace('\n', "\r\n"), "defs.json")
            .unwrap_err()
            .to_string(),
        expected
    );
    let wrong = format!("{json}  \"items.ü\":   5,\n  \"items.z\": \"int\"\n}}\n");
    assert_eq!(
        parse_column_defs(&wrong, "defs.json")
            .unwrap_err()
            .to_string(),
        "defs.json:22:16: invalid column definitions: the value of \"items.ü\" must be a string \
         (a column definition), found a number"
    );
    assert_eq!(
        parse_column_defs("[\"a\"]", "defs.json")
            .unwrap_err()
            .to_string(),
        "defs.json:1:1: invalid column definitions: invalid type: sequence, expected a map"
    );
    let defs = parse_column_defs("\u{feff}{\"a.b\": \"int\"}", "defs.json").unwrap();
    assert_eq!(defs["a.b"], "int");
}

#[test]
fn views_with_options_or_a_check_option_are_skipped_not_half_read() {
    let s = parse(
        "CREATE TABLE a (id int) USING heap;\n\
         CREATE VIEW v AS SELECT id FROM a WITH CASCADED CHECK OPTION;\n\
         CREATE VIEW w WITH (security_barrier = true) AS SELECT id FROM a;\n\
         CREATE VIEW x AS SELECT id FROM a;\n",
    );
    assert_eq!(s.catalog.views.keys().collect::<Vec<_>>(), ["x"]);
    let reasons: Vec<String> = s
        .skipped
        .iter()
        .map(|k| format!("{}: {}", k.line, k.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            "2: could not be parsed at line 2, column 35: Expected: end of statement, found: WITH",
            "3: view options (WITH (security_barrier = true)) are not modeled",
        ]
    );
}

#[test]
fn partitioned_tables_keep_their_key_and_partitions_their_bounds() {
    let s = parse(
        "CREATE TABLE events (id bigserial, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);\n\
         CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n\
         CREATE TABLE events_rest PARTITION OF events DEFAULT;\n\
         CREATE TABLE sales (region text, n int) PARTITION BY list (Region);\n\
         CREATE TABLE sales_eu PARTITION OF sales FOR VALUES IN ('eu', 'uk') PARTITION BY HASH (n);\n\
         CREATE TABLE sales_eu_0 PARTITION OF sales_eu FOR VALUES WITH (MODULUS 2, REMAINDER 0);\n\
         CREATE TABLE \"Odd\" (\"Key\" int, b int) PARTITION BY RANGE (\"Key\", (b + 1));",
    );
    let t = &s.catalog.tables;
    assert_eq!(t["events"].kind, TableKind::Partitioned);
    assert_eq!(t["events"].partition_key.as_deref(), Some("RANGE (at)"));
    assert_eq!(t["events_2024"].partition_of.as_deref(), Some("events"));
    assert_eq!(
        t["events_2024"].partition_bound.as_deref(),
        Some("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    );
    assert_eq!(t["events_rest"].partition_bound.as_deref(), Some("DEFAULT"));
    assert_eq!(t["sales"].partition_key.as_deref(), Some("LIST (region)"));
    assert_eq!(t["sales_eu"].partition_key.as_deref(), Some("HASH (n)"));
    assert_eq!(t["sales_eu"].kind, TableKind::Partitioned);
    assert_eq!(
        t["sales_eu_0"].partition_bound.as_deref(),
        Some("FOR VALUES WITH (MODULUS 2, REMAINDER 0)")
    );
    assert_eq!(t["sales_eu_0"].partition_of.as_deref(), Some("sales_eu"));
    assert_eq!(
        t["sales_eu_0"].columns.len(),
        2,
        "inherited through two levels"
    );
    assert_eq!(
        t["Odd"].partition_key.as_deref(),
        Some("RANGE (\"Key\", (b + 1))")
    );
}

#[test]
fn an_unknown_partition_strategy_is_an_error_at_its_position() {
    let err = parse_schema_sql(
        "CREATE TABLE ok (id int);\nCREATE TABLE t (id int)\n  PARTITION BY SPREAD (id);",
        "schema.sql",
    )
    .unwrap_err();
    let SchemaError::Parse {
        line,
        column,
        message,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((line, column), (3, 16), "{message}");
    assert!(message.contains("RANGE, LIST or HASH"), "{message}");
}

#[test]
fn partition_keys_with_collations_and_expressions_are_kept_and_an_operator_class_is_an_error_at_it()
{
    let key = |sql: &str| {
        parse(sql).catalog.tables["t"]
            .partition_key
            .clone()
            .unwrap()
    };
    assert_eq!(
        key("CREATE TABLE t (name text) PARTITION BY RANGE (name COLLATE \"C\");"),
        "RANGE (name COLLATE \"C\")"
    );
    assert_eq!(
        key("CREATE TABLE t (name text) PARTITION BY LIST (lower(name));"),
        "LIST (lower(name))"
    );
    // sqlparser has no rule for an operator class in a partition key.
    let err = parse_schema_sql(
        "CREATE TABLE t (name text)\n  PARTITION BY RANGE (name text_pattern_ops);",
        "s.sql",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("s.sql:2:28: "), "{err}");
}
