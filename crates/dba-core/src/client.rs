//! The client trait every backend implements, usable as `dyn DatabaseClient`.

use std::pin::Pin;

use async_trait::async_trait;
use futures_core::Stream;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::filter::Filter;
use crate::query::Query;
use crate::row::Row;

/// A stream of rows that owns whatever it reads from (a pooled connection, a page cursor).
pub type RowStream = Pin<Box<dyn Stream<Item = Result<Row>> + Send + 'static>>;

/// The parts of a bulk insert, each a batch of rows, as the caller produces them (see
/// [`DatabaseClient::insert_parts`]). Shared, so the caller keeps them to write another way if the bulk
/// insert fails.
pub type PartStream = dyn Stream<Item = std::sync::Arc<Vec<Row>>> + Send + Unpin;

/// A stream of rows as JSON object text (see [`DatabaseClient::select_json_stream`]).
pub type JsonStream = Pin<Box<dyn Stream<Item = Result<String>> + Send + 'static>>;

/// Encodes each row of a [`RowStream`] as JSON text: the default [`DatabaseClient::select_json_stream`].
struct EncodeRows(RowStream);

impl Stream for EncodeRows {
    type Item = Result<String>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<String>>> {
        self.0.as_mut().poll_next(cx).map(|next| {
            next.map(|row| {
                row.and_then(|row| {
                    serde_json::to_string(&row)
                        .map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))
                })
            })
        })
    }
}

/// Which kind of backend a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// A direct PostgreSQL connection (possibly through a pooler).
    Postgres,
    /// Supabase's REST API (PostgREST).
    Supabase,
}

/// What a backend can do, so callers choose their path up front instead of catching errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`DatabaseClient::begin`] works.
    pub transactions: bool,
    /// [`DatabaseClient::execute`] and [`DatabaseClient::query`] work.
    pub raw_sql: bool,
}

impl Capabilities {
    /// A backend with transactions and raw SQL.
    pub const FULL: Capabilities = Capabilities {
        transactions: true,
        raw_sql: true,
    };
    /// A backend with neither (a REST API).
    pub const REST: Capabilities = Capabilities {
        transactions: false,
        raw_sql: false,
    };
}

/// Async CRUD over JSON rows.
///
/// Table names and column lists are parsed as PostgreSQL reads them (`items`, `public.items`, `"Mixed"`,
/// `"id, slug"`); row keys and filter columns are exact column names. Every name is rendered quoted and every value is
/// bound, never spliced into SQL. Keys starting with `_` are dropped from written rows.
///
/// A [`Transaction`] is itself a client, so code written against this trait runs inside one unchanged.
#[async_trait]
pub trait DatabaseClient: Send + Sync {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// What this backend supports.
    fn capabilities(&self) -> Capabilities;

    /// Rows of `table` matching `query`.
    async fn select(&self, table: &str, query: &Query) -> Result<Vec<Row>>;

    /// The first row matching `query`, if any.
    async fn select_one(&self, table: &str, query: &Query) -> Result<Option<Row>> {
        let query = query.clone().limit(1);
        Ok(self.select(table, &query).await?.into_iter().next())
    }

    /// Rows of `table` matching `query`, streamed with memory bounded whatever the row count.
    async fn select_stream(&self, table: &str, query: &Query) -> Result<RowStream>;

    /// [`select_stream`](DatabaseClient::select_stream) with each row as the JSON object text the backend
    /// produced, for callers that copy rows without looking inside them (backups). The content is the same
    /// as the parsed rows'; the default encodes them.
    async fn select_json_stream(&self, table: &str, query: &Query) -> Result<JsonStream> {
        Ok(Box::pin(EncodeRows(
            self.select_stream(table, query).await?,
        )))
    }

    /// How many rows of `table` match `filter` (exact).
    async fn count(&self, table: &str, filter: &Filter) -> Result<u64>;

    /// Inserts one row and returns it as stored (defaults and generated values filled in).
    async fn insert(&self, table: &str, row: &Row) -> Result<Row>;

    /// Inserts `rows` in as few statements as possible, atomically. Returns the stored rows when
    /// `returning` is true, otherwise an empty vector.
    async fn insert_many(&self, table: &str, rows: &[Row], returning: bool) -> Result<Vec<Row>>;

