//! Backup and restore: back up one user's categories and products to a file, then restore them into
//! another database, where the destination assigns new ids and every reference is remapped.
//!
//! Run: `DATABASE_URL=postgresql://postgres@127.0.0.1/postgres cargo run -p dba --features backup --example backup_restore`
//!
//! Works in two scratch databases it creates and drops, and a temporary file.
#![expect(clippy::print_stdout, reason = "an example shows its results")]

mod common;

use dba::backup::{
    BackupOptions, BackupSchema, NoProgress, RestoreOptions, TableDef, backup, restore,
    validate_backup,
};
use dba::{DatabaseClient, json};

const TABLES: &str = "
CREATE TABLE categories (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, UNIQUE (user_id, slug));
CREATE TABLE products (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, price numeric(8,2),
    category_id int NOT NULL REFERENCES categories (id), UNIQUE (user_id, slug));";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = common::create("dba_example_backup_src").await?;
    source.execute(TABLES, &[]).await?;
    source.execute(
        "INSERT INTO categories (user_id, slug) VALUES ('u1', 'tools'), ('u1', 'garden'), ('u2', 'toys');
         INSERT INTO products (user_id, slug, price, category_id) VALUES
             ('u1', 'hammer', 12.50, 1), ('u1', 'saw', 20.00, 1), ('u1', 'rake', 9.99, 2), ('u2', 'ball', 3.00, 3);",
        &[],
    )
    .await?;

    // Parents before children; the natural key (`slug`) and user field (`user_id`) are the defaults.
    let schema = BackupSchema::new(vec![
        TableDef::new("categories"),
        TableDef::new("products").parent("categories", "category_id"),
    ]);
    let path = std::env::temp_dir().join(format!("dba-example-backup-{}.json", std::process::id()));
    let options = BackupOptions {
        user_id: Some(json!("u1")),
        ..BackupOptions::default()
    };
    let written = backup(&source, &schema, &path, &options, &NoProgress).await?;
    println!("backed up {:?} to {}", written.counts, path.display());
    let text = std::fs::read_to_string(&path)?;
    println!(
        "{}\n  ...",
        text.lines().take(10).collect::<Vec<_>>().join("\n")
    );
    let check = validate_backup(&path, &schema);
    println!(
        "valid backup: {} (warnings: {:?})",
        check.valid, check.warnings
    );

    // The destination already has rows, so the restored rows get other ids than in the backup.
    let dest = common::create("dba_example_backup_dst").await?;
    dest.execute(TABLES, &[]).await?;
    dest.execute(
        "INSERT INTO categories (user_id, slug) SELECT 'u9', 'c' || n FROM generate_series(1, 10) n;
         INSERT INTO products (user_id, slug, category_id) SELECT 'u9', 'p' || n, n FROM generate_series(1, 10) n;",
        &[],
    )
    .await?;
    let options = RestoreOptions::default(); // mode skip, new ids, one transaction
    let summary = restore(&dest, &schema, &path, &options, &NoProgress).await?;
    for (table, s) in &summary.tables {
        println!(
            "{table}: inserted {}, updated {}, skipped {}, failed {}",
            s.inserted, s.updated, s.skipped, s.failed
        );
    }
    let rows = dest
        .query(
            "SELECT p.id, p.slug, p.category_id, c.slug AS category FROM products p \
             JOIN categories c ON c.id = p.category_id WHERE p.user_id = 'u1' ORDER BY p.id",
            &[],
        )
        .await?;
    println!("restored products: {}", dba::Value::from(rows));

    // Again, as a dry run: every row now exists (matched by natural key), so mode=skip skips them all.
    let again = RestoreOptions {
        dry_run: true,
        ..RestoreOptions::default()
    };
    let totals = restore(&dest, &schema, &path, &again, &NoProgress)
        .await?
        .totals();
    println!(
        "dry run again: inserted {}, skipped {}",
        totals.inserted, totals.skipped
    );

    std::fs::remove_file(&path)?;
    common::drop(source, "dba_example_backup_src").await?;
    common::drop(dest, "dba_example_backup_dst").await?;
    Ok(())
}
