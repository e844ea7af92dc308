//! The backup schema: which tables to back up, in which order, and how their rows relate.

use std::collections::HashMap;
use std::path::Path;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use dba_core::position;

use crate::error::BackupError;
use crate::names;

/// The top-level key that holds the metadata object; no table may take it.
pub const METADATA_KEY: &str = "metadata";

/// A reference from a child table's column to a parent table's primary key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// The referenced (parent) table.
    pub table: String,
    /// The referencing column in the child table.
    pub field: String,
}

impl ForeignKey {
    /// A reference through `field` to `table`.
    pub fn new(table: &str, field: &str) -> ForeignKey {
        ForeignKey {
            table: table.to_owned(),
            field: field.to_owned(),
        }
    }
}

/// One table of a backup schema, in the Python original's `TableDef` shape.
///
/// The JSON keys are the original's: `name`, `pk` (default `"id"`; a list for a primary key of several
/// columns, dba's addition), `slug_field` (the natural key; default `"slug"`, a list for a composite key,
/// `""` or `null` for none), `user_field` (default `"user_id"`, `""` or
/// `null` for none), `parent` (an object, or a list for several required parents) and `optional_refs`.
/// Unknown keys are ignored, as in the original.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    /// The table name, read like a SQL table reference (`items`, `public.items`, `"Mixed"`).
    pub name: String,
    /// The primary-key columns: one, or several for a composite key (a join table's
    /// `["product_id", "tag_id"]`). Written back as a string when there is one.
    #[serde(
        default = "default_pk",
        deserialize_with = "de_pk",
        serialize_with = "ser_pk"
    )]
    pub pk: Vec<String>,
    /// The natural key: the columns that identify a row across databases (the original's `slug_field`).
    #[serde(
        rename = "slug_field",
        default = "default_natural_key",
        deserialize_with = "de_natural_key",
        serialize_with = "ser_natural_key"
    )]
    pub natural_key: Vec<String>,
    /// The column holding the owning user, used to scope backups and re-own restored rows.
    #[serde(
        default = "default_user_field",
        deserialize_with = "de_optional_name",
        serialize_with = "ser_optional_name"
    )]
    pub user_field: Option<String>,
    /// Required parents: a row whose parent was not backed up or restored is skipped.
    #[serde(
        rename = "parent",
        default,
        deserialize_with = "de_parents",
        serialize_with = "ser_parents"
    )]
    pub parents: Vec<ForeignKey>,
    /// Nullable references: set to null when the referenced row is missing.
    #[serde(default)]
    pub optional_refs: Vec<ForeignKey>,
}

fn default_pk() -> Vec<String> {
    vec!["id".to_owned()]
}

fn default_natural_key() -> Vec<String> {
    vec!["slug".to_owned()]
}

fn default_user_field() -> Option<String> {
    Some("user_id".to_owned())
}

fn de_pk<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let bad = |v: &Value| {
        de::Error::custom(format!(
            "pk must be a column name or a list of column names, got {v}"
        ))
    };
    match Value::deserialize(d)? {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(bad(&other)),
            })
            .collect(),
        other => Err(bad(&other)),
    }
}

fn ser_pk<S: Serializer>(pk: &[String], s: S) -> Result<S::Ok, S::Error> {
    match pk {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

fn de_natural_key<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() => Ok(s),
                other => Err(de::Error::custom(format!(
                    "slug_field entries must be non-empty strings, got {other}"
                ))),
            })
            .collect(),
        other => Err(de::Error::custom(format!(
            "slug_field must be a string or a list of strings, got {other}"
        ))),
    }
}

