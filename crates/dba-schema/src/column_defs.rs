//! The Python original's column-defs JSON (`{"table.column": "TEXT NOT NULL DEFAULT ''"}`): reading it with
//! true positions, and applying its definitions over the expected schema.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::value::RawValue;
use sqlparser::ast::{ColumnDef, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::SchemaError;
use crate::model::Catalog;
use crate::parse::{add_column, next_position, quote_ident, read_file, strip_location};
use dba_core::position;

/// Reads column-defs JSON (`{"table.column": "TEXT NOT NULL DEFAULT ''"}`), the Python original's format.
///
/// Errors name the file, line and column (in characters) of the fault; a value that is not a string also
/// names its key. A byte order mark before the object is allowed. When a key repeats, the last value wins,
/// as with the original's `json.load`.
pub fn parse_column_defs(json: &str, file: &str) -> Result<BTreeMap<String, String>, SchemaError> {
    // Positions are counted after a byte order mark, as an editor counts them.
    let text = json.strip_prefix('\u{feff}').unwrap_or(json);
    let error = |at: usize, message: String| {
        let (line, column) = position::line_col(text, at);
        SchemaError::ColumnDefs {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    };
    let raw: BTreeMap<String, &RawValue> = serde_json::from_str(text).map_err(|e| {
        let (line, column, message) = position::json_error(text, &e);
        SchemaError::ColumnDefs {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    })?;
    let mut defs = BTreeMap::new();
    for (key, value) in raw {
        // `value` borrows from `text`, so its address gives its place in the file.
        let at = (value.get().as_ptr() as usize)
            .saturating_sub(text.as_ptr() as usize)
            .min(text.len());
        match serde_json::from_str::<String>(value.get()) {
            Ok(definition) => {
                defs.insert(key, definition);
            }
            Err(_) => {
                let found = match value.get().as_bytes().first() {
                    Some(b'{') => "an object",
                    Some(b'[') => "an array",
                    Some(b'n') => "null",
                    Some(b't' | b'f') => "a boolean",
                    _ => "a number",
                };
                return Err(error(
                    at,
                    format!(
                        "the value of {key:?} must be a string (a column definition), found {found}"
                    ),
                ));
            }
        }
    }
    Ok(defs)
}

/// Reads a column-defs JSON file (see [`parse_column_defs`]).
pub fn read_column_defs(path: &Path) -> Result<BTreeMap<String, String>, SchemaError> {
    let text = read_file(path)?;
    parse_column_defs(&text, &path.display().to_string())
}

/// Overrides columns of `catalog` with column-defs entries (`"table.column"` or `"schema.table.column"`).
///
/// Each definition is parsed as one column of a `CREATE TABLE`, so it must be exactly one valid column
/// definition (type, DEFAULT, NOT NULL, REFERENCES, UNIQUE, CHECK...); anything else, such as a second
/// statement, is refused. Entries for tables the catalog does not have are ignored.
pub fn apply_column_defs(
    catalog: &mut Catalog,
    defs: &BTreeMap<String, String>,
) -> Result<(), SchemaError> {
    for (key, definition) in defs {
        let Some((table_key, column)) = key.rsplit_once('.') else {
            return Err(SchemaError::ColumnDefinition {
                table: key.clone(),
                column: String::new(),
                message: "the key must be table.column".to_owned(),
            });
        };
        let Some(found) = column_defs_table(catalog, table_key, column)? else {
            continue;
        };
        let Some(table) = catalog.tables.get_mut(&found) else {
            continue;
        };
        let schema = table.schema.clone();
        let column = if table.columns.contains_key(column) {
            column.to_owned()
        } else {
            column.to_lowercase()
        };
        let error = |message: String| SchemaError::ColumnDefinition {
            table: found.clone(),
            column: column.clone(),
            message,
        };
        let def = parse_one_column(&column, definition).map_err(error)?;
        let position = table
            .columns
            .get(&column)
            .map_or_else(|| next_position(table), |c| c.position);
        // The original's keys name no schema, so an unqualified reference is in the table's own schema.
        add_column(table, &def, position, &schema).map_err(|p| error(p.message))?;
    }
    Ok(())
}

/// The catalog key of the table a column-defs key names: its exact key (`table` for `public`,
/// `schema.table` otherwise), then the same lower-cased, then a bare name that only one schema holds (the
/// original's keys never name a schema, and a profile's tables may live in another one than `public`).
fn column_defs_table(
    catalog: &Catalog,
    table_key: &str,
    column: &str,
) -> Result<Option<String>, SchemaError> {
    for k in [table_key.to_owned(), table_key.to_lowercase()] {
        if catalog.tables.contains_key(&k) {
            return Ok(Some(k));
        }
    }
    for k in [table_key.to_owned(), table_key.to_lowercase()] {
        let matches: Vec<&String> = catalog
            .tables
            .iter()
            .filter(|(_, t)| t.name == k)
            .map(|(key, _)| key)
            .collect();
        match matches.as_slice() {
            [] => {}
            [one] => return Ok(Some((*one).clone())),
            several => {
                return Err(SchemaError::ColumnDefinition {
                    table: table_key.to_owned(),
                    column: column.to_owned(),
                    message: format!(
                        "the table name is ambiguous: it is one of {}; write schema.table.column",
                        several
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }
    Ok(None)
}

/// Parses `definition` as the one column `name` of a table, refusing anything that is not exactly that.
pub(crate) fn parse_one_column(name: &str, definition: &str) -> Result<ColumnDef, String> {
    let sql = format!(
        "CREATE TABLE _dba_probe ({} {definition})",
        quote_ident(name)
    );
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, &sql)
        .map_err(|e| strip_location(&e.to_string()))?;
    match statements.as_slice() {
        [Statement::CreateTable(create)]
            if create.columns.len() == 1 && create.constraints.is_empty() =>
        {
            Ok(create.columns[0].clone())
        }
        _ => Err(format!(
            "{definition:?} is not exactly one column definition"
        )),
    }
}
