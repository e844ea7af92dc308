//! The write engine shared by restore and sync: remaps references, matches existing rows by natural key in
//! batches, and writes in batches, each inside a savepoint when the destination is a transaction.

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use dba_core::{DatabaseClient, ErrorKind, Filter, Query, Row, RowStream};
use futures_util::future::join;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::ahead::Rows;
use crate::error::{BackupError, Conflict, FailedRow};
use crate::fields::{field, field_mut};
use crate::format::key_text;
use crate::keys::IdMap;
use crate::progress::{Phase, Progress, ProgressUpdate};
use crate::reader::BackupFile;
use crate::schema::{BackupSchema, TableDef};
use crate::summary::{RestoreSummary, RowFailure};

/// What to do with a row whose natural key already exists in the destination (the original's modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreMode {
    /// Leave the existing row alone (`skip`, the default).
    #[default]
    Skip,
    /// Overwrite the existing row with the backup's values (`overwrite`).
    Overwrite,
    /// Refuse: report every existing row and commit nothing (`fail`).
    Fail,
}

impl std::str::FromStr for RestoreMode {
    type Err = BackupError;

    fn from_str(s: &str) -> Result<RestoreMode, BackupError> {
        match s {
            "skip" => Ok(RestoreMode::Skip),
            "overwrite" => Ok(RestoreMode::Overwrite),
            "fail" => Ok(RestoreMode::Fail),
            other => Err(BackupError::Schema(format!(
                "unknown restore mode {other:?} (expected skip, overwrite or fail)"
            ))),
        }
    }
}

/// Where a table's rows come from: a backup file or a source database.
pub(crate) enum Source<'a> {
    File(&'a mut BackupFile),
    Stream(RowStream),
}

impl Source<'_> {
    pub(crate) async fn next(&mut self) -> Result<Option<Value>, BackupError> {
        match self {
            Source::File(f) => f.next_row(),
            Source::Stream(s) => match poll_fn(|cx| s.as_mut().poll_next(cx)).await {
                None => Ok(None),
                Some(row) => Ok(Some(Value::Object(row?))),
            },
        }
    }
}

/// Rows read and prepared between two chances for the write in flight beside them to go on. A source with
/// rows ready never makes the read wait, so without these pauses the read would prepare a whole chunk while
/// the write's next round trip (and the destination server) waited for it.
const FILL_SLICE: usize = 16;

/// Returns to the scheduler once, so the other branch of a `join` gets polled, and so do the tasks woken
/// meanwhile: tokio's yield puts this task behind them. A task woken by a statement just sent (the
/// connection's, which writes it to the server) runs first, instead of waiting while this one prepares
/// rows.
async fn yield_now() {
    tokio::task::yield_now().await;
}

/// Frees `value` on one of tokio's blocking threads when a runtime is there, else here.
fn drop_aside<T: Send + 'static>(value: T) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn_blocking(move || drop(value)));
    }
}

/// A new id, or, in a dry run, the promise of one.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Mapped {
    Known(Value),
    Pending,
}

/// Old primary key (as key text) to new id, per table (integer keys as runs: see [`IdMap`]).
pub(crate) type IdMaps = HashMap<String, IdMap>;

/// How the engine runs.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) mode: RestoreMode,
    pub(crate) dry_run: bool,
    /// Re-own every row to this user (the original always does).
    pub(crate) user_id: Option<Value>,
    /// Keep the source primary keys even when the destination could generate them.
    pub(crate) keep_ids: bool,
    /// Remap parent and optional references through the ids written in this run, and match existing rows
    /// by parent too (false: the original's direct sync, rows copied as they are).
    pub(crate) remap: bool,
    pub(crate) continue_on_error: bool,
    /// The destination is a transaction, so batches run in savepoints.
    pub(crate) savepoints: bool,
    pub(crate) batch_size: usize,
}

/// Facts about a destination table's primary key.
#[derive(Clone, Debug, Default)]
pub(crate) struct PkInfo {
    /// A single-column key with a default or an identity: the destination can generate it. False for a
    /// composite key, whose columns are remapped references or taken from the source as they are, unless
    /// [`PkInfo::generated_id`] is set.
    pub(crate) has_default: bool,
    /// A partitioned table's generated column, when its primary key is that column plus partition-key
    /// columns (`PRIMARY KEY (id, taken_on)`): the destination generates it, the partition-key columns
    /// are taken as they are, and the table is restored as one with the single key `id` (matched by its
    /// natural key, references to it remapped by `id`).
    pub(crate) generated_id: Option<String>,
    /// The quoted conflict target of overwrites when it is not the key the backup schema gives: a
    /// partitioned table keyed by its generated column in the schema, whose primary key also holds the
    /// partition key.
    pub(crate) conflict_columns: Option<String>,
    /// The key columns of the destination's unique indexes that refuse a duplicate at once, on the values
    /// a row is written with (see `catalog::unique_keys`); empty when unknown (no raw SQL).
    pub(crate) unique_keys: Vec<Vec<String>>,
}

struct Prepared {
    index: u64,
    old_pk: Value,
    row: Row,
    /// Natural key + user, the part every match needs; `None` when the row cannot match anything.
    group: Option<String>,
}

/// What an engine run produced.
pub(crate) struct Outcome {
    pub(crate) summary: RestoreSummary,
    pub(crate) conflicts: Vec<Conflict>,
    pub(crate) written: u64,
    pub(crate) kept_ids: Vec<String>,
}

/// Restores tables one after another into `dest`.
pub(crate) struct Engine<'a> {
    pub(crate) dest: &'a dyn DatabaseClient,
    pub(crate) schema: &'a BackupSchema,
    pub(crate) config: Config,
    pub(crate) progress: &'a dyn Progress,
    pub(crate) summary: RestoreSummary,
    pub(crate) conflicts: Vec<Conflict>,
    /// Rows written so far (to say what a non-atomic failure left behind).
    pub(crate) written: u64,
    /// Set after the first conflict under `mode=fail`: keep checking, stop writing.
    stop_writing: bool,
    id_maps: IdMaps,
    /// Tables whose ids were kept: their sequences must be moved past the data.
    pub(crate) kept_ids: Vec<String>,
    /// What the current table held before this run: see [`WrittenHere`].
    written_here: WrittenHere,
    /// The conflict target of overwrites when it is not the table's key as restored (see
    /// [`PkInfo::generated_id`]).
    conflict_columns: Option<String>,
    /// Remember the match key of every row written or matched in tables whose match key holds a remapped
    /// reference (mirror sync: destination rows outside that set are deleted).
    pub(crate) track_seen: bool,
    /// Per table, the match keys (as [`group_key`] text) written or matched, when `track_seen`.
    pub(crate) seen: HashMap<String, HashSet<String>>,
    /// The source is a whole table scoped by user (sync): in a table without a user field, a row whose
    /// required parent is not in this run belongs to another user's rows and is left out uncounted, as a
    /// backup leaves it out, rather than counted as skipped.
    pub(crate) scope_by_parents: bool,
}

