//! Backup: streams each table from the database into a version "1.1" file, written atomically.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use dba_core::{DatabaseClient, Filter, Query};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::engine::pk_list;
use crate::error::BackupError;
use crate::file::{AtomicFile, TempFile, check_destination, io_err};
use crate::format::{UtcTime, build_metadata, is_gzip_name, key_text};
use crate::keys::KeySet;
use crate::partitioned::refuse_partition_with_parent;
use crate::progress::{NoProgress, Phase, Progress, ProgressUpdate};
use crate::schema::{BackupSchema, METADATA_KEY};

/// What to back up and where.
#[derive(Clone, Debug, Default)]
pub struct BackupOptions {
    /// Scope every table by its user field to this value; `None` backs up every user's rows.
    pub user_id: Option<Value>,
    /// Extra equality filters per table (the original's `table_filters`).
    pub table_filters: HashMap<String, Filter>,
    /// Caller metadata merged after the standard keys; `version`, `tables` and `{table}_count` are
    /// refused.
    pub metadata: Map<String, Value>,
    /// Compress with gzip. Also implied by an output path ending in `.gz`.
    pub gzip: bool,
    /// The schema unqualified table names are read in (the profile's `schema` setting); `None` leaves them
    /// to the connection's `search_path`. See [`BackupSchema::in_schema`].
    pub schema: Option<String>,
}

/// What a backup wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    /// The file written.
    pub path: PathBuf,
    /// Rows written per table, in schema order.
    pub counts: Vec<(String, u64)>,
}

