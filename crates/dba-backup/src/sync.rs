//! Sync between two clients: compare by natural key within the user scope, then copy rows in one
//! destination transaction (or one per table), streaming from the source.

use std::collections::{HashMap, HashSet};

use dba_core::{DatabaseClient, Filter, Query, Row, Transaction, Value};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::catalog::{advance_sequence, pk_info, unique_keys_of};
use crate::engine::{
    Config, Engine, Mapped, RestoreMode, Source, find_matches, group_key,
    matches_through_references, pk_list, quoted_list, refers_to_itself,
};
use crate::error::BackupError;
use crate::format::key_text;
use crate::keys::IdMap;
use crate::names;
use crate::partitioned::refuse_partition_with_parent;
use crate::progress::{Phase, Progress, ProgressUpdate};
use crate::restore::DEFAULT_BATCH_SIZE;
use crate::schema::{BackupSchema, TableDef};
use crate::summary::TableSummary;

/// How rows that exist on both sides are treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncMode {
    /// Insert rows the destination lacks; leave existing ones alone (the original's behaviour).
    #[default]
    InsertOnly,
    /// Insert new rows and overwrite existing ones with the source's values.
    Upsert,
    /// Like `Upsert`, and delete destination rows (within the user scope, matched by natural key) that the
    /// source no longer has.
    Mirror,
}

/// How to sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Insert only, upsert, or mirror.
    pub mode: SyncMode,
    /// Scope every table by its user field; `None` syncs every user's rows.
    pub user_id: Option<Value>,
    /// Remap parent and optional references to the destination's ids through the schema, letting the
    /// destination generate keys that have defaults (like restore). When false, rows are copied as they
    /// are, primary keys included (the original's direct path), and sequences are moved past them.
    pub fk_aware: bool,
    /// One destination transaction per table instead of one for the whole run.
    pub per_table_transactions: bool,
    /// Compare only.
    pub dry_run: bool,
    /// Accept a destination without transactions (see [`crate::RestoreOptions::allow_non_atomic`]).
    pub allow_non_atomic: bool,
    /// Rows per batch.
    pub batch_size: usize,
    /// Names shown as `source_profile` and `dest_profile` in the result.
    pub source_name: String,
    /// See `source_name`.
    pub dest_name: String,
    /// The schema unqualified table names are read in on the destination (its profile's `schema`
    /// setting); `None` leaves them to the connection's `search_path`. See [`BackupSchema::in_schema`].
    pub schema: Option<String>,
    /// The same on the source, when its profile's schema differs (default: `schema`). A table keyed
    /// `items` is then read from the source's `items` in this schema and written to the destination's.
    pub source_schema: Option<String>,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            mode: SyncMode::InsertOnly,
            user_id: None,
            fk_aware: true,
            per_table_transactions: false,
            dry_run: false,
            allow_non_atomic: false,
            batch_size: DEFAULT_BATCH_SIZE,
            source_name: String::new(),
            dest_name: String::new(),
            schema: None,
            source_schema: None,
        }
    }
}

/// What a sync in the compared mode will do to one table, by match key within the user scope: the
/// sync's own counts (`new` + `update` are the rows it writes, `skip` the rows it leaves alone, `delete`
/// the rows it deletes). The original's keys `new` and `update` come first; `update` counts only rows this
/// mode overwrites.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    /// Source rows the destination lacks: inserted.
    pub new: u64,
    /// Source rows the destination has, overwritten with the source's values (upsert and mirror; 0 in
    /// insert-only mode).
    pub update: u64,
    /// Source rows left alone: those the destination has (insert-only mode), and in any mode those whose
    /// required parent is not in the run (a table with a user field; without one, such rows belong to
    /// another user and are not counted at all).
    pub skip: u64,
    /// Destination rows the source lacks, deleted (mirror mode; 0 otherwise).
    pub delete: u64,
}

/// Per-table values in table order, serialized as a JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerTable<T>(pub Vec<(String, T)>);

impl<T> PerTable<T> {
    /// The value of `table`.
    pub fn get(&self, table: &str) -> Option<&T> {
        self.0.iter().find(|(n, _)| n == table).map(|(_, v)| v)
    }
}

impl<T: Serialize> Serialize for PerTable<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The original's `SyncResult`: success, per-table counts, the plan, what was synced, and errors.
///
/// `synced_count` (inserted + updated), `skipped_count` and `deleted_count` count what was committed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncResult {
    /// True when the comparison (and the sync, unless a dry run) completed.
    pub success: bool,
    /// The source's name, for reports.
    pub source_profile: String,
    /// The destination's name, for reports.
    pub dest_profile: String,
    /// Rows per table in the source within the user scope: the rows the sync reads. A table without a
    /// user field counts the rows whose required parents are the user's (as the sync scopes it).
    pub source_counts: PerTable<u64>,
    /// Rows per table in the destination within the user scope (a table without a user field: the rows
    /// whose required parents are the user's), before the sync.
    pub dest_counts: PerTable<u64>,
    /// New and existing rows per table.
    pub sync_plan: PerTable<PlanEntry>,
    /// Rows inserted or overwritten and committed.
    pub synced_count: u64,
    /// Rows left alone (existing rows in insert-only mode, rows whose parent is missing).
    pub skipped_count: u64,
    /// Rows deleted in mirror mode (dba's addition).
    pub deleted_count: u64,
    /// What went wrong; nothing of a failed transaction was committed.
    pub errors: Vec<String>,
}

