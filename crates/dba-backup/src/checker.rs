//! The checks of a backup file's metadata, rows and counts, applied as they are read: collecting every
//! problem (offline validation) or stopping at the first (a restore, before the row is written).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{BackupError, plain};
use crate::format::{FORMAT_VERSION, METADATA_FIELDS, TABLES_KEY, key_text};
use crate::keys::KeySet;
use crate::python::Decoder;
use crate::schema::{BackupSchema, TableDef};
use crate::validate::ValidationReport;

/// Checks metadata and rows as they are read.
pub(crate) struct Checker {
    /// The schema tables the file must hold: all of them, or a subset backup's declared tables.
    required: Vec<TableDef>,
    /// Tables whose primary keys other tables refer to.
    referenced: HashSet<String>,
    /// The metadata's `{table}_count` values.
    counts: HashMap<String, Value>,
    /// Stop at the first problem (a restore) rather than collect them all (offline validation).
    strict: bool,
    /// Name the row index and line of a row's problem (a restore; offline, the original's texts are kept).
    locate: bool,
    /// The metadata is not an object: reported alone, as nothing else can be trusted.
    bad_metadata: Option<String>,
    meta_errors: Vec<String>,
    meta_warnings: Vec<String>,
    row_errors: Vec<String>,
    row_warnings: Vec<String>,
    /// The primary keys of each referenced table read so far (offline only, for the orphan warnings).
    pks: HashMap<String, KeySet>,
    table: Option<TableState>,
}

struct TableState {
    def: TableDef,
    /// Its own primary keys, when kept.
    own: Option<KeySet>,
    rows: u64,
    decoder: Option<Decoder>,
}

impl Checker {
    /// A checker for a file with `metadata`; `strict` stops at the first problem.
    pub(crate) fn new(schema: &BackupSchema, metadata: Option<&Value>, strict: bool) -> Checker {
        let empty = Map::new();
        let meta = metadata.and_then(Value::as_object).unwrap_or(&empty);
        // A subset backup names its tables; every other file must hold every schema table.
        let declared: Option<Vec<String>> =
            meta.get(TABLES_KEY).and_then(Value::as_array).map(|list| {
                list.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect()
            });
        let required: Vec<TableDef> = schema
            .tables
            .iter()
            .filter(|t| declared.as_ref().is_none_or(|d| d.contains(&t.name)))
            .cloned()
            .collect();
        let mut checker = Checker {
            referenced: required
                .iter()
                .filter(|t| schema.is_referenced(&t.name))
                .map(|t| t.name.clone())
                .collect(),
            counts: required
                .iter()
                .filter_map(|t| {
                    let key = format!("{}_count", t.name);
                    meta.get(&key).map(|v| (t.name.clone(), v.clone()))
                })
                .collect(),
            required,
            strict,
            locate: strict,
            bad_metadata: None,
            meta_errors: Vec::new(),
            meta_warnings: Vec::new(),
            row_errors: Vec::new(),
            row_warnings: Vec::new(),
            pks: HashMap::new(),
            table: None,
        };
        match metadata {
            None => {}
            Some(Value::Object(meta)) => {
                let version = meta.get("version").unwrap_or(&Value::Null);
                if version.as_str() != Some(FORMAT_VERSION) {
                    checker.meta_errors.push(format!(
                        "Unsupported backup version '{}' (expected '{FORMAT_VERSION}')",
                        plain(version)
                    ));
                }
                for name in declared.iter().flatten() {
                    if schema.table(name).is_none() {
                        checker
                            .meta_errors
                            .push(format!("Backup table '{name}' is not in the backup schema"));
                    }
                }
                for key in METADATA_FIELDS {
                    if !meta.contains_key(key) {
                        checker
                            .meta_warnings
                            .push(format!("Missing metadata field: {key}"));
                    }
                }
            }
            Some(other) => {
                checker.bad_metadata =
                    Some(format!("Invalid metadata: expected an object, got {other}"));
            }
        }
        checker
    }

    /// The schema tables the file must hold, in schema order.
    pub(crate) fn required(&self) -> &[TableDef] {
        &self.required
    }

    /// The metadata's row count for `table`, when it has a usable one.
    pub(crate) fn declared_count(&self, table: &str) -> Option<u64> {
        self.counts.get(table).and_then(Value::as_u64)
    }

    /// Whether anything found so far makes the file invalid.
    pub(crate) fn has_errors(&self) -> bool {
        self.bad_metadata.is_some() || !self.meta_errors.is_empty() || !self.row_errors.is_empty()
    }

    /// Collects every problem from now on instead of stopping at the first.
    pub(crate) fn collect_all(&mut self) {
        self.strict = false;
    }

    /// Notes a problem of a whole table; when strict, stops with every problem found so far.
    pub(crate) fn table_error(&mut self, text: String, path: &Path) -> Result<(), BackupError> {
        self.error(text, None, path)
    }

    /// Notes a problem; when strict, stops with every problem found so far.
    fn error(
        &mut self,
        text: String,
        at: Option<(u64, u64)>,
        path: &Path,
    ) -> Result<(), BackupError> {
        self.errors_at(vec![text], at, path)
    }

