//! Declarative partitioning compared: a partitioned table's key, and each partition's parent and bounds.
//!
//! Keys and bounds are compared in the loose form of [`loose`]: PostgreSQL prints a key as
//! `pg_get_partkeydef` does (`RANGE (at)`) and bounds as `pg_get_expr(relpartbound, oid)` does
//! (`FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`), while schema.sql may add casts
//! (`'2024-01-01'::date`), quotes or other letter case. A partition's columns, keys and indexes are its
//! parent's, so they are not compared here: the parent's comparison covers them.

use std::fmt;

use super::Difference;
use crate::model::{Catalog, TableKind};
use crate::normalize::loose;

/// Adds the partitioning differences between `expected` and `actual` to `out`.
pub(super) fn compare(expected: &Catalog, actual: &Catalog, out: &mut Vec<Difference>) {
    for (key, want) in &expected.tables {
        let Some(have) = actual.tables.get(key) else {
            continue;
        };
        let want_key = want
            .partition_key
            .as_deref()
            .filter(|_| want.kind == TableKind::Partitioned);
        let have_key = have
            .partition_key
            .as_deref()
            .filter(|_| have.kind == TableKind::Partitioned);
        let same_key = match (want_key, have_key) {
            (Some(w), Some(h)) => loose(w) == loose(h),
            (None, None) => want.kind == have.kind,
            _ => false,
        };
        if !same_key {
            out.push(Difference::PartitionKey {
                table: key.clone(),
                expected: want_key.map(str::to_owned),
                actual: have_key.map(str::to_owned),
            });
        }
        if let Some(parent) = &want.partition_of {
            let bound = want.partition_bound.clone().unwrap_or_default();
            let same = have.partition_of.as_ref() == Some(parent)
                && have
                    .partition_bound
                    .as_deref()
                    .is_some_and(|b| loose(b) == loose(&bound));
            if !same {
                out.push(Difference::PartitionBound {
                    table: key.clone(),
                    expected_parent: parent.clone(),
                    expected: bound,
                    actual_parent: have.partition_of.clone(),
                    actual: have.partition_bound.clone(),
                });
            }
        }
    }
    for (key, have) in &actual.tables {
        let Some(parent) = &have.partition_of else {
            continue;
        };
        if expected.tables.contains_key(parent) && !expected.tables.contains_key(key) {
            out.push(Difference::ExtraPartition {
                table: key.clone(),
                parent: parent.clone(),
                bound: have.partition_bound.clone().unwrap_or_default(),
            });
        }
    }
}

/// The report line of a partitioning difference.
pub(super) fn describe(d: &Difference, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
    match d {
        Difference::PartitionKey {
            table,
            expected: Some(expected),
            actual: Some(actual),
        } => write!(
            f,
            "{table}: partitioned by {actual}, expected partitioned by {expected}"
        ),
        Difference::PartitionKey {
            table, expected, ..
        } => match expected {
            Some(e) => write!(
                f,
                "{table}: is not a partitioned table, expected partitioned by {e}"
            ),
            None => write!(
                f,
                "{table}: is a partitioned table, expected an ordinary table"
            ),
        },
        Difference::PartitionBound {
            table,
            expected_parent,
            expected,
            actual_parent,
            actual,
        } => match actual_parent {
            Some(p) if p == expected_parent => write!(
                f,
                "{table}: partition of {p} {}, expected {expected}",
                or_none(actual)
            ),
            Some(p) => write!(
                f,
                "{table}: is a partition of {p}, expected a partition of {expected_parent} {expected}"
            ),
            None => write!(
                f,
                "{table}: is not a partition, expected a partition of {expected_parent} {expected}"
            ),
        },
        Difference::ExtraPartition {
            table,
            parent,
            bound,
        } => write!(
            f,
            "{table}: partition of {parent} {bound} not in the expected schema"
        ),
        _ => Ok(()),
    }
}