fn user_filter(def: &TableDef, user: Option<&Value>) -> Filter {
    match (user, &def.user_field) {
        (Some(u), Some(f)) => Filter::new().eq(f, u.clone()),
        _ => Filter::new(),
    }
}

/// The name the source's SQL uses for `def`: its key read in the source's schema.
fn source_table(schema: &BackupSchema, options: &SyncOptions, def: &TableDef) -> String {
    let home = options.source_schema.as_deref().or(schema.home());
    names::sql_name(&def.name, home)
}

/// Refuses to sync a database into itself: the same client, or the same server (start time and port)
/// and database name.
async fn same_database(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
) -> Result<bool, BackupError> {
    if std::ptr::addr_eq(
        source as *const dyn DatabaseClient,
        dest as *const dyn DatabaseClient,
    ) {
        return Ok(true);
    }
    if !(source.capabilities().raw_sql && dest.capabilities().raw_sql) {
        return Ok(false);
    }
    const SQL: &str = "SELECT current_database() AS db, pg_postmaster_start_time()::text AS started, \
                       inet_server_port() AS port";
    let a = source.query(SQL, &[]).await?;
    let b = dest.query(SQL, &[]).await?;
    Ok(a == b)
}

/// Compares source and destination: counts per table and what a sync in `options.mode` will do to each
/// table, exactly as the sync will do it. Source rows are scoped, re-owned and their references translated
/// to the destination's ids as the sync does (through the rows their parents match by natural key), then
/// matched against the destination by the sync's match key ([`TableDef`]'s natural key, or a composite
/// primary key). Streams the source's keys; one existence query per batch. Rows are counted (the original
/// counted distinct slugs); a row without a match key counts as new.
pub async fn compare(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
    schema: &BackupSchema,
    options: &SyncOptions,
    progress: &dyn Progress,
) -> SyncResult {
    let mut result = SyncResult {
        source_profile: options.source_name.clone(),
        dest_profile: options.dest_name.clone(),
        ..SyncResult::default()
    };
    match compare_into(source, dest, schema, options, progress, &mut result).await {
        Ok(()) => result.success = true,
        Err(e) => result.errors.push(format!(
            "Failed to compare profiles: {}",
            dba_core::chain_text(&e)
        )),
    }
    result
}

async fn compare_into(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
    schema: &BackupSchema,
    options: &SyncOptions,
    progress: &dyn Progress,
    result: &mut SyncResult,
) -> Result<(), BackupError> {
    let (schema, scope) = &checked(source, dest, schema, options).await?;
    let no_keys = HashSet::new();
    let mut plan = Plan {
        schema,
        options,
        ids: HashMap::new(),
        seen: HashMap::new(),
    };
    for def in &schema.tables {
        let (dest_total, dest_rows) = plan.dest_count(dest, def, scope).await?;
        let (total, mut entry) = plan
            .table(source, dest, def, dest_rows > 0, progress)
            .await?;
        result.source_counts.0.push((def.name.clone(), total));
        result.dest_counts.0.push((def.name.clone(), dest_total));
        if options.mode == SyncMode::Mirror && dest_total > 0 {
            let ctx = MirrorContext {
                schema,
                scope,
                seen: Some(plan.seen.get(&def.name).unwrap_or(&no_keys)),
            };
            let doomed = doomed_keys(source, dest, def, &ctx, options).await?.len();
            entry.delete = u64::try_from(doomed).unwrap_or(u64::MAX);
        }
        result.sync_plan.0.push((def.name.clone(), entry));
    }
    Ok(())
}

/// Where a source row's reference leads in the destination, as the engine will remap it.
enum Target {
    /// No reference, or one to a table outside this run: the value stays as it is.
    PassThrough,
    /// The parent matches this destination row: its primary key.
    Existing(Value),
    /// The parent will be inserted, under a key the destination has not given yet: a placeholder that
    /// stands for that key (the same for every reference to that parent).
    New(Value),
    /// The parent is not in this run (another user's, or skipped).
    Missing,
}

/// A source row as the sync will see it.
enum Prepared {
    /// Outside the user's scope (a required parent is another user's): left out, uncounted.
    Outside,
    /// Skipped: a required parent is missing from the run.
    Skipped,
    /// A row the sync writes or matches.
    Row {
        /// Its match key after translation (`None`: no match key, or a null part).
        group: Option<String>,
        /// A parent in its match (a required parent, or a reference in the match key) will be inserted
        /// under a key not given yet: no destination row matches it, only a later source row with the
        /// same key (the same placeholder).
        fresh: bool,
    },
}

/// The comparison of [`compare`]: walks the tables in schema order as the sync's engine will, without
/// writing, so the plan counts what the sync does. Each source row is re-owned, its references are
/// translated to the destination's ids through the rows its parents matched by natural key (or marked as
/// leading to a new parent), rows outside the user's scope are left out as the sync leaves them out, and
/// the translated row is matched against the destination exactly as the engine matches it
/// ([`find_matches`]).
struct Plan<'a> {
    schema: &'a BackupSchema,
    options: &'a SyncOptions,
    /// Per referenced table: source primary key (as key text) to the destination row it matches, or
    /// `Pending` when it will be inserted (integer keys compactly: see [`IdMap`]).
    ids: HashMap<String, IdMap>,
    /// Per table matched through remapped references: the match keys of the source rows the run will
    /// write or match in existing destination rows (the engine's `seen`), for mirror deletions.
    seen: HashMap<String, HashSet<String>>,
}

