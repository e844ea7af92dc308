//! Transactions: commit, rollback, a savepoint inside a transaction, and drop = rollback.
//!
//! Run: `DATABASE_URL=postgresql://postgres@127.0.0.1/postgres cargo run -p dba --example transactions`
//!
//! Works in a scratch database it creates and drops.
#![expect(clippy::print_stdout, reason = "an example shows its results")]

mod common;

use dba::{DatabaseClient, ErrorKind, Filter, Row, json};

fn account(name: &str, balance: i64) -> Row {
    json!({"name": name, "balance": balance})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), dba::Error> {
    let db = common::create("dba_example_transactions").await?;
    db.execute("CREATE TABLE accounts (id serial PRIMARY KEY, name text UNIQUE, balance int CHECK (balance >= 0))", &[]).await?;
    db.insert("accounts", &account("alice", 100)).await?;

    // Commit: both writes or neither. A transaction is itself a client.
    let tx = db.begin().await?;
    tx.update(
        "accounts",
        &account("alice", 70),
        &Filter::new().eq("name", "alice"),
    )
    .await?;
    tx.insert("accounts", &account("bob", 30)).await?;
    tx.commit().await?;
    println!(
        "after commit:   {} accounts",
        db.count("accounts", &Filter::new()).await?
    );

    // Rollback: nothing of it stays.
    let tx = db.begin().await?;
    tx.insert("accounts", &account("carol", 5)).await?;
    tx.rollback().await?;
    println!(
        "after rollback: {} accounts",
        db.count("accounts", &Filter::new()).await?
    );

    // A savepoint: begin() on a transaction nests. The inner failure is undone, the outer work kept.
    let tx = db.begin().await?;
    tx.insert("accounts", &account("dave", 10)).await?;
    let inner = tx.begin().await?;
    let err = inner
        .update(
            "accounts",
            &account("bob", -1),
            &Filter::new().eq("name", "bob"),
        )
        .await
        .expect_err("the CHECK constraint refuses a negative balance");
    println!("inner savepoint failed: {:?}", err.kind());
    assert_eq!(err.kind(), ErrorKind::CheckViolation);
    inner.rollback().await?; // back to the savepoint; the outer transaction is usable again
    tx.commit().await?;
    println!(
        "after savepoint: {} accounts (dave kept)",
        db.count("accounts", &Filter::new()).await?
    );

    // Dropping an uncommitted transaction rolls it back.
    {
        let tx = db.begin().await?;
        tx.delete("accounts", &Filter::all_rows()).await?;
        // no commit: `tx` is dropped here
    }
    let rows = db
        .select("accounts", &dba::Query::new().order_by("id"))
        .await?;
    println!(
        "after drop:     {} accounts: {}",
        rows.len(),
        dba::Value::from(rows)
    );

    common::drop(db, "dba_example_transactions").await
}
