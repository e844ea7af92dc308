//! `cargo xtask bench`: runs every benchmark beside its reference on this machine and writes
//! `docs/benchmarks.md` (machine, PostgreSQL version, date, medians, ratios, targets met or missed, the
//! command to reproduce, and what the run cost in time and disk) and the scaling plot
//! `docs/benchmarks-scaling.svg`.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cargo, cluster, plot, project_root, test_runner};

/// How much the backup bench runs: `--quick` 10,000 and 100,000 rows, by default 100,000 and
/// 1,000,000, `--large` 100,000, 1,000,000 and 10,000,000. The other benches have a quick and a full
/// size; `--large` runs them at full size.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Size {
    Quick,
    Default,
    Large,
}

impl Size {
    /// The flag, with a leading space, or nothing.
    fn flag(self) -> &'static str {
        match self {
            Size::Quick => " --quick",
            Size::Default => "",
            Size::Large => " --large",
        }
    }

    /// The flag passed to `bench`, which knows `--large` only if it is the backup bench.
    fn flag_for(self, bench: &str) -> &'static str {
        match self {
            Size::Large if bench != "backup" => "",
            size => size.flag(),
        }
    }
}

/// Where the scaling plot goes, beside docs/benchmarks.md.
const PLOT: &str = "docs/benchmarks-scaling.svg";

/// Each benchmark: package, bench target, and what it measures.
const BENCHES: &[(&str, &str, &str)] = &[
    (
        "dba-postgres",
        "adapter",
        "The client: dba's PostgresAdapter beside raw tokio-postgres and COPY",
    ),
    (
        "dba-schema",
        "introspect",
        "Introspection beside pg_dump --schema-only",
    ),
    (
        "dba-backup",
        "backup",
        "Backup, restore and sync beside pg_dump, psql and a COPY pipe",
    ),
];

pub(crate) fn run(args: &[String]) -> Result<()> {
    let size = match args {
        [] => Size::Default,
        [flag] if flag == "--quick" => Size::Quick,
        [flag] if flag == "--large" => Size::Large,
        _ => bail!("usage: cargo xtask bench [--quick | --large]"),
    };
    let started = Instant::now();
    let database = test_runner::database(false)?;
    let url = database.url().to_owned();
    println!("xtask: benchmarking against {}", cluster::redact(&url));
    let envs = [("DBA_TEST_DATABASE_URL", url.as_str())];
    let out_dir = project_root().join("target/dba-bench");
    let command = format!("cargo xtask bench{}", size.flag());
    let mut sections = String::new();
    let mut peak_disk = None;
    for (package, bench, title) in BENCHES {
        let report = out_dir.join(format!("{bench}.md"));
        let _ = std::fs::remove_file(&report);
        let _ = std::fs::remove_file(out_dir.join(format!("{bench}.json")));
        let flag = size.flag_for(bench);
        let mut bench_args = vec!["bench", "-p", package, "--bench", bench, "--"];
        bench_args.extend(flag.split_whitespace());
        cargo(&bench_args, &envs)?;
        let mut body = std::fs::read_to_string(&report)
            .with_context(|| format!("{} was not written", report.display()))?;
        if *bench == "backup" {
            peak_disk = Some(scaling_plot(&out_dir.join("backup.json"))?);
            body.push_str(
                "\n[![Time against rows for backup, restore and sync, dba solid, the reference dashed]\
                 (benchmarks-scaling.svg)](benchmarks-scaling.svg)\n",
            );
        }
        let _ = write!(
            sections,
            "## {title}\n\nReproduce: `{command}` (this case alone: `cargo bench -p {package} --bench {bench}{}`)\n\n{body}\n",
            if flag.is_empty() {
                String::new()
            } else {
                format!(" --{flag}")
            }
        );
    }
    let server = server_version(&url);
    drop(database);
    let cost = format!(
        "this run took {:.0} min (building the benches included) and used up to {} of disk",
        started.elapsed().as_secs_f64() / 60.0,
        peak_disk.map_or_else(
            || "an unknown amount".to_owned(),
            |bytes| format!("{:.1} GB", bytes as f64 / 1e9)
        ),
    );
    let doc = format!(
        "# Benchmarks\n\nWritten by `{command}`; dba beside its reference measured in the same run on this \
         machine: latencies are medians of many calls, throughput, backup, restore and sync medians of rounds \
         alternating between the two sides (restore and sync once at 10,000,000 rows, where each side takes \
         minutes). Ratios above 1 are slower for latency, below 1 \
         slower for throughput; each target is marked met or **missed**. Backup, restore and sync run at several sizes \
         (`--quick`: 10,000 and 100,000 rows; by default 100,000 and 1,000,000; `--large` adds 10,000,000) \
         and are plotted against rows. What limits each missed target, measured, is in \
         [performance.md](performance.md).\n\n- machine: {}\n- PostgreSQL: {server}\n- date: {}\n- cost: {cost}\n\n{sections}",
        machine(),
        output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".to_owned()),
    );
    let path = project_root().join("docs/benchmarks.md");
    std::fs::write(&path, doc).with_context(|| format!("cannot write {}", path.display()))?;
    println!("xtask: wrote {}", path.display());
    Ok(())
}

/// Draws the backup bench's measurements (`json`) into [`PLOT`]; returns the bench's peak disk use in
/// bytes.
fn scaling_plot(json: &std::path::Path) -> Result<u64> {
    let text = std::fs::read_to_string(json)
        .with_context(|| format!("{} was not written", json.display()))?;
    let report: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", json.display()))?;
    let svg = project_root().join(PLOT);
    plot::draw(&svg, &report).with_context(|| format!("cannot draw {}", svg.display()))?;
    println!("xtask: wrote {}", svg.display());
    report["peak_disk_bytes"]
        .as_u64()
        .with_context(|| format!("{} has no peak_disk_bytes", json.display()))
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    format!(
        "{model}, {cores} cores, {} GiB RAM",
        mem_kib / (1024 * 1024)
    )
}

fn server_version(url: &str) -> String {
    output("psql", &[url, "-Atc", "SELECT version()"])
        .unwrap_or_else(|| "unknown (psql not found)".to_owned())
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anything_but_quick_or_large_is_a_usage_error() {
        for args in [&["--huge"][..], &["--quick", "--large"], &["large"]] {
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            let err = run(&args).unwrap_err().to_string();
            assert_eq!(err, "usage: cargo xtask bench [--quick | --large]");
        }
    }

    #[test]
    fn large_reaches_only_the_backup_bench() {
        assert_eq!(Size::Large.flag_for("backup"), " --large");
        assert_eq!(Size::Large.flag_for("adapter"), "");
        assert_eq!(Size::Quick.flag_for("introspect"), " --quick");
        assert_eq!(Size::Default.flag_for("backup"), "");
    }
}