impl Plan<'_> {
    /// Whether `def`'s rows are scoped through their parents (a table without a user field, in a run
    /// scoped by user), as the engine's `scope_by_parents` scopes them.
    fn by_parents(&self, def: &TableDef) -> bool {
        self.options.user_id.is_some() && def.user_field.is_none()
    }

    /// Whether `def`'s rows are scoped through parents it has (so its rows in scope are known only by
    /// reading them).
    fn through_parents(&self, def: &TableDef) -> bool {
        self.by_parents(def) && !def.parents.is_empty()
    }

    /// The destination's rows of `def` within the user scope (a table without a user field: rows whose
    /// required parents are in [`dest_scope`]), and whether the table has any row at all.
    async fn dest_count(
        &self,
        dest: &dyn DatabaseClient,
        def: &TableDef,
        scope: &HashMap<String, HashSet<String>>,
    ) -> Result<(u64, u64), BackupError> {
        if !self.through_parents(def) {
            let n = dest
                .count(
                    &self.schema.sql_name(&def.name),
                    &user_filter(def, self.options.user_id.as_ref()),
                )
                .await?;
            return Ok((n, n));
        }
        let mut columns: Vec<&str> = def.pk.iter().map(String::as_str).collect();
        for p in &def.parents {
            if !columns.contains(&p.field.as_str()) {
                columns.push(&p.field);
            }
        }
        let query = Query::new().columns(&quoted_list(&columns));
        let mut stream = Source::Stream(
            dest.select_stream(&self.schema.sql_name(&def.name), &query)
                .await?,
        );
        let (mut in_scope, mut all) = (0, 0);
        while let Some(row) = stream.next().await? {
            all += 1;
            if let Value::Object(row) = row
                && parents_in_scope(self.schema, def, &row, scope)
            {
                in_scope += 1;
            }
        }
        Ok((in_scope, all))
    }

    /// Where the reference `value` to `table` leads (the engine's lookup).
    fn target(&self, table: &str, value: Option<&Value>) -> Target {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Target::PassThrough;
        };
        if self.schema.table(table).is_none() || self.schema.is_external(table) {
            return Target::PassThrough;
        }
        match self.ids.get(table).and_then(|m| m.get(&key_text(value))) {
            Some(Mapped::Known(id)) => Target::Existing(id),
            Some(Mapped::Pending) => Target::New(Value::String(format!(
                "\u{1}new {table} {}",
                key_text(value)
            ))),
            None => Target::Missing,
        }
    }

    /// Re-owns `row` and translates its references as the engine's `prepare` does.
    fn prepare(&self, def: &TableDef, row: &mut Row) -> Prepared {
        if let (Some(user), Some(field)) = (&self.options.user_id, &def.user_field) {
            row.insert(field.clone(), user.clone());
        }
        let mut fresh = false;
        if self.options.fk_aware {
            for parent in &def.parents {
                match self.target(&parent.table, row.get(&parent.field)) {
                    Target::PassThrough => {}
                    Target::Existing(id) => {
                        row.insert(parent.field.clone(), id);
                    }
                    Target::New(key) => {
                        row.insert(parent.field.clone(), key);
                        fresh = true;
                    }
                    Target::Missing if self.by_parents(def) => return Prepared::Outside,
                    Target::Missing => return Prepared::Skipped,
                }
            }
            for opt in &def.optional_refs {
                match self.target(&opt.table, row.get(&opt.field)) {
                    Target::PassThrough => {}
                    Target::Existing(id) => {
                        row.insert(opt.field.clone(), id);
                    }
                    // A fresh key matches nothing: it matters only inside the match key.
                    Target::New(key) => {
                        fresh |= def.match_columns().contains(&opt.field);
                        row.insert(opt.field.clone(), key);
                    }
                    Target::Missing => {
                        row.insert(opt.field.clone(), Value::Null);
                    }
                }
            }
        } else if self.by_parents(def)
            && def
                .parents
                .iter()
                .any(|p| matches!(self.target(&p.table, row.get(&p.field)), Target::Missing))
        {
            return Prepared::Outside;
        }
        Prepared::Row {
            group: group_key(def, row),
            fresh,
        }
    }

    /// Compares one table: its source row count within the scope, and what this mode does to it.
    async fn table(
        &mut self,
        source: &dyn DatabaseClient,
        dest: &dyn DatabaseClient,
        def: &TableDef,
        dest_has_rows: bool,
        progress: &dyn Progress,
    ) -> Result<(u64, PlanEntry), BackupError> {
        let remap = self.options.fk_aware;
        let mut columns: Vec<&str> = def.pk.iter().map(String::as_str).collect();
        columns.extend(def.match_columns().iter().map(String::as_str));
        columns.extend(def.user_field.as_deref());
        columns.extend(def.references().map(|r| r.field.as_str()));
        let mut unique: Vec<&str> = Vec::new();
        for c in columns {
            if !unique.contains(&c) {
                unique.push(c);
            }
        }
        let referenced = self.schema.is_referenced(&def.name);
        let through = matches_through_references(def, remap);
        let parent_fields: Vec<&str> = if remap {
            def.parents.iter().map(|p| p.field.as_str()).collect()
        } else {
            Vec::new()
        };
        // Into an empty table, with no parent to be missing and no child to remap: every row is new.
        if !dest_has_rows && !referenced && def.parents.is_empty() {
            let total = source
                .count(
                    &source_table(self.schema, self.options, def),
                    &user_filter(def, self.options.user_id.as_ref()),
                )
                .await?;
            progress.update(&ProgressUpdate {
                phase: Phase::Compare,
                table: &def.name,
                done: total,
                total: Some(total),
                finished: true,
            });
            let entry = PlanEntry {
                new: total,
                ..PlanEntry::default()
            };
            return Ok((total, entry));
        }
        // The bar's length, when shown: known up front unless rows are scoped through their parents.
        let expected = if progress.wants_totals() && !self.through_parents(def) {
            Some(
                source
                    .count(
                        &source_table(self.schema, self.options, def),
                        &user_filter(def, self.options.user_id.as_ref()),
                    )
                    .await?,
            )
        } else {
            None
        };
        let only_one = source_index(
            def,
            &unique_keys_of(source, &source_table(self.schema, self.options, def)).await?,
        );
        // The engine's order (see `read_order`): a duplicate match key finds the first row of it.
        let query = read_order(
            Query::new()
                .columns(&quoted_list(&unique))
                .filter(user_filter(def, self.options.user_id.as_ref())),
            def,
            only_one.is_some(),
        );
        let mut stream = Source::Stream(
            source
                .select_stream(&source_table(self.schema, self.options, def), &query)
                .await?,
        );
        let mut entry = PlanEntry::default();
        let (mut total, mut existing) = (0u64, 0u64);
        // Match keys (with parent references) of the rows the run inserts: a later source row with the
        // same key finds the inserted one, as in the engine. Not kept for a row the source's unique index
        // (see `source_index`) makes the only one with its key: nothing grows with such a table's rows.
        let mut inserted: HashSet<String> = HashSet::new();
        let may_repeat = |row: &Row| {
            only_one
                .as_ref()
                .is_none_or(|cols| cols.iter().any(|c| row.get(c).is_none_or(Value::is_null)))
        };
        let mut chunk: Vec<(Value, Row, Option<String>, bool)> = Vec::new();
        loop {
            let next = stream.next().await?;
            let end = next.is_none();
            if let Some(Value::Object(mut row)) = next {
                let old_pk = def.pk_of(&row);
                match self.prepare(def, &mut row) {
                    Prepared::Outside => {}
                    Prepared::Skipped => {
                        total += 1;
                        entry.skip += 1;
                    }
                    Prepared::Row { group, fresh } => {
                        total += 1;
                        chunk.push((old_pk, row, group, fresh));
                    }
                }
            }
            if chunk.len() >= self.options.batch_size.max(1) || (end && !chunk.is_empty()) {
                let found = if dest_has_rows {
                    let rows: Vec<(&Row, Option<&str>)> = chunk
                        .iter()
                        .map(|(_, r, g, fresh)| (r, g.as_deref().filter(|_| !fresh)))
                        .collect();
                    find_matches(dest, &self.schema.sql_name(&def.name), def, remap, &rows).await?
                } else {
                    vec![None; chunk.len()]
                };
                for ((old_pk, row, group, fresh), found) in chunk.drain(..).zip(found) {
                    let again = group.as_ref().map(|g| {
                        let parents: Vec<Value> = parent_fields
                            .iter()
                            .map(|f| row.get(*f).cloned().unwrap_or(Value::Null))
                            .collect();
                        format!("{g}{}", Value::Array(parents))
                    });
                    let matched = match (&found, &again) {
                        (Some(pk), _) => Some(Some(pk.clone())),
                        (None, Some(k)) if inserted.contains(k) => Some(None),
                        _ => None,
                    };
                    if through
                        && !fresh
                        && let Some(g) = &group
                    {
                        self.seen
                            .entry(def.name.clone())
                            .or_default()
                            .insert(g.clone());
                    }
                    let id = match matched {
                        Some(id) => {
                            existing += 1;
                            id
                        }
                        None => {
                            entry.new += 1;
                            if let Some(k) = again
                                && may_repeat(&row)
                            {
                                inserted.insert(k);
                            }
                            None
                        }
                    };
                    if referenced {
                        self.ids.entry(def.name.clone()).or_default().insert(
                            &key_text(&old_pk),
                            id.map_or(Mapped::Pending, Mapped::Known),
                        );
                    }
                }
                progress.update(&ProgressUpdate {
                    phase: Phase::Compare,
                    table: &def.name,
                    done: total,
                    total: expected,
                    finished: false,
                });
            }
            if end {
                break;
            }
        }
        progress.update(&ProgressUpdate {
            phase: Phase::Compare,
            table: &def.name,
            done: total,
            total: Some(total),
            finished: true,
        });
        // This mode skips or overwrites the source rows the destination has.
        if self.options.mode == SyncMode::InsertOnly {
            entry.skip += existing;
        } else {
            entry.update = existing;
        }
        Ok((total, entry))
    }
}