    /// [`insert_many`](DatabaseClient::insert_many) returning only `columns` of each stored row (a list
    /// such as `"id"`), for callers that need the generated keys and not the whole row. The default
    /// returns whole rows and keeps the listed columns.
    async fn insert_many_returning(
        &self,
        table: &str,
        rows: &[Row],
        columns: &str,
    ) -> Result<Vec<Row>> {
        let wanted = match crate::query::Columns::parse(columns)? {
            crate::query::Columns::List(list) => list,
            crate::query::Columns::All => return self.insert_many(table, rows, true).await,
        };
        let stored = self.insert_many(table, rows, true).await?;
        Ok(stored
            .into_iter()
            .map(|row| {
                wanted
                    .iter()
                    .filter_map(|c| {
                        row.get(c.as_str())
                            .map(|v| (c.as_str().to_owned(), v.clone()))
                    })
                    .collect()
            })
            .collect())
    }

    /// [`insert_many_returning`](DatabaseClient::insert_many_returning) of `key` (one column, such as
    /// `"id"`) for rows that do not name it, each row's key drawn from the sequence the column's default
    /// draws from, as the insert would draw it. Returns the keys in the rows' order, or `Ok(None)` when
    /// this client cannot write the rows that way (the default; on PostgreSQL too few rows, a key without
    /// a sequence of its own, a trigger that could change a row before it is stored, or a table `COPY`
    /// would not write as `INSERT` does): nothing was then stored. On PostgreSQL the keys are drawn with one
    /// statement and the rows sent with one `COPY`, which costs the server less than the `INSERT … RETURNING`.
    /// An error may leave keys drawn and not used, as a failed insert does.
    async fn insert_many_keyed(
        &self,
        table: &str,
        rows: &[Row],
        key: &str,
    ) -> Result<Option<Vec<Row>>> {
        let _ = (table, rows, key);
        Ok(None)
    }

    /// Inserts the rows of every part `parts` yields as one bulk write that stays open between the parts,
    /// returning how many were stored: on PostgreSQL one `COPY`, so the server stores rows while the caller
    /// is still producing the next part, with no round trip between parts (binary format while every
    /// value has an exact binary form; at the first that does not, that `COPY` is finished and the rest
    /// go by a second one in text format). Every row of every part has the columns of the first row.
    ///
    /// `Ok(None)` when this client cannot take the rows that way (the default, and a table `COPY` would
    /// not write as `INSERT` does): nothing was stored, though parts may have been taken from `parts`. An
    /// error may leave some rows stored, so run it in a transaction or savepoint and roll that back when it
    /// fails; the parts can then be written another way.
    async fn insert_parts(&self, table: &str, parts: &mut PartStream) -> Result<Option<u64>> {
        let _ = (table, parts);
        Ok(None)
    }

    /// Sets the columns of `data` on every row matching `filter` and returns the updated rows. An empty
    /// filter is refused unless it is [`Filter::all_rows`].
    async fn update(&self, table: &str, data: &Row, filter: &Filter) -> Result<Vec<Row>>;

    /// The Python original's `update`: the first updated row, or an error of kind
    /// [`ErrorKind::NoRowsMatched`] when nothing matched.
    async fn update_first(&self, table: &str, data: &Row, filter: &Filter) -> Result<Row> {
        let rows = self.update(table, data, filter).await?;
        rows.into_iter().next().ok_or_else(|| {
            Error::new(
                ErrorKind::NoRowsMatched,
                format!("update of {table}: no rows matched filters {filter:?}"),
            )
        })
    }

    /// Inserts `row`, or updates the existing row that conflicts on `on_conflict`, a column list such as
    /// `"id"` or `"user_id, slug"` (read like [`Columns::parse`](crate::Columns::parse)); returns the row.
    async fn upsert(&self, table: &str, row: &Row, on_conflict: &str) -> Result<Row>;

    /// [`upsert`](DatabaseClient::upsert) for many rows in as few statements as possible, atomically.
    async fn upsert_many(
        &self,
        table: &str,
        rows: &[Row],
        on_conflict: &str,
        returning: bool,
    ) -> Result<Vec<Row>>;

    /// Deletes the rows matching `filter` and returns how many went. An empty filter is refused unless it
    /// is [`Filter::all_rows`].
    async fn delete(&self, table: &str, filter: &Filter) -> Result<u64>;

    /// Runs raw SQL and returns the number of rows affected. With no parameters the text may hold several
    /// statements (a script); with parameters (`$1`, `$2`, … bound as text) it is one statement.
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs one raw SQL statement that returns rows (a SELECT, or a write with RETURNING) and returns them
    /// as JSON rows.
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;

