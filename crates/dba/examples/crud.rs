//! CRUD with filters and a transaction, the README's library example.
//!
//! Run: `DATABASE_URL=postgresql://postgres@127.0.0.1/postgres cargo run -p dba --example crud`
#![expect(clippy::print_stdout, reason = "an example shows its results")]

use dba::{DatabaseClient, Filter, PostgresAdapter, Query, json};

#[tokio::main]
async fn main() -> Result<(), dba::Error> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1/postgres".into());
    let db = PostgresAdapter::connect(&url).await?;
    db.execute("CREATE TEMP TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text, price numeric(8,2), tags text[])", &[]).await?;

    let row = json!({"name": "Hammer", "price": "12.50", "tags": ["tools"]});
    let created = db
        .insert("items", row.as_object().expect("an object"))
        .await?; // defaults filled in
    let cheap = db
        .select(
            "items",
            &Query::new()
                .columns("id, name")
                .filter(Filter::new().lt("price", 20))
                .order_by("price DESC"),
        )
        .await?;
    let tx = db.begin().await?; // a transaction is itself a client
    let change = json!({"price": 9});
    tx.update(
        "items",
        change.as_object().expect("an object"),
        &Filter::new().eq("id", created["id"].clone()),
    )
    .await?;
    tx.commit().await?;

    println!("created {created:?}\ncheap {cheap:?}");
    Ok(())
}
