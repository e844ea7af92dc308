//! Transactions through the trait: a transaction is a client; nesting uses savepoints; dropping an
//! uncommitted transaction rolls it back.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use dba_core::{Error, ErrorKind, Result, Row};

use crate::client_impl::impl_database_client;
use crate::exec::{Handle, map_pg_error};
use crate::health::LossClock;
use crate::pool::Object;
use crate::settings::StatementMode;
use crate::sql::SelectCache;
use crate::tx_state::{Queued, TxShared};

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
        selects: Arc<SelectCache>,
    ) -> PgTransaction {
        PgTransaction {
            shared: Arc::new(TxShared::new(object, mode, losses, selects)),
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

    pub(crate) fn selects(&self) -> &SelectCache {
        &self.shared.selects
    }

    pub(crate) async fn handle(&self) -> Result<Handle> {
        self.check_open()?;
        flush(&self.shared).await?;
        Ok(Handle::Tx(self.shared.clone()))
    }

    /// A transaction's statements all run on its connection: the same as [`handle`](Self::handle).
    pub(crate) async fn shared_handle(&self) -> Result<Handle> {
        self.handle().await
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

    /// Fails when this transaction has ended.
    fn check_open(&self) -> Result<()> {
        if self.finished || self.shared.finished.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::TransactionAborted,
                "the transaction has already ended",
            ));
        }
        Ok(())
    }

    /// Queues `sql` to go before the next statement (see [`flush`]).
    fn queue(&self, sql: String, light: bool) {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Queued { sql, light });
    }

    /// A savepoint. Its `SAVEPOINT` goes with the next statement, unanswered (see [`flush`]): a batch
    /// written in a savepoint costs no round trip of its own for it.
    pub(crate) async fn begin_transaction(&self) -> Result<PgTransaction> {
        self.check_open()?;
        let name = format!(
            "dba_sp_{}",
            self.shared.next_savepoint.fetch_add(1, Ordering::SeqCst)
        );
        self.queue(format!("SAVEPOINT {name}"), true);
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
        if commit
            && let Some(name) = &self.savepoint
            && !self.shared.aborted.load(Ordering::SeqCst)
        {
            // Released with the next statement, as its start was (see `begin_transaction`): nothing
            // written in it can fail any more.
            self.check_open()?;
            self.finished = true;
            self.queue(format!("RELEASE SAVEPOINT {name}"), true);
            return Ok(());
        }
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

/// Sends the statements queued before the next statement (see [`Queued`]). Savepoint starts and releases
/// alone are sent without waiting for their answer: the statement that follows is queued behind them on
/// the connection, so the server runs them in order, and it fails in their place if they failed (the
/// transaction is then aborted, or the connection lost). The connection reads their answer and drops it.
async fn flush(shared: &TxShared) -> Result<()> {
    let pending = std::mem::take(&mut *shared.pending.lock().unwrap_or_else(|e| e.into_inner()));
    if pending.is_empty() {
        return Ok(());
    }
    let light = pending.iter().all(|q| q.light);
    let sql = pending
        .iter()
        .map(|q| q.sql.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if light {
        // tokio-postgres sends a request when its future is first polled, and reads every answer whether
        // or not the future is still there to take it.
        let mut sent = std::pin::pin!(shared.client().batch_execute(&sql));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(result) = sent.as_mut().poll(&mut cx) {
            result.map_err(map_pg_error)?;
        }
        return Ok(());
    }
    shared.forget_shape();
    shared
        .client()
        .batch_execute(&sql)
        .await
        .map_err(map_pg_error)?;
    shared.aborted.store(false, Ordering::SeqCst);
    Ok(())
}

impl Drop for PgTransaction {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(name) = &self.savepoint {
            self.queue(
                format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"),
                false,
            );
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
