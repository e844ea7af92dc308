//! `cargo xtask demo`: the main job end to end, with the real `dba` binary and real output.
//!
//! On a machine with PostgreSQL binaries and nothing configured it starts a disposable cluster (or uses
//! `DATABASE_URL` when set, else `DBA_TEST_DATABASE_URL` or the local server), creates two databases and a `db.toml` with two profiles,
//! then: connect (the schema has drifted), fix it without losing a row, back up, restore into the second
//! database with ids remapped, and sync. It cleans up after itself, also on failure.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

use crate::{cargo, cluster, project_root, test_runner};

const DEV: &str = "dba_demo_dev";
const COPY: &str = "dba_demo_copy";

const SCHEMA_SQL: &str = "\
-- The schema the application expects.
CREATE TABLE categories (
    id serial PRIMARY KEY,
    user_id text NOT NULL,
    slug text NOT NULL,
    name text NOT NULL,
    UNIQUE (user_id, slug)
);
CREATE TABLE products (
    id serial PRIMARY KEY,
    user_id text NOT NULL,
    slug text NOT NULL,
    category_id integer REFERENCES categories (id),
    name text NOT NULL,
    price numeric(10, 2),
    active boolean DEFAULT true,
    UNIQUE (user_id, slug)
);
";

/// The development database: `products` lacks `price` and `active` (drift), and holds rows.
const DEV_SQL: &str = "\
CREATE TABLE categories (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, name text NOT NULL,
                         UNIQUE (user_id, slug));
CREATE TABLE products (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL,
                       category_id integer REFERENCES categories (id), name text NOT NULL, UNIQUE (user_id, slug));
INSERT INTO categories (user_id, slug, name) VALUES
    ('demo', 'tools', 'Tools'), ('demo', 'garden', 'Garden'), ('demo', 'paint', 'Paint'), ('other', 'tools', 'Tools');
INSERT INTO products (user_id, slug, category_id, name) VALUES
    ('demo', 'hammer', 1, 'Hammer'), ('demo', 'saw', 1, 'Saw'), ('demo', 'rake', 2, 'Rake'),
    ('demo', 'brush', 3, 'Brush'), ('demo', 'loose', NULL, 'No category'), ('other', 'drill', 4, 'Drill');
";

/// The second database already has rows of its own, so restored rows get new ids.
const COPY_SQL: &str = "\
INSERT INTO categories (user_id, slug, name) VALUES ('someone', 'misc', 'Misc'), ('someone', 'toys', 'Toys');
INSERT INTO products (user_id, slug, category_id, name, price) VALUES ('someone', 'ball', 2, 'Ball', 3.50);
";

const BACKUP_SCHEMA: &str = r#"{
  "tables": [
    {"name": "categories", "pk": "id", "slug_field": "slug", "user_field": "user_id"},
    {"name": "products", "pk": "id", "slug_field": "slug", "user_field": "user_id",
     "parent": {"table": "categories", "field": "category_id"}}
  ]
}
"#;

const COLUMN_DEFS: &str = r#"{
  "products.price": "numeric(10, 2)",
  "products.active": "boolean DEFAULT true"
}
"#;

