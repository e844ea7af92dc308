//! Pipelined calls: pooled connections shared by several single-statement calls at once (see
//! [`PostgresOptions::pipeline_depth`](crate::settings::PostgresOptions::pipeline_depth)).
//!
//! A lane is a connection checked out of the pool and shared: each call sends its statement on it at
//! once (tokio-postgres pipelines the statements of one connection, each with its own `Sync`, so each
//! is its own implicit transaction and a failing one leaves the others alone) and the server answers
//! them in order. A call joins the busiest lane that has room, so the calls of a busy moment share a
//! few connections (fewer server processes and context switches on the server, several answers read by
//! one read on the client); the lane goes back to the pool when its last call ends.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::pool::{Object, PgConn};

/// The lanes open now.
pub(crate) struct Lanes {
    /// The most calls one lane carries while another connection can be taken from the pool.
    depth: usize,
    /// The pool's maximum connection lifetime: a lane past it takes no new calls, so it drains and
    /// goes back to the pool, which closes it (a lane always busy would otherwise never be recycled).
    max_lifetime: Option<Duration>,
    open: Mutex<Vec<Open>>,
    /// Held while a lane is opened on a new connection, so that the calls arriving meanwhile wait to
    /// join it rather than each connecting.
    pub(crate) opening: tokio::sync::Mutex<()>,
    /// Callers waiting for a connection of the full pool (a transaction, a stream, raw SQL, or a lane to
    /// open when none is): while there are any, every call joins the busiest lane whatever its depth, so
    /// that the others drain and give their connections back (else lanes kept busy would keep the pool
    /// for themselves).
    wanted: AtomicUsize,
    /// Calls so far that joined a lane already carrying another (see [`Lanes::shared_calls`]).
    joined: AtomicU64,
}

/// A caller's wait for a connection of the full pool (see [`Lanes::wanted`]), until dropped.
pub(crate) struct Wanting(Arc<Lanes>);

impl Drop for Wanting {
    fn drop(&mut self) {
        self.0.wanted.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open lane and the calls on it now.
struct Open {
    lane: Arc<Object>,
    calls: usize,
    /// When the lane stops taking new calls (see [`Lanes::max_lifetime`]).
    retire_at: Option<Instant>,
}

/// A call's place on a lane; leaving it (dropping) ends the call, and the lane's last call returns the
/// connection to the pool.
pub(crate) struct Seat {
    lanes: Arc<Lanes>,
    lane: Arc<Object>,
}

impl Lanes {
    /// Lanes carrying up to `depth` calls each (at least 2: one call per connection is no lane), on
    /// connections that live at most `max_lifetime`.
    pub(crate) fn new(depth: usize, max_lifetime: Option<Duration>) -> Arc<Lanes> {
        Arc::new(Lanes {
            depth: depth.max(2),
            max_lifetime,
            open: Mutex::new(Vec::new()),
            opening: tokio::sync::Mutex::new(()),
            wanted: AtomicUsize::new(0),
            joined: AtomicU64::new(0),
        })
    }

    /// Lanes open now.
    pub(crate) fn open_lanes(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Calls so far that took a seat on a lane already carrying another call: the calls that shared a
    /// connection instead of taking one of their own.
    pub(crate) fn shared_calls(&self) -> u64 {
        self.joined.load(Ordering::Relaxed)
    }

    /// Notes a caller waiting for a connection of the full pool, until the value is dropped.
    pub(crate) fn wanting(self: &Arc<Lanes>) -> Wanting {
        self.wanted.fetch_add(1, Ordering::Relaxed);
        Wanting(self.clone())
    }

    /// A seat on the busiest open lane with room (fewer than `depth` calls), or with `crowd` on the
    /// least busy lane even when every one is full (for when the pool has no connection to open another
    /// lane with); while a caller waits for a connection of the full pool, on the busiest lane whatever
    /// its calls. A lane whose connection closed or reached its lifetime is passed over.
    pub(crate) fn join(self: &Arc<Lanes>, crowd: bool) -> Option<Seat> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.is_empty() {
            return None;
        }
        let now = self.max_lifetime.map(|_| Instant::now());
        let choice = if self.wanted.load(Ordering::Relaxed) > 0 {
            Choice::Drain
        } else if crowd {
            Choice::Crowd
        } else {
            Choice::Room
        };
        let at = pick(
            open.iter().map(|o| {
                let retired = matches!((now, o.retire_at), (Some(now), Some(at)) if now >= at);
                (o.calls, retired || o.lane.client.is_closed())
            }),
            self.depth,
            choice,
        )?;
        let o = &mut open[at];
        o.calls += 1;
        self.joined.fetch_add(1, Ordering::Relaxed);
        Some(Seat {
            lanes: self.clone(),
            lane: o.lane.clone(),
        })
    }

    /// Opens a lane on `object`, with the caller's seat on it.
    pub(crate) fn open(self: &Arc<Lanes>, object: Object) -> Seat {
        let retire_at = self
            .max_lifetime
            .and_then(|max| Object::metrics(&object).created.checked_add(max));
        let lane = Arc::new(object);
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Open {
                lane: lane.clone(),
                calls: 1,
                retire_at,
            });
        Seat {
            lanes: self.clone(),
            lane,
        }
    }
}

/// How a call picks its lane (see [`pick`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Choice {
    /// The busiest with fewer than `depth` calls.
    Room,
    /// The least busy, full or not (the pool has no connection left for a new lane).
    Crowd,
    /// The busiest, full or not (a caller waits for a connection: the others are left to drain).
    Drain,
}