/// Backs up the tables of `schema` from `client` into `path`, with the Python original's version "1.1"
/// layout: `metadata` first (with a time-zone-aware `created_at` and `{table}_count` keys), then one array of
/// rows per table in schema order.
///
/// Rows are streamed table by table and written as they arrive, so memory does not grow with the row
/// count; only the primary keys of tables that others reference are kept, to limit child rows to those
/// whose parent was backed up (rows with a NULL parent reference are kept). The file appears under `path`
/// only when complete: it is written to a temporary file in the same directory, fsynced and renamed. When
/// the client has transactions and raw SQL, every table is read in one snapshot
/// ([`begin_snapshot`](DatabaseClient::begin_snapshot): `REPEATABLE READ, READ ONLY`), so writes committed
/// during the backup are in the file for every table or for none. Pass a
/// [`Reader`](dba_core::Reader)'s client to read from a standby.
///
/// A schema made by [`BackupSchema::subset`] produces a subset backup: its metadata lists its `tables`.
/// Tables are named in the file by their keys ([`BackupSchema::in_schema`]): `billing.items` for a table
/// outside `options.schema`, the name alone inside it.
pub async fn backup(
    client: &dyn DatabaseClient,
    schema: &BackupSchema,
    path: &Path,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport, BackupError> {
    let schema = &schema.in_schema(options.schema.as_deref())?;
    schema.validate()?;
    check_destination(path)?;
    refuse_partition_with_parent(client, schema).await?;
    let subset = schema.is_subset();
    let created_at = UtcTime::now().rfc3339();
    let mut metadata = build_metadata(
        schema,
        options.user_id.as_ref(),
        &created_at,
        &options.metadata,
        subset,
    )?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }

    // One snapshot for every table, so rows committed while the backup runs are in the file for all
    // tables or for none. It runs where the client's reads run: on a standby for a standby's reader.
    let caps = client.capabilities();
    let snapshot = if caps.transactions && caps.raw_sql {
        Some(client.begin_snapshot().await?)
    } else if caps.transactions {
        Some(client.begin().await?)
    } else {
        None
    };
    let reader: &dyn DatabaseClient = match &snapshot {
        Some(tx) => &**tx,
        None => client,
    };

    // The metadata comes first in the file and holds the row counts. A plain file gets it at once with
    // every count at its widest, rows streamed straight after it, and the real metadata written over it
    // at the end (padded with spaces, which JSON ignores). A gzip stream cannot be rewritten, so its rows
    // go to a spool first.
    let gzip = options.gzip || is_gzip_name(path);
    for def in &schema.tables {
        metadata.insert(format!("{}_count", def.name), Value::from(u64::MAX));
    }
    let mut sink = if gzip {
        Sink::Spool(TempFile::create(path, "rows")?)
    } else {
        let mut out = AtomicFile::create(path, false)?;
        let widest = header(&metadata, path)?;
        out.write_all(widest.as_bytes())?;
        Sink::Direct {
            out,
            header_len: widest.len(),
        }
    };
    let mut kept_pks: HashMap<String, KeySet> = HashMap::new();
    let mut counts = Vec::new();
    for def in &schema.tables {
        let table = schema.sql_name(&def.name);
        let mut filter = Filter::new();
        if let (Some(user), Some(field)) = (&options.user_id, &def.user_field) {
            filter = filter.eq(field, user.clone());
        }
        let extra = options
            .table_filters
            .iter()
            .find(|(name, _)| schema.key_for(name) == def.name)
            .map(|(_, f)| f);
        if let Some(extra) = extra {
            for c in extra.conditions() {
                filter = filter.push(&c.column, c.op, c.value.clone());
            }
        }
        // Only a progress total, so only for an observer that shows it. A failed count (a user_field that
        // does not exist) aborts the snapshot transaction and would hide its cause behind "current
        // transaction is aborted": it is the error.
        let total = if progress.wants_totals() {
            Some(reader.count(&table, &filter).await?)
        } else {
            None
        };
        let query = Query::new().filter(filter).order_by(&pk_list(def));
        let mut rows = reader.select_json_stream(&table, &query).await?;
        let keep = schema.is_referenced(&def.name);
        let inspect = keep || !def.parents.is_empty();
        // The fields read from each row: the primary key, then each parent reference. A referenced table
        // has a single-column key (the schema is validated), so its first column is the whole key.
        let first_pk = def.pk.first().map_or("", String::as_str);
        let wanted: Vec<&str> = std::iter::once(first_pk)
            .chain(def.parents.iter().map(|p| p.field.as_str()))
            .collect();
        let mut own = KeySet::default();
        let out_path = sink.path().to_owned();
        let w = sink.writer();
        write!(w, ",\n  {}: [", json_string(&def.name)).map_err(io_err(&out_path))?;
        let mut n = 0u64;
        let mut seen = 0u64;
        while let Some(text) = std::future::poll_fn(|cx| rows.as_mut().poll_next(cx)).await {
            let text = text?;
            seen += 1;
            // The row is copied as the backend wrote it; only the keys that decide whether it is kept are
            // read.
            if inspect {
                let fields = pick_fields(&text, &wanted).map_err(|e| BackupError::Json {
                    path: out_path.clone(),
                    reason: format!("{} row {seen}: {e}", def.name),
                })?;
                let parent_keys = fields[1..].iter().map(|raw| raw.and_then(raw_key));
                if !parents_backed_up(schema, def, parent_keys, &kept_pks, &own) {
                    continue;
                }
                if keep && let Some(pk) = fields[0].and_then(raw_key) {
                    own.insert(&pk);
                }
            }
            let w = sink.writer();
            w.write_all(if n == 0 { b"\n    " } else { b",\n    " })
                .map_err(io_err(&out_path))?;
            w.write_all(text.as_bytes()).map_err(io_err(&out_path))?;
            n += 1;
            if seen.is_multiple_of(10_000) {
                progress.update(&ProgressUpdate {
                    phase: Phase::Backup,
                    table: &def.name,
                    done: seen,
                    total,
                    finished: false,
                });
            }
        }
        let w = sink.writer();
        w.write_all(if n == 0 { b"]" } else { b"\n  ]" })
            .map_err(io_err(&out_path))?;
        progress.update(&ProgressUpdate {
            phase: Phase::Backup,
            table: &def.name,
            done: seen,
            total,
            finished: true,
        });
        if keep {
            kept_pks.insert(def.name.clone(), own);
        }
        metadata.insert(format!("{}_count", def.name), Value::from(n));
        counts.push((def.name.clone(), n));
    }
    drop(snapshot);

    let header = header(&metadata, path)?;
    match sink {
        Sink::Direct {
            mut out,
            header_len,
        } => {
            // Real counts are never wider than u64::MAX, so the metadata fits in the space held for it;
            // the rest of that space becomes spaces at the end of its last line.
            let Some(spare) = header_len.checked_sub(header.len()) else {
                return Err(BackupError::Json {
                    path: path.to_owned(),
                    reason: "the metadata outgrew the space held for it".into(),
                });
            };
            let close = header.rfind('\n').unwrap_or(header.len());
            let padded = format!(
                "{}{}{}",
                &header[..close],
                " ".repeat(spare),
                &header[close..]
            );
            out.overwrite_start(padded.as_bytes())?;
            out.write_all(b"\n}\n")?;
            out.commit()?;
        }
        Sink::Spool(mut spool) => {
            let mut out = AtomicFile::create(path, true)?;
            out.write_all(header.as_bytes())?;
            let spool_file = spool.reopen()?;
            out.copy_from(&mut BufReader::new(spool_file))?;
            out.write_all(b"\n}\n")?;
            out.commit()?;
        }
    }
    Ok(BackupReport {
        path: path.to_owned(),
        counts,
    })
}