/// Drops the demo databases and the folder, whatever happened.
struct Cleanup {
    admin: String,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for db in [DEV, COPY] {
            let _ = psql(
                &self.admin,
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn run() -> Result<()> {
    if cluster::find_program("psql").is_none() {
        bail!(
            "the demo needs the PostgreSQL client `psql`; install PostgreSQL (e.g. `apt-get install postgresql`)"
        );
    }
    // `DATABASE_URL`, when set, names the server to use (its role must be able to create databases).
    let database = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => test_runner::Database::Existing(url),
        _ => test_runner::database(false)?,
    };
    let admin = database.url().to_owned();
    banner(&format!("PostgreSQL at {}", cluster::redact(&admin)));
    cargo(&["build", "--quiet", "-p", "dba-cli"], &[])?;
    let dba = project_root().join("target/debug/dba");

    let dir = std::env::temp_dir().join(format!("dba-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cleanup = Cleanup {
        admin: admin.clone(),
        dir: dir.clone(),
    };
    for db in [DEV, COPY] {
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        )?;
        psql(&admin, &format!("CREATE DATABASE {db}"))?;
    }
    let (dev_url, copy_url) = (with_database(&admin, DEV)?, with_database(&admin, COPY)?);
    psql(&dev_url, DEV_SQL)?;
    psql(&copy_url, SCHEMA_SQL)?;
    psql(&copy_url, COPY_SQL)?;

    std::fs::write(dir.join("schema.sql"), SCHEMA_SQL)?;
    std::fs::write(dir.join("backup-schema.json"), BACKUP_SCHEMA)?;
    std::fs::write(dir.join("column-defs.json"), COLUMN_DEFS)?;
    std::fs::write(
        dir.join("db.toml"),
        format!(
            "[profiles.dev]\nurl = \"{dev_url}\"\ndescription = \"development database\"\n\n\
             [profiles.copy]\nurl = \"{copy_url}\"\ndescription = \"a second database to restore and sync into\"\n\n\
             [schema]\nfile = \"schema.sql\"\ncolumn_defs = \"column-defs.json\"\nbackup_schema = \"backup-schema.json\"\n\n\
             [sync]\ntables = [\"categories\", \"products\"]\n\n[defaults]\nuser_id_env = \"DEMO_USER_ID\"\n"
        ),
    )?;
    println!(
        "wrote db.toml, schema.sql, backup-schema.json and column-defs.json in {}",
        dir.display()
    );

    let demo = Demo {
        dba,
        dir: dir.clone(),
    };
    banner("1. The two profiles");
    demo.expect(0, &["profiles"])?;

    banner("2. Connect to dev: the live schema has drifted from schema.sql");
    demo.expect(1, &["--profile", "dev", "connect"])?;

    banner("3. Repair the drift: preview, then apply; no row is lost");
    let before = psql(&dev_url, "SELECT count(*) FROM categories")?
        + "/"
        + &psql(&dev_url, "SELECT count(*) FROM products")?;
    demo.expect(0, &["--profile", "dev", "fix"])?;
    demo.expect(0, &["--profile", "dev", "fix", "--confirm", "--no-backup"])?;
    let after = psql(&dev_url, "SELECT count(*) FROM categories")?
        + "/"
        + &psql(&dev_url, "SELECT count(*) FROM products")?;
    println!("rows (categories/products) before the fix: {before}, after: {after}");
    ensure!(
        before == after,
        "the fix lost rows: {before} before, {after} after"
    );
    demo.expect(0, &["--profile", "dev", "connect"])?;

    banner("4. Back up one user's rows from dev");
    let backup = dir.join("backup.json");
    let backup_arg = backup.display().to_string();
    demo.expect(0, &["--profile", "dev", "backup", "-o", &backup_arg])?;
    demo.expect(0, &["backup", "--validate", &backup_arg])?;

    banner("5. Restore into copy: new ids, every reference remapped");
    demo.expect(0, &["--profile", "copy", "restore", &backup_arg, "--yes"])?;
    let pairs = "SELECT string_agg(p.slug || '->' || coalesce(c.slug, 'none'), ', ' ORDER BY p.slug) \
                 FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.user_id = 'demo'";
    let (in_dev, in_copy) = (psql(&dev_url, pairs)?, psql(&copy_url, pairs)?);
    let ids = "SELECT string_agg(slug || '=' || id, ', ' ORDER BY slug) FROM categories WHERE user_id = 'demo'";
    println!(
        "category ids in dev:  {}\ncategory ids in copy: {}",
        psql(&dev_url, ids)?,
        psql(&copy_url, ids)?
    );
    println!("product -> category in dev:  {in_dev}\nproduct -> category in copy: {in_copy}");
    ensure!(
        in_dev == in_copy,
        "the restored references differ from the source"
    );

    banner("6. New rows in dev, then sync them into copy");
    psql(
        &dev_url,
        "INSERT INTO products (user_id, slug, category_id, name, price) VALUES ('demo', 'ladder', 1, 'Ladder', 89.00)",
    )?;
    demo.expect(
        0,
        &["--profile", "copy", "sync", "--from", "dev", "--dry-run"],
    )?;
    demo.expect(
        0,
        &["--profile", "copy", "sync", "--from", "dev", "--confirm"],
    )?;
    let (in_dev, in_copy) = (psql(&dev_url, pairs)?, psql(&copy_url, pairs)?);
    println!("product -> category in dev:  {in_dev}\nproduct -> category in copy: {in_copy}");
    ensure!(in_dev == in_copy, "after the sync, copy differs from dev");

    banner("Done: drift repaired with no row lost, backup restored with ids remapped, and a sync");
    drop(cleanup);
    drop(database);
    Ok(())
}

struct Demo {
    dba: PathBuf,
    dir: PathBuf,
}

impl Demo {
    /// Runs `dba args…` in the demo folder, shows its output, and checks its exit code.
    fn expect(&self, code: i32, args: &[&str]) -> Result<()> {
        println!("\n$ dba {}", args.join(" "));
        let status = Command::new(&self.dba)
            .args(args)
            .current_dir(&self.dir)
            .env("DEMO_USER_ID", "demo")
            .env("NO_COLOR", "1")
            .env_remove("DB_PROFILE")
            .env_remove("DATABASE_URL")
            .env_remove("DBA_CONFIG")
            .status()
            .with_context(|| format!("cannot run {}", self.dba.display()))?;
        let got = status.code().unwrap_or(-1);
        println!("(exit {got})");
        ensure!(
            got == code,
            "`dba {}` exited {got}, expected {code}",
            args.join(" ")
        );
        Ok(())
    }
}

fn banner(text: &str) {
    println!("\n=== {text} ===");
}

/// Runs SQL with psql and returns its unaligned output.
fn psql(url: &str, sql: &str) -> Result<String> {
    let out = Command::new(cluster::find_program("psql").context("psql not found")?)
        .args([url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The admin URL with its database replaced.
fn with_database(url: &str, db: &str) -> Result<String> {
    let start = url.find("://").context("the admin URL is not a URL")? + 3;
    let path = url[start..].find('/').map_or(url.len(), |i| start + i);
    let end = url[path..].find('?').map_or(url.len(), |i| path + i);
    Ok(format!("{}/{db}{}", &url[..path], &url[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_in_any_url_shape() {
        assert_eq!(
            with_database("postgresql://u@h:5/postgres", "x").unwrap(),
            "postgresql://u@h:5/x"
        );
        assert_eq!(
            with_database("postgresql://u@h:5", "x").unwrap(),
            "postgresql://u@h:5/x"
        );
        assert_eq!(
            with_database("postgresql://u@h/postgres?host=%2Ftmp&sslmode=disable", "x").unwrap(),
            "postgresql://u@h/x?host=%2Ftmp&sslmode=disable"
        );
        assert!(with_database("host=h", "x").is_err());
    }
}
