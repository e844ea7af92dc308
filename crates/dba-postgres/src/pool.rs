//! The pool's connections: deadpool-postgres's manager, wrapped so that each connection carries the
//! statements prepared for it by number, and so that the health check before reuse runs in `recycle`.
//!
//! A connection that sat idle (or was last used before a lost connection was seen, see [`LossClock`]) is
//! pinged before it is handed out, and given up (another is taken) when the ping fails or outlasts the
//! recycle timeout; one past its maximum lifetime is closed. Checking this in the manager's `recycle`
//! rather than in a pre-recycle hook spares every checkout a boxed future, and timing only the ping
//! (the rest of `recycle` does not wait) spares it a timer.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

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
    type Type = PgConn;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<PgConn, tokio_postgres::Error> {
        Ok(PgConn {
            client: managed::Manager::create(&self.inner).await?,
            prepared: Mutex::new(HashMap::default()),
        })
    }

    async fn recycle(
        &self,
        conn: &mut PgConn,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        if self.max_lifetime.is_some_and(|max| metrics.age() > max) {
            return Err(RecycleError::message(
                "connection reached its maximum lifetime",
            ));
        }
        if metrics.last_used() >= self.idle_check
            || self.losses.used_before_a_loss(metrics.last_used())
        {
            let ping = conn.client.simple_query("");
            match self.recycle_timeout {
                Some(limit) => tokio::time::timeout(limit, ping)
                    .await
                    .map_err(|_| RecycleError::message("the health check timed out"))?,
                None => ping.await,
            }
            .map_err(RecycleError::Backend)?;
        }
        managed::Manager::recycle(&self.inner, &mut conn.client, metrics).await
    }

    fn detach(&self, conn: &mut PgConn) {
        managed::Manager::detach(&self.inner, &mut conn.client);
    }
}

/// A pooled connection and the statements prepared on it by number (see [`PgConn::prepared`]).
pub(crate) struct PgConn {
    pub(crate) client: ClientWrapper,
    prepared: Mutex<HashMap<u64, Statement, BuildHasherDefault<Number>>>,
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
