//! Scratch databases for the examples: each example works in databases it creates and drops, so it never
//! touches a table of yours.

use dba::{DatabaseClient, Error, PostgresAdapter};

/// The server the examples use: `DATABASE_URL`, else the local PostgreSQL.
pub(crate) fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1/postgres".into())
}

/// `url` with its database name replaced by `db` (URL form).
pub(crate) fn url_for(url: &str, db: &str) -> String {
    let (rest, query) = url.split_once('?').unwrap_or((url, ""));
    let start = rest.find("://").map_or(0, |i| i + 3);
    let base = rest[start..].find('/').map_or(rest, |i| &rest[..start + i]);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{base}/{db}{query}")
}

/// Creates (or re-creates, after a failed run) the database `name` and connects to it.
pub(crate) async fn create(name: &str) -> Result<PostgresAdapter, Error> {
    let admin = PostgresAdapter::connect(&admin_url()).await?;
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .await?;
    admin
        .execute(&format!("CREATE DATABASE {name}"), &[])
        .await?;
    admin.close().await;
    PostgresAdapter::connect(&url_for(&admin_url(), name)).await
}

/// Closes `db` and drops the database `name`.
pub(crate) async fn drop(db: PostgresAdapter, name: &str) -> Result<(), Error> {
    db.close().await;
    let admin = PostgresAdapter::connect(&admin_url()).await?;
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .await?;
    admin.close().await;
    Ok(())
}