/// `query` reading `def`'s source rows in primary-key order where the order decides what the run does: in
/// a table that refers to itself (a parent row goes before its children), and where two rows in scope may
/// share a match key (the first one read is inserted, the next finds it). Elsewhere (no match key, or a
/// source unique index that rules out repeats: `unique`) the rows come in the source's own order, as
/// `COPY` reads them: no sort on the source server, which for a table without statistics spills to disk
/// before the first row arrives.
fn read_order(query: Query, def: &TableDef, unique: bool) -> Query {
    if refers_to_itself(def) || !(def.match_columns().is_empty() || unique) {
        query.order_by(&pk_list(def))
    } else {
        query
    }
}

/// A unique index of the source table (from [`unique_keys_of`]) that lets no two source rows in the run's
/// scope share a match key: its columns are all match-key columns or the user field (the scope holds one
/// user's rows, and re-owning gives them all the same one), and none is a reference the run remaps (two
/// source parents can map to one destination row). A row with NULL in one of its columns is not covered.
fn source_index(def: &TableDef, keys: &[Vec<String>]) -> Option<Vec<String>> {
    let allowed = |c: &String| {
        (def.match_columns().contains(c) || def.user_field.as_ref() == Some(c))
            && !def.references().any(|r| &r.field == c)
    };
    keys.iter().find(|cols| cols.iter().all(allowed)).cloned()
}