/// Where a backup's rows go while they stream (see [`backup`]).
enum Sink {
    /// Into the output file, after a metadata block of `header_len` bytes to be written over at the end.
    Direct { out: AtomicFile, header_len: usize },
    /// Into a spool, copied into the (gzip) output after the metadata at the end.
    Spool(TempFile),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Direct { out, .. } => out.plain_writer(),
            Sink::Spool(spool) => spool.writer(),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Sink::Direct { out, .. } => out.temp_path(),
            Sink::Spool(spool) => spool.path(),
        }
    }
}

/// The start of a backup file: `{`, then the `metadata` key and its object, pretty-printed and indented.
fn header(metadata: &Map<String, Value>, path: &Path) -> Result<String, BackupError> {
    let meta_text = serde_json::to_string_pretty(metadata).map_err(|e| BackupError::Json {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(format!(
        "{{\n  {}: {}",
        json_string(METADATA_KEY),
        meta_text.replace('\n', "\n  ")
    ))
}

/// [`backup`] without progress reports.
pub async fn backup_quiet(
    client: &dyn DatabaseClient,
    schema: &BackupSchema,
    path: &Path,
    options: &BackupOptions,
) -> Result<BackupReport, BackupError> {
    backup(client, schema, path, options, &NoProgress).await
}

/// Whether every required parent of a row was backed up, given the key of each of its parent references
/// in `def.parents` order (a NULL reference, or one to a table outside the backup, counts as backed up).
fn parents_backed_up<'k>(
    schema: &BackupSchema,
    def: &crate::schema::TableDef,
    parent_keys: impl Iterator<Item = Option<Cow<'k, str>>>,
    kept: &HashMap<String, KeySet>,
    own: &KeySet,
) -> bool {
    def.parents.iter().zip(parent_keys).all(|(p, key)| {
        let Some(key) = key else {
            return true;
        };
        if schema.is_external(&p.table) {
            return true;
        }
        if p.table == def.name {
            own.contains(key.as_ref())
        } else {
            kept.get(&p.table).is_some_and(|s| s.contains(key.as_ref()))
        }
    })
}

/// The raw JSON text of each `wanted` field of one row object (`None` when absent), found without building
/// the row: a backup reads only the keys that decide whether a row is kept, and only as far as the last of
/// them ([`pick_leading_fields`]; the rest of the row is copied to the file unread). When that stops
/// short (a wanted field is absent, a key has an escape, or the text is not an object) the whole row is
/// parsed, and its errors reported.
fn pick_fields<'t>(
    text: &'t str,
    wanted: &[&str],
) -> Result<Vec<Option<&'t str>>, serde_json::Error> {
    match pick_leading_fields(text, wanted) {
        Some(fields) => Ok(fields),
        None => pick_all_fields(text, wanted),
    }
}

