//! Profiles: a `db.toml` with two profiles, `${VAR}` and `password_env` indirection, the resolution rule,
//! and `dba::connect` on the chosen profile.
//!
//! Run: `DATABASE_URL=postgresql://postgres@127.0.0.1/postgres cargo run -p dba --example profiles`
//!
//! Writes its db.toml and lock file to a temporary folder; the `prod` profile is resolved, never contacted.
#![expect(clippy::print_stdout, reason = "an example shows its results")]

use dba::config::{Config, Connection, MapEnv, Resolver, write_lock};

const DB_TOML: &str = r#"
[profiles.local]
url = "${EXAMPLE_DATABASE_URL}"
description = "the local server; the URL comes from the environment"
pool_size = 2
statement_timeout = "5s"

[profiles.prod]
provider = "supabase"
url = "postgresql://postgres.abcd:[YOUR-PASSWORD]@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"
password_env = "EXAMPLE_PROD_PASSWORD"
sslmode = "verify-full"
description = "Supabase through the transaction pooler"
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("dba-example-profiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("db.toml"), DB_TOML)?;

    // Variables come from an `Env`; `ProcessEnv` (the default) reads the real environment.
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1/postgres".into());
    let env = MapEnv::new()
        .with("EXAMPLE_DATABASE_URL", url)
        .with("EXAMPLE_PROD_PASSWORD", "s3cr3t/pw!");
    let config = Config::load_with_env(&dir.join("db.toml"), &env)?;
    for p in config.profiles() {
        println!(
            "profile {:<6} {:<9} {}",
            p.name(),
            p.provider().as_str(),
            p.description()
        );
    }
    let resolver = Resolver::new().with_env(env.clone()).lock_dir(&dir);

    // An explicit profile wins. The password is filled in (percent-encoded) but never shown.
    let prod = resolver
        .clone()
        .profile(Some("prod"))
        .resolve(Some(&config))?;
    if let Connection::Postgres(pg) = &prod.connection {
        println!(
            "prod: pooler {}, sslmode {}, {}",
            pg.pooler,
            pg.sslmode,
            pg.redacted()
        );
    }

    // Nothing selected: the error lists what was tried, in order, and the profiles that exist.
    match resolver.resolve(Some(&config)) {
        Ok(r) => println!("unexpected: {}", r.display_target()),
        Err(e) => println!("no selection: {e}"),
    }

    // DB_PROFILE selects a profile; connect() proves the database answers.
    let resolved = resolver
        .clone()
        .with_env(env.clone().with("DB_PROFILE", "local"))
        .resolve(Some(&config))?;
    let client = dba::connect(&resolved).await?;
    let rows = client
        .query(
            "SELECT current_database() AS db, current_setting('statement_timeout') AS timeout",
            &[],
        )
        .await?;
    println!(
        "chosen by {}: {} -> {}",
        resolved.source,
        resolved.display_target(),
        dba::Value::from(rows)
    );

    // After a successful connect the CLI writes the lock file; later runs then pick the same profile.
    write_lock(&dir, "local")?;
    let again = resolver.resolve(Some(&config))?;
    println!("chosen by {}: {}", again.source, again.display_target());

    client.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