/// The match-key groups of `rows` that exist in `client` (compared by raw value: for tables whose match
/// key holds no remapped reference).
async fn existing_keys(
    client: &dyn DatabaseClient,
    table: &str,
    def: &TableDef,
    cols: &[&str],
    rows: &[Row],
) -> Result<HashSet<String>, BackupError> {
    let mut filter = Filter::new();
    for col in cols {
        let mut seen = HashSet::new();
        let values: Vec<Value> = rows
            .iter()
            .filter_map(|r| r.get(*col))
            .filter(|v| !v.is_null() && seen.insert(v.to_string()))
            .cloned()
            .collect();
        filter = filter.is_in(col, values);
    }
    let query = Query::new().columns(&quoted_list(cols)).filter(filter);
    Ok(client
        .select(table, &query)
        .await?
        .iter()
        .filter_map(|r| group_key(def, r))
        .collect())
}

/// Syncs the tables of `schema` from `source` into `dest`, copying rows in schema order, streaming each
/// table from the source and writing in batches inside one destination transaction (or one per table).
/// Existing rows are matched by natural key within the user scope (and by remapped parent when foreign-key
/// aware); in mirror mode, destination rows the source no longer has are then deleted, children first.
/// Deletions happen only in mirror mode. Syncing a database into itself is refused.
///
/// A dry run is the comparison ([`compare`]). A real run reads the source once: its `sync_plan` and
/// `source_counts` are what it did, table by table, which are what [`compare`] counts beforehand (the
/// comparison is built to count exactly what the run does); `dest_counts` are taken before it writes.
pub async fn sync(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
    schema: &BackupSchema,
    options: &SyncOptions,
    progress: &dyn Progress,
) -> SyncResult {
    if options.dry_run {
        return compare(source, dest, schema, options, progress).await;
    }
    let mut result = SyncResult {
        source_profile: options.source_name.clone(),
        dest_profile: options.dest_name.clone(),
        ..SyncResult::default()
    };
    let totals = match before_sync(source, dest, schema, options, progress, &mut result).await {
        Ok(totals) => totals,
        Err(e) => {
            result.errors.push(format!(
                "Failed to compare profiles: {}",
                dba_core::chain_text(&e)
            ));
            return result;
        }
    };
    match run_sync(
        source,
        dest,
        schema,
        options,
        progress,
        &totals,
        &mut result,
    )
    .await
    {
        Ok(()) => result.success = true,
        Err(e) => result
            .errors
            .push(format!("Sync failed: {}", dba_core::chain_text(&e))),
    }
    result
}

/// The checks a comparison and a sync make before reading anything: `schema` in the run's schema and
/// valid, no partition with a parent, two databases. Returns that schema and the destination's user scope
/// (see [`dest_scope`]).
async fn checked(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
    schema: &BackupSchema,
    options: &SyncOptions,
) -> Result<(BackupSchema, HashMap<String, HashSet<String>>), BackupError> {
    let schema = schema.in_schema(options.schema.as_deref())?;
    schema.validate()?;
    refuse_partition_with_parent(source, &schema).await?;
    if same_database(source, dest).await? {
        return Err(BackupError::SameDatabase);
    }
    let scope = dest_scope(dest, &schema, options).await?;
    Ok((schema, scope))
}

/// The checks [`compare`] makes, and the destination's counts before the run; returns each table's source
/// rows within the scope when `progress` shows totals (unknown for a table scoped through its parents).
async fn before_sync(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
    schema: &BackupSchema,
    options: &SyncOptions,
    progress: &dyn Progress,
    result: &mut SyncResult,
) -> Result<HashMap<String, u64>, BackupError> {
    let (schema, scope) = &checked(source, dest, schema, options).await?;
    let plan = Plan {
        schema,
        options,
        ids: HashMap::new(),
        seen: HashMap::new(),
    };
    let mut totals = HashMap::new();
    for def in &schema.tables {
        let (dest_total, _) = plan.dest_count(dest, def, scope).await?;
        result.dest_counts.0.push((def.name.clone(), dest_total));
        if progress.wants_totals() && !plan.through_parents(def) {
            let total = source
                .count(
                    &source_table(schema, options, def),
                    &user_filter(def, options.user_id.as_ref()),
                )
                .await?;
            totals.insert(def.name.clone(), total);
        }
    }
    Ok(totals)
}

