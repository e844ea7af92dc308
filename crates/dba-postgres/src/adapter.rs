//! `PostgresAdapter`: the client trait over a deadpool-postgres pool.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use dba_core::{Result, Row};
use deadpool_postgres::{
    Manager, ManagerConfig, PoolError, RecyclingMethod, Runtime, TimeoutType, Timeouts,
};

use crate::client_impl::impl_database_client;
use crate::exec::{Handle, map_pg_error, map_pool_error};
use crate::health::LossClock;
use crate::lanes::Lanes;
use crate::pool::{Object, PgManager, Pool};
use crate::replica::{self, Standby};
use crate::settings::{PostgresOptions, StatementMode, Target, redact};
use crate::sql::SelectCache;
use crate::tls;
use crate::transaction::PgTransaction;

/// How busy the pool is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections not in use.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Pooled connections shared by pipelined calls now (lanes; see
    /// [`PostgresOptions::pipeline_depth`]): each is also counted in `size` and not in `available`.
    /// Always 0 with pipelining off (a depth of 1, or behind a transaction-mode pooler).
    pub lanes: usize,
    /// Calls since the adapter was made that shared a connection: each took a seat on a lane already
    /// carrying another call instead of a connection of its own. Always 0 with pipelining off.
    pub shared_calls: u64,
}

/// Async CRUD over JSON rows on PostgreSQL, through a connection pool.
///
/// Cheap to clone (the pool is shared). Concurrent tasks each get their own pooled connection (unless
/// [`PostgresOptions::pipeline_depth`] lets calls of one statement outside a transaction share one), so
/// they never share a transaction by accident; a transaction is an explicit value from
/// [`begin`](dba_core::DatabaseClient::begin).
///
/// ```no_run
/// # async fn demo() -> dba_core::Result<()> {
/// use dba_core::{DatabaseClient, Filter, Query, json};
/// use dba_postgres::PostgresAdapter;
///
/// let db = PostgresAdapter::connect("postgresql://postgres@localhost/app").await?;
/// let row = json!({"name": "Widget", "price": "9.99"}).as_object().cloned().unwrap_or_default();
/// let created = db.insert("items", &row).await?;
/// let cheap = db.select("items", &Query::new().filter(Filter::new().lt("price", 10)).order_by("price DESC")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresAdapter {
    pool: Pool,
    losses: LossClock,
    mode: StatementMode,
    display: String,
    standby: Option<Arc<Standby>>,
    /// The select statements built so far, by shape; shared by clones and transactions.
    selects: Arc<SelectCache>,
    /// The connections shared by pipelined calls, when [`PostgresOptions::pipeline_depth`] allows them.
    lanes: Option<Arc<Lanes>>,
}

impl fmt::Debug for PostgresAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresAdapter")
            .field("target", &self.display)
            .field("mode", &self.mode)
            .field("status", &self.pool_status())
            .field(
                "standby",
                &self.standby.as_ref().map(|s| s.adapter.display.as_str()),
            )
            .finish()
    }
}

impl PostgresAdapter {
    /// Builds an adapter with default options and proves the database answers.
    pub async fn connect(conn: &str) -> Result<PostgresAdapter> {
        let adapter = PostgresAdapter::new(conn, PostgresOptions::default())?;
        dba_core::DatabaseClient::test_connection(&adapter).await?;
        Ok(adapter)
    }