/// What the destination table holds besides the rows this run wrote, so a chunk's lookup can be skipped.
///
/// A table that was empty when the run reached it holds only rows this run inserted, so a chunk can match
/// an existing row only if one of its natural keys was inserted earlier. That is answered without the
/// select, which on a table growing inside the transaction, with no statistics, the planner answers by
/// scanning the whole table for every chunk: by a unique index of the destination when it has one on
/// match-key columns ([`WrittenHere::Indexed`]), else by the hash of each inserted key (8 bytes a row, more
/// with the table's spare room).
enum WrittenHere {
    /// The table had rows already: every chunk is looked up.
    Unknown,
    /// The table was empty; the hashes of the natural keys inserted since. A hash collision only costs the
    /// select.
    EmptyBefore(HashSet<u64>, RandomState),
    /// The table was empty, the run is a transaction (every chunk in a savepoint), and the destination has
    /// a unique index on these columns, all of them among the match key and user field. A row whose match
    /// key equals that of a row inserted earlier in this run has the same values in those columns, so
    /// inserting it would violate the index: a chunk is inserted without its lookup (when those columns
    /// are set in each of its rows), and if the insert fails for any row's sake, the savepoint is rolled
    /// back and the chunk redone with its lookup, as without the index. Nothing grows with the rows.
    Indexed(Vec<String>),
}

