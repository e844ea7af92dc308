//! Compact structures for the keys a backup or restore keeps per row of a referenced table: a set of key
//! texts ([`KeySet`]) and a map from old key text to new id ([`IdMap`]).
//!
//! Keys are [`key_text`](crate::format::key_text) strings, and both structures answer exactly as a
//! `HashSet<String>` / `HashMap<String, _>` of those strings would. Integer keys, the common case, are
//! stored compactly: a key text that is the canonical spelling of an `i64` ([`int_key`]) goes into a
//! compressed bitmap, or into runs of consecutive old ids mapped to consecutive new ids; any other key
//! (text, uuid, a composite key's object, a number spelled `1.0` or `-0`) is kept as its text, which stays
//! distinct from every integer's canonical text.

use std::collections::{BTreeMap, HashMap, HashSet};

use roaring::RoaringTreemap;
use serde_json::{Number, Value};

use crate::engine::Mapped;

/// The integer a key text spells, when it is an `i64`'s canonical text (`0`, `-12`; not `-0`, `012`,
/// `+1`, `1.0` or `1e3`, which are other keys).
pub(crate) fn int_key(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = match digits.as_bytes() {
        [] => false,
        [b'0'] => digits.len() == text.len(),
        [first, rest @ ..] => {
            first.is_ascii_digit() && *first != b'0' && rest.iter().all(u8::is_ascii_digit)
        }
    };
    if canonical { text.parse().ok() } else { None }
}

/// `i64` to `u64`, keeping the order (the bitmap holds `u64`).
fn ordered(i: i64) -> u64 {
    i.cast_unsigned() ^ (1 << 63)
}

/// A set of key texts: canonical integers in a compressed bitmap (a few bytes per key, less for runs),
/// any other key as its text.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    ints: RoaringTreemap,
    other: HashSet<String>,
}

impl KeySet {
    /// Adds a key text.
    pub(crate) fn insert(&mut self, key: &str) {
        match int_key(key) {
            Some(i) => {
                self.ints.insert(ordered(i));
            }
            None => {
                if !self.other.contains(key) {
                    self.other.insert(key.to_owned());
                }
            }
        }
    }

    /// Whether the key text is in the set.
    pub(crate) fn contains(&self, key: &str) -> bool {
        match int_key(key) {
            Some(i) => self.ints.contains(ordered(i)),
            None => self.other.contains(key),
        }
    }
}

/// A run of old ids `old_start + i` mapped to new ids `new_start + i`, for `i < len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    new_start: i64,
    len: u64,
}

impl Run {
    /// The new id of the old id `offset` places after the run's start.
    fn new_at(&self, offset: u64) -> i64 {
        // offset < len, and the run's last new id is an i64, so this cannot overflow.
        self.new_start.wrapping_add_unsigned(offset)
    }
}

/// Old primary key (as key text) to new id, for one table.
///
/// A restore in key order into a table whose ids come from a sequence maps consecutive old ids to
/// consecutive new ids: such mappings are kept as runs `(old_start, new_start, len)`, extended while they
/// continue, so a million rows can cost a few runs instead of a million entries. Integer keys whose new id
/// is pending (a dry run) are a bitmap; every other mapping is kept by its text. A key remembered again
/// replaces its earlier mapping, as a hash map's insert does.
#[derive(Debug, Default)]
pub(crate) struct IdMap {
    /// Keyed by old start; runs never overlap.
    runs: BTreeMap<i64, Run>,
    pending: RoaringTreemap,
    other: HashMap<String, Mapped>,
}

impl IdMap {
    /// Maps the old key text `old` to `new`.
    pub(crate) fn insert(&mut self, old: &str, new: Mapped) {
        let Some(o) = int_key(old) else {
            self.other.insert(old.to_owned(), new);
            return;
        };
        self.remove_int(o, old);
        let new_id = match &new {
            Mapped::Known(Value::Number(n)) => int_key(n.as_str()),
            _ => None,
        };
        match (new_id, new) {
            (Some(n), _) => self.insert_run(o, n),
            (None, Mapped::Pending) => {
                self.pending.insert(ordered(o));
            }
            (None, known) => {
                self.other.insert(old.to_owned(), known);
            }
        }
    }

    /// The new id of the old key text `old`.
    pub(crate) fn get(&self, old: &str) -> Option<Mapped> {
        if let Some(o) = int_key(old) {
            if let Some((start, run)) = self.runs.range(..=o).next_back() {
                let offset = o.abs_diff(*start);
                if offset < run.len {
                    return Some(Mapped::Known(Value::Number(Number::from(
                        run.new_at(offset),
                    ))));
                }
            }
            if self.pending.contains(ordered(o)) {
                return Some(Mapped::Pending);
            }
        }
        self.other.get(old).cloned()
    }

    /// Forgets the integer key `o` (spelled `text`) wherever it is kept.
    fn remove_int(&mut self, o: i64, text: &str) {
        if !self.other.is_empty() {
            self.other.remove(text);
        }
        if !self.pending.is_empty() {
            self.pending.remove(ordered(o));
        }
        let Some((&start, &run)) = self.runs.range(..=o).next_back() else {
            return;
        };
        let offset = o.abs_diff(start);
        if offset >= run.len {
            return;
        }
        // Split the run around `o`.
        self.runs.remove(&start);
        if offset > 0 {
            self.runs.insert(
                start,
                Run {
                    new_start: run.new_start,
                    len: offset,
                },
            );
        }
        if offset + 1 < run.len {
            // o < the run's last old id, so o + 1 and its new id are in range.
            self.runs.insert(
                o.wrapping_add(1),
                Run {
                    new_start: run.new_at(offset + 1),
                    len: run.len - offset - 1,
                },
            );
        }
    }

    /// Adds `o → n` (with `o` in no run), extending or joining the runs beside it.
    fn insert_run(&mut self, o: i64, n: i64) {
        let before = self
            .runs
            .range(..o)
            .next_back()
            .filter(|(start, run)| {
                start.checked_add_unsigned(run.len) == Some(o)
                    && run.new_start.checked_add_unsigned(run.len) == Some(n)
            })
            .map(|(start, _)| *start);
        let after = o.checked_add(1).and_then(|next| {
            self.runs
                .get(&next)
                .filter(|run| n.checked_add(1) == Some(run.new_start))
                .map(|run| (next, run.len))
        });
        match (before, after) {
            (Some(start), Some((next, len))) => {
                self.runs.remove(&next);
                if let Some(run) = self.runs.get_mut(&start) {
                    run.len += 1 + len;
                }
            }
            (Some(start), None) => {
                if let Some(run) = self.runs.get_mut(&start) {
                    run.len += 1;
                }
            }
            (None, Some((next, len))) => {
                self.runs.remove(&next);
                self.runs.insert(
                    o,
                    Run {
                        new_start: n,
                        len: len + 1,
                    },
                );
            }
            (None, None) => {
                self.runs.insert(
                    o,
                    Run {
                        new_start: n,
                        len: 1,
                    },
                );
            }
        }
    }

    /// How many runs the integer mappings take (for tests).
    #[cfg(test)]
    fn run_count(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests;