/// The sync itself: fills `result`'s plan, source counts and totals from what each table's run did.
async fn run_sync(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
    schema: &BackupSchema,
    options: &SyncOptions,
    progress: &dyn Progress,
    totals: &HashMap<String, u64>,
    result: &mut SyncResult,
) -> Result<(), BackupError> {
    let schema = &schema.in_schema(options.schema.as_deref())?;
    let transactional = dest.capabilities().transactions;
    if !transactional && !options.allow_non_atomic {
        return Err(BackupError::NotAtomic("sync"));
    }
    let config = Config {
        mode: match options.mode {
            SyncMode::InsertOnly => RestoreMode::Skip,
            SyncMode::Upsert | SyncMode::Mirror => RestoreMode::Overwrite,
        },
        dry_run: false,
        user_id: options.user_id.clone(),
        keep_ids: !options.fk_aware,
        remap: options.fk_aware,
        continue_on_error: false,
        savepoints: transactional,
        batch_size: options.batch_size.max(1),
    };
    let groups: Vec<Vec<&TableDef>> = if options.per_table_transactions {
        schema.tables.iter().map(|t| vec![t]).collect()
    } else {
        vec![schema.tables.iter().collect()]
    };
    let mut maps = Default::default();
    let mirror = options.mode == SyncMode::Mirror;
    let mut deletes_pending = mirror;
    let mut seen: HashMap<String, HashSet<String>> = HashMap::new();
    // What each table's run did, and the rows each mirror deletion removed.
    let mut done: HashMap<String, TableSummary> = HashMap::new();
    let mut deletes: HashMap<String, u64> = HashMap::new();
    for (gi, group) in groups.iter().enumerate() {
        let tx: Option<Box<dyn Transaction>> = if transactional {
            Some(dest.begin().await?)
        } else {
            None
        };
        let target: &dyn DatabaseClient = match &tx {
            Some(tx) => &**tx,
            None => dest,
        };
        let mut engine = Engine::new(target, schema, config.clone(), progress);
        engine.set_maps(std::mem::take(&mut maps));
        engine.track_seen = mirror;
        engine.scope_by_parents = options.user_id.is_some();
        for def in group {
            let info = pk_info(target, &schema.sql_name(&def.name), def).await?;
            let table = source_table(schema, options, def);
            let only_one = source_index(def, &unique_keys_of(source, &table).await?);
            let query = read_order(
                Query::new().filter(user_filter(def, options.user_id.as_ref())),
                def,
                only_one.is_some(),
            );
            let stream = source.select_stream(&table, &query).await?;
            let total = totals.get(&def.name).copied();
            engine
                .table(def, &info, Source::Stream(stream), total)
                .await?;
        }
        seen.extend(std::mem::take(&mut engine.seen));
        let mut deleted = 0;
        // Deletions run in the last transaction, children first, once every table's scope is known.
        if deletes_pending && gi + 1 == groups.len() {
            let scope = dest_scope(target, schema, options).await?;
            for def in schema.tables.iter().rev() {
                let ctx = MirrorContext {
                    schema,
                    scope: &scope,
                    seen: seen.get(&def.name),
                };
                let gone = mirror_deletes(source, target, def, &ctx, options, progress).await?;
                deletes.insert(def.name.clone(), gone);
                deleted += gone;
            }
            deletes_pending = false;
        }
        let kept = std::mem::take(&mut engine.kept_ids);
        let summary = std::mem::take(&mut engine.summary);
        maps = engine.take_maps();
        drop(engine);
        for name in &kept {
            if let Some(def) = schema.table(name) {
                advance_sequence(target, &schema.sql_name(name), def).await?;
            }
        }
        if let Some(tx) = tx {
            let totals = summary.totals();
            progress.update(&ProgressUpdate {
                phase: Phase::Commit,
                table: "",
                done: totals.inserted + totals.updated,
                total: None,
                finished: true,
            });
            tx.commit().await?;
        }
        let totals = summary.totals();
        result.synced_count += totals.inserted + totals.updated;
        result.skipped_count += totals.skipped;
        result.deleted_count += deleted;
        for def in group {
            if let Some(t) = summary.table(&def.name) {
                done.insert(def.name.clone(), t.clone());
            }
        }
    }
    for def in &schema.tables {
        let t = done.remove(&def.name).unwrap_or_default();
        let entry = PlanEntry {
            new: t.inserted,
            update: t.updated,
            skip: t.skipped,
            delete: deletes.get(&def.name).copied().unwrap_or(0),
        };
        result
            .source_counts
            .0
            .push((def.name.clone(), t.inserted + t.updated + t.skipped));
        result.sync_plan.0.push((def.name.clone(), entry));
    }
    Ok(())
}