/// Reads a row object's fields in order until every `wanted` one has been seen; `None` when it does not
/// get there. The first occurrence of a key counts (a row from a table has each key once). Plain values
/// (a number, a literal, a string without escapes: every key column of the bench's rows) are scanned
/// here; anything else is read by serde_json.
fn pick_leading_fields<'t>(text: &'t str, wanted: &[&str]) -> Option<Vec<Option<&'t str>>> {
    let bytes = text.as_bytes();
    let skip_ws = |mut at: usize| {
        while bytes
            .get(at)
            .is_some_and(|b| matches!(b, b' ' | b'\n' | b'\t' | b'\r'))
        {
            at += 1;
        }
        at
    };
    let mut fields = vec![None; wanted.len()];
    let mut missing = wanted.len();
    let mut at = skip_ws(0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    loop {
        at = skip_ws(at);
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let key_start = at + 1;
        let key_end = key_start
            + bytes
                .get(key_start..)?
                .iter()
                .position(|&b| b == b'"' || b == b'\\')?;
        if bytes[key_end] == b'\\' {
            return None;
        }
        let key = text.get(key_start..key_end)?;
        at = skip_ws(key_end + 1);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at = skip_ws(at + 1);
        let end = match plain_value_end(bytes, at) {
            // A plain value must be followed by the next field or the object's end, as serde_json checks.
            Some(end) if matches!(bytes.get(skip_ws(end)), Some(b',' | b'}')) => end,
            Some(_) => return None,
            None => {
                let mut values =
                    serde_json::Deserializer::from_str(text.get(at..)?).into_iter::<&RawValue>();
                values.next()?.ok()?;
                at + values.byte_offset()
            }
        };
        let raw = text.get(at..end)?;
        at = end;
        for (slot, name) in fields.iter_mut().zip(wanted) {
            if slot.is_none() && *name == key {
                *slot = Some(raw);
                missing -= 1;
            }
        }
        if missing == 0 {
            return Some(fields);
        }
        at = skip_ws(at);
        if bytes.get(at) != Some(&b',') {
            return None;
        }
        at += 1;
    }
}

/// Where the plain JSON value starting at `at` ends: a string without escapes or control characters, a
/// number as JSON spells it, `true`, `false` or `null`. `None` for anything else (a container, an
/// escaped string, malformed text), which serde_json then reads.
fn plain_value_end(bytes: &[u8], at: usize) -> Option<usize> {
    let literal = |word: &[u8]| {
        bytes
            .get(at..)
            .is_some_and(|rest| rest.starts_with(word))
            .then_some(at + word.len())
    };
    match *bytes.get(at)? {
        b'"' => {
            let len = bytes
                .get(at + 1..)?
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            (bytes[at + 1 + len] == b'"').then_some(at + len + 2)
        }
        b'-' | b'0'..=b'9' => number_end(bytes, at),
        b't' => literal(b"true"),
        b'f' => literal(b"false"),
        b'n' => literal(b"null"),
        _ => None,
    }
}

/// Where the JSON number starting at `at` ends (`-`, an integer part without leading zeros, an optional
/// fraction and exponent); `None` when it is not one.
fn number_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    let digits = |from: usize| {
        bytes.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => at += digits(at),
        _ => return None,
    }
    if bytes.get(at) == Some(&b'.') {
        let n = digits(at + 1);
        if n == 0 {
            return None;
        }
        at += 1 + n;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let n = digits(at);
        if n == 0 {
            return None;
        }
        at += n;
    }
    Some(at)
}

/// [`pick_fields`] over the whole row, checking all of it.
fn pick_all_fields<'t>(
    text: &'t str,
    wanted: &[&str],
) -> Result<Vec<Option<&'t str>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = de.deserialize_map(Pick(wanted))?;
    de.end()?;
    Ok(fields.into_iter().map(|f| f.map(RawValue::get)).collect())
}

/// [`key_text`] of a raw JSON value, borrowed when its text already is that (a number, or a string with no
/// escapes); `None` for null.
fn raw_key(text: &str) -> Option<Cow<'_, str>> {
    if text == "null" {
        return None;
    }
    // A string without escapes, or a number in plain digits, is already spelled as key_text spells it;
    // escapes, exponents and containers can be spelled more than one way, so they are parsed.
    let plain = match text.as_bytes().first() {
        Some(b'"') => !text.contains('\\'),
        Some(b'-' | b'0'..=b'9') => text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.'),
        _ => false,
    };
    if plain {
        return Some(Cow::Borrowed(text));
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .map(|v| Cow::Owned(key_text(&v)))
}

