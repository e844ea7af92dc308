//! `cargo xtask bench`: runs every benchmark beside its reference on this machine and writes
//! `docs/benchmarks.md` (machine, PostgreSQL version, date, medians, ratios, and the command to reproduce).

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, cluster, project_root, test_runner};

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
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => bail!("usage: cargo xtask bench [--quick]"),
    };
    let database = test_runner::database(false)?;
    let url = database.url().to_owned();
    println!("xtask: benchmarking against {}", cluster::redact(&url));
    let envs = [("DBA_TEST_DATABASE_URL", url.as_str())];
    let out_dir = project_root().join("target/dba-bench");
    let mut sections = String::new();
    for (package, bench, title) in BENCHES {
        let report = out_dir.join(format!("{bench}.md"));
        let _ = std::fs::remove_file(&report);
        let mut bench_args = vec!["bench", "-p", package, "--bench", bench, "--"];
        if quick {
            bench_args.push("--quick");
        }
        cargo(&bench_args, &envs)?;
        let body = std::fs::read_to_string(&report)
            .with_context(|| format!("{} was not written", report.display()))?;
        let command = format!("cargo xtask bench{}", if quick { " --quick" } else { "" });
        let _ = write!(
            sections,
            "## {title}\n\nReproduce: `{command}` (this case alone: `cargo bench -p {package} --bench {bench}{}`)\n\n{body}\n",
            if quick { " -- --quick" } else { "" }
        );
    }
    let server = server_version(&url);
    drop(database);
    let doc = format!(
        "# Benchmarks\n\nWritten by `cargo xtask bench{}`; dba beside its reference measured in the same run on this \
         machine: latencies are medians of many calls, throughput and backup medians of rounds alternating \
         between the two sides, restore and sync single runs (each takes tens of seconds at full size). Ratios above 1 are slower for latency, below 1 \
         slower for throughput. What limits each missed target, measured, is in \
         [performance.md](performance.md).\n\n- machine: {}\n- PostgreSQL: {server}\n- date: {}\n\n{sections}",
        if quick { " --quick" } else { "" },
        machine(),
        output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".to_owned()),
    );
    let path = project_root().join("docs/benchmarks.md");
    std::fs::write(&path, doc).with_context(|| format!("cannot write {}", path.display()))?;
    println!("xtask: wrote {}", path.display());
    Ok(())
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