/// The destination's keys of rows within the user scope, for each table another one references: rows of
/// the user (when the table has a user field) whose required parents are all in scope, as a backup keeps
/// them. Empty without a user scope (every row is in scope then), or when no table needs it.
async fn dest_scope(
    dest: &dyn DatabaseClient,
    schema: &BackupSchema,
    options: &SyncOptions,
) -> Result<HashMap<String, HashSet<String>>, BackupError> {
    let mut scope: HashMap<String, HashSet<String>> = HashMap::new();
    // Only a table without a user field is scoped through its parents.
    let needed = schema
        .tables
        .iter()
        .any(|t| t.user_field.is_none() && !t.parents.is_empty());
    if options.user_id.is_none() || !needed {
        return Ok(scope);
    }
    for def in &schema.tables {
        if !schema.is_referenced(&def.name) {
            continue;
        }
        let mut columns: Vec<&str> = def.pk.iter().map(String::as_str).collect();
        for p in &def.parents {
            if !columns.contains(&p.field.as_str()) {
                columns.push(&p.field);
            }
        }
        let query = Query::new()
            .columns(&quoted_list(&columns))
            .filter(user_filter(def, options.user_id.as_ref()));
        let mut stream = Source::Stream(
            dest.select_stream(&schema.sql_name(&def.name), &query)
                .await?,
        );
        let mut keys = HashSet::new();
        while let Some(row) = stream.next().await? {
            let Value::Object(row) = row else { continue };
            if parents_in_scope(schema, def, &row, &scope) {
                keys.insert(key_text(&def.pk_of(&row)));
            }
        }
        scope.insert(def.name.clone(), keys);
    }
    Ok(scope)
}

/// Whether every non-null required parent of `row` (in this run, other than the table itself) is among
/// the destination rows in scope.
fn parents_in_scope(
    schema: &BackupSchema,
    def: &TableDef,
    row: &Row,
    scope: &HashMap<String, HashSet<String>>,
) -> bool {
    def.parents.iter().all(|p| {
        let Some(v) = row.get(&p.field).filter(|v| !v.is_null()) else {
            return true;
        };
        if p.table == def.name || schema.is_external(&p.table) || schema.table(&p.table).is_none() {
            return true;
        }
        scope
            .get(&p.table)
            .is_some_and(|keys| keys.contains(&key_text(v)))
    })
}

/// What mirror deletions of one table need besides the table.
struct MirrorContext<'a> {
    schema: &'a BackupSchema,
    /// See [`dest_scope`].
    scope: &'a HashMap<String, HashSet<String>>,
    /// The match keys this run wrote or matched in the table (tracked for tables matched through a
    /// remapped reference).
    seen: Option<&'a HashSet<String>>,
}

/// Deletes destination rows of `def` within the user scope whose match key the source lacks: compared
/// with the source by natural key, or, when the match key holds a remapped reference (a join table's
/// composite key), with the keys this run wrote or matched. A table without a user field is scoped
/// through its required parents. Rows are deleted by their full primary key.
async fn mirror_deletes(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
    def: &TableDef,
    ctx: &MirrorContext<'_>,
    options: &SyncOptions,
    progress: &dyn Progress,
) -> Result<u64, BackupError> {
    let doomed = doomed_keys(source, dest, def, ctx, options).await?;
    let mut deleted = 0;
    for filter in delete_filters(def, doomed, options.batch_size.max(1)) {
        deleted += dest
            .delete(&ctx.schema.sql_name(&def.name), &filter)
            .await?;
        progress.update(&ProgressUpdate {
            phase: Phase::Delete,
            table: &def.name,
            done: deleted,
            total: None,
            finished: false,
        });
    }
    Ok(deleted)
}

/// The primary keys of the destination rows of `def` within the user scope whose match key the source
/// lacks (see [`mirror_deletes`]): what mirror mode deletes, and what its plan counts. For a table matched
/// through remapped references, `ctx.seen` holds the match keys the run writes or matches (the plan
/// computes them without writing); `None` keeps every row in scope.
async fn doomed_keys(
    source: &dyn DatabaseClient,
    dest: &dyn DatabaseClient,
    def: &TableDef,
    ctx: &MirrorContext<'_>,
    options: &SyncOptions,
) -> Result<Vec<Row>, BackupError> {
    if def.match_columns().is_empty() {
        return Ok(Vec::new());
    }
    let mut cols: Vec<&str> = def.match_columns().iter().map(String::as_str).collect();
    if let Some(u) = &def.user_field
        && !cols.contains(&u.as_str())
    {
        cols.push(u);
    }
    let through_seen = matches_through_references(def, options.fk_aware);
    let scoped_by_parents = options.user_id.is_some() && def.user_field.is_none();
    let mut read: Vec<&str> = def.pk.iter().map(String::as_str).collect();
    read.extend(cols.iter().copied());
    if scoped_by_parents {
        read.extend(def.parents.iter().map(|p| p.field.as_str()));
    }
    let mut unique: Vec<&str> = Vec::new();
    for c in read {
        if !unique.contains(&c) {
            unique.push(c);
        }
    }
    let filter = user_filter(def, options.user_id.as_ref());
    let query = Query::new().columns(&quoted_list(&unique)).filter(filter);
    // The destination's keys are read in full before deleting: the stream holds the transaction's
    // connection until it ends. Only the keys to delete are kept.
    let mut stream = Source::Stream(
        dest.select_stream(&ctx.schema.sql_name(&def.name), &query)
            .await?,
    );
    let mut doomed: Vec<Row> = Vec::new();
    let mut chunk: Vec<Row> = Vec::new();
    let empty = HashSet::new();
    loop {
        let next = stream.next().await?;
        let end = next.is_none();
        if let Some(Value::Object(row)) = next
            && (!scoped_by_parents || parents_in_scope(ctx.schema, def, &row, ctx.scope))
        {
            chunk.push(row);
        }
        if chunk.len() >= options.batch_size.max(1) || (end && !chunk.is_empty()) {
            let found = if through_seen {
                None
            } else {
                Some(
                    existing_keys(
                        source,
                        &source_table(ctx.schema, options, def),
                        def,
                        &cols,
                        &chunk,
                    )
                    .await?,
                )
            };
            let known = found.as_ref().or(ctx.seen).unwrap_or(&empty);
            for row in chunk.drain(..) {
                if group_key(def, &row).is_some_and(|g| !known.contains(&g)) {
                    let key: Row = def
                        .pk
                        .iter()
                        .filter_map(|c| row.get(c).map(|v| (c.clone(), v.clone())))
                        .collect();
                    doomed.push(key);
                }
            }
        }
        if end {
            break;
        }
    }
    drop(stream);
    Ok(doomed)
}