impl<'a> Engine<'a> {
    pub(crate) fn new(
        dest: &'a dyn DatabaseClient,
        schema: &'a BackupSchema,
        config: Config,
        progress: &'a dyn Progress,
    ) -> Engine<'a> {
        let summary = RestoreSummary {
            dry_run: config.dry_run,
            tables: schema
                .tables
                .iter()
                .map(|t| (t.name.clone(), Default::default()))
                .collect(),
        };
        Engine {
            dest,
            schema,
            config,
            progress,
            summary,
            conflicts: Vec::new(),
            written: 0,
            stop_writing: false,
            id_maps: HashMap::new(),
            kept_ids: Vec::new(),
            written_here: WrittenHere::Unknown,
            conflict_columns: None,
            track_seen: false,
            seen: HashMap::new(),
            scope_by_parents: false,
        }
    }

    /// What the run produced, detached from the destination borrow.
    pub(crate) fn into_outcome(self) -> Outcome {
        Outcome {
            summary: self.summary,
            conflicts: self.conflicts,
            written: self.written,
            kept_ids: self.kept_ids,
        }
    }

    /// Carries the id mappings over from an earlier engine (sync with one transaction per table).
    pub(crate) fn set_maps(&mut self, maps: IdMaps) {
        self.id_maps = maps;
    }

    /// The id mappings, for the next engine.
    pub(crate) fn take_maps(&mut self) -> IdMaps {
        std::mem::take(&mut self.id_maps)
    }

    /// Restores one table from `source`.
    pub(crate) async fn table(
        &mut self,
        def: &TableDef,
        pk_info: &PkInfo,
        source: Source<'_>,
        total: Option<u64>,
    ) -> Result<(), BackupError> {
        match &pk_info.generated_id {
            Some(id) if def.has_composite_pk() && self.config.remap && !self.config.keep_ids => {
                // Written as a table keyed by its generated column alone; an overwrite still names the
                // whole key, the only unique index PostgreSQL allows on a partitioned table.
                let mut by_id = def.clone();
                by_id.pk = vec![id.clone()];
                self.conflict_columns = Some(pk_list(def));
                let done = self.table_rows(&by_id, pk_info, source, total).await;
                self.conflict_columns = None;
                done
            }
            _ => {
                let info = PkInfo {
                    has_default: pk_info.has_default && !def.has_composite_pk(),
                    generated_id: None,
                    conflict_columns: None,
                    unique_keys: pk_info.unique_keys.clone(),
                };
                self.conflict_columns.clone_from(&pk_info.conflict_columns);
                let done = self.table_rows(def, &info, source, total).await;
                self.conflict_columns = None;
                done
            }
        }
    }

    /// Restores one table's rows, read ahead of the writes (see [`Rows`]).
    async fn table_rows(
        &mut self,
        def: &TableDef,
        pk_info: &PkInfo,
        source: Source<'_>,
        total: Option<u64>,
    ) -> Result<(), BackupError> {
        let mut rows = Rows::start(source);
        let done = self.write_rows(def, pk_info, &mut rows, total).await;
        // Whatever happened, the backup file goes back to its place (a failed restore reads on in it).
        rows.finish().await;
        done
    }

    async fn write_rows(
        &mut self,
        def: &TableDef,
        pk_info: &PkInfo,
        source: &mut Rows<'_>,
        total: Option<u64>,
    ) -> Result<(), BackupError> {
        let drop_pk = self.config.remap && !self.config.keep_ids && pk_info.has_default;
        if !drop_pk && !self.config.dry_run {
            self.kept_ids.push(def.name.clone());
        }
        self.written_here = if def.match_columns().is_empty() || !self.is_empty(def).await? {
            WrittenHere::Unknown
        } else if let Some(columns) = self.guarding_index(def, pk_info) {
            WrittenHere::Indexed(columns)
        } else {
            WrittenHere::EmptyBefore(HashSet::new(), RandomState::new())
        };
        let hasher = RandomState::new();
        let mut done = 0u64;
        self.report(def, 0, total, false);
        // Streamed while the table allows it; what is left goes the usual way below.
        let (mut chunk, exhausted) = if self.streams(def) {
            self.stream(def, drop_pk, source, &hasher, &mut done, total)
                .await?
        } else {
            (Vec::new(), false)
        };
        if exhausted {
            if let Some(p) = self.flush(def, drop_pk, chunk).await? {
                self.send(def, drop_pk, p).await?;
            }
            self.report(def, done, total, true);
            return Ok(());
        }
        // The natural keys in the chunk, by hash: a collision only flushes a chunk early, which is always
        // correct.
        let mut groups: HashSet<u64> = chunk
            .iter()
            .filter_map(|p| p.group.as_ref().map(|g| hasher.hash_one(g)))
            .collect();
        // A chunk's write is sent, and the next chunk read and prepared, at the same time (see
        // [`Engine::flush`]). A write that failed is settled before the next chunk is flushed; one that
        // succeeded is settled (counted, its new keys noted, its rows dropped) beside the next chunk's
        // write, so the destination does not wait for that, unless the next chunk's flush depends on it
        // (see [`Engine::settles_first`]).
        let mut pending: Option<Pending> = None;
        // Rows read when the pending chunk was full: reported once its write is settled.
        let mut report_after: Option<u64> = None;
        // A chunk written, with what the database stored, to settle beside the next write.
        let mut written: Option<Written> = None;
        loop {
            let mut fill = Fill {
                source: &mut *source,
                chunk: &mut chunk,
                groups: &mut groups,
                hasher: &hasher,
                done: &mut done,
            };
            let end = match pending.take() {
                Some(p) => {
                    let target = self.target(def);
                    let send = async move {
                        let result = attempt_on(&target, def, &p.batch, p.kind).await;
                        (p, result)
                    };
                    let before = written.take();
                    let prepare = async {
                        // The write has just sent its first statement: it goes to the server first.
                        yield_now().await;
                        self.settle_written(def, drop_pk, before, total).await?;
                        self.fill_chunk(def, &mut fill).await
                    };
                    let ((p, result), end) = join(send, prepare).await;
                    let read = report_after.take();
                    match result {
                        Ok(stored) if !self.settles_first(def) => {
                            written = Some(Written {
                                pending: p,
                                stored,
                                read,
                            });
                        }
                        result => {
                            self.settle(def, drop_pk, p, result).await?;
                            if let Some(read) = read {
                                self.report(def, read, total, false);
                            }
                        }
                    }
                    match end {
                        Ok(end) => end,
                        Err(e) => {
                            self.settle_written(def, drop_pk, written.take(), total)
                                .await?;
                            return Err(e);
                        }
                    }
                }
                None => {
                    self.settle_written(def, drop_pk, written.take(), total)
                        .await?;
                    self.fill_chunk(def, &mut fill).await?
                }
            };
            let full = std::mem::take(&mut chunk);
            pending = self.flush(def, drop_pk, full).await?;
            groups.clear();
            match end {
                // Progress counts rows written: a chunk left in flight is reported once settled.
                ChunkEnd::Full if pending.is_some() => report_after = Some(done),
                ChunkEnd::Full => self.report(def, done, total, false),
                ChunkEnd::Repeat(prepared, hash) => {
                    groups.insert(hash);
                    chunk.push(prepared);
                }
                ChunkEnd::Exhausted => break,
            }
        }
        self.settle_written(def, drop_pk, written.take(), total)
            .await?;
        if let Some(p) = pending {
            self.send(def, drop_pk, p).await?;
        }
        self.report(def, done, total, true);
        Ok(())
    }

    /// Whether `def`'s rows can be streamed ([`Engine::stream`]): the run is a transaction, writes, and
    /// inserts rows it need not look up first (the table has no match key, or a unique index refuses a
    /// repeated one: [`WrittenHere::Indexed`]), whose new keys nothing needs (no table refers to this one),
    /// and whose match keys it need not remember (see [`Engine::track_seen`]).
    fn streams(&self, def: &TableDef) -> bool {
        self.config.savepoints
            && !self.config.dry_run
            && !self.stop_writing
            && !self.schema.is_referenced(&def.name)
            && !refers_to_itself(def)
            && (!self.track_seen || !matches_through_references(def, self.config.remap))
            && (matches!(self.written_here, WrittenHere::Indexed(_))
                || def.match_columns().is_empty())
    }

    /// Writes `def`'s rows as they are read, in segments of [`SEGMENT_CHUNKS`] chunks, each one bulk
    /// insert ([`DatabaseClient::insert_parts`]: one `COPY` on PostgreSQL, two where a value without an
    /// exact binary form switches it to text format) inside a savepoint: the server
    /// stores a chunk while the next is read and prepared, with no round trip between chunks. A segment
    /// the destination refuses (a repeated match key, a value `COPY` cannot take, anything) is rolled back
    /// and its chunks written the usual way, one by one, looked up as a refused chunk is
    /// ([`WrittenHere::Indexed`]); so is a chunk holding a row that has to be looked up. After either, and
    /// after a natural key repeated within a chunk, the table goes on the usual way: returns the chunk
    /// begun, to go on with, and whether the source is exhausted.
    async fn stream(
        &mut self,
        def: &TableDef,
        drop_pk: bool,
        source: &mut Rows<'_>,
        hasher: &RandomState,
        done: &mut u64,
        total: Option<u64>,
    ) -> Result<(Vec<Prepared>, bool), BackupError> {
        // A chunk read ahead for the next segment, with why its reading stopped.
        let mut carry: Option<(Vec<Prepared>, ChunkEnd)> = None;
        // The rows of the segment stored last.
        let mut stored_before = None;
        // Rows read up to the last chunk sent: progress counts rows written, not the chunk read ahead.
        let mut sent_through = *done;
        loop {
            if self.stop_writing {
                return self.go_on_with(def, drop_pk, carry).await;
            }
            let sp = self.dest.begin().await?;
            let table = self.schema.sql_name(&def.name);
            let (tx, mut rx) = mpsc::channel::<Arc<Vec<Row>>>(2);
            let writer = async move {
                let mut parts = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
                let written = sp.insert_parts(&table, &mut parts).await;
                // The receiver goes with the stream, so a feed still sending learns the write has ended.
                drop(parts);
                (sp, written)
            };
            let feed = async {
                let mut fed: Vec<(Vec<Prepared>, Arc<Vec<Row>>)> = Vec::new();
                let end = loop {
                    let (mut chunk, end) = match carry.take() {
                        Some(read) => read,
                        None => self.read_chunk(def, source, hasher, done).await?,
                    };
                    if self.needs_lookup(&chunk) {
                        break Segment::Leftover(Box::new((chunk, end)));
                    }
                    let mut rows = Vec::with_capacity(chunk.len());
                    for p in &mut chunk {
                        let mut row = std::mem::take(&mut p.row);
                        if drop_pk {
                            for c in &def.pk {
                                row.remove(c);
                            }
                        }
                        rows.push(row);
                    }
                    if !rows.is_empty() {
                        let rows = Arc::new(rows);
                        // A send fails only once the write has ended; the rows are kept here either way.
                        let _ = tx.send(rows.clone()).await;
                        fed.push((chunk, rows));
                        // The write takes the part and sends it (the segment's first opens the `COPY`)
                        // before this task reads on: the server stores while the client works, instead
                        // of waiting for it. The last segment's rows are freed on a blocking thread:
                        // freeing thousands of rows here would hold up the write's next step (and the
                        // connection's task, queued behind this one) for milliseconds.
                        yield_now().await;
                        if let Some(old) = stored_before.take() {
                            drop_aside(old);
                        }
                    }
                    sent_through = *done;
                    match end {
                        ChunkEnd::Full if fed.len() < SEGMENT_CHUNKS => {}
                        ChunkEnd::Full => {
                            // The segment is complete: its `COPY` ends now, and the next segment's first
                            // chunk is read while the server finishes storing it.
                            drop(tx);
                            carry = Some(self.read_chunk(def, source, hasher, done).await?);
                            break Segment::Full;
                        }
                        end => {
                            drop(tx);
                            break Segment::Leftover(Box::new((Vec::new(), end)));
                        }
                    }
                };
                Ok::<_, BackupError>((fed, end))
            };
            let ((sp, written), fed) = join(writer, feed).await;
            let (fed, end) = match fed {
                Ok(fed) => fed,
                Err(e) => {
                    // The source failed: nothing of this segment is kept, and the run fails.
                    sp.rollback().await?;
                    return Err(e);
                }
            };
            let count: usize = fed.iter().map(|(chunk, _)| chunk.len()).sum();
            let stored = match written {
                Ok(Some(n)) if usize::try_from(n) == Ok(count) => {
                    sp.commit().await?;
                    self.written += n;
                    // What `inserted` notes of each row: a streamed table's new keys are not needed, and
                    // it was not empty-before without an index (see `streams`).
                    self.summary.table_mut(&def.name).inserted += n;
                    // Dropped once the next segment's first rows are sent, not while the server waits.
                    stored_before = Some(fed);
                    true
                }
                written => {
                    sp.rollback().await?;
                    // Refused (an error) or not taken: written the usual way, a refused chunk looked up.
                    let look_up = written.is_err();
                    for (mut chunk, rows) in fed {
                        let rows = Arc::try_unwrap(rows).unwrap_or_else(|shared| (*shared).clone());
                        for (p, row) in chunk.iter_mut().zip(rows) {
                            p.row = row;
                        }
                        if let Some(again) = self.flush_chunk(def, drop_pk, chunk, look_up).await? {
                            self.send(def, drop_pk, again).await?;
                        }
                    }
                    false
                }
            };
            self.report(def, sent_through, total, false);
            let read = match end {
                Segment::Full if stored => continue,
                Segment::Full => carry,
                Segment::Leftover(read) => Some(*read),
            };
            return self.go_on_with(def, drop_pk, read).await;
        }
    }

    /// What the usual way goes on with after [`Engine::stream`] stopped with `read` (a chunk read, and why
    /// its reading stopped): that chunk, and whether the source is exhausted. A chunk that ended at a
    /// repeated natural key is written first, and the row with that key starts the next chunk, as
    /// [`Engine::write_rows`] does it.
    async fn go_on_with(
        &mut self,
        def: &TableDef,
        drop_pk: bool,
        read: Option<(Vec<Prepared>, ChunkEnd)>,
    ) -> Result<(Vec<Prepared>, bool), BackupError> {
        Ok(match read {
            None => (Vec::new(), false),
            Some((chunk, ChunkEnd::Exhausted)) => (chunk, true),
            Some((chunk, ChunkEnd::Full)) => (chunk, false),
            Some((chunk, ChunkEnd::Repeat(prepared, _))) => {
                if let Some(pending) = self.flush(def, drop_pk, chunk).await? {
                    self.send(def, drop_pk, pending).await?;
                }
                (vec![prepared], false)
            }
        })
    }

    /// Reads and prepares the next chunk (see [`Engine::fill_chunk`]).
    async fn read_chunk(
        &mut self,
        def: &TableDef,
        source: &mut Rows<'_>,
        hasher: &RandomState,
        done: &mut u64,
    ) -> Result<(Vec<Prepared>, ChunkEnd), BackupError> {
        let mut chunk = Vec::new();
        let mut groups = HashSet::new();
        let mut fill = Fill {
            source,
            chunk: &mut chunk,
            groups: &mut groups,
            hasher,
            done,
        };
        let end = self.fill_chunk(def, &mut fill).await?;
        Ok((chunk, end))
    }

    /// Whether a row of `chunk` has to be looked up before it is written (see [`Engine::find_existing`]).
    fn needs_lookup(&self, chunk: &[Prepared]) -> bool {
        chunk.iter().any(|p| self.could_match(p, false))
    }

    /// Settles a chunk whose write succeeded, if there is one (see [`Engine::write_rows`]).
    async fn settle_written(
        &mut self,
        def: &TableDef,
        drop_pk: bool,
        written: Option<Written>,
        total: Option<u64>,
    ) -> Result<(), BackupError> {
        let Some(w) = written else {
            return Ok(());
        };
        self.settle(def, drop_pk, w.pending, Ok(w.stored)).await?;
        if let Some(read) = w.read {
            self.report(def, read, total, false);
        }
        Ok(())
    }

    /// Whether a chunk written must be settled before the next chunk is flushed: in a table that was
    /// empty, the next chunk is matched against the keys it inserted; in a table that refers to itself,
    /// the next chunk's references may need its new keys.
    fn settles_first(&self, def: &TableDef) -> bool {
        matches!(self.written_here, WrittenHere::EmptyBefore(..)) || refers_to_itself(def)
    }

    /// Reads and prepares rows into `fill.chunk` until it is full, a natural key repeats (that row is
    /// returned, to go into the next chunk once this one is written, so it finds the first as the
    /// original's row-by-row restore would), or the source ends. Yields every [`FILL_SLICE`] rows so a
    /// write in flight beside it goes on.
    async fn fill_chunk(
        &mut self,
        def: &TableDef,
        fill: &mut Fill<'_, '_>,
    ) -> Result<ChunkEnd, BackupError> {
        let mut since_yield = 0;
        while let Some(value) = fill.source.next().await? {
            let index = *fill.done;
            *fill.done += 1;
            since_yield += 1;
            if since_yield == FILL_SLICE {
                since_yield = 0;
                yield_now().await;
            }
            let Value::Object(row) = value else {
                let t = self.summary.table_mut(&def.name);
                t.failed += 1;
                t.failure_details.push(RowFailure {
                    row_index: index,
                    old_pk: Value::String("<unknown>".into()),
                    error: "row is not an object".into(),
                });
                continue;
            };
            let Some(prepared) = self.prepare(def, index, row) else {
                continue;
            };
            if let Some(g) = &prepared.group {
                let hash = fill.hasher.hash_one(g);
                if !fill.groups.insert(hash) {
                    return Ok(ChunkEnd::Repeat(prepared, hash));
                }
            }
            fill.chunk.push(prepared);
            if fill.chunk.len() >= self.config.batch_size {
                return Ok(ChunkEnd::Full);
            }
        }
        Ok(ChunkEnd::Exhausted)
    }

    /// The columns of a unique index that refuses any row whose match key equals that of a row inserted
    /// earlier in this run (see [`WrittenHere::Indexed`]), when the run can redo a refused chunk: it is a
    /// transaction, so a chunk's savepoint takes back a failed insert whole. An index without the user
    /// field is preferred (a row with a null user field has to be looked up).
    fn guarding_index(&self, def: &TableDef, pk_info: &PkInfo) -> Option<Vec<String>> {
        if !self.config.savepoints {
            return None;
        }
        let key = def.match_columns();
        let in_key = |c: &String| key.contains(c);
        let in_key_or_user = |c: &String| in_key(c) || def.user_field.as_ref() == Some(c);
        let keys = &pk_info.unique_keys;
        keys.iter()
            .find(|cols| cols.iter().all(in_key))
            .or_else(|| keys.iter().find(|cols| cols.iter().all(in_key_or_user)))
            .cloned()
    }

    /// Whether `def`'s table has no rows at all (as this run's transaction sees it).
    async fn is_empty(&self, def: &TableDef) -> Result<bool, BackupError> {
        let query = Query::new().columns(&pk_list(def)).limit(1);
        Ok(self
            .dest
            .select(&self.schema.sql_name(&def.name), &query)
            .await?
            .is_empty())
    }

    fn report(&self, def: &TableDef, done: u64, total: Option<u64>, finished: bool) {
        self.progress.update(&ProgressUpdate {
            phase: Phase::Restore,
            table: &def.name,
            done,
            total,
            finished,
        });
    }

    /// Re-owns the row and remaps its references; `None` when a required parent is missing (skipped).
    fn prepare(&mut self, def: &TableDef, index: u64, mut row: Row) -> Option<Prepared> {
        let old_pk = def.pk_of(&row);
        if let (Some(user), Some(field)) = (&self.config.user_id, &def.user_field) {
            match field_mut(&mut row, field) {
                Some(v) => v.clone_from(user),
                None => {
                    row.insert(field.clone(), user.clone());
                }
            }
        }
        let mut pending = false;
        if self.config.remap {
            for parent in &def.parents {
                match self.lookup(&parent.table, field(&row, &parent.field)) {
                    Lookup::PassThrough => {}
                    Lookup::Found(Mapped::Known(id)) => set_field(&mut row, &parent.field, id),
                    Lookup::Found(Mapped::Pending) => pending = true,
                    Lookup::Missing => {
                        if !(self.scope_by_parents && def.user_field.is_none()) {
                            self.summary.table_mut(&def.name).skipped += 1;
                        }
                        return None;
                    }
                }
            }
            for opt in &def.optional_refs {
                match self.lookup(&opt.table, field(&row, &opt.field)) {
                    Lookup::PassThrough | Lookup::Found(Mapped::Pending) => {}
                    Lookup::Found(Mapped::Known(id)) => set_field(&mut row, &opt.field, id),
                    Lookup::Missing => set_field(&mut row, &opt.field, Value::Null),
                }
            }
        } else if self.scope_by_parents && def.user_field.is_none() {
            // Copied as they are, but still only the rows of this run's parents (see `scope_by_parents`).
            let outside = def.parents.iter().any(|parent| {
                matches!(
                    self.lookup(&parent.table, field(&row, &parent.field)),
                    Lookup::Missing
                )
            });
            if outside {
                return None;
            }
        }
        let group = if pending {
            // Its parent is new in this dry run, so the row cannot exist yet.
            None
        } else {
            group_key(def, &row)
        };
        Some(Prepared {
            index,
            old_pk,
            row,
            group,
        })
    }

    fn lookup(&self, table: &str, value: Option<&Value>) -> Lookup {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Lookup::PassThrough;
        };
        if self.schema.table(table).is_none() || self.schema.is_external(table) {
            return Lookup::PassThrough;
        }
        let map = self.id_maps.get(table);
        // A number's key_text is its own text (arbitrary precision keeps it): no string to build.
        let found = match value {
            Value::Number(n) => map.and_then(|m| m.get(n.as_str())),
            other => map.and_then(|m| m.get(&key_text(other))),
        };
        match found {
            Some(m) => Lookup::Found(m),
            None => Lookup::Missing,
        }
    }

    fn remember(&mut self, def: &TableDef, old_pk: &Value, new: Mapped) {
        if self.schema.is_referenced(&def.name) {
            let map = self.id_maps.entry(def.name.clone()).or_default();
            // A number's key_text is its own text, as in `lookup`.
            match old_pk {
                Value::Number(n) => map.insert(n.as_str(), new),
                other => map.insert(&key_text(other), new),
            }
        }
    }

    /// Matches a chunk against the destination and writes it. The inserts of a chunk without updates are
    /// returned unsent when the table does not refer to itself (the next chunk's references do not wait
    /// for their ids): the caller sends them while it reads the next chunk, and settles them before the
    /// next flush, which sees their keys.
    async fn flush(
        &mut self,
        def: &TableDef,
        drop_pk: bool,
        chunk: Vec<Prepared>,
    ) -> Result<Option<Pending>, BackupError> {
        self.flush_chunk(def, drop_pk, chunk, false).await
    }

    /// [`Engine::flush`], every row with a match key looked up when `look_up` (a chunk a unique index
    /// refused: see [`WrittenHere::Indexed`]).
    async fn flush_chunk(
        &mut self,
        def: &TableDef,
        drop_pk: bool,
        chunk: Vec<Prepared>,
        look_up: bool,
    ) -> Result<Option<Pending>, BackupError> {
        if chunk.is_empty() {
            return Ok(None);
        }
        let (existing, left_to_index) = self.find_existing(def, &chunk, look_up).await?;
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        let track = self.track_seen && matches_through_references(def, self.config.remap);
        for (p, found) in chunk.into_iter().zip(existing) {
            if track && let Some(g) = &p.group {
                self.seen
                    .entry(def.name.clone())
                    .or_default()
                    .insert(g.clone());
            }
            match found {
                Some(pk) => {
                    self.remember(def, &p.old_pk, Mapped::Known(pk.clone()));
                    match self.config.mode {
                        RestoreMode::Skip => self.summary.table_mut(&def.name).skipped += 1,
                        RestoreMode::Fail => {
                            self.stop_writing = true;
                            self.conflicts.push(Conflict {
                                table: def.name.clone(),
                                row_index: p.index,
                                old_pk: p.old_pk.clone(),
                                natural_key: def.match_key_of(&p.row),
                            });
                        }
                        RestoreMode::Overwrite => {
                            let mut p = p;
                            set_pk(def, &mut p.row, pk);
                            updates.push(p);
                        }
                    }
                }
                None => {
                    let mut p = p;
                    if drop_pk {
                        for c in &def.pk {
                            p.row.remove(c);
                        }
                    }
                    inserts.push(p);
                }
            }
        }
        if self.config.dry_run || self.stop_writing {
            for p in &inserts {
                let new = if drop_pk {
                    Mapped::Pending
                } else {
                    Mapped::Known(def.pk_of(&p.row))
                };
                self.remember(def, &p.old_pk, new);
            }
            let t = self.summary.table_mut(&def.name);
            t.inserted += inserts.len() as u64;
            t.updated += updates.len() as u64;
            return Ok(None);
        }
        if !inserts.is_empty() {
            // Only a referenced table's new keys are needed (to remap its children's references).
            let kind = if self.schema.is_referenced(&def.name) {
                Write::Insert
            } else {
                Write::InsertOnly
            };
            let pending = Pending::new(inserts, kind, left_to_index);
            if updates.is_empty() && !refers_to_itself(def) {
                return Ok(Some(pending));
            }
            self.send(def, drop_pk, pending).await?;
        }
        if !updates.is_empty() {
            let written = self.write(def, updates, Write::Update).await?;
            self.summary.table_mut(&def.name).updated += written.len() as u64;
        }
        Ok(None)
    }

    /// Notes rows inserted with what the database stored: their new keys, and their natural keys in a
    /// table that was empty.
    fn inserted(&mut self, def: &TableDef, written: Vec<(Prepared, Row)>) {
        for (p, stored) in &written {
            let new = def.pk_of(stored);
            self.remember(def, &p.old_pk, Mapped::Known(new));
            if let (WrittenHere::EmptyBefore(keys, state), Some(g)) =
                (&mut self.written_here, &p.group)
            {
                keys.insert(state.hash_one(g));
            }
        }
        self.summary.table_mut(&def.name).inserted += written.len() as u64;
    }

    /// Sends pending inserts and settles them.
    async fn send(
        &mut self,
        def: &TableDef,
        drop_pk: bool,
        pending: Pending,
    ) -> Result<(), BackupError> {
        let result = self.attempt(def, &pending.batch, pending.kind).await;
        self.settle(def, drop_pk, pending, result).await
    }

    /// Settles the inserts a flush left to the caller, given how their batch attempt went.
    async fn settle(
        &mut self,
        def: &TableDef,
        drop_pk: bool,
        pending: Pending,
        result: Result<Vec<Row>, dba_core::Error>,
    ) -> Result<(), BackupError> {
        let Pending {
            mut rows,
            batch,
            kind,
            refusable,
        } = pending;
        if refusable && result.as_ref().is_err_and(row_specific) {
            // A unique index refused a chunk written without its lookup (see `WrittenHere::Indexed`), and its
            // savepoint took the insert back: the chunk is redone looked up, as without the index.
            for (p, row) in rows.iter_mut().zip(batch) {
                p.row = row;
            }
            if let Some(again) = Box::pin(self.flush_chunk(def, drop_pk, rows, true)).await? {
                Box::pin(self.send(def, drop_pk, again)).await?;
            }
            return Ok(());
        }
        let written = self.after_attempt(def, rows, batch, kind, result).await?;
        self.inserted(def, written);
        Ok(())
    }

    /// For each row, the primary key of the destination row it matches (see [`find_matches`]), looked up
    /// unless no row can match (see [`WrittenHere`]); every row with a match key is looked up when `look_up`.
    /// Also whether the lookup was left to a unique index ([`WrittenHere::Indexed`]).
    async fn find_existing(
        &self,
        def: &TableDef,
        chunk: &[Prepared],
        look_up: bool,
    ) -> Result<(Vec<Option<Value>>, bool), BackupError> {
        if !chunk.iter().any(|p| self.could_match(p, look_up)) {
            let left_to_index = matches!(self.written_here, WrittenHere::Indexed(_))
                && chunk.iter().any(|p| p.group.is_some());
            return Ok((vec![None; chunk.len()], left_to_index));
        }
        let rows: Vec<(&Row, Option<&str>)> =
            chunk.iter().map(|p| (&p.row, p.group.as_deref())).collect();
        let table = self.schema.sql_name(&def.name);
        let found = find_matches(self.dest, &table, def, self.config.remap, &rows).await?;
        Ok((found, false))
    }

    /// Whether row `p` may match a destination row, so that it is looked up (every row with a match key
    /// when `look_up`; see [`WrittenHere`]).
    fn could_match(&self, p: &Prepared, look_up: bool) -> bool {
        match (&p.group, &self.written_here) {
            (None, _) => false,
            (Some(_), _) if look_up => true,
            (Some(_), WrittenHere::Unknown) => true,
            (Some(g), WrittenHere::EmptyBefore(keys, state)) => keys.contains(&state.hash_one(g)),
            // NULLs never violate a unique index: such a row is looked up.
            (Some(_), WrittenHere::Indexed(columns)) => columns
                .iter()
                .any(|c| field(&p.row, c).is_none_or(Value::is_null)),
        }
    }

    /// Writes a batch; on failure, finds the bad rows one by one (each in its own savepoint when the
    /// destination is a transaction). Returns the rows written with what the database stored.
    async fn write(
        &mut self,
        def: &TableDef,
        mut rows: Vec<Prepared>,
        kind: Write,
    ) -> Result<Vec<(Prepared, Row)>, BackupError> {
        // The rows move into the batch (no copy); a row goes back only to name it in an error.
        let batch: Vec<Row> = rows
            .iter_mut()
            .map(|p| std::mem::take(&mut p.row))
            .collect();
        let result = self.attempt(def, &batch, kind).await;
        self.after_attempt(def, rows, batch, kind, result).await
    }

    /// What a batch attempt means for its rows (`batch` holds them, moved out of `rows`): all written, or,
    /// on a failure a row can be blamed for, the bad rows found one by one.
    async fn after_attempt(
        &mut self,
        def: &TableDef,
        rows: Vec<Prepared>,
        batch: Vec<Row>,
        kind: Write,
        result: Result<Vec<Row>, dba_core::Error>,
    ) -> Result<Vec<(Prepared, Row)>, BackupError> {
        match result {
            Ok(stored) => {
                self.written += rows.len() as u64;
                return Ok(rows.into_iter().zip(stored).collect());
            }
            // A lost connection, a timeout or an aborted transaction is no row's fault: hunting for the bad
            // row would blame the first row retried (and, continuing past bad rows, every row after it).
            Err(e) if !row_specific(&e) => return Err(e.into()),
            Err(e) if rows.len() == 1 && !self.config.continue_on_error => {
                let mut p = rows.into_iter().next().expect("one row");
                p.row = batch.into_iter().next().expect("one row");
                return Err(self.row_failed(def, &p, e));
            }
            Err(_) => {}
        }
        let mut out = Vec::new();
        for (mut p, row) in rows.into_iter().zip(batch) {
            match self.attempt(def, std::slice::from_ref(&row), kind).await {
                Ok(mut stored) => {
                    self.written += 1;
                    let row = stored.pop().unwrap_or_default();
                    out.push((p, row));
                }
                Err(e) if self.config.continue_on_error => {
                    let t = self.summary.table_mut(&def.name);
                    t.failed += 1;
                    t.failure_details.push(RowFailure {
                        row_index: p.index,
                        old_pk: p.old_pk.clone(),
                        error: e.to_string(),
                    });
                }
                Err(e) => {
                    p.row = row;
                    return Err(self.row_failed(def, &p, e));
                }
            }
        }
        Ok(out)
    }

    fn row_failed(&self, def: &TableDef, p: &Prepared, source: dba_core::Error) -> BackupError {
        let outcome = if self.config.savepoints {
            "nothing was committed".to_owned()
        } else {
            format!(
                "{} row(s) were already written (non-atomic run)",
                self.written
            )
        };
        BackupError::RowFailed(Box::new(FailedRow {
            table: def.name.clone(),
            row_index: p.index,
            old_pk: p.old_pk.clone(),
            natural_key: (!def.natural_key.is_empty()).then(|| def.natural_key_of(&p.row)),
            reason: source.message().to_owned(),
            outcome,
            error: source,
        }))
    }

    /// Where `def`'s batches go, detached from the engine so a write can be in flight while the engine
    /// prepares the next chunk.
    fn target(&self, def: &TableDef) -> Target<'a> {
        Target {
            dest: self.dest,
            table: self.schema.sql_name(&def.name),
            conflict: self
                .conflict_columns
                .clone()
                .unwrap_or_else(|| pk_list(def)),
            savepoints: self.config.savepoints,
        }
    }

    /// One batch, atomically (see [`attempt_on`]).
    async fn attempt(
        &self,
        def: &TableDef,
        rows: &[Row],
        kind: Write,
    ) -> Result<Vec<Row>, dba_core::Error> {
        attempt_on(&self.target(def), def, rows, kind).await
    }
}