fn ser_natural_key<S: Serializer>(key: &[String], s: S) -> Result<S::Ok, S::Error> {
    match key {
        [] => s.serialize_str(""),
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

fn de_optional_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

fn ser_optional_name<S: Serializer>(name: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name.as_deref().unwrap_or(""))
}

fn de_parents<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ForeignKey>, D::Error> {
    // Through a Value rather than an untagged enum, whose only message is "data did not match any variant".
    let one = |v: Value| {
        ForeignKey::deserialize(v).map_err(|e| de::Error::custom(format!("parent: {e}")))
    };
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list.into_iter().map(one).collect(),
        Some(v @ Value::Object(_)) => Ok(vec![one(v)?]),
        Some(other) => Err(de::Error::custom(format!(
            "parent must be an object {{\"table\": ..., \"field\": ...}} or a list of them, got {other}"
        ))),
    }
}

fn ser_parents<S: Serializer>(parents: &[ForeignKey], s: S) -> Result<S::Ok, S::Error> {
    match parents {
        [] => s.serialize_none(),
        [one] => one.serialize(s),
        many => many.serialize(s),
    }
}

impl TableDef {
    /// A table with the original's defaults: pk `id`, natural key `slug`, user field `user_id`, no references.
    pub fn new(name: &str) -> TableDef {
        TableDef {
            name: name.to_owned(),
            pk: default_pk(),
            natural_key: default_natural_key(),
            user_field: default_user_field(),
            parents: Vec::new(),
            optional_refs: Vec::new(),
        }
    }

    /// Sets the natural key columns (empty for none).
    pub fn natural_key(mut self, columns: &[&str]) -> TableDef {
        self.natural_key = columns.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Sets the user field (`None` for a table that is not scoped by user).
    pub fn user_field(mut self, field: Option<&str>) -> TableDef {
        self.user_field = field.map(str::to_owned);
        self
    }

    /// Sets the primary-key column.
    pub fn pk(mut self, column: &str) -> TableDef {
        self.pk = vec![column.to_owned()];
        self
    }

    /// Sets a primary key of several columns (a join table's `["product_id", "tag_id"]`).
    pub fn pk_columns(mut self, columns: &[&str]) -> TableDef {
        self.pk = columns.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Whether the primary key has several columns.
    pub fn has_composite_pk(&self) -> bool {
        self.pk.len() > 1
    }

    /// The primary key of `row`: the single value (`"<unknown>"` when the row lacks it, the original's
    /// wording), or for a composite key an object of its columns in key order (`null` for a missing one).
    pub fn pk_of(&self, row: &serde_json::Map<String, Value>) -> Value {
        match self.pk.as_slice() {
            [one] => crate::fields::field(row, one)
                .cloned()
                .unwrap_or_else(|| Value::String("<unknown>".to_owned())),
            many => Value::Object(
                many.iter()
                    .map(|c| (c.clone(), row.get(c).cloned().unwrap_or(Value::Null)))
                    .collect(),
            ),
        }
    }

    /// Adds a required parent reference.
    pub fn parent(mut self, table: &str, field: &str) -> TableDef {
        self.parents.push(ForeignKey::new(table, field));
        self
    }

    /// Adds an optional (nullable) reference.
    pub fn optional_ref(mut self, table: &str, field: &str) -> TableDef {
        self.optional_refs.push(ForeignKey::new(table, field));
        self
    }

    /// The columns that identify an existing row in the destination: the natural key, or, when there is
    /// none, a composite primary key (whose reference columns are remapped first); empty when rows are
    /// always restored as new.
    pub(crate) fn match_columns(&self) -> &[String] {
        if self.natural_key.is_empty() && self.has_composite_pk() {
            &self.pk
        } else {
            &self.natural_key
        }
    }

    /// The key a row is matched by, for messages: [`TableDef::natural_key_of`], or for a table matched
    /// by its composite primary key, [`TableDef::pk_of`].
    pub(crate) fn match_key_of(&self, row: &serde_json::Map<String, Value>) -> Value {
        if self.natural_key.is_empty() && self.has_composite_pk() {
            self.pk_of(row)
        } else {
            self.natural_key_of(row)
        }
    }

    /// Every reference, required parents first.
    pub fn references(&self) -> impl Iterator<Item = &ForeignKey> {
        self.parents.iter().chain(&self.optional_refs)
    }

    /// The natural key of `row` for messages: the single value, or an object for a composite key, or
    /// `"unknown"` when the row has none (the original's wording).
    pub fn natural_key_of(&self, row: &serde_json::Map<String, Value>) -> Value {
        match self.natural_key.as_slice() {
            [] => Value::String("unknown".to_owned()),
            [one] => crate::fields::field(row, one)
                .cloned()
                .unwrap_or_else(|| Value::String("unknown".to_owned())),
            many => Value::Object(
                many.iter()
                    .map(|c| (c.clone(), row.get(c).cloned().unwrap_or(Value::Null)))
                    .collect(),
            ),
        }
    }
}

/// Tables in dependency order (parents before children), the original's `BackupSchema`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSchema {
    /// The tables, parents before children.
    pub tables: Vec<TableDef>,
    /// Tables left out by [`BackupSchema::subset`]: references to them pass through unchanged.
    #[serde(skip)]
    external: Vec<String>,
    /// The schema unqualified names were resolved in by [`BackupSchema::in_schema`], if any.
    #[serde(skip)]
    home: Option<String>,
}

impl BackupSchema {
    /// A schema of `tables`; call [`BackupSchema::validate`] before use (the entry points do).
    pub fn new(tables: Vec<TableDef>) -> BackupSchema {
        BackupSchema {
            tables,
            external: Vec::new(),
            home: None,
        }
    }