/// Filters that delete exactly the rows with the primary keys `keys`, at most `batch` keys each: the last
/// key column `in` a list, every other column equal (rows grouped by their leading columns).
fn delete_filters(def: &TableDef, keys: Vec<Row>, batch: usize) -> Vec<Filter> {
    let Some((last, leading)) = def.pk.split_last() else {
        return Vec::new();
    };
    let mut groups: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for key in keys {
        let lead: Vec<Value> = leading
            .iter()
            .map(|c| key.get(c).cloned().unwrap_or(Value::Null))
            .collect();
        let Some(tail) = key.get(last).cloned() else {
            continue;
        };
        let at = *index
            .entry(Value::Array(lead.clone()).to_string())
            .or_insert_with(|| {
                groups.push((lead, Vec::new()));
                groups.len() - 1
            });
        groups[at].1.push(tail);
    }
    let mut out = Vec::new();
    for (lead, tails) in groups {
        for part in tails.chunks(batch) {
            let mut filter = Filter::new();
            for (c, v) in leading.iter().zip(&lead) {
                filter = filter.eq(c, v.clone());
            }
            out.push(filter.is_in(last, part.to_vec()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(filters: &[Filter]) -> Vec<Vec<(String, Value)>> {
        filters
            .iter()
            .map(|f| {
                f.conditions()
                    .iter()
                    .map(|c| (format!("{} {:?}", c.column, c.op), c.value.clone()))
                    .collect()
            })
            .collect()
    }

    fn key(value: serde_json::Value) -> Row {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn deletes_by_the_whole_key_grouped_by_leading_columns() {
        let joins = TableDef::new("pt").pk_columns(&["p", "t"]);
        let keys = vec![
            key(json!({"p": 1, "t": 10})),
            key(json!({"p": 2, "t": 10})),
            key(json!({"p": 1, "t": 11})),
            key(json!({"p": 1, "t": 12})),
        ];
        assert_eq!(
            render(&delete_filters(&joins, keys, 2)),
            [
                vec![("p Eq".into(), json!(1)), ("t In".into(), json!([10, 11]))],
                vec![("p Eq".into(), json!(1)), ("t In".into(), json!([12]))],
                vec![("p Eq".into(), json!(2)), ("t In".into(), json!([10]))],
            ]
        );
        // A single key is one `in` list per batch, as before.
        let single = TableDef::new("c");
        let keys = vec![key(json!({"id": 1})), key(json!({"id": 2}))];
        assert_eq!(
            render(&delete_filters(&single, keys, 1000)),
            [vec![("id In".into(), json!([1, 2]))]]
        );
    }

    #[test]
    fn rows_are_read_in_key_order_only_where_the_order_decides_the_outcome() {
        let ordered =
            |def: &TableDef, unique: bool| !read_order(Query::new(), def, unique).order.is_empty();
        let keyed = TableDef::new("posts").natural_key(&["slug"]);
        // Two rows may share a match key: the first read is inserted, the next finds it.
        assert!(ordered(&keyed, false));
        // A source unique index rules that out; no match key, nothing to find.
        assert!(!ordered(&keyed, true));
        assert!(!ordered(&TableDef::new("logs").natural_key(&[]), false));
        // A table referring to itself reads parents (lower keys) first, whatever its indexes.
        let tree = TableDef::new("nodes").parent("nodes", "parent_id");
        assert!(ordered(&tree, false));
        assert!(ordered(&tree.natural_key(&["slug"]), true));
    }

    #[test]
    fn only_a_source_index_on_unrewritten_match_columns_rules_out_repeats() {
        let def = TableDef::new("comments")
            .natural_key(&["post_id", "slug"])
            .user_field(Some("user_id"))
            .parent("posts", "post_id");
        let cols = |c: &[&str]| c.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // The key, or part of it, with or without the user field.
        for index in [&["slug"][..], &["user_id", "slug"]] {
            assert_eq!(
                source_index(&def, &[cols(index)]),
                Some(cols(index)),
                "{index:?}"
            );
        }
        // A remapped reference (two source parents can become one destination row), a column outside
        // the key, or no index: repeats stay possible.
        for index in [&["post_id", "slug"][..], &["slug", "body"], &["id"]] {
            assert_eq!(source_index(&def, &[cols(index)]), None, "{index:?}");
        }
        assert_eq!(source_index(&def, &[]), None);
        // The first index that qualifies is taken.
        assert_eq!(
            source_index(&def, &[cols(&["id"]), cols(&["slug"])]),
            Some(cols(&["slug"]))
        );
    }
}
