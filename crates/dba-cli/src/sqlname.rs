//! Names as a user types them into SQL: bare where PostgreSQL reads them back unchanged, double-quoted
//! otherwise. For hints printed to the user; the statements dba runs quote every identifier.

use dba::schema;

/// A table as SQL names it: bare in `public`, schema-qualified otherwise, each part quoted when needed.
pub(crate) fn sql_table(table: &schema::Table) -> String {
    if table.schema == schema::DEFAULT_SCHEMA {
        sql_name(&table.name)
    } else {
        format!("{}.{}", sql_name(&table.schema), sql_name(&table.name))
    }
}

/// An identifier as PostgreSQL reads it back: bare when it is lower-case letters, digits and `_` (not
/// starting with a digit) and no keyword PostgreSQL reserves, else double-quoted with quotes doubled.
pub(crate) fn sql_name(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.split_whitespace().any(|k| k == name);
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// PostgreSQL's keywords that are not "unreserved" (reserved, and those allowed only as a column name or
/// only as a function or type name): the ones its own `quote_ident` quotes.
const RESERVED: &str = "\
all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean\
 both case cast char character check coalesce collate collation column concurrently constraint create\
 cross current_catalog current_date current_role current_schema current_time current_timestamp\
 current_user dec decimal default deferrable desc distinct do else end except exists extract false\
 fetch float for foreign freeze from full grant greatest group grouping having ilike in initially\
 inner inout int integer intersect interval into is isnull join json json_array json_arrayagg\
 json_exists json_object json_objectagg json_query json_scalar json_serialize json_table json_value\
 lateral leading least left like limit localtime localtimestamp merge_action national natural nchar\
 none normalize not notnull null nullif numeric offset on only or order out outer overlaps overlay\
 placing position precision primary real references returning right row select session_user setof\
 similar smallint some substring symmetric system_user table tablesample then time timestamp to\
 trailing treat trim true union unique user using values varchar variadic verbose when where window\
 with xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot\
 xmlserialize xmltable";

#[cfg(test)]
mod tests {
    use super::{sql_name, sql_table};
    use dba::schema::Table;

    #[test]
    fn names_are_quoted_only_where_postgresql_needs_it() {
        assert_eq!(sql_name("items"), "items");
        assert_eq!(sql_name("_x1"), "_x1");
        assert_eq!(sql_name("Items"), "\"Items\"");
        assert_eq!(sql_name("order"), "\"order\"");
        assert_eq!(sql_name("user"), "\"user\"");
        assert_eq!(sql_name("xmltable"), "\"xmltable\"");
        assert_eq!(sql_name("1st"), "\"1st\"");
        assert_eq!(sql_name("a\"b c"), "\"a\"\"b c\"");
        let table = |schema: &str, name: &str| Table {
            schema: schema.to_owned(),
            name: name.to_owned(),
            ..Table::default()
        };
        assert_eq!(sql_table(&table("public", "items")), "items");
        assert_eq!(sql_table(&table("app", "Items")), "app.\"Items\"");
    }
}
