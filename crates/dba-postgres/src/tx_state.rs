//! The state a transaction and its savepoints share: the connection, the savepoint rollbacks queued by
//! dropped nested transactions, and whether the server has aborted it. It sits below the statement
//! executor, which runs statements on it; the transaction itself (`PgTransaction`, in `transaction.rs`)
//! sits above the operations.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use deadpool_postgres::ClientWrapper;

use crate::health::LossClock;
use crate::pool::{Object, PgConn};
use crate::settings::StatementMode;
use crate::sql::SelectCache;
use crate::table_shape::TableShape;

/// The connection a transaction and its savepoints share.
pub(crate) struct TxShared {
    object: Option<Object>,
    pub(crate) mode: StatementMode,
    pub(crate) losses: LossClock,
    /// The adapter's select statements, kept by shape.
    pub(crate) selects: Arc<SelectCache>,
    /// Statements queued to go before the next one: savepoint starts and releases (see
    /// [`Queued::light`]), and the rollbacks of dropped nested transactions.
    pub(crate) pending: Mutex<Vec<Queued>>,
    /// A statement failed and the server now refuses everything until a rollback.
    pub(crate) aborted: AtomicBool,
    pub(crate) finished: AtomicBool,
    pub(crate) next_savepoint: AtomicUsize,
    /// The shape a `COPY` read behind its data, with the table's SQL name: see [`TxShared::keep_shape`].
    kept_shape: Mutex<Option<(String, TableShape)>>,
}

impl TxShared {
    /// The state of a transaction just begun on `object`.
    pub(crate) fn new(
        object: Object,
        mode: StatementMode,
        losses: LossClock,
        selects: Arc<SelectCache>,
    ) -> TxShared {
        TxShared {
            object: Some(object),
            mode,
            losses,
            selects,
            pending: Mutex::new(Vec::new()),
            aborted: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            next_savepoint: AtomicUsize::new(1),
            kept_shape: Mutex::new(None),
        }
    }

    /// Marks the transaction aborted until [`InFlight::finished`]: for a statement that aborts the
    /// transaction on the server when the caller drops it half done (a `COPY` whose future is dropped sends
    /// CopyFail). A later commit is then refused instead of reporting success for a rolled-back transaction.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        InFlight {
            aborted: &self.aborted,
            before: self.aborted.swap(true, Ordering::SeqCst),
        }
    }

    /// Keeps the shape of `table` (its SQL name) that a `COPY` read behind its data, in the same round
    /// trip, while holding the table's lock: the next bulk write to the same table in this transaction
    /// plans from it instead of reading it again (a round trip and a catalog query per batch of a restore).
    ///
    /// It stays true while the transaction runs nothing else. Another session cannot alter the table until
    /// the transaction ends: the `COPY`'s lock (`ROW EXCLUSIVE`) outlives the statement and a released
    /// savepoint, and is given up only by a rollback, which forgets the shape. This transaction's own
    /// statements (raw SQL may alter the table or change `search_path` or `TimeZone`) forget it too: every
    /// statement does except a savepoint's start and release ([`TxShared::forget_shape`]). What is left, a
    /// table created meanwhile that the same unqualified name now finds first, is caught by the next
    /// `COPY`'s own re-read, which fails the write rather than store rows by the wrong shape.
    pub(crate) fn keep_shape(&self, table: String, shape: TableShape) {
        *self.kept_shape.lock().unwrap_or_else(|e| e.into_inner()) = Some((table, shape));
    }

    /// The shape kept for `table` (its SQL name), if any (see [`TxShared::keep_shape`]).
    pub(crate) fn kept_shape(&self, table: &str) -> Option<TableShape> {
        let kept = self.kept_shape.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref()
            .filter(|(name, _)| name == table)
            .map(|(_, shape)| shape.clone())
    }

    /// Forgets the kept shape: the transaction is about to run a statement (see [`TxShared::keep_shape`]).
    pub(crate) fn forget_shape(&self) {
        self.kept_shape
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    pub(crate) fn client(&self) -> &ClientWrapper {
        &self.pg().client
    }

    /// The pooled connection.
    pub(crate) fn pg(&self) -> &PgConn {
        self.object
            .as_ref()
            .expect("the connection is only taken when the transaction is dropped")
    }
}

/// A statement queued to go before the transaction's next one.
pub(crate) struct Queued {
    pub(crate) sql: String,
    /// A savepoint's start or release: it keeps the kept shape (see [`TxShared::keep_shape`]), and is sent
    /// without waiting for its answer, ahead of the statement that follows it on the connection.
    pub(crate) light: bool,
}

/// A statement in flight that aborts the transaction if it is dropped half done (see
/// [`TxShared::in_flight`]).
pub(crate) struct InFlight<'a> {
    aborted: &'a AtomicBool,
    before: bool,
}

impl InFlight<'_> {
    /// The statement completed: the transaction is as it was before it.
    pub(crate) fn finished(self) {
        self.aborted.store(self.before, Ordering::SeqCst);
    }
}

impl Drop for TxShared {
    fn drop(&mut self) {
        if self.finished.load(Ordering::SeqCst) {
            return;
        }
        let Some(object) = self.object.take() else {
            return;
        };
        // Roll back before the connection goes back to the pool; without a runtime, close it instead (the
        // server rolls back a transaction whose connection is gone).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if object.client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(object));
                    }
                });
            }
            Err(_) => drop(Object::take(object)),
        }
    }
}
