//! When the pool last saw a connection lost, so the connections idle since then are checked before reuse.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dba_core::{ErrorKind, Result};

/// The time of the latest lost connection, shared by an adapter, its transactions and its pool's manager.
///
/// A server restart or a terminated session kills every connection, but the pool learns that a pooled one is
/// dead only when its socket task has seen the close; one handed out before that fails its first statement.
/// The pool pings connections idle for a while before reusing them; with this clock it also pings every
/// connection that was last used before a loss was seen, so the call after a fault gets a live connection.
#[derive(Clone, Debug)]
pub(crate) struct LossClock {
    start: Instant,
    /// Nanoseconds from `start` to the latest loss, plus one; 0 while none was seen.
    latest: Arc<AtomicU64>,
}

impl LossClock {
    pub(crate) fn new() -> LossClock {
        LossClock {
            start: Instant::now(),
            latest: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Notes `result`'s error when it is a lost connection; passes `result` on.
    pub(crate) fn note<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result
            && e.kind() == ErrorKind::Connection
        {
            let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
            self.latest.fetch_max(nanos + 1, Ordering::Relaxed);
        }
        result
    }

    /// Whether a connection last used `idle` ago was last used before the latest loss (or at it).
    pub(crate) fn used_before_a_loss(&self, idle: Duration) -> bool {
        let latest = self.latest.load(Ordering::Relaxed);
        if latest == 0 {
            return false;
        }
        let Some(used) = self.start.elapsed().checked_sub(idle) else {
            return true;
        };
        u64::try_from(used.as_nanos()).unwrap_or(u64::MAX) < latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dba_core::Error;

    #[test]
    fn only_connection_losses_count_and_only_for_connections_used_before_them() {
        let clock = LossClock::new();
        assert!(!clock.used_before_a_loss(Duration::from_secs(3600)));
        let _ = clock.note::<()>(Err(Error::new(ErrorKind::Timeout, "slow")));
        assert!(!clock.used_before_a_loss(Duration::ZERO));
        // Instants taken 50 ms either side of the loss: the assertions hold unless this thread stalls for
        // that long between two adjacent clock reads.
        let before = Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        let _ = clock.note::<()>(Err(Error::new(ErrorKind::Connection, "closed")));
        std::thread::sleep(Duration::from_millis(50));
        let after = Instant::now();
        assert!(clock.used_before_a_loss(before.elapsed()));
        assert!(
            !clock.used_before_a_loss(after.elapsed()),
            "a connection used after the loss is fine"
        );
        assert!(clock.used_before_a_loss(Duration::from_secs(3600)));
        assert!(clock.note(Ok(1)).is_ok());
    }
}