/// Where a table's batches are written.
struct Target<'a> {
    dest: &'a dyn DatabaseClient,
    /// The table's SQL name.
    table: String,
    /// The conflict target of overwrites.
    conflict: String,
    /// The destination is a transaction: each batch runs in a savepoint.
    savepoints: bool,
}

/// One batch, atomically: inside a savepoint on a transaction, as one statement list otherwise.
async fn attempt_on(
    target: &Target<'_>,
    def: &TableDef,
    rows: &[Row],
    kind: Write,
) -> Result<Vec<Row>, dba_core::Error> {
    let (table, conflict) = (&target.table, &target.conflict);
    if !target.savepoints {
        return run(target.dest, table, def, rows, kind, conflict).await;
    }
    let sp = target.dest.begin().await?;
    match run(&*sp, table, def, rows, kind, conflict).await {
        Ok(stored) => {
            sp.commit().await?;
            Ok(stored)
        }
        Err(e) => {
            sp.rollback().await?;
            Err(e)
        }
    }
}

/// Inserts a flush leaves to its caller to send (see [`Engine::flush`]).
struct Pending {
    rows: Vec<Prepared>,
    /// The rows' contents, moved out of `rows` (no copy); a row goes back only to name it in an error.
    batch: Vec<Row>,
    kind: Write,
    /// Written without its lookup, left to a unique index ([`WrittenHere::Indexed`]): a failure for a row's
    /// sake means the chunk is redone looked up.
    refusable: bool,
}