    /// The schema with every table name resolved: unqualified names in `home` (the profile's `schema`
    /// setting; `None` keeps the home set before, else leaves them to the connection's `search_path`),
    /// qualified ones (`billing.invoices`) in their own schema. Each table and reference is then named by
    /// its key: an unqualified name as written, a qualified one as `schema.table`, or by the table's name
    /// alone when the schema is `home`, each part of those quoted when PostgreSQL would not read it back
    /// unchanged (`"my.schema".t`). The keys name the tables in backup files (`{key}_count` too),
    /// summaries and sync plans, so two schemas' `items` never mix, and files of unqualified tables keep
    /// the Python original's keys. SQL then always names the table qualified with `home`. Names that
    /// cannot be read, or two names for one table, are errors.
    ///
    /// The entry points ([`crate::backup`], [`crate::restore`], [`crate::sync`]) call this with their
    /// options' `schema`; call it yourself to use the keys beforehand (for [`BackupSchema::subset`] or
    /// [`crate::validate_backup`]).
    pub fn in_schema(&self, home: Option<&str>) -> Result<BackupSchema, BackupError> {
        let home = home.map(str::to_owned).or_else(|| self.home.clone());
        let old = self.home.as_deref();
        let rekey = |name: &str| -> Result<String, BackupError> {
            let mut table = names::parse(name)?;
            if table.schema.is_none() {
                match old {
                    // A name resolved before in another home keeps meaning that home's table.
                    Some(old) if Some(old) != home.as_deref() => {
                        table.schema = Some(dba_core::Ident::exact(old)?);
                    }
                    _ => return Ok(name.to_owned()),
                }
            }
            Ok(names::key_of(&table, home.as_deref()))
        };
        // The table each name means, to find one table named twice (`items` and `public.items`).
        let identity = |name: &str| -> Result<dba_core::TableName, BackupError> {
            let mut table = names::parse(name)?;
            if table.schema.is_none()
                && let Some(home) = &home
            {
                table.schema = Some(dba_core::Ident::exact(home)?);
            }
            Ok(table)
        };
        let mut tables: Vec<TableDef> = Vec::with_capacity(self.tables.len());
        let mut seen: Vec<dba_core::TableName> = Vec::with_capacity(self.tables.len());
        for (i, t) in self.tables.iter().enumerate() {
            let mut t = t.clone();
            let key = rekey(&t.name)?;
            let same = identity(&key)?;
            if let Some(at) = seen.iter().position(|o| *o == same) {
                if self.tables[at].name == self.tables[i].name {
                    // The same spelling twice: say so as `validate` does.
                    return Err(BackupError::Schema(format!(
                        "table '{}' is listed twice",
                        t.name
                    )));
                }
                return Err(BackupError::Schema(format!(
                    "tables '{}' and '{}' are the same table ('{}')",
                    self.tables[at].name,
                    self.tables[i].name,
                    same.display_name()
                )));
            }
            seen.push(same);
            t.name = key;
            for r in t.parents.iter_mut().chain(t.optional_refs.iter_mut()) {
                r.table = rekey(&r.table)?;
            }
            tables.push(t);
        }
        let external = self
            .external
            .iter()
            .map(|n| rekey(n))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BackupSchema {
            tables,
            external,
            home,
        })
    }

