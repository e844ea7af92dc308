//! A read-only standby beside the primary: the check that decides whether a reader may use it, and the
//! client that sends a reader's reads there and everything else to the primary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dba_core::{
    Backend, Capabilities, DatabaseClient, Filter, JsonStream, Query, ReadTarget, Reader, Result,
    Row, RowStream, Transaction, Value,
};

use crate::adapter::PostgresAdapter;

/// The longest a reader waits for a standby that is behind the primary's WAL, but whose last replayed
/// transaction is older than the lag allowed, to catch up (it never waits longer than the lag allowed).
const CATCH_UP_WAIT: Duration = Duration::from_secs(1);

/// How often the standby is asked again while waiting for it to catch up.
const CATCH_UP_POLL: Duration = Duration::from_millis(50);

/// The standby of an adapter and how far it may lag.
pub(crate) struct Standby {
    pub(crate) adapter: PostgresAdapter,
    pub(crate) max_lag: Duration,
}

/// What the standby reported.
struct StandbyState {
    in_recovery: bool,
    replay_lsn: Option<u64>,
    /// Seconds since the commit of the last transaction it replayed, on its own clock.
    replay_age: Option<f64>,
}

/// Decides where `primary`'s reader reads (see [`PostgresAdapter::with_standby`] for the rule).
pub(crate) async fn reader(primary: &PostgresAdapter, standby: &Arc<Standby>) -> Reader {
    match usable(primary, standby).await {
        Ok(()) => Reader::new(
            Box::new(StandbyReads {
                primary: primary.clone(),
                standby: standby.adapter.clone(),
            }),
            ReadTarget::Standby,
            standby.adapter.display().to_owned(),
            None,
        ),
        Err(reason) => Reader::new(
            Box::new(primary.clone()),
            ReadTarget::Primary,
            primary.display().to_owned(),
            Some(format!("{reason}; reading from the primary")),
        ),
    }
}

/// `Ok` when the standby answers, is in recovery, and is at most `max_lag` behind; otherwise why not.
async fn usable(primary: &PostgresAdapter, standby: &Standby) -> std::result::Result<(), String> {
    let server = standby.adapter.display();
    // The primary's position first: the standby is fresh enough when it has replayed up to it.
    let primary_lsn = primary_lsn(primary).await;
    let state = state_of(&standby.adapter)
        .await
        .map_err(|e| format!("the standby {server} cannot be used: {e}"))?;
    if !state.in_recovery {
        return Err(format!(
            "{server} (read_url) is not a standby: pg_is_in_recovery() is false"
        ));
    }
    let max = standby.max_lag.as_secs_f64();
    let caught_up = |lsn: Option<u64>| matches!((lsn, primary_lsn), (Some(s), Some(p)) if s >= p);
    if caught_up(state.replay_lsn) || state.replay_age.is_some_and(|age| age <= max) {
        return Ok(());
    }
    // Behind the primary's WAL, and the last replayed commit is old: either replay is stuck, or the primary
    // was idle and has only just written. A streaming standby catches up within moments in the second case.
    if primary_lsn.is_some() {
        let wait = CATCH_UP_WAIT.min(standby.max_lag);
        let start = Instant::now();
        while start.elapsed() < wait {
            tokio::time::sleep(CATCH_UP_POLL).await;
            match state_of(&standby.adapter).await {
                Ok(now) if caught_up(now.replay_lsn) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(format!("the standby {server} cannot be used: {e}")),
            }
        }
    }
    let age = match state.replay_age {
        Some(age) => format!("its last replayed transaction committed {age:.1} s ago"),
        None => "it has replayed no transaction since it started".to_owned(),
    };
    Err(format!(
        "the standby {server} lags behind the primary: {age} and it has not replayed the primary's \
         latest WAL (max_replica_lag {} s)",
        trim_secs(standby.max_lag)
    ))
}

async fn state_of(standby: &PostgresAdapter) -> Result<StandbyState> {
    let rows = DatabaseClient::query(
        standby,
        "SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replay_lsn, \
         extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age",
        &[],
    )
    .await?;
    let row = rows.into_iter().next().unwrap_or_default();
    Ok(StandbyState {
        in_recovery: row.get("in_recovery").and_then(Value::as_bool) == Some(true),
        replay_lsn: row
            .get("replay_lsn")
            .and_then(Value::as_str)
            .and_then(parse_lsn),
        replay_age: row.get("replay_age").and_then(Value::as_f64),
    })
}