impl Pending {
    fn new(mut rows: Vec<Prepared>, kind: Write, refusable: bool) -> Pending {
        let batch = rows
            .iter_mut()
            .map(|p| std::mem::take(&mut p.row))
            .collect();
        Pending {
            rows,
            batch,
            kind,
            refusable,
        }
    }
}

/// A chunk whose write succeeded, left to settle beside the next write (see [`Engine::write_rows`]).
struct Written {
    pending: Pending,
    /// What the database stored.
    stored: Vec<Row>,
    /// Rows read when the chunk was full, reported once it is settled.
    read: Option<u64>,
}

/// The state [`Engine::fill_chunk`] reads into.
struct Fill<'s, 'f> {
    source: &'f mut Rows<'s>,
    chunk: &'f mut Vec<Prepared>,
    /// The natural keys in the chunk, by hash.
    groups: &'f mut HashSet<u64>,
    hasher: &'f RandomState,
    /// Rows read from the source so far.
    done: &'f mut u64,
}

/// Chunks in one streamed segment (see [`Engine::stream`]): a refused segment is written again from
/// the rows it keeps, so memory holds this many chunks' rows.
const SEGMENT_CHUNKS: usize = 5;

/// How a streamed segment's feed ended (see [`Engine::stream`]).
enum Segment {
    /// It holds [`SEGMENT_CHUNKS`] chunks; the table goes on streamed.
    Full,
    /// The chunk begun (rows to look up, or none) and why reading stopped: the table goes on the usual
    /// way.
    Leftover(Box<(Vec<Prepared>, ChunkEnd)>),
}