    /// The schema unqualified names resolve in, once set by [`BackupSchema::in_schema`].
    pub fn home(&self) -> Option<&str> {
        self.home.as_deref()
    }

    /// Whether `name` may name a listed table once unqualified names are resolved: one of the two is
    /// qualified, the other not, and their table parts are the same.
    fn may_be_listed(&self, name: &str) -> bool {
        let Ok(wanted) = names::parse(name) else {
            return false;
        };
        self.tables.iter().any(|t| {
            names::parse(&t.name).is_ok_and(|listed| {
                listed.name == wanted.name && listed.schema.is_some() != wanted.schema.is_some()
            })
        })
    }

    /// The key `name` (as a user writes it: `items`, `billing.items`) has in this schema; see
    /// [`BackupSchema::in_schema`]. A name that cannot be read is returned as it is.
    pub fn key_for(&self, name: &str) -> String {
        names::key(name, self.home.as_deref()).unwrap_or_else(|_| name.to_owned())
    }

    /// The quoted, qualified name SQL uses for the table keyed `key`.
    pub(crate) fn sql_name(&self, key: &str) -> String {
        names::sql_name(key, self.home.as_deref())
    }

    /// Parses the original's backup-schema JSON and validates it.
    pub fn from_json(text: &str) -> Result<BackupSchema, BackupError> {
        BackupSchema::parse(text, Path::new("<backup schema>"))
    }

