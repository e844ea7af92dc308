//! Running statements: text-format parameters, the two statement modes, JSON decoding and error mapping.

use std::pin::pin;

use bytes::BytesMut;
use dba_core::{DbErrorInfo, Error, ErrorKind, Result, Row};
use deadpool_postgres::{ClientWrapper, PoolError};
use futures_util::TryStreamExt;
use tokio_postgres::types::{Format, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{RowStream, SimpleQueryMessage};

use crate::pool::PgConn;
use crate::settings::StatementMode;
use crate::sql::Statement;

/// A parameter sent in text format: PostgreSQL parses it with the input function of whatever type it
/// infers for the placeholder, so no client-side type table is needed.
#[derive(Debug)]
pub(crate) struct TextParam<'a>(pub(crate) Option<&'a str>);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            None => Ok(IsNull::Yes),
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// The "let the server infer it" parameter type (oid 0).
fn unspecified() -> Type {
    Type::new(
        "unspecified".to_owned(),
        0,
        Kind::Pseudo,
        "pg_catalog".to_owned(),
    )
}

/// What an operation runs on: a pooled connection of its own, or the connection of a transaction.
pub(crate) enum Handle {
    Pooled(crate::pool::Object),
    Tx(std::sync::Arc<crate::tx_state::TxShared>),
    /// A seat on a pooled connection shared with other calls (see [`crate::lanes`]).
    Shared(crate::lanes::Seat),
}

impl Handle {
    pub(crate) fn conn(&self, mode: StatementMode) -> Conn<'_> {
        match self {
            Handle::Pooled(object) => Conn {
                client: &object.client,
                pg: object,
                mode,
                tx: None,
            },
            Handle::Shared(seat) => Conn {
                client: &seat.conn().client,
                pg: seat.conn(),
                mode,
                tx: None,
            },
            Handle::Tx(shared) => Conn {
                client: shared.client(),
                pg: shared.pg(),
                mode,
                tx: Some(shared),
            },
        }
    }
}

/// A connection plus the statement mode it runs in.
pub(crate) struct Conn<'a> {
    pub(crate) client: &'a ClientWrapper,
    /// The pooled connection `client` belongs to, with its statements prepared by number.
    pub(crate) pg: &'a PgConn,
    pub(crate) mode: StatementMode,
    /// The transaction the connection runs, if any.
    pub(crate) tx: Option<&'a crate::tx_state::TxShared>,
}

