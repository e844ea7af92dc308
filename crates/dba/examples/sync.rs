//! Sync: compare two databases by natural key, then copy what the destination lacks (insert-only),
//! overwrite what differs (upsert), and delete what the source no longer has (mirror).
//!
//! Run: `DATABASE_URL=postgresql://postgres@127.0.0.1/postgres cargo run -p dba --features backup --example sync`
//!
//! Works in two scratch databases it creates and drops.
#![expect(clippy::print_stdout, reason = "an example shows its results")]

mod common;

use dba::backup::{
    BackupSchema, NoProgress, SyncMode, SyncOptions, SyncResult, TableDef, compare, sync,
};
use dba::{DatabaseClient, json};

const TABLES: &str = "
CREATE TABLE categories (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, UNIQUE (user_id, slug));
CREATE TABLE products (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, price numeric(8,2),
    category_id int NOT NULL REFERENCES categories (id), UNIQUE (user_id, slug));";

fn show(what: &str, r: &SyncResult) {
    let plan = r.sync_plan.0.iter();
    let plan: Vec<_> = plan
        .map(|(t, p)| {
            format!(
                "{t}: {} new, {} updated, {} left alone, {} deleted",
                p.new, p.update, p.skip, p.delete
            )
        })
        .collect();
    let (ok, synced, skipped, deleted) =
        (r.success, r.synced_count, r.skipped_count, r.deleted_count);
    let plan = plan.join("; ");
    println!(
        "{what} (ok {ok}) [{plan}]: synced {synced}, skipped {skipped}, deleted {deleted}, errors {:?}",
        r.errors
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = common::create("dba_example_sync_src").await?;
    let dest = common::create("dba_example_sync_dst").await?;
    source.execute(TABLES, &[]).await?;
    dest.execute(TABLES, &[]).await?;
    source
        .execute(
            "INSERT INTO categories (user_id, slug) VALUES ('u1', 'tools'), ('u1', 'garden');
         INSERT INTO products (user_id, slug, price, category_id) VALUES
             ('u1', 'hammer', 14.00, 1), ('u1', 'saw', 20.00, 1), ('u1', 'rake', 9.99, 2);",
            &[],
        )
        .await?;
    // The destination holds an older copy: a stale price, and a product since removed at the source.
    dest.execute(
        "INSERT INTO categories (user_id, slug) VALUES ('u0', 'other'), ('u1', 'tools');
         INSERT INTO products (user_id, slug, price, category_id) VALUES ('u1', 'hammer', 12.50, 2), ('u1', 'old', 1.00, 2);",
        &[],
    )
    .await?;

    let schema = BackupSchema::new(vec![
        TableDef::new("categories"),
        TableDef::new("products").parent("categories", "category_id"),
    ]);
    let mut options = SyncOptions {
        user_id: Some(json!("u1")),
        ..SyncOptions::default()
    };
    show(
        "compare",
        &compare(&source, &dest, &schema, &options, &NoProgress).await,
    );

    // Insert-only (the default): new rows are copied with ids from the destination, references remapped.
    show(
        "insert-only",
        &sync(&source, &dest, &schema, &options, &NoProgress).await,
    );
    // Upsert: existing rows take the source's values (hammer's price).
    options.mode = SyncMode::Upsert;
    show(
        "upsert",
        &sync(&source, &dest, &schema, &options, &NoProgress).await,
    );
    // Mirror: also deletes destination rows of user u1 that the source no longer has.
    options.mode = SyncMode::Mirror;
    show(
        "mirror",
        &sync(&source, &dest, &schema, &options, &NoProgress).await,
    );

    let rows = dest
        .query(
            "SELECT slug, price, category_id FROM products ORDER BY slug",
            &[],
        )
        .await?;
    println!("destination products: {}", dba::Value::from(rows));

    common::drop(source, "dba_example_sync_src").await?;
    common::drop(dest, "dba_example_sync_dst").await?;
    Ok(())
}
