//! Transactions through the trait: a transaction is a client; nesting uses savepoints; dropping an
//! uncommitted transaction rolls it back.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dba_core::{Error, ErrorKind, Result, Row};
use deadpool_postgres::{ClientWrapper, Object};

use crate::client_impl::impl_database_client;
use crate::exec::{Handle, map_pg_error};
use crate::health::LossClock;
use crate::settings::StatementMode;

/// The connection a transaction and its savepoints share.
pub(crate) struct TxShared {
    object: Option<Object>,
    mode: StatementMode,
    losses: LossClock,
    /// Savepoint rollbacks queued by dropped nested transactions, sent before the next statement.
    pending: Mutex<Vec<String>>,
    /// A statement failed and the server now refuses everything until a rollback.
    aborted: AtomicBool,
    finished: AtomicBool,
    next_savepoint: AtomicUsize,
}

impl TxShared {
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
        self.object
            .as_ref()
            .expect("the connection is only taken when the transaction is dropped")
    }

    async fn flush(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if !pending.is_empty() {
            self.client()
                .batch_execute(&pending.join("; "))
                .await
                .map_err(map_pg_error)?;
            self.aborted.store(false, Ordering::SeqCst);
        }
        Ok(())
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
                    if object.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(object));
                    }
                });
            }
            Err(_) => drop(Object::take(object)),
        }
    }
}

/// A PostgreSQL transaction (or, when nested, a savepoint). Implements the client trait, so code written
/// against [`DatabaseClient`](dba_core::DatabaseClient) runs inside it unchanged.
pub struct PgTransaction {
    shared: Arc<TxShared>,
    savepoint: Option<String>,
    finished: bool,
}

impl fmt::Debug for PgTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTransaction")
            .field("savepoint", &self.savepoint)
            .field("finished", &self.finished)
            .finish()
    }
}

impl PgTransaction {
    pub(crate) fn top_level(
        object: Object,
        mode: StatementMode,
        losses: LossClock,
    ) -> PgTransaction {
        let shared = TxShared {
            object: Some(object),
            mode,
            losses,
            pending: Mutex::new(Vec::new()),
            aborted: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            next_savepoint: AtomicUsize::new(1),
        };
        PgTransaction {
            shared: Arc::new(shared),
            savepoint: None,
            finished: false,
        }
    }

    pub(crate) fn mode(&self) -> StatementMode {
        self.shared.mode
    }

    pub(crate) fn losses(&self) -> &LossClock {
        &self.shared.losses
    }

    pub(crate) async fn handle(&self) -> Result<Handle> {
        if self.finished || self.shared.finished.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::TransactionAborted,
                "the transaction has already ended",
            ));
        }
        self.shared.flush().await?;
        Ok(Handle::Tx(self.shared.clone()))
    }

    /// Notes a statement the server rejected: the transaction is aborted until a rollback.
    pub(crate) fn track<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result
            && (e.db().is_some() || e.kind() == ErrorKind::Connection)
        {
            self.shared.aborted.store(true, Ordering::SeqCst);
        }
        self.shared.losses.note(result)
    }

    /// Runs a multi-statement write; it is atomic because it runs inside this transaction.
    pub(crate) async fn write(
        &self,
        plan: &[crate::ops::Batch<'_>],
        returning: bool,
        what: &str,
    ) -> Result<Vec<Row>> {
        let h = self.handle().await?;
        self.track(crate::ops::run_plan(&h.conn(self.mode()), plan, returning, what).await)
    }

    pub(crate) async fn begin_transaction(&self) -> Result<PgTransaction> {
        let h = self.handle().await?;
        let name = format!(
            "dba_sp_{}",
            self.shared.next_savepoint.fetch_add(1, Ordering::SeqCst)
        );
        let result = h
            .conn(self.mode())
            .script(&format!("SAVEPOINT {name}"))
            .await;
        self.track(result)?;
        Ok(PgTransaction {
            shared: self.shared.clone(),
            savepoint: Some(name),
            finished: false,
        })
    }

    pub(crate) fn close_client(&self) {}

    /// Reads inside a transaction stay in it, on the primary.
    pub(crate) async fn read_route(&self) -> Option<dba_core::Reader> {
        None
    }

    async fn finish(&mut self, commit: bool) -> Result<()> {
        let h = self.handle().await?;
        let conn = h.conn(self.mode());
        self.finished = true;
        let aborted = self.shared.aborted.load(Ordering::SeqCst);
        match &self.savepoint {
            None => {
                self.shared.finished.store(true, Ordering::SeqCst);
                if commit && !aborted {
                    conn.script("COMMIT").await?;
                    return Ok(());
                }
                conn.script("ROLLBACK").await?;
            }
            Some(name) => {
                if commit && !aborted {
                    return self.track(
                        conn.script(&format!("RELEASE SAVEPOINT {name}"))
                            .await
                            .map(drop),
                    );
                }
                conn.script(&format!(
                    "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
                ))
                .await?;
                self.shared.aborted.store(false, Ordering::SeqCst);
            }
        }
        if commit {
            return Err(Error::new(
                ErrorKind::TransactionAborted,
                "commit refused: an earlier statement failed, so the transaction was rolled back",
            ));
        }
        Ok(())
    }
}

impl Drop for PgTransaction {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(name) = &self.savepoint {
            self.shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!(
                    "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
                ));
        }
        // A top-level transaction rolls back when the last handle on its connection goes (TxShared::drop).
    }
}

#[async_trait]
impl dba_core::Transaction for PgTransaction {
    async fn commit(mut self: Box<Self>) -> Result<()> {
        let result = self.finish(true).await;
        self.shared.losses.note(result)
    }

    async fn rollback(mut self: Box<Self>) -> Result<()> {
        let result = self.finish(false).await;
        self.shared.losses.note(result)
    }
}

impl_database_client!(PgTransaction);