impl Conn<'_> {
    /// Sends `st` and returns the row stream (one round trip in either mode once a statement is cached).
    pub(crate) async fn stream(&self, st: &Statement) -> Result<RowStream> {
        if let Some(tx) = self.tx {
            tx.forget_shape();
        }
        let params = st.params.iter().map(|p| TextParam(p.as_deref()));
        let mode = if st.value_dependent {
            StatementMode::Unnamed
        } else {
            self.mode
        };
        // The driver's query futures are boxed: each is about 1 KB (room for preparing a statement it
        // is given as text), which would make the caller's future, allocated by every call, too large
        // for the allocator's small-size cache; two small allocations cost less than one large one.
        let result = match mode {
            StatementMode::Cached => match self.prepare(st).await {
                Ok(prepared) => Box::pin(self.client.query_raw(&prepared, params)).await,
                Err(e) => Err(e),
            },
            StatementMode::Unnamed | StatementMode::Auto => {
                let ty = unspecified();
                Box::pin(
                    self.client
                        .query_typed_raw(&st.sql, params.map(|p| (p, ty.clone()))),
                )
                .await
            }
        };
        result.map_err(map_pg_error)
    }

    /// `st` prepared on this connection: kept by its number when it has one (a select of a kept shape),
    /// else by its text in deadpool-postgres's cache.
    async fn prepare(
        &self,
        st: &Statement,
    ) -> std::result::Result<tokio_postgres::Statement, tokio_postgres::Error> {
        let Some(number) = st.number else {
            // Boxed, as the prepare below: a future that would otherwise take room in every call's.
            return Box::pin(self.client.prepare_cached(&st.sql)).await;
        };
        if let Some(prepared) = self.pg.prepared(number) {
            return Ok(prepared);
        }
        let prepared = Box::pin(self.client.prepare(&st.sql)).await?;
        self.pg.keep(number, prepared.clone());
        Ok(prepared)
    }

    /// Runs `st` and decodes its single text column as JSON rows.
    pub(crate) async fn rows(&self, st: &Statement) -> Result<Vec<Row>> {
        let stream = pin!(self.stream(st).await?);
        stream
            .map_err(map_pg_error)
            .and_then(|row| async move { decode_row(&row) })
            .try_collect()
            .await
    }

    /// Runs `st` and returns how many rows it affected.
    pub(crate) async fn affected(&self, st: &Statement) -> Result<u64> {
        let mut stream = pin!(self.stream(st).await?);
        while stream.try_next().await.map_err(map_pg_error)?.is_some() {}
        Ok(stream.rows_affected().unwrap_or(0))
    }

    /// Runs `st`, whose first column is a bigint, and returns it.
    pub(crate) async fn scalar_i64(&self, st: &Statement) -> Result<i64> {
        let mut stream = pin!(self.stream(st).await?);
        let row = stream
            .try_next()
            .await
            .map_err(map_pg_error)?
            .ok_or_else(|| Error::new(ErrorKind::Decode, "the statement returned no row"))?;
        row.try_get::<_, i64>(0)
            .map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))
    }

    /// Runs a script (one or more statements, no parameters) with the simple protocol; returns the sum of
    /// the rows each statement affected.
    pub(crate) async fn script(&self, sql: &str) -> Result<u64> {
        if let Some(tx) = self.tx {
            tx.forget_shape();
        }
        self.script_keeping_shape(sql).await
    }

    /// [`Conn::script`] for a savepoint's start or release, which keeps the transaction's kept shape
    /// (see [`TxShared::keep_shape`](crate::tx_state::TxShared::keep_shape)): neither gives up a lock.
    pub(crate) async fn script_keeping_shape(&self, sql: &str) -> Result<u64> {
        let messages = self.client.simple_query(sql).await.map_err(map_pg_error)?;
        Ok(messages
            .iter()
            .map(|m| {
                if let SimpleQueryMessage::CommandComplete(n) = m {
                    *n
                } else {
                    0
                }
            })
            .sum())
    }
}

/// Decodes the one text column of a row produced by `row_to_json(...)::text`.
pub(crate) fn decode_row(row: &tokio_postgres::Row) -> Result<Row> {
    let text: &str = row
        .try_get(0)
        .map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))?;
    parse_row(text)
}

/// Parses one row's JSON object text.
pub(crate) fn parse_row(text: &str) -> Result<Row> {
    serde_json::from_str(text)
        .map_err(|e| Error::new(ErrorKind::Decode, format!("row is not a JSON object: {e}")))
}

/// Maps a driver error to the core error, keeping every field the server reported.
pub(crate) fn map_pg_error(e: tokio_postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let mut info = DbErrorInfo::new(db.code().code(), db.message());
        info.detail = db.detail().map(str::to_owned);
        info.hint = db.hint().map(str::to_owned);
        info.schema = db.schema().map(str::to_owned);
        info.table = db.table().map(str::to_owned);
        info.column = db.column().map(str::to_owned);
        info.constraint = db.constraint().map(str::to_owned);
        return Error::database(info);
    }
    if e.is_closed() {
        // The driver says only "connection closed"; say what usually causes it.
        return Error::new(
            ErrorKind::Connection,
            "the connection to the server was closed (the server may have restarted or ended this session)",
        )
        .with_source(e);
    }
    let text = e.to_string();
    let kind = if text.contains("serializing parameter") {
        ErrorKind::InvalidInput
    } else if text.contains("deserializing column") {
        ErrorKind::Decode
    } else if text.contains("timeout") || text.contains("timed out") {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    };
    // The driver's own text ("error performing TLS handshake") hides the cause ("invalid peer certificate:
    // UnknownIssuer"): the message carries the whole chain.
    Error::new(kind, dba_core::chain_text(&e)).with_source(e)
}

/// Maps a pool error: a wait timeout, a failed connect, or a closed pool.
pub(crate) fn map_pool_error(e: PoolError) -> Error {
    match e {
        PoolError::Timeout(kind) => Error::new(
            ErrorKind::Timeout,
            format!("timed out waiting for a database connection ({kind:?})"),
        ),
        PoolError::Backend(e) => map_pg_error(e).context("cannot connect to PostgreSQL"),
        PoolError::Closed => Error::new(ErrorKind::Connection, "the connection pool is closed"),
        other => Error::new(ErrorKind::Connection, other.to_string()),
    }
}
