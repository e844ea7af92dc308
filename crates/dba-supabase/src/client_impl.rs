//! The client trait over PostgREST: one request per call, except reads, which page.

use async_trait::async_trait;
use dba_core::{
    Backend, Capabilities, Columns, DatabaseClient, Error, ErrorKind, Filter, Ident, Query, Result,
    Row, RowStream, TableName, Transaction, Value, strip_private_keys,
};
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::adapter::{self, Extra, SupabaseAdapter};
use crate::paging::Pager;
use crate::render;

/// The backend's name in unsupported-operation errors.
const BACKEND: &str = "Supabase";

fn table(name: &str) -> Result<TableName> {
    TableName::parse(name)
        .map_err(|e| Error::invalid_input(format!("table name {name:?}: {}", e.message())))
}

/// Parses an `on_conflict` column list; it must name at least one column.
fn conflict_columns(on_conflict: &str) -> Result<Vec<Ident>> {
    match Columns::parse(on_conflict) {
        Ok(Columns::List(list)) => Ok(list),
        Ok(Columns::All) => Err(Error::invalid_input(
            "on_conflict must name columns, not `*`",
        )),
        Err(e) => Err(Error::invalid_input(format!(
            "on_conflict {on_conflict:?}: {}",
            e.message()
        ))),
    }
}

/// The written columns of `rows` (keys not starting with `_`), in first-seen order, each checked.
fn union_columns(rows: &[Row]) -> Result<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for key in row.keys().filter(|k| !k.starts_with('_')) {
            if !columns.iter().any(|c| c == key) {
                Ident::exact(key)?;
                columns.push(key.clone());
            }
        }
    }
    Ok(columns)
}

fn body(rows: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(rows).map_err(|e| Error::invalid_input(e.to_string()))
}

impl SupabaseAdapter {
    /// A read request for `query` on `t` without paging; `None` when the filter can match nothing.
    fn read_builder(&self, t: &TableName, query: &Query) -> Result<Option<postgrest::Builder>> {
        query.validate()?;
        let filter = render::filter(&query.filter)?;
        if filter.matches_nothing || query.limit == Some(0) {
            return Ok(None);
        }
        let mut builder = self.builder(t)?.select(render::select_list(&query.columns));
        if let Some(order) = render::order(&query.order) {
            builder = builder.order(order);
        }
        Ok(Some(filter.apply(builder)))
    }

    fn pager(&self, t: &TableName, query: &Query) -> Result<Option<Pager>> {
        let Some(base) = self.read_builder(t, query)? else {
            return Ok(None);
        };
        let what = format!("select from {}", t.display_name());
        Ok(Some(Pager::new(
            self.clone(),
            base,
            what,
            query.offset,
            query.limit,
        )))
    }

    /// Inserts or upserts one group of rows in one request.
    async fn post(
        &self,
        t: &TableName,
        rows: &[Row],
        on_conflict: Option<&[Ident]>,
        returning: bool,
    ) -> Result<Vec<Row>> {
        let columns = union_columns(rows)?;
        let clean: Vec<Row> = rows.iter().map(strip_private_keys).collect();
        let mut prefer = vec![if returning {
            "return=representation"
        } else {
            "return=minimal"
        }];
        let builder = match on_conflict {
            Some(keys) => {
                prefer.push("resolution=merge-duplicates");
                self.builder(t)?
                    .upsert(body(&clean)?)
                    .on_conflict(render::ident_list(keys.iter().map(Ident::as_str)))
            }
            None => self.builder(t)?.insert(body(&clean)?),
        };
        let mut query = Vec::new();
        if !columns.is_empty() {
            // `columns` makes PostgREST insert exactly these keys; `missing=default` gives a key a row
            // lacks its column default rather than NULL, as the Postgres backend does.
            query.push((
                "columns",
                render::ident_list(columns.iter().map(String::as_str)),
            ));
            prefer.push("missing=default");
        }
        let prefer = prefer.join(",");
        let response = self
            .send(
                builder,
                Extra {
                    query: &query,
                    prefer: Some(&prefer),
                    head: false,
                },
            )
            .await?;
        if returning {
            adapter::rows(response, self.timeout()).await
        } else {
            Ok(Vec::new())
        }
    }
}

#[async_trait]
impl DatabaseClient for SupabaseAdapter {
    fn backend(&self) -> Backend {
        Backend::Supabase
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::REST
    }

