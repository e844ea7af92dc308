//! Table names in several schemas: the key a table goes by in files and reports, and the qualified name
//! its SQL uses.
//!
//! A backup schema may name a table unqualified (`items`), qualified (`billing.items`) or quoted
//! (`"my.schema"."T"`). Each name is read as PostgreSQL reads a table reference and then keyed relative to
//! the *home* schema (the profile's `schema` setting): an unqualified name keeps its spelling (so files of
//! unqualified tables keep the Python original's keys byte for byte), a qualified one is keyed by the
//! table's name alone when its schema is the home and by `schema.table` otherwise. The parts of a
//! qualified name are written bare when PostgreSQL would read them back unchanged (lower-case letters,
//! digits, `_`, `$`) and double-quoted otherwise, so two different tables never share a key
//! (`billing.items` and a home table named `"billing.items"` differ) and a key always parses back to its
//! table.

use dba_core::{Ident, TableName};

use crate::error::BackupError;

/// One part of a key: bare when PostgreSQL reads it back unchanged, else double-quoted.
fn part(ident: &Ident) -> String {
    let s = ident.as_str();
    let bare = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$');
    if bare {
        s.to_owned()
    } else {
        ident.to_string()
    }
}

/// Parses a table name as written in a backup schema, naming it on failure.
pub(crate) fn parse(name: &str) -> Result<TableName, BackupError> {
    TableName::parse(name)
        .map_err(|e| BackupError::Schema(format!("table name {name:?} cannot be read: {e}")))
}

/// The key of `table` relative to `home`: its name alone when it is unqualified or in `home`, else
/// `schema.table`.
pub(crate) fn key_of(table: &TableName, home: Option<&str>) -> String {
    match &table.schema {
        Some(schema) if Some(schema.as_str()) != home => {
            format!("{}.{}", part(schema), part(&table.name))
        }
        _ => part(&table.name),
    }
}

/// The key of a table name as written, relative to `home`: an unqualified name stays as written (the
/// Python original's key for it), a qualified one becomes [`key_of`].
pub(crate) fn key(name: &str, home: Option<&str>) -> Result<String, BackupError> {
    let table = parse(name)?;
    Ok(match table.schema {
        None => name.to_owned(),
        Some(_) => key_of(&table, home),
    })
}

/// The name SQL uses for the table keyed `key`: qualified with `home` when the key is unqualified and a
/// home is known (so the connection's `search_path` cannot send it to a same-name table elsewhere),
/// quoted throughout. A key that does not parse is passed on as it is, for the client to refuse.
pub(crate) fn sql_name(key: &str, home: Option<&str>) -> String {
    let Ok(mut table) = TableName::parse(key) else {
        return key.to_owned();
    };
    if table.schema.is_none()
        && let Some(home) = home.and_then(|h| Ident::exact(h).ok())
    {
        table.schema = Some(home);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(name: &str, home: Option<&str>) -> String {
        key(name, home).unwrap()
    }

    #[test]
    fn keys_are_relative_to_the_home_schema() {
        assert_eq!(k("items", Some("public")), "items");
        assert_eq!(k("public.items", Some("public")), "items");
        assert_eq!(k("public.items", Some("app")), "public.items");
        assert_eq!(k("Billing.Items", Some("public")), "billing.items");
        assert_eq!(k("items", None), "items");
        // An unqualified name keeps its spelling, as the Python original keyed it.
        assert_eq!(k("Items", Some("public")), "Items");
        assert_eq!(k("public.Items", Some("public")), "items");
        assert_eq!(k("public.items", None), "public.items");
    }

    #[test]
    fn keys_quote_what_would_not_read_back_and_never_collide() {
        assert_eq!(k(r#""Mixed""#, Some("public")), r#""Mixed""#);
        assert_eq!(k(r#""my.schema".t"#, Some("public")), r#""my.schema".t"#);
        assert_eq!(k(r#"my."schema.t""#, Some("public")), r#"my."schema.t""#);
        assert_eq!(
            k(r#""billing.items""#, Some("public")),
            r#""billing.items""#
        );
        assert_ne!(
            k("billing.items", Some("public")),
            k(r#""billing.items""#, Some("public"))
        );
        assert_eq!(k(r#""a""b""#, None), r#""a""b""#);
        assert_eq!(k("t1$", None), "t1$");
        assert_eq!(k(r#""1t""#, None), r#""1t""#);
        for name in [
            r#""my.schema".t"#,
            r#"my."schema.t""#,
            r#""a""b""#,
            "billing.items",
        ] {
            let key = k(name, Some("public"));
            assert_eq!(k(&key, Some("public")), key, "a key reads back as itself");
        }
    }

    #[test]
    fn sql_names_are_qualified_with_the_home_and_quoted() {
        assert_eq!(sql_name("items", Some("app")), r#""app"."items""#);
        assert_eq!(sql_name("items", None), r#""items""#);
        assert_eq!(
            sql_name("billing.items", Some("app")),
            r#""billing"."items""#
        );
        assert_eq!(
            sql_name(r#""my.schema".t"#, Some("app")),
            r#""my.schema"."t""#
        );
        assert_eq!(sql_name("items", Some(r#"we"ird"#)), r#""we""ird"."items""#);
    }

    #[test]
    fn unreadable_names_are_errors_naming_them() {
        let err = key("a.b.c", None).unwrap_err().to_string();
        assert!(err.contains(r#"table name "a.b.c""#), "{err}");
        assert!(key(r#""open"#, None).is_err());
    }
}