    /// Notes the problems of one row (or of none: `at` is `None`); when strict and there are any, stops
    /// with every problem found so far.
    fn errors_at(
        &mut self,
        texts: Vec<String>,
        at: Option<(u64, u64)>,
        path: &Path,
    ) -> Result<(), BackupError> {
        if texts.is_empty() {
            return Ok(());
        }
        for text in texts {
            match at.filter(|_| self.locate) {
                Some((index, line)) => self
                    .row_errors
                    .push(format!("{text} (row {index}, line {line})")),
                None => self.row_errors.push(text),
            }
        }
        if self.strict {
            return Err(BackupError::InvalidBackup {
                path: path.to_owned(),
                errors: self.errors(),
            });
        }
        Ok(())
    }

    /// Starts checking the rows of `def`, decoding them with `decoder` when set.
    pub(crate) fn begin_table(&mut self, def: &TableDef, decoder: Option<Decoder>) {
        let own = (!self.strict && self.referenced.contains(&def.name)).then(KeySet::default);
        self.table = Some(TableState {
            def: def.clone(),
            own,
            rows: 0,
            decoder,
        });
    }

    /// Checks one row (and decodes it for the destination when a decoder is set).
    pub(crate) fn row(&mut self, row: Value, line: u64, path: &Path) -> Result<Value, BackupError> {
        let Some(state) = &mut self.table else {
            return Ok(row);
        };
        let index = state.rows;
        state.rows += 1;
        let Value::Object(mut row) = row else {
            let text = format!("{} row {index} is not an object", state.def.name);
            self.error(text, None, path)?;
            return Ok(row);
        };
        let def = &state.def;
        let name = &def.name;
        // Texts are built only for a row with a problem: a restore checks every row it writes.
        let slug = |row: &Map<String, Value>| plain(&def.natural_key_of(row));
        let mut problems = Vec::new();
        // Each column of a composite key is checked as a single key is.
        for pk_col in &def.pk {
            match row.get(pk_col) {
                None => problems.push(format!(
                    "{name} row missing '{pk_col}' field: {}",
                    slug(&row)
                )),
                Some(Value::Null) => {
                    problems.push(format!("{name} row has empty '{pk_col}': {}", slug(&row)))
                }
                Some(Value::String(s)) if s.is_empty() => {
                    problems.push(format!("{name} row has empty '{pk_col}': {}", slug(&row)))
                }
                Some(pk) => {
                    if let Some(own) = &mut state.own {
                        own.insert(&key_text(pk));
                    }
                }
            }
        }
        for column in &def.natural_key {
            if !row.contains_key(column) {
                problems.push(format!("{name} row missing '{column}' field"));
            }
        }
        if !self.strict {
            for parent in &def.parents {
                let Some(v) = row.get(&parent.field).filter(|v| !v.is_null()) else {
                    continue;
                };
                if !self.required.iter().any(|t| t.name == parent.table) {
                    continue;
                }
                let text = key_text(v);
                let known = if parent.table == *name {
                    state.own.as_ref().is_some_and(|own| own.contains(&text))
                } else {
                    self.pks
                        .get(&parent.table)
                        .is_some_and(|set| set.contains(&text))
                };
                if !known {
                    self.row_warnings.push(format!(
                        "Orphaned {name} '{}': {} not in backup",
                        slug(&row),
                        parent.field
                    ));
                }
            }
        }
        if problems.is_empty()
            && let Some(decoder) = &state.decoder
            && let Err(why) = decoder.decode(&mut row)
        {
            problems.push(format!("{name} row {why}: {}", slug(&row)));
        }
        self.errors_at(problems, Some((index, line)), path)?;
        Ok(Value::Object(row))
    }

    /// Checks the table just read to its end against the metadata's count.
    pub(crate) fn end_table(&mut self, path: &Path) -> Result<(), BackupError> {
        let Some(state) = self.table.take() else {
            return Ok(());
        };
        let name = state.def.name;
        if let Some(own) = state.own {
            self.pks.insert(name.clone(), own);
        }
        if let Some(declared) = self.counts.get(&name)
            && declared.as_u64() != Some(state.rows)
        {
            let text = format!(
                "{name} has {} rows but metadata {name}_count says {declared}",
                state.rows
            );
            self.error(text, None, path)?;
        }
        Ok(())
    }

    /// The errors found so far, metadata first.
    fn errors(&self) -> Vec<String> {
        if let Some(bad) = &self.bad_metadata {
            return vec![bad.clone()];
        }
        self.meta_errors
            .iter()
            .chain(&self.row_errors)
            .cloned()
            .collect()
    }

    /// The report: the missing keys alone when there are any (as in the original), else every error and
    /// warning found.
    pub(crate) fn report(self, missing: Vec<String>) -> ValidationReport {
        if !missing.is_empty() {
            return ValidationReport {
                errors: missing,
                ..ValidationReport::default()
            };
        }
        let errors = self.errors();
        let warnings = if self.bad_metadata.is_some() {
            Vec::new()
        } else {
            self.meta_warnings
                .into_iter()
                .chain(self.row_warnings)
                .collect()
        };
        ValidationReport {
            errors,
            warnings,
            ..ValidationReport::default()
        }
    }
}