    /// Builds an adapter from a `postgres://`/`postgresql://` URL or a libpq key=value string. No
    /// connection is opened until the first call.
    pub fn new(conn: &str, options: PostgresOptions) -> Result<PostgresAdapter> {
        let mut target = Target::parse(conn)?;
        if let Some(mode) = options.ssl_mode {
            target.ssl_mode = mode;
        }
        if let Some(root) = &options.ssl_root_cert {
            target.root_cert = Some(root.clone());
        }
        let mut config = target.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("dba");
        }
        config.ssl_mode(target.ssl_mode.wire());
        let mode = match options.statement_mode {
            StatementMode::Auto if target.pooler_hint => StatementMode::Unnamed,
            StatementMode::Auto => StatementMode::Cached,
            explicit => explicit,
        };
        // Session settings travel as the startup `options` parameter, which transaction-mode poolers refuse
        // (and could not keep per client anyway): behind one, they are not sent.
        let mut startup = config.get_options().map(str::to_owned).unwrap_or_default();
        let behind_pooler = mode == StatementMode::Unnamed;
        if let Some(schema) = options.schema.as_ref().filter(|_| !behind_pooler) {
            // Quoted, so the schema is the exact name (`Billing`, `my.schema`), as everywhere else.
            let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
            startup.push_str(&format!(
                " -c search_path={},public",
                escape_option(&quoted)
            ));
        }
        if let Some(timeout) = options.statement_timeout.filter(|_| !behind_pooler) {
            startup.push_str(&format!(" -c statement_timeout={}", timeout.as_millis()));
        }
        if !startup.trim().is_empty() {
            config.options(startup.trim());
        }
        // Fast recycling checks only that the socket is open; `PgManager` adds a real round trip for
        // connections that sat idle, so busy pools pay nothing per checkout.
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if target.ssl_mode == tls::SslMode::Disable {
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        } else {
            let tls_config = tls::client_config(target.ssl_mode, target.root_cert.as_deref())?;
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
            Manager::from_config(config, tls, manager_config)
        };
        let losses = LossClock::new();
        let manager = PgManager {
            inner: manager,
            max_lifetime: options.max_lifetime,
            idle_check: options.health_check_after_idle,
            recycle_timeout: options.recycle_timeout,
            losses: losses.clone(),
        };
        let builder = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(options.wait_timeout)
            .create_timeout(Some(options.connect_timeout));
        // No recycle timeout for the pool: `PgManager` times the one part of recycling that waits (the
        // health check), so a checkout of a busy connection sets no timer.
        let pool = builder.build().map_err(|e| {
            dba_core::Error::invalid_input(format!(
                "cannot build the pool for {}: {e}",
                redact(conn)
            ))
        })?;
        Ok(PostgresAdapter {
            pool,
            losses,
            mode,
            display: redact(conn),
            standby: None,
            selects: Arc::new(SelectCache::new()),
            lanes: (options.pipeline_depth > 1 && mode == StatementMode::Cached)
                .then(|| Lanes::new(options.pipeline_depth, options.max_lifetime)),
        })
    }

    /// Adds a read-only standby (a streaming replica of this database) at `conn`, with its own pool built
    /// from `options`, for the reads a caller asks for through [`reader`](dba_core::DatabaseClient::reader).
    /// Nothing else changes: the adapter's own calls, every write and every transaction stay on the
    /// primary. No connection is opened until a reader is asked for.
    ///
    /// Each call to `reader` checks the standby and sends the reader's reads to the primary instead, with
    /// the reason in [`Reader::fallback`](dba_core::Reader::fallback), when the standby does not answer,
    /// is not in recovery (`pg_is_in_recovery()` is false: it was promoted, or `conn` names a primary), or
    /// lags more than `max_lag`. The lag rule, in that order:
    ///
    /// 1. the primary's WAL flush position (`pg_current_wal_flush_lsn()`: every commit acknowledged under
    ///    `synchronous_commit = on`) is read first;
    /// 2. the standby is fresh enough when it has replayed up to that position (`pg_last_wal_replay_lsn()`),
    ///    whatever the age of its last replayed transaction: an idle primary makes that age grow without
    ///    any lag;
    /// 3. or when the last transaction it replayed committed at most `max_lag` ago
    ///    (`now() - pg_last_xact_replay_timestamp()` on the standby): WAL is replayed in order, so its data
    ///    is then at most `max_lag` old;
    /// 4. otherwise it is given up to `min(max_lag, 1 s)` to reach the position of step 1 (a primary that
    ///    wrote after a long idle spell), and is passed over if it does not.
    ///
    /// So a reader never reads data older than `max_lag` (clock differences between the servers aside),
    /// and may go to the primary now and then when the primary writes after a long idle spell.
    pub fn with_standby(
        mut self,
        conn: &str,
        options: PostgresOptions,
        max_lag: Duration,
    ) -> Result<PostgresAdapter> {
        let adapter = PostgresAdapter::new(conn, options)?;
        self.standby = Some(Arc::new(Standby { adapter, max_lag }));
        Ok(self)
    }

    /// The server, with its password redacted.
    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    /// Where a reader's reads go (see [`PostgresAdapter::with_standby`]); `None` without a standby.
    pub(crate) async fn read_route(&self) -> Option<dba_core::Reader> {
        let standby = self.standby.as_ref()?;
        Some(replica::reader(self, standby).await)
    }

    /// How busy the pool is.
    pub fn pool_status(&self) -> PoolStatus {
        let s = self.pool.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
            lanes: self.lanes.as_ref().map_or(0, |l| l.open_lanes()),
            shared_calls: self.lanes.as_ref().map_or(0, |l| l.shared_calls()),
        }
    }

    /// The statement mode in effect (never [`StatementMode::Auto`]).
    pub fn statement_mode(&self) -> StatementMode {
        self.mode
    }

    pub(crate) fn mode(&self) -> StatementMode {
        self.mode
    }

    pub(crate) fn losses(&self) -> &LossClock {
        &self.losses
    }

    pub(crate) fn selects(&self) -> &SelectCache {
        &self.selects
    }

    pub(crate) async fn handle(&self) -> Result<Handle> {
        Ok(Handle::Pooled(self.checkout().await?))
    }

    /// Where a call of one statement runs: a seat on a shared connection when pipelining is on (see
    /// [`PostgresOptions::pipeline_depth`]), else a pooled connection of its own.
    ///
    /// It joins the busiest lane with room; failing that it opens a lane on a free connection, or on a new
    /// one while the pool may open more; once every connection the pool may open is in use, it crowds the
    /// least busy lane, or with none open waits for a connection as [`checkout`](Self::checkout) does.
    pub(crate) async fn shared_handle(&self) -> Result<Handle> {
        let Some(lanes) = self.lanes.as_ref().filter(|_| !self.pool.is_closed()) else {
            return self.handle().await;
        };
        if let Some(seat) = lanes.join(false) {
            return Ok(Handle::Shared(seat));
        }
        // Boxed: seldom needed, and every call's future would otherwise carry room for it.
        Box::pin(self.open_lane(lanes)).await
    }

    /// [`shared_handle`](Self::shared_handle) when no lane has room.
    async fn open_lane(&self, lanes: &Arc<Lanes>) -> Result<Handle> {
        // Lanes are opened one at a time: the calls that arrive while one connects join it when it
        // opens (when it has room) instead of each opening one.
        // The wait for the lock is bounded as a checkout's is: past it (a server slow to accept, each
        // queued call connecting in turn) the call goes on without it.
        let opening = match self.pool.timeouts().wait {
            Some(limit) => tokio::time::timeout(limit, lanes.opening.lock()).await.ok(),
            None => Some(lanes.opening.lock().await),
        };
        if let Some(seat) = lanes.join(false) {
            return Ok(Handle::Shared(seat));
        }
        if let Some(object) = self.take_checked().await? {
            return Ok(Handle::Shared(lanes.open(object)));
        }
        if self.pool_full() {
            if let Some(seat) = lanes.join(true) {
                return Ok(Handle::Shared(seat));
            }
            // No lane to crowd (every connection is in a transaction or a stream): this call waits for
            // a connection as any other checkout does, without keeping the others from opening lanes.
            drop(opening);
        }
        Ok(Handle::Shared(lanes.open(self.checkout().await?)))
    }

    /// A pooled connection: one free now, taken without waiting or setting a timer, else the first freed
    /// within the wait timeout, in turn with the other waiters. One that sat idle is pinged first, and
    /// given up for another when the ping fails (see [`crate::pool`]).
    async fn checkout(&self) -> Result<Object> {
        loop {
            let mut object = match self.take_free() {
                Some(taken) => taken.map_err(map_pool_error)?,
                // Boxed: the waiting checkout's future is large and seldom needed, and every call's
                // future would otherwise carry room for it.
                None => {
                    // Lanes kept busy would never give a connection back: while this caller waits for
                    // one of the full pool, new calls go to the busiest lane so the others drain.
                    let _wanting = self
                        .lanes
                        .as_ref()
                        .filter(|_| self.pool_full())
                        .map(|l| l.wanting());
                    Box::pin(self.pool.get()).await.map_err(map_pool_error)?
                }
            };
            if self.checked(&mut object).await {
                return Ok(object);
            }
            drop(Object::take(object));
        }
    }

    /// Whether every connection the pool may open is open.
    fn pool_full(&self) -> bool {
        let status = self.pool.status();
        status.size >= status.max_size
    }

    /// A connection free now, pinged first when it sat idle (one that fails the ping is given up for the
    /// next); `None` when none is free now.
    async fn take_checked(&self) -> Result<Option<Object>> {
        while let Some(taken) = self.take_free() {
            let mut object = taken.map_err(map_pool_error)?;
            if self.checked(&mut object).await {
                return Ok(Some(object));
            }
            drop(Object::take(object));
        }
        Ok(None)
    }

    /// Whether `object` may be used: it needs no health check, or it passed one (see [`crate::pool`]).
    async fn checked(&self, object: &mut Object) -> bool {
        !object.unchecked || Box::pin(self.pool.manager().check(object)).await
    }

    /// A free connection (or the pool's error), taken without waiting; `None` when none is free now
    /// (every connection is in use, or a new one would have to be opened).
    ///
    /// The pool's checkout completes at its first poll when a free connection is there: `recycle` does
    /// not wait (see [`crate::pool`]) and no hook is set. It is polled once, here, rather than kept in
    /// the caller's future (it is most of that future's size, which every call allocates). When it
    /// would wait, it is dropped before anything was started: the only wait left is a new connection's,
    /// whose first poll starts nothing.
    fn take_free(&self) -> Option<std::result::Result<Object, PoolError>> {
        let at_once = Timeouts {
            wait: Some(Duration::ZERO),
            ..self.pool.timeouts()
        };
        // Polled where it is made: moving the future (about 1.8 KB) into a helper costs more than the
        // checkout itself.
        let checkout = pin!(self.pool.timeout_get(&at_once));
        match checkout.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Err(PoolError::Timeout(TimeoutType::Wait))) | Poll::Pending => None,
            Poll::Ready(other) => Some(other),
        }
    }

    /// Notes a lost connection, so the pool checks the connections idle since then before reusing them.
    pub(crate) fn track<T>(&self, result: Result<T>) -> Result<T> {
        self.losses.note(result)
    }

    /// Runs a multi-statement write atomically on one connection.
    pub(crate) async fn write(
        &self,
        plan: &[crate::ops::Batch<'_>],
        returning: bool,
        what: &str,
    ) -> Result<Vec<Row>> {
        // One statement is atomic on its own; COPY prepares a named statement, which must stay on one
        // server connection even behind a transaction-mode pooler, so it always runs in a transaction.
        if plan.len() <= 1 && !crate::ops::may_copy(plan, returning) {
            let h = self.shared_handle().await?;
            return self
                .track(crate::ops::run_plan(&h.conn(self.mode), plan, returning, what).await);
        }
        let tx = self.begin_transaction().await?;
        let rows = tx.write(plan, returning, what).await?;
        dba_core::Transaction::commit(Box::new(tx)).await?;
        Ok(rows)
    }

    pub(crate) async fn begin_transaction(&self) -> Result<PgTransaction> {
        let object = self.checkout().await?;
        self.track(
            object
                .client
                .batch_execute("BEGIN")
                .await
                .map_err(map_pg_error),
        )?;
        Ok(PgTransaction::top_level(
            object,
            self.mode,
            self.losses.clone(),
            self.selects.clone(),
        ))
    }

    pub(crate) fn close_client(&self) {
        self.pool.close();
        if let Some(standby) = &self.standby {
            standby.adapter.pool.close();
        }
    }
}

/// Escapes a value for the startup `options` parameter (spaces and backslashes).
fn escape_option(value: &str) -> String {
    value.replace('\\', "\\\\").replace(' ', "\\ ")
}

impl_database_client!(PostgresAdapter);