/// The primary's WAL flush position (what it can send to a standby), or `None` when it cannot say.
async fn primary_lsn(primary: &PostgresAdapter) -> Option<u64> {
    let rows = DatabaseClient::query(
        primary,
        "SELECT pg_current_wal_flush_lsn()::text AS lsn",
        &[],
    )
    .await
    .ok()?;
    rows.first()?
        .get("lsn")
        .and_then(Value::as_str)
        .and_then(parse_lsn)
}

/// Parses a `pg_lsn` text (`16/B374D848`) into its 64-bit position.
fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    (hi <= u64::from(u32::MAX) && lo <= u64::from(u32::MAX)).then_some((hi << 32) | lo)
}

fn trim_secs(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A reader on a healthy standby: reads there, writes and transactions on the primary.
struct StandbyReads {
    primary: PostgresAdapter,
    standby: PostgresAdapter,
}

#[async_trait]
impl DatabaseClient for StandbyReads {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::FULL
    }

    async fn select(&self, table: &str, query: &Query) -> Result<Vec<Row>> {
        self.standby.select(table, query).await
    }

    async fn select_one(&self, table: &str, query: &Query) -> Result<Option<Row>> {
        self.standby.select_one(table, query).await
    }

    async fn select_stream(&self, table: &str, query: &Query) -> Result<RowStream> {
        self.standby.select_stream(table, query).await
    }

    async fn select_json_stream(&self, table: &str, query: &Query) -> Result<JsonStream> {
        self.standby.select_json_stream(table, query).await
    }

    async fn count(&self, table: &str, filter: &Filter) -> Result<u64> {
        self.standby.count(table, filter).await
    }

    async fn insert(&self, table: &str, row: &Row) -> Result<Row> {
        self.primary.insert(table, row).await
    }

    async fn insert_many(&self, table: &str, rows: &[Row], returning: bool) -> Result<Vec<Row>> {
        self.primary.insert_many(table, rows, returning).await
    }

    async fn insert_many_returning(
        &self,
        table: &str,
        rows: &[Row],
        columns: &str,
    ) -> Result<Vec<Row>> {
        self.primary
            .insert_many_returning(table, rows, columns)
            .await
    }

    async fn insert_many_keyed(
        &self,
        table: &str,
        rows: &[Row],
        key: &str,
    ) -> Result<Option<Vec<Row>>> {
        self.primary.insert_many_keyed(table, rows, key).await
    }

    async fn insert_parts(
        &self,
        table: &str,
        parts: &mut dba_core::PartStream,
    ) -> Result<Option<u64>> {
        self.primary.insert_parts(table, parts).await
    }

    async fn update(&self, table: &str, data: &Row, filter: &Filter) -> Result<Vec<Row>> {
        self.primary.update(table, data, filter).await
    }

    async fn update_first(&self, table: &str, data: &Row, filter: &Filter) -> Result<Row> {
        self.primary.update_first(table, data, filter).await
    }

    async fn upsert(&self, table: &str, row: &Row, on_conflict: &str) -> Result<Row> {
        self.primary.upsert(table, row, on_conflict).await
    }

    async fn upsert_many(
        &self,
        table: &str,
        rows: &[Row],
        on_conflict: &str,
        returning: bool,
    ) -> Result<Vec<Row>> {
        self.primary
            .upsert_many(table, rows, on_conflict, returning)
            .await
    }

    async fn delete(&self, table: &str, filter: &Filter) -> Result<u64> {
        self.primary.delete(table, filter).await
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        self.primary.execute(sql, params).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.standby.query(sql, params).await
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        self.primary.begin().await
    }

    async fn begin_snapshot(&self) -> Result<Box<dyn Transaction>> {
        self.standby.begin_snapshot().await
    }

    async fn test_connection(&self) -> Result<()> {
        self.standby.test_connection().await
    }

    /// Does nothing: the reader shares the adapter's pools, which [`PostgresAdapter`]'s own `close`
    /// releases.
    async fn close(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_parse_as_postgres_orders_them() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert!(parse_lsn("1/0") > parse_lsn("0/FFFFFFFF"));
        assert_eq!(parse_lsn("nonsense"), None);
        assert_eq!(parse_lsn("1/2/3"), None);
        assert_eq!(parse_lsn("100000000/0"), None);
    }

    #[test]
    fn lag_limits_print_without_trailing_zeros() {
        assert_eq!(trim_secs(Duration::from_secs(30)), "30");
        assert_eq!(trim_secs(Duration::from_millis(1500)), "1.5");
    }
}
