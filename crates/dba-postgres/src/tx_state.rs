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

/// The connection a transaction and its savepoints share.
pub(crate) struct TxShared {
    object: Option<Object>,
    pub(crate) mode: StatementMode,
    pub(crate) losses: LossClock,
    /// The adapter's select statements, kept by shape.
    pub(crate) selects: Arc<SelectCache>,
    /// Savepoint rollbacks queued by dropped nested transactions, sent before the next statement.
    pub(crate) pending: Mutex<Vec<String>>,
    /// A statement failed and the server now refuses everything until a rollback.
    pub(crate) aborted: AtomicBool,
    pub(crate) finished: AtomicBool,
    pub(crate) next_savepoint: AtomicUsize,
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