    /// Reads and validates a backup-schema JSON file.
    pub fn from_file(path: &Path) -> Result<BackupSchema, BackupError> {
        let bytes = std::fs::read(path).map_err(|source| BackupError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = position::utf8(bytes).map_err(|(line, column, utf16)| BackupError::Json {
            path: path.to_owned(),
            reason: format!(
                "not UTF-8{} at line {line} column {column}",
                if utf16 { " (the file is UTF-16)" } else { "" }
            ),
        })?;
        BackupSchema::parse(&text, path)
    }

    /// Parses and validates `text`; errors name the line and column (in characters, after a byte order mark,
    /// as an editor counts them) in `path`.
    fn parse(text: &str, path: &Path) -> Result<BackupSchema, BackupError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let schema: BackupSchema = serde_json::from_str(text).map_err(|e| {
            let (line, column, message) = position::json_error(text, &e);
            BackupError::Json {
                path: path.to_owned(),
                reason: format!("{message} at line {line} column {column}"),
            }
        })?;
        schema.validate()?;
        Ok(schema)
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Checks that names are present and unique, that no table is named `metadata`, that every primary key
    /// names its columns once each, and that every referenced table is in the schema, listed before the
    /// table that references it (a table may reference itself) and has a single-column primary key (a
    /// reference names one column, so a composite key cannot be remapped through it).
    pub fn validate(&self) -> Result<(), BackupError> {
        let err = |msg: String| Err(BackupError::Schema(msg));
        if self.tables.is_empty() {
            return err("no tables".to_owned());
        }
        let mut position = HashMap::new();
        for (i, t) in self.tables.iter().enumerate() {
            if t.name.is_empty() {
                return err(format!("table #{} has an empty name", i + 1));
            }
            if t.name == METADATA_KEY {
                return err(format!(
                    "table name {METADATA_KEY:?} is reserved by the backup file format"
                ));
            }
            if t.pk.is_empty() || t.pk.iter().any(String::is_empty) {
                return err(format!("table '{}' has an empty pk", t.name));
            }
            if let Some(twice) =
                t.pk.iter()
                    .enumerate()
                    .find(|(i, c)| t.pk[..*i].contains(c))
            {
                return err(format!(
                    "table '{}' lists pk column '{}' twice",
                    t.name, twice.1
                ));
            }
            if position.insert(t.name.as_str(), i).is_some() {
                return err(format!("table '{}' is listed twice", t.name));
            }
            for r in t.references() {
                if r.field.is_empty() {
                    return err(format!(
                        "table '{}' references '{}' through an empty field",
                        t.name, r.table
                    ));
                }
                if r.table == t.name && t.pk == [r.field.as_str()] {
                    // Every row would be its own parent: the backup would keep none of them.
                    return err(format!(
                        "table '{}' references itself through its own pk '{}'; name the column holding the parent's key",
                        t.name, r.field
                    ));
                }
                match position.get(r.table.as_str()) {
                    Some(&at) if self.tables[at].has_composite_pk() => {
                        return err(format!(
                            "table '{}' references '{}' through '{}', but the primary key of '{}' has several \
                             columns ({}); a reference to a composite key cannot be remapped: reference the \
                             tables behind its columns instead",
                            t.name,
                            r.table,
                            r.field,
                            r.table,
                            self.tables[at].pk.join(", ")
                        ));
                    }
                    Some(_) => {}
                    None if self.is_external(&r.table) => {}
                    // Before `in_schema`, `app.items` may be the `items` of a profile whose schema is
                    // app; the entry points resolve the names and validate again.
                    None if self.home.is_none() && self.may_be_listed(&r.table) => {}
                    None if self.table(&r.table).is_some() => {
                        return err(format!(
                            "table '{}' references '{}', which is listed after it; list parents before children",
                            t.name, r.table
                        ));
                    }
                    None => {
                        return err(format!(
                            "table '{}' references '{}', which is not in the schema",
                            t.name, r.table
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The schema restricted to `names` (in schema order). References to tables left out stay: their
    /// values pass through backup and restore unchanged.
    pub fn subset(&self, names: &[&str]) -> Result<BackupSchema, BackupError> {
        // In a schema resolved by `in_schema`, `public.items` asks for the table keyed `items` when
        // `public` is its home.
        let keys: Vec<String> = names
            .iter()
            .map(|n| match self.home {
                Some(_) => self.key_for(n),
                None => (*n).to_owned(),
            })
            .collect();
        for (n, key) in names.iter().zip(&keys) {
            if self.table(key).is_none() {
                return Err(BackupError::Schema(format!(
                    "table '{n}' is not in the schema"
                )));
            }
        }
        let (kept, left): (Vec<&TableDef>, Vec<&TableDef>) =
            self.tables.iter().partition(|t| keys.contains(&t.name));
        Ok(BackupSchema {
            tables: kept.into_iter().cloned().collect(),
            external: left
                .into_iter()
                .map(|t| t.name.clone())
                .chain(self.external.iter().cloned())
                .collect(),
            home: self.home.clone(),
        })
    }

    /// Whether some table references `name` (so restore must remember its id mapping).
    pub(crate) fn is_referenced(&self, name: &str) -> bool {
        self.tables
            .iter()
            .any(|t| t.references().any(|r| r.table == name))
    }

    /// Whether this schema was made by [`BackupSchema::subset`] and left tables out.
    pub fn is_subset(&self) -> bool {
        !self.external.is_empty()
    }

    /// Whether `name` was left out by [`BackupSchema::subset`]: references to it pass through unchanged.
    pub fn is_external(&self, name: &str) -> bool {
        self.external.iter().any(|t| t == name)
    }
}

#[cfg(test)]
mod tests;
