//! One `DatabaseClient` implementation, stamped out for the adapter and for transactions.
//!
//! Each type provides `handle()` (where a call runs), `shared_handle()` (where a call of one statement
//! runs: on the adapter, a connection it may share with other calls, see `crate::lanes`), `mode()`, `losses()` (where lost connections are
//! noted), `selects()` (the select statements kept by shape), `track()` (notes a lost connection; a transaction also notes a failed statement) and `write()`
//! (an atomic multi-statement write); everything else is shared in `ops`.

macro_rules! impl_database_client {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl dba_core::DatabaseClient for $ty {
            fn backend(&self) -> dba_core::Backend {
                dba_core::Backend::Postgres
            }

            fn capabilities(&self) -> dba_core::Capabilities {
                dba_core::Capabilities::FULL
            }

            async fn select(
                &self,
                table: &str,
                query: &dba_core::Query,
            ) -> dba_core::Result<Vec<dba_core::Row>> {
                let h = self.shared_handle().await?;
                self.track(
                    crate::ops::select(&h.conn(self.mode()), self.selects(), table, query).await,
                )
            }

            async fn select_stream(
                &self,
                table: &str,
                query: &dba_core::Query,
            ) -> dba_core::Result<dba_core::RowStream> {
                let h = self.handle().await?;
                let losses = self.losses().clone();
                self.track(crate::ops::select_stream(h, self.mode(), losses, table, query).await)
            }

            async fn select_json_stream(
                &self,
                table: &str,
                query: &dba_core::Query,
            ) -> dba_core::Result<dba_core::JsonStream> {
                let h = self.handle().await?;
                let losses = self.losses().clone();
                self.track(
                    crate::ops::select_json_stream(h, self.mode(), losses, table, query).await,
                )
            }

            async fn count(&self, table: &str, filter: &dba_core::Filter) -> dba_core::Result<u64> {
                let h = self.shared_handle().await?;
                self.track(crate::ops::count(&h.conn(self.mode()), table, filter).await)
            }

            async fn insert(
                &self,
                table: &str,
                row: &dba_core::Row,
            ) -> dba_core::Result<dba_core::Row> {
                let rows = self
                    .insert_many(table, std::slice::from_ref(row), true)
                    .await?;
                rows.into_iter().next().ok_or_else(|| {
                    dba_core::Error::new(
                        dba_core::ErrorKind::Decode,
                        format!("insert into {table} returned no row"),
                    )
                })
            }

            async fn insert_many(
                &self,
                table: &str,
                rows: &[dba_core::Row],
                returning: bool,
            ) -> dba_core::Result<Vec<dba_core::Row>> {
                let t = crate::ops::table(table)?;
                let back = if returning {
                    crate::sql::Returning::Row
                } else {
                    crate::sql::Returning::Nothing
                };
                let plan = crate::ops::write_plan(&t, rows, None, back)?;
                self.write(
                    &plan,
                    returning,
                    &format!("insert into {}", t.display_name()),
                )
                .await
            }

            async fn insert_parts(
                &self,
                table: &str,
                parts: &mut dba_core::PartStream,
            ) -> dba_core::Result<Option<u64>> {
                let h = self.handle().await?;
                self.track(crate::ops::insert_parts(&h.conn(self.mode()), table, parts).await)
            }

            async fn insert_many_keyed(
                &self,
                table: &str,
                rows: &[dba_core::Row],
                key: &str,
            ) -> dba_core::Result<Option<Vec<dba_core::Row>>> {
                let h = self.handle().await?;
                self.track(crate::ops::insert_keyed(&h.conn(self.mode()), table, rows, key).await)
            }

            async fn insert_many_returning(
                &self,
                table: &str,
                rows: &[dba_core::Row],
                columns: &str,
            ) -> dba_core::Result<Vec<dba_core::Row>> {
                let t = crate::ops::table(table)?;
                let back = crate::ops::returning_columns(columns)?;
                let plan =
                    crate::ops::write_plan(&t, rows, None, crate::sql::Returning::Columns(&back))?;
                self.write(&plan, true, &format!("insert into {}", t.display_name()))
                    .await
            }

            async fn update(
                &self,
                table: &str,
                data: &dba_core::Row,
                filter: &dba_core::Filter,
            ) -> dba_core::Result<Vec<dba_core::Row>> {
                let h = self.shared_handle().await?;
                self.track(crate::ops::update(&h.conn(self.mode()), table, data, filter).await)
            }

            async fn upsert(
                &self,
                table: &str,
                row: &dba_core::Row,
                on_conflict: &str,
            ) -> dba_core::Result<dba_core::Row> {
                let rows = self
                    .upsert_many(table, std::slice::from_ref(row), on_conflict, true)
                    .await?;
                rows.into_iter().next().ok_or_else(|| {
                    dba_core::Error::new(
                        dba_core::ErrorKind::Decode,
                        format!("upsert into {table} returned no row"),
                    )
                })
            }

            async fn upsert_many(
                &self,
                table: &str,
                rows: &[dba_core::Row],
                on_conflict: &str,
                returning: bool,
            ) -> dba_core::Result<Vec<dba_core::Row>> {
                let t = crate::ops::table(table)?;
                let keys = crate::ops::conflict_columns(on_conflict)?;
                let back = if returning {
                    crate::sql::Returning::Row
                } else {
                    crate::sql::Returning::Nothing
                };
                let plan = crate::ops::write_plan(&t, rows, Some(&keys), back)?;
                self.write(
                    &plan,
                    returning,
                    &format!("upsert into {}", t.display_name()),
                )
                .await
            }

            async fn delete(
                &self,
                table: &str,
                filter: &dba_core::Filter,
            ) -> dba_core::Result<u64> {
                let h = self.shared_handle().await?;
                self.track(crate::ops::delete(&h.conn(self.mode()), table, filter).await)
            }

            async fn execute(
                &self,
                sql: &str,
                params: &[dba_core::Value],
            ) -> dba_core::Result<u64> {
                let h = self.handle().await?;
                self.track(crate::ops::execute(&h.conn(self.mode()), sql, params).await)
            }

            async fn query(
                &self,
                sql: &str,
                params: &[dba_core::Value],
            ) -> dba_core::Result<Vec<dba_core::Row>> {
                let h = self.handle().await?;
                self.track(crate::ops::query(&h.conn(self.mode()), sql, params).await)
            }

            async fn begin(&self) -> dba_core::Result<Box<dyn dba_core::Transaction>> {
                Ok(Box::new(self.begin_transaction().await?))
            }

            async fn reader(&self) -> Option<dba_core::Reader> {
                self.read_route().await
            }

            async fn test_connection(&self) -> dba_core::Result<()> {
                let h = self.handle().await?;
                self.track(crate::ops::execute(&h.conn(self.mode()), "SELECT 1", &[]).await)
                    .map(drop)
            }

            async fn close(&self) {
                self.close_client();
            }
        }
    };
}

pub(crate) use impl_database_client;
