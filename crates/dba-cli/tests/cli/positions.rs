//! Parse errors as the CLI prints them: each names the file, and the line and column an editor shows, for a
//! fault deep in a long file written with multi-byte text and CRLF line ends. No database is contacted:
//! each file is read before connecting.

use crate::support::{Workdir, run};

/// A profile whose server is never reached, because the command fails before connecting.
const UNREACHED: &str = "[profiles.dev]\nurl = \"postgresql://nobody@127.0.0.1:1/never\"\n\n";

/// `lines` lines of comments and tables with multi-byte text, CRLF line ends.
fn filler_sql(tables: usize) -> String {
    let mut sql = String::from("-- Schéma ✓\r\n/* block; comment */\r\n");
    sql.push_str("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\r\n");
    for i in 0..tables {
        sql.push_str(&format!(
            "\r\nCREATE TABLE t{i} (\r\n    id int PRIMARY KEY,\r\n    label text DEFAULT 'é✓'\r\n);\r\n"
        ));
    }
    sql
}

#[test]
fn a_schema_sql_error_names_its_true_line_and_column() {
    let dir = Workdir::with_profiles("positions-sql", &[], UNREACHED);
    // 3 lines, then 5 per table, a blank line and the table's first two lines: the repeated column is on
    // line 3 + 5 * 20 + 4.
    let sql = format!(
        "{}\r\nCREATE TABLE orders (\r\n    note text DEFAULT 'ü;ë',\r\n  \"zoë\" int, total numeric, zoë int\r\n);\r\n",
        filler_sql(20)
    );
    dir.write("bad.sql", &sql);
    run(dir
        .dba()
        .args(["validate", "--profile", "dev", "--schema-file", "bad.sql"]))
    .code(1)
    .stderr_has(
        "bad.sql:107:29: malformed create table: column zoë of table orders is specified more \
             than once",
    );
    let sql = format!(
        "{}\r\nCREATE TABLE orders (\r\n    note text DEFAULT 'ü;ë',\r\n    total numeric numeric\r\n);\r\n",
        filler_sql(20)
    );
    dir.write("bad.sql", &sql);
    run(dir
        .dba()
        .args(["validate", "--profile", "dev", "--schema-file", "bad.sql"]))
    .code(1)
    .stderr_has(
        "bad.sql:107:19: malformed create table: Expected: ',' or ')' after column definition, \
             found: numeric",
    );
    dir.remove();
}

#[test]
fn a_db_toml_error_names_its_true_line_and_column() {
    let dir = Workdir::new("positions-toml");
    let mut toml = String::from("# Configuración ✓\r\n");
    for i in 0..30 {
        toml.push_str(&format!(
            "[profiles.p{i}]\r\nurl = \"postgresql://h/d{i}\" # n° {i}\r\n\r\n"
        ));
    }
    toml.push_str("[schema]\r\nfile = \"é.sql\" x\r\n");
    dir.write("db.toml", &toml);
    run(dir.dba().arg("profiles"))
        .code(1)
        .stderr_has("db.toml:93:16: invalid TOML: unexpected key or value");
    // A profile defined twice: the second header, and which key it is.
    let toml = toml.replace(
        "[schema]\r\nfile = \"é.sql\" x\r\n",
        "[profiles.p7]\r\nurl = \"x\"\r\n",
    );
    dir.write("db.toml", &toml);
    run(dir.dba().arg("profiles"))
        .code(1)
        .stderr_has("db.toml:92:11: invalid TOML: duplicate key `p7`");
    dir.remove();
}

#[test]
fn a_column_defs_error_names_its_true_line_and_column() {
    let dir = Workdir::with_profiles("positions-defs", &[], UNREACHED);
    dir.write("schema.sql", "CREATE TABLE items (id int PRIMARY KEY);\n");
    let mut json = String::from("{\r\n");
    for i in 0..40 {
        json.push_str(&format!("  \"items.c{i}\": \"text DEFAULT 'é✓'\",\r\n"));
    }
    json.push_str("  \"items.ü\": \"text DEFAULT 'Zoë'\" \"x\"\r\n}\r\n");
    dir.write("defs.json", &json);
    run(dir.dba().args([
        "fix",
        "--profile",
        "dev",
        "--schema-file",
        "schema.sql",
        "--column-defs",
        "defs.json",
    ]))
    .code(1)
    .stderr_has("defs.json:42:35: invalid column definitions: expected `,` or `}`");
    dir.remove();
}
