//! The pool's connections: deadpool-postgres's manager, wrapped so that each connection carries the
//! statements prepared for it by number, and so that `recycle` decides the health check before reuse.
//!
//! A connection that sat idle (or was last used before a lost connection was seen, see [`LossClock`]) is
//! pinged before it is handed out, and given up (another is taken) when the ping fails or outlasts the
//! recycle timeout; one past its maximum lifetime is closed. `recycle` never waits: it closes a
//! connection past its lifetime and marks one that needs the ping ([`PgConn::unchecked`]), which the
//! adapter's checkout sends ([`PgManager::check`]). So a checkout of a free connection completes without
//! waiting, and the adapter takes it at once, without keeping the pool's checkout future in every
//! call's (see `PostgresAdapter::checkout`); only the ping is timed, so that checkout sets no timer.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::Statement;

use crate::health::LossClock;

/// The pool of [`PgConn`]s.
pub(crate) type Pool = managed::Pool<PgManager>;

/// A connection handed out by the [`Pool`].
pub(crate) type Object = managed::Object<PgManager>;

/// Creates connections through deadpool-postgres and checks them before reuse.
pub(crate) struct PgManager {
    pub(crate) inner: deadpool_postgres::Manager,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) idle_check: Duration,
    /// How long the ping may take.
    pub(crate) recycle_timeout: Option<Duration>,
    pub(crate) losses: LossClock,
}

impl managed::Manager for PgManager {
    /// Boxed: the pool moves its objects several times per checkout and return, and a connection's
    /// state is about 250 bytes.
    type Type = Box<PgConn>;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<Box<PgConn>, tokio_postgres::Error> {
        // Nothing is started before the first wait, so the adapter's attempt to take a free connection
        // without waiting (see `PostgresAdapter::checkout`) can give up a checkout that would have to
        // connect without leaving a connection half open.
        PendOnce(false).await;
        Ok(Box::new(PgConn {
            // Boxed: rare, and every checkout's future would otherwise carry room for it.
            client: Box::pin(managed::Manager::create(&self.inner)).await?,
            prepared: Mutex::new(HashMap::default()),
            unchecked: false,
        }))
    }

    async fn recycle(
        &self,
        conn: &mut Box<PgConn>,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        // One clock read for both checks.
        let now = Instant::now();
        if self
            .max_lifetime
            .is_some_and(|max| now.saturating_duration_since(metrics.created) > max)
        {
            return Err(RecycleError::message(
                "connection reached its maximum lifetime",
            ));
        }
        let idle = now.saturating_duration_since(metrics.recycled.unwrap_or(metrics.created));
        if idle >= self.idle_check || self.losses.used_before_a_loss(idle) {
            // Pinged by the checkout before it is handed out (see [`PgManager::check`]).
            conn.unchecked = true;
        }
        managed::Manager::recycle(&self.inner, &mut conn.client, metrics).await
    }

    fn detach(&self, conn: &mut Box<PgConn>) {
        managed::Manager::detach(&self.inner, &mut conn.client);
    }
}

impl PgManager {
    /// The health check of a connection `recycle` marked (see [`PgConn::unchecked`]): a round trip, timed
    /// by the recycle timeout. A connection that fails it (an error, or no answer in time) is to be taken
    /// out of the pool, and another checked out.
    pub(crate) async fn check(&self, conn: &mut PgConn) -> bool {
        let ping = conn.client.simple_query("");
        let answered = match self.recycle_timeout {
            Some(limit) => tokio::time::timeout(limit, ping).await.ok(),
            None => Some(ping.await),
        };
        conn.unchecked = !matches!(answered, Some(Ok(_)));
        !conn.unchecked
    }
}

/// A future that is pending once (waking its task at once), then ready.
struct PendOnce(bool);

impl Future for PendOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A pooled connection and the statements prepared on it by number (see [`PgConn::prepared`]).
pub(crate) struct PgConn {
    pub(crate) client: ClientWrapper,
    prepared: Mutex<HashMap<u64, Statement, BuildHasherDefault<Number>>>,
    /// Set by `recycle` when the connection sat idle (or was last used before a lost connection was
    /// seen): the checkout pings it with [`PgManager::check`] before handing it out.
    pub(crate) unchecked: bool,
}

impl PgConn {
    /// The statement prepared on this connection as number `number`, if it was. A number stands for one
    /// SQL text for the pool's whole life (the caller's promise), so a kept statement is exactly what
    /// preparing that text again would give, as deadpool-postgres's cache keyed by the text would.
    pub(crate) fn prepared(&self, number: u64) -> Option<Statement> {
        self.prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&number)
            .cloned()
    }

    /// Keeps `statement` as number `number` (see [`PgConn::prepared`]).
    pub(crate) fn keep(&self, number: u64, statement: Statement) {
        self.prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, statement);
    }
}

/// The hasher of a map keyed by statement numbers: the number is the hash.
#[derive(Default)]
pub(crate) struct Number(u64);

impl Hasher for Number {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Numbers count up from 0: spread them over the high bits the map's tags are taken from.
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