/// Why [`Engine::fill_chunk`] stopped.
enum ChunkEnd {
    Full,
    /// This row's natural key (hashed) is already in the chunk.
    Repeat(Prepared, u64),
    Exhausted,
}

/// Whether a row of `def` can refer to another row of `def`: then a chunk's references may need the ids
/// of the chunk before it, so chunks are written one after another.
pub(crate) fn refers_to_itself(def: &TableDef) -> bool {
    def.references().any(|r| r.table == def.name)
}

/// For each row with a match group ([`group_key`]), the primary key of the destination row it matches,
/// looked up with one select (`in` filters on the match key and user, exact matching in memory). When
/// references are remapped, a row's non-null parent references must match too, as in the original. Rows
/// without a group match nothing. Shared by the engine and sync's plan, so the plan matches as the sync does.
pub(crate) async fn find_matches(
    dest: &dyn DatabaseClient,
    table: &str,
    def: &TableDef,
    remap: bool,
    rows: &[(&Row, Option<&str>)],
) -> Result<Vec<Option<Value>>, BackupError> {
    let mut out = vec![None; rows.len()];
    if rows.iter().all(|(_, g)| g.is_none()) {
        return Ok(out);
    }
    let mut match_cols: Vec<&str> = def.match_columns().iter().map(String::as_str).collect();
    if let Some(u) = &def.user_field
        && !match_cols.contains(&u.as_str())
    {
        match_cols.push(u);
    }
    let mut filter = Filter::new();
    for col in &match_cols {
        let mut values: Vec<Value> = Vec::new();
        let mut seen = HashSet::new();
        for (row, _) in rows.iter().filter(|(_, g)| g.is_some()) {
            if let Some(v) = row.get(*col)
                && seen.insert(key_text(v))
            {
                values.push(v.clone());
            }
        }
        filter = filter.is_in(col, values);
    }
    let parent_cols: Vec<&str> = if remap {
        def.parents.iter().map(|p| p.field.as_str()).collect()
    } else {
        Vec::new()
    };
    let mut columns: Vec<&str> = def.pk.iter().map(String::as_str).collect();
    columns.extend(match_cols.iter().copied());
    columns.extend(parent_cols.iter().copied());
    let mut unique: Vec<&str> = Vec::new();
    for c in columns {
        if !unique.contains(&c) {
            unique.push(c);
        }
    }
    let columns = unique;
    let query = Query::new()
        .columns(&quoted_list(&columns))
        .filter(filter)
        .order_by(&pk_list(def));
    let found = dest.select(table, &query).await?;
    let mut by_group: HashMap<String, Vec<Row>> = HashMap::new();
    for r in found {
        if let Some(g) = group_key(def, &r) {
            by_group.entry(g).or_default().push(r);
        }
    }
    for (slot, (row, group)) in out.iter_mut().zip(rows) {
        let Some(g) = group else { continue };
        let Some(candidates) = by_group.get(*g) else {
            continue;
        };
        // As in the original, a parent reference takes part in the match only when it is not null.
        *slot = candidates
            .iter()
            .find(|c| {
                parent_cols.iter().all(|f| match row.get(*f) {
                    None | Some(Value::Null) => true,
                    Some(v) => c.get(*f) == Some(v),
                })
            })
            .map(|c| def.pk_of(c));
    }
    Ok(out)
}