/// Which of the lanes (their calls, and whether they take no more: closed or retired) a call joins, as
/// `choice` says; never one that takes no more.
fn pick(lanes: impl Iterator<Item = (usize, bool)>, depth: usize, choice: Choice) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, (calls, done)) in lanes.enumerate() {
        if done || (choice == Choice::Room && calls >= depth) {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, b)) if choice == Choice::Crowd => calls < b,
            Some((_, b)) => calls > b,
        };
        if better {
            best = Some((i, calls));
        }
    }
    best.map(|(i, _)| i)
}

impl Seat {
    /// The shared connection.
    pub(crate) fn conn(&self) -> &PgConn {
        &self.lane
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut open = self
            .lanes
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = open.iter().position(|o| Arc::ptr_eq(&o.lane, &self.lane)) {
            open[i].calls -= 1;
            if open[i].calls == 0 {
                // The connection goes back to the pool when the last `Arc` (this seat's) is dropped,
                // after the lock is released.
                drop(open.swap_remove(i));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Choice, pick};

    fn open(lanes: &[(usize, bool)], depth: usize, crowd: bool) -> Option<usize> {
        let choice = if crowd { Choice::Crowd } else { Choice::Room };
        pick(lanes.iter().copied(), depth, choice)
    }

    #[test]
    fn a_call_joins_the_busiest_lane_with_room() {
        assert_eq!(open(&[], 8, false), None);
        assert_eq!(
            open(&[(3, false), (5, false), (1, false)], 8, false),
            Some(1)
        );
        // Full lanes are passed over; with none left, a new lane is to be opened.
        assert_eq!(open(&[(8, false), (5, false)], 8, false), Some(1));
        assert_eq!(open(&[(8, false), (9, false)], 8, false), None);
    }

    #[test]
    fn a_crowded_call_takes_the_least_busy_lane() {
        assert_eq!(
            open(&[(8, false), (9, false), (8, false)], 8, true),
            Some(0)
        );
        assert_eq!(open(&[(12, false), (9, false)], 8, true), Some(1));
    }

    #[test]
    fn while_a_caller_waits_the_busiest_lane_takes_every_call() {
        let lanes = [(3, false), (9, false), (1, false), (12, true)];
        assert_eq!(pick(lanes.iter().copied(), 8, Choice::Drain), Some(1));
    }

    #[test]
    fn a_closed_or_retired_lane_is_never_joined() {
        assert_eq!(open(&[(7, true), (2, false)], 8, false), Some(1));
        assert_eq!(open(&[(1, true)], 8, true), None);
    }
}
