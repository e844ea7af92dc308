//! A client that counts the queries it forwards, to prove introspection runs a fixed number.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use dba_core::{
    Backend, Capabilities, DatabaseClient, Filter, Query, Result, Row, RowStream, Transaction,
    Value,
};

/// Forwards everything to `inner` and counts `query` calls.
pub(crate) struct Counting<'a> {
    pub(crate) inner: &'a dyn DatabaseClient,
    pub(crate) queries: AtomicUsize,
}

impl Counting<'_> {
    pub(crate) fn count(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl DatabaseClient for Counting<'_> {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn select(&self, table: &str, query: &Query) -> Result<Vec<Row>> {
        self.inner.select(table, query).await
    }
    async fn select_stream(&self, table: &str, query: &Query) -> Result<RowStream> {
        self.inner.select_stream(table, query).await
    }
    async fn count(&self, table: &str, filter: &Filter) -> Result<u64> {
        self.inner.count(table, filter).await
    }
    async fn insert(&self, table: &str, row: &Row) -> Result<Row> {
        self.inner.insert(table, row).await
    }
    async fn insert_many(&self, table: &str, rows: &[Row], returning: bool) -> Result<Vec<Row>> {
        self.inner.insert_many(table, rows, returning).await
    }
    async fn update(&self, table: &str, data: &Row, filter: &Filter) -> Result<Vec<Row>> {
        self.inner.update(table, data, filter).await
    }
    async fn upsert(&self, table: &str, row: &Row, on_conflict: &str) -> Result<Row> {
        self.inner.upsert(table, row, on_conflict).await
    }
    async fn upsert_many(
        &self,
        table: &str,
        rows: &[Row],
        on_conflict: &str,
        returning: bool,
    ) -> Result<Vec<Row>> {
        self.inner
            .upsert_many(table, rows, on_conflict, returning)
            .await
    }
    async fn delete(&self, table: &str, filter: &Filter) -> Result<u64> {
        self.inner.delete(table, filter).await
    }
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        self.inner.execute(sql, params).await
    }
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        self.inner.query(sql, params).await
    }
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        self.inner.begin().await
    }
    async fn test_connection(&self) -> Result<()> {
        self.inner.test_connection().await
    }
    async fn close(&self) {
        self.inner.close().await;
    }
}