enum Lookup {
    /// No reference, or one to a table outside this run: the value stays as it is.
    PassThrough,
    Found(Mapped),
    Missing,
}

#[derive(Clone, Copy)]
enum Write {
    /// Insert, returning the new primary keys.
    Insert,
    /// Insert, returning nothing (no other table refers to this one).
    InsertOnly,
    Update,
}

async fn run(
    client: &dyn DatabaseClient,
    table: &str,
    def: &TableDef,
    rows: &[Row],
    kind: Write,
    conflict: &str,
) -> Result<Vec<Row>, dba_core::Error> {
    match kind {
        Write::Insert => {
            // Only the new keys come back: that is all remapping needs. Keys the destination generates
            // are drawn first where it can, and the rows sent by `COPY` (see
            // `DatabaseClient::insert_many_keyed`).
            let keyed = match &def.pk[..] {
                [key] if rows.first().is_some_and(|row| !row.contains_key(key)) => {
                    client.insert_many_keyed(table, rows, &pk_list(def)).await?
                }
                _ => None,
            };
            let stored = match keyed {
                Some(stored) => stored,
                None => {
                    client
                        .insert_many_returning(table, rows, &pk_list(def))
                        .await?
                }
            };
            if stored.len() != rows.len() {
                return Err(dba_core::Error::new(
                    dba_core::ErrorKind::Decode,
                    format!(
                        "insert into {} returned {} rows for {}",
                        def.name,
                        stored.len(),
                        rows.len()
                    ),
                ));
            }
            Ok(stored)
        }
        Write::InsertOnly => {
            client.insert_many(table, rows, false).await?;
            Ok(vec![Row::new(); rows.len()])
        }
        Write::Update => {
            client.upsert_many(table, rows, conflict, false).await?;
            Ok(vec![Row::new(); rows.len()])
        }
    }
}