    /// Starts a transaction (a savepoint when called on a transaction).
    async fn begin(&self) -> Result<Box<dyn Transaction>>;

    /// Starts a read-only transaction in which every read sees one snapshot of the whole database
    /// (`REPEATABLE READ, READ ONLY`), for a consistent read of several tables (a backup). Needs
    /// transactions and raw SQL ([`Capabilities::FULL`]); the default begins a transaction and sets its mode.
    /// On a [`Reader`](crate::Reader) it runs where the reader's reads run.
    async fn begin_snapshot(&self) -> Result<Box<dyn Transaction>> {
        let tx = self.begin().await?;
        tx.execute(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            &[],
        )
        .await?;
        Ok(tx)
    }

    /// A client for reads that need no fresh write (selects, counts, streamed selects, backups,
    /// introspection), asked for explicitly: the standby when one is configured and keeps up, the primary
    /// with a [fallback](crate::Reader::fallback) reason when it does not. `None` when this client has no
    /// standby (the default): read from the client itself. Never fails: a missing standby only moves the
    /// reads to the primary.
    async fn reader(&self) -> Option<crate::Reader> {
        None
    }

    /// Proves the database answers.
    async fn test_connection(&self) -> Result<()>;

    /// Releases the client's connections; later calls fail with [`ErrorKind::Connection`].
    async fn close(&self);
}

/// A transaction: a client whose writes become visible on [`commit`](Transaction::commit).
///
/// Dropping it uncommitted rolls it back. Calling [`DatabaseClient::begin`] on it opens a nested
/// transaction (a savepoint).
#[async_trait]
pub trait Transaction: DatabaseClient {
    /// Makes the writes permanent. Fails with [`ErrorKind::TransactionAborted`] if an earlier statement
    /// failed and was not rolled back to a savepoint: the database has then discarded the work.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Discards the writes.
    async fn rollback(self: Box<Self>) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use mockall::mock;
    use serde_json::json;

    use super::*;

    mock! {
        Client {}
        #[async_trait]
        impl DatabaseClient for Client {
            fn backend(&self) -> Backend;
            fn capabilities(&self) -> Capabilities;
            async fn select(&self, table: &str, query: &Query) -> Result<Vec<Row>>;
            async fn select_stream(&self, table: &str, query: &Query) -> Result<RowStream>;
            async fn count(&self, table: &str, filter: &Filter) -> Result<u64>;
            async fn insert(&self, table: &str, row: &Row) -> Result<Row>;
            async fn insert_many(&self, table: &str, rows: &[Row], returning: bool) -> Result<Vec<Row>>;
            async fn update(&self, table: &str, data: &Row, filter: &Filter) -> Result<Vec<Row>>;
            async fn upsert(&self, table: &str, row: &Row, on_conflict: &str) -> Result<Row>;
            async fn upsert_many(&self, table: &str, rows: &[Row], on_conflict: &str, returning: bool) -> Result<Vec<Row>>;
            async fn delete(&self, table: &str, filter: &Filter) -> Result<u64>;
            async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64>;
            async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
            async fn begin(&self) -> Result<Box<dyn Transaction>>;
            async fn test_connection(&self) -> Result<()>;
            async fn close(&self);
        }
    }

    #[tokio::test]
    async fn update_first_reports_no_rows_matched() {
        let mut client = MockClient::new();
        client.expect_update().returning(|_, _, _| Ok(Vec::new()));
        let data = json!({"name": "x"}).as_object().cloned().unwrap();
        let err = client
            .update_first("items", &data, &Filter::new().eq("id", 7))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoRowsMatched);
        assert!(
            err.to_string()
                .starts_with("no rows matched: update of items: no rows matched filters"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn select_one_asks_for_one_row() {
        let mut client = MockClient::new();
        client
            .expect_select()
            .withf(|_, q| q.limit == Some(1))
            .returning(|_, _| Ok(vec![Row::new()]));
        assert!(
            client
                .select_one("items", &Query::new())
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_client_without_a_standby_has_no_reader() {
        assert!(MockClient::new().reader().await.is_none());
    }

    #[test]
    fn the_trait_is_object_safe() {
        fn takes(_: &dyn DatabaseClient) {}
        takes(&MockClient::new());
    }
}
