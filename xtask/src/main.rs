//! Workspace automation for dba, in the `cargo xtask` style.
//!
//! `cargo xtask coupling-check` enforces the layer table in `coupling.rs`;
//! `cargo xtask test` is the one command that runs every check and test,
//! starting a disposable PostgreSQL cluster when none answers.
#![expect(
    clippy::print_stdout,
    reason = "xtask is a command-line tool; it reports on stdout"
)]

mod bench;
mod cluster;
mod coupling;
mod demo;
mod plot;
mod soak;
mod test_runner;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  coupling-check [--manifest-path <Cargo.toml>]
      check the layer table against `cargo metadata`
  test [--fresh-cluster] [-- <args for the test runner>...]
      fmt, clippy, coupling-check and every test, against PostgreSQL
      (--fresh-cluster, or DBA_TEST_FORCE_CLUSTER=1, always starts a disposable cluster)
  bench [--quick | --large]
      the benchmarks beside their references; writes docs/benchmarks.md and the scaling plot
      (--quick: small sizes; --large: backup, restore and sync at 10,000,000 rows too)
  soak [--minutes N]
      the load test's workload (64 tasks, pool of 10) for N minutes (default 2), then
      operations/s, errors, peak memory and connection counts; stops by itself
  demo
      the main job end to end with the real `dba` binary: two profiles, drift repaired
      with no row lost, backup, restore with ids remapped, sync; cleans up after itself";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        bail!("no command given\n\n{USAGE}");
    };
    match command.as_str() {
        "coupling-check" => {
            let manifest = manifest_path(rest)?;
            coupling::run(&manifest)
        }
        "test" => test_runner::run(test_options(rest)?),
        "bench" => bench::run(rest),
        "demo" => demo::run(),
        "soak" => soak::run(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// The workspace root: xtask lives one level below it.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn manifest_path(args: &[String]) -> Result<PathBuf> {
    match args {
        [] => Ok(project_root().join("Cargo.toml")),
        [flag, path] if flag == "--manifest-path" => Ok(PathBuf::from(path)),
        [flag] if flag == "--manifest-path" => bail!("--manifest-path needs a value"),
        _ => {
            let args = args.join(" ");
            bail!("unexpected arguments `{args}`\n\n{USAGE}")
        }
    }
}

fn test_options(args: &[String]) -> Result<test_runner::Options> {
    let mut options = test_runner::Options {
        fresh_cluster: std::env::var_os("DBA_TEST_FORCE_CLUSTER").is_some_and(|v| v == "1"),
        runner_args: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fresh-cluster" => options.fresh_cluster = true,
            "--" => {
                options.runner_args = args.cloned().collect();
                break;
            }
            other => bail!("unexpected argument `{other}` (pass test-runner arguments after `--`)"),
        }
    }
    Ok(options)
}

/// Runs `cargo` (the one that started xtask, when known) with `args` in the
/// workspace root, and fails unless it succeeds.
pub(crate) fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(&cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(project_root())
        .status()
        .with_context(|| format!("cannot run {}", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