/// Visits a row object, keeping the raw value of each wanted field and skipping the rest.
struct Pick<'w>(&'w [&'w str]);

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = Vec<Option<&'de RawValue>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a row object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = vec![None; self.0.len()];
        while let Some(index) = map.next_key_seed(KeyIndex(self.0))? {
            match index {
                Some(i) => {
                    let raw = map.next_value::<&'de RawValue>()?;
                    // A field can be wanted twice (a primary key that is also the parent reference).
                    for (slot, name) in out.iter_mut().zip(self.0) {
                        if *name == self.0[i] {
                            *slot = Some(raw);
                        }
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// A key's position among the wanted fields, compared without allocating.
struct KeyIndex<'w>(&'w [&'w str]);

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|w| *w == key))
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_only_the_wanted_fields_in_the_asked_order() {
        let text = r#"{"id": 7, "meta": {"id": 1, "x": [1, {"post_id": 2}]}, "p\u006fst_id": "k", "other": null}"#;
        let fields = pick_fields(text, &["post_id", "id", "missing"]).unwrap();
        assert_eq!(fields, [Some("\"k\""), Some("7"), None]);
        // The same field wanted twice (a primary key that is also the parent reference) fills both.
        let twice = pick_fields(r#"{"id": 5}"#, &["id", "id"]).unwrap();
        assert_eq!(twice, [Some("5"), Some("5")]);
        assert!(pick_fields("[1, 2]", &["id"]).is_err());
        assert!(pick_fields(r#"{"x": 1} trailing"#, &["id"]).is_err());
        assert!(pick_fields(r#"{"x": [1}, "id": 1}"#, &["id"]).is_err());
        // Malformed plain values are the whole parse's errors, never a key.
        for bad in [
            r#"{"id":01}"#,
            r#"{"id":1.}"#,
            r#"{"id":-}"#,
            r#"{"id":1e}"#,
            r#"{"id":tru}"#,
            r#"{"id":truex}"#,
            r#"{"id":nul,"x":1}"#,
            "{\"id\":\"a\u{1}\"}",
            r#"{"id":"open"#,
        ] {
            assert!(pick_fields(bad, &["id"]).is_err(), "{bad}");
        }
        // Reading stops at the last wanted field: what follows is copied, not read.
        let fields = pick_fields(r#"{"id": 1, "rest": "#, &["id"]).unwrap();
        assert_eq!(fields[0], Some("1"));
    }

    #[test]
    fn the_leading_fields_are_those_of_the_whole_row() {
        for (text, wanted) in [
            (
                r#"{"id":1,"a":"x","post_id":7,"b":{"c":[1,2]}}"#,
                &["id", "post_id"][..],
            ),
            (
                r#" { "a" : [ 1 , { "id" : 2 } ] , "id" : "k" , "p" : null } "#,
                &["id", "p"],
            ),
            (r#"{"id":-1.5e3,"id2":true}"#, &["id2", "id", "id"]),
            (r#"{"i\u0064":1,"id":2}"#, &["id"]),
            (r#"{"id":1}"#, &["id", "absent"]),
            (r#"{}"#, &["id"]),
            (r#"{"id":"a\"b}","x":1}"#, &["x"]),
            (r#"{"id":"café","x":0}"#, &["x", "id"]),
            (r#"{"id":1.5E+3,"x":-0.25e-2}"#, &["id", "x"]),
            (r#"{"id":false , "x" :null,"y":true}"#, &["x", "id", "y"]),
            (r#"{"a":[],"id":"","x":{}}"#, &["id", "x"]),
        ] {
            let whole = pick_all_fields(text, wanted).unwrap();
            assert_eq!(pick_fields(text, wanted).unwrap(), whole, "{text}");
        }
    }

    #[test]
    fn raw_keys_equal_the_key_text_of_the_parsed_value() {
        for text in [
            "12",
            "-3.50",
            "1e400",
            "1E5",
            "-0.0",
            r#""plain""#,
            r#""caf\u00e9 \"q\"""#,
            r#"{"b": 1,  "a": [1, 2]}"#,
            "[1, \"x\"]",
            "true",
        ] {
            let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(raw_key(raw.get()).unwrap(), key_text(&parsed), "{text}");
        }
        assert_eq!(raw_key("null"), None);
    }
}