/// The match key ([`TableDef::match_columns`]: the natural key, or a composite primary key) and user of
/// a row as one text, or `None` when the table has no match key or a part of it is missing or null (such a
/// row never matches, as `slug = NULL` never matched in the original).
pub(crate) fn group_key(def: &TableDef, row: &Row) -> Option<String> {
    let key = def.match_columns();
    if key.is_empty() {
        return None;
    }
    // The text of the JSON array of the parts, written straight from the row: no part is cloned.
    let mut text = Vec::with_capacity(32);
    text.push(b'[');
    for (i, col) in key.iter().enumerate() {
        match field(row, col) {
            None | Some(Value::Null) => return None,
            Some(v) => {
                if i > 0 {
                    text.push(b',');
                }
                write_json(&mut text, v);
            }
        }
    }
    if let Some(u) = &def.user_field
        && !key.contains(u)
    {
        text.push(b',');
        write_json(&mut text, field(row, u).unwrap_or(&Value::Null));
    }
    text.push(b']');
    // serde_json writes UTF-8, from the UTF-8 of the row's strings.
    Some(
        String::from_utf8(text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// Appends `value` as a part of a match key: a string quoted, with only its quotes and backslashes
/// escaped (enough for no two keys to read alike), a number as its own text, anything else as compact
/// JSON. Match keys are only ever compared with each other.
fn write_json(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(text) => {
            let bytes = text.as_bytes();
            out.reserve(bytes.len() + 2);
            out.push(b'"');
            let mut start = 0;
            for at in memchr::memchr2_iter(b'"', b'\\', bytes) {
                out.extend_from_slice(&bytes[start..at]);
                out.push(b'\\');
                start = at;
            }
            out.extend_from_slice(&bytes[start..]);
            out.push(b'"');
        }
        Value::Number(n) => out.extend_from_slice(n.as_str().as_bytes()),
        // Writing to a Vec cannot fail, and a Value always serializes.
        other => {
            let _ = serde_json::to_writer(out, other);
        }
    }
}

/// Whether a row's match key holds a reference that is remapped (so the key differs between source and
/// destination, and destination rows can only be compared through what this run wrote or matched).
pub(crate) fn matches_through_references(def: &TableDef, remap: bool) -> bool {
    remap
        && def
            .references()
            .any(|r| def.match_columns().contains(&r.field))
}

/// Sets `field` of `row` to `value`: in place when the row has it (a found reference always is), without
/// allocating its name again.
fn set_field(row: &mut Row, name: &str, value: Value) {
    match field_mut(row, name) {
        Some(v) => *v = value,
        None => {
            row.insert(name.to_owned(), value);
        }
    }
}

/// The primary-key columns of `def` as a quoted list.
pub(crate) fn pk_list(def: &TableDef) -> String {
    let columns: Vec<&str> = def.pk.iter().map(String::as_str).collect();
    quoted_list(&columns)
}

/// Sets the primary key of `row` to `pk` (a value from [`TableDef::pk_of`]: an object for a composite key).
fn set_pk(def: &TableDef, row: &mut Row, pk: Value) {
    match (def.pk.as_slice(), pk) {
        ([one], pk) => {
            row.insert(one.clone(), pk);
        }
        (_, Value::Object(parts)) => row.extend(parts),
        // pk_of gives an object for every composite key, so there is nothing else to set.
        (_, _) => {}
    }
}

/// Exact column names as a quoted list that [`Query::columns`] reads back unchanged.
pub(crate) fn quoted_list(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a failed write can be blamed on the rows it carried (a constraint, a bad value), rather than on
/// the connection or the transaction.
fn row_specific(e: &dba_core::Error) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::Connection
            | ErrorKind::Timeout
            | ErrorKind::TransactionAborted
            | ErrorKind::Unsupported
    )
}

#[cfg(test)]
mod tests;
