//! `cargo xtask soak [--minutes N]`: the load test's workload for N minutes (default 2) against the test
//! PostgreSQL, then a report of operations/s, errors, peak memory and connection counts. Stops by itself.
//!
//! The workload is `crates/dba-postgres/examples/soak` (run with `DBA_SOAK_SECONDS`); xtask only finds or
//! starts the server, as `cargo xtask test` does, and fails when the example reports a failure.

use anyhow::{Context, Result, bail};

use crate::{cargo, test_runner};

/// Minutes when `--minutes` is not given.
const DEFAULT_MINUTES: f64 = 2.0;

pub(crate) fn run(args: &[String]) -> Result<()> {
    let seconds = seconds(args)?;
    let database = test_runner::database(false)?;
    println!("xtask: soak for {seconds} s");
    let seconds = seconds.to_string();
    cargo(
        &["run", "-p", "dba-postgres", "--example", "soak"],
        &[
            ("DBA_TEST_DATABASE_URL", database.url()),
            ("DBA_SOAK_SECONDS", &seconds),
        ],
    )
    .context("the soak run failed (see its report above)")
}

/// The run's length in seconds from `[--minutes N]` (N may be fractional, e.g. 0.5).
fn seconds(args: &[String]) -> Result<u64> {
    let minutes = match args {
        [] => DEFAULT_MINUTES,
        [flag, value] if flag == "--minutes" => value
            .parse::<f64>()
            .ok()
            .filter(|m| m.is_finite() && *m > 0.0 && *m <= 24.0 * 60.0)
            .with_context(|| {
                format!("--minutes needs a number of minutes up to a day, not `{value}`")
            })?,
        [flag] if flag == "--minutes" => bail!("--minutes needs a value"),
        other => bail!(
            "unexpected arguments `{}`; usage: cargo xtask soak [--minutes N]",
            other.join(" ")
        ),
    };
    // At least one second; `as` saturates and the value is bounded above.
    Ok(((minutes * 60.0).round() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::seconds;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn minutes_become_seconds() {
        assert_eq!(seconds(&args(&[])).unwrap(), 120);
        assert_eq!(seconds(&args(&["--minutes", "5"])).unwrap(), 300);
        assert_eq!(seconds(&args(&["--minutes", "0.5"])).unwrap(), 30);
    }

    #[test]
    fn bad_minutes_are_refused() {
        for bad in [
            &["--minutes"][..],
            &["--minutes", "x"],
            &["--minutes", "0"],
            &["--minutes", "-1"],
            &["--hours", "1"],
        ] {
            assert!(seconds(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