    async fn select(&self, table_name: &str, query: &Query) -> Result<Vec<Row>> {
        let t = table(table_name)?;
        let Some(mut pager) = self.pager(&t, query)? else {
            self.check_open()?;
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        while let Some(rows) = pager.next_page().await? {
            out.extend(rows);
        }
        Ok(out)
    }

    async fn select_stream(&self, table_name: &str, query: &Query) -> Result<RowStream> {
        let t = table(table_name)?;
        let Some(mut pager) = self.pager(&t, query)? else {
            self.check_open()?;
            return Ok(Box::pin(stream::empty()));
        };
        // The first page is read now, so a missing table or a refused key fails here, as on Postgres.
        let first = pager.next_page().await?.unwrap_or_default();
        let rest = stream::try_unfold(pager, |mut pager| async move {
            Ok(pager.next_page().await?.map(|rows| (rows, pager)))
        });
        let pages = stream::once(async move { Ok(first) }).chain(rest);
        let rows = pages
            .map_ok(|rows| stream::iter(rows.into_iter().map(Ok)))
            .try_flatten();
        Ok(Box::pin(rows))
    }

    async fn count(&self, table_name: &str, filter: &Filter) -> Result<u64> {
        let t = table(table_name)?;
        let rendered = render::filter(filter)?;
        self.check_open()?;
        if rendered.matches_nothing {
            return Ok(0);
        }
        let builder = rendered.apply(self.builder(&t)?.select("*"));
        let what = format!("count {}", t.display_name());
        let response = self
            .send(
                builder,
                Extra {
                    query: &[("limit", "1".to_owned())],
                    prefer: Some("count=exact"),
                    head: true,
                },
            )
            .await
            .map_err(|e| e.context(&what))?;
        adapter::content_range_total(&response).ok_or_else(|| {
            Error::new(
                ErrorKind::Decode,
                format!("{what}: PostgREST sent no total in Content-Range"),
            )
        })
    }

    async fn insert(&self, table_name: &str, row: &Row) -> Result<Row> {
        let rows = self
            .insert_many(table_name, std::slice::from_ref(row), true)
            .await?;
        rows.into_iter().next().ok_or_else(|| {
            Error::new(
                ErrorKind::Decode,
                format!("insert into {table_name} returned no row"),
            )
        })
    }

    async fn insert_many(
        &self,
        table_name: &str,
        rows: &[Row],
        returning: bool,
    ) -> Result<Vec<Row>> {
        let t = table(table_name)?;
        self.check_open()?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.post(&t, rows, None, returning)
            .await
            .map_err(|e| e.context(format!("insert into {}", t.display_name())))
    }

    async fn update(&self, table_name: &str, data: &Row, filter: &Filter) -> Result<Vec<Row>> {
        let t = table(table_name)?;
        let what = format!("update of {}", t.display_name());
        filter.check_write(&what)?;
        let data = strip_private_keys(data);
        if data.is_empty() {
            return Err(Error::invalid_input(format!("{what}: no columns to set")));
        }
        for key in data.keys() {
            Ident::exact(key)?;
        }
        let rendered = render::filter(filter)?;
        self.check_open()?;
        if rendered.matches_nothing {
            return Ok(Vec::new());
        }
        let builder = rendered.apply(self.builder(&t)?.update(body(&data)?));
        let response = self
            .send(
                builder,
                Extra {
                    prefer: Some("return=representation"),
                    ..Extra::default()
                },
            )
            .await
            .map_err(|e| e.context(&what))?;
        adapter::rows(response, self.timeout()).await
    }

    async fn upsert(&self, table_name: &str, row: &Row, on_conflict: &str) -> Result<Row> {
        let rows = self
            .upsert_many(table_name, std::slice::from_ref(row), on_conflict, true)
            .await?;
        rows.into_iter().next().ok_or_else(|| {
            Error::new(
                ErrorKind::Decode,
                format!("upsert into {table_name} returned no row"),
            )
        })
    }

    async fn upsert_many(
        &self,
        table_name: &str,
        rows: &[Row],
        on_conflict: &str,
        returning: bool,
    ) -> Result<Vec<Row>> {
        let t = table(table_name)?;
        let keys = conflict_columns(on_conflict)?;
        self.check_open()?;
        let what = format!("upsert into {}", t.display_name());
        // Rows with the same keys go in one request, so a row updates only the columns it has (as on
        // Postgres); consecutive groups keep the caller's order.
        let mut out = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let columns = union_columns(&rows[start..=start])?;
            let mut end = start + 1;
            while end < rows.len() && union_columns(&rows[end..=end])? == columns {
                end += 1;
            }
            let group = self
                .post(&t, &rows[start..end], Some(&keys), returning)
                .await
                .map_err(|e| e.context(&what))?;
            out.extend(group);
            start = end;
        }
        Ok(out)
    }

    async fn delete(&self, table_name: &str, filter: &Filter) -> Result<u64> {
        let t = table(table_name)?;
        let what = format!("delete from {}", t.display_name());
        filter.check_write(&what)?;
        let rendered = render::filter(filter)?;
        self.check_open()?;
        if rendered.matches_nothing {
            return Ok(0);
        }
        let builder = rendered.apply(self.builder(&t)?.delete());
        let response = self
            .send(
                builder,
                Extra {
                    prefer: Some("return=minimal,count=exact"),
                    ..Extra::default()
                },
            )
            .await
            .map_err(|e| e.context(&what))?;
        adapter::content_range_total(&response).ok_or_else(|| {
            Error::new(
                ErrorKind::Decode,
                format!("{what}: PostgREST sent no count in Content-Range"),
            )
        })
    }

    async fn execute(&self, _sql: &str, _params: &[Value]) -> Result<u64> {
        Err(Error::unsupported(BACKEND, "raw SQL (execute)"))
    }

    async fn query(&self, _sql: &str, _params: &[Value]) -> Result<Vec<Row>> {
        Err(Error::unsupported(BACKEND, "raw SQL (query)"))
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        Err(Error::unsupported(BACKEND, "transactions (begin)"))
    }

    async fn test_connection(&self) -> Result<()> {
        self.ping().await
    }

    async fn close(&self) {
        self.close_client();
    }
}
