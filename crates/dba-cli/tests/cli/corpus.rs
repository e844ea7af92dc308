//! The hostile and broken input corpus: every file under `tests/corpus/<kind>/` is run through the real
//! `dba` binary as its `<file>.expect` says, and must give the recorded exit code and messages without
//! panicking. The databases it runs against must be exactly as they were afterwards.
//!
//! An `.expect` file holds `key = value` lines (`#` starts a comment):
//!
//! - `args = [...]`: the command line, a JSON array; `{case}` is the case file's name in the working folder;
//! - `place = NAME`: copy the case file under this name instead of its own (e.g. `db.toml`);
//! - `env = NAME=VALUE`: an environment variable (repeatable); `{content}` is the case file's text, trimmed;
//! - `code = N`: the expected exit code;
//! - `stderr = TEXT`, `stdout = TEXT`: a substring the stream must contain (repeatable).
//!
//! The working folder holds db.toml with the profiles `live` (the "full" fixture) and `drift` (the "drift"
//! fixture), the schema fixtures, and `good.json`, a valid backup. In a text case file and in the values
//! above, `{server}` is the test server's `user[:password]@host:port` and `{db}` the name of the live
//! database, so that cases can reach the server whichever one the tests use.

use std::path::{Path, PathBuf};

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, checksum, db, run};

/// The kinds of input, one folder each.
const KINDS: &[&str] = &[
    "config",
    "url",
    "backup",
    "backup-schema",
    "column-defs",
    "schema-sql",
];

/// A valid backup of one user, beside every case.
const GOOD_BACKUP: &str = r#"{
  "metadata": {"created_at": "2026-11-22T04:58:36+00:00", "user_id": "u1", "backup_type": "full",
               "version": "1.1", "categories_count": 1, "products_count": 1},
  "categories": [{"id": 1, "slug": "corpus-tools", "name": "Tools", "user_id": "u1"}],
  "products": [{"id": 1, "slug": "corpus-hammer", "name": "Hammer", "category_id": 1, "price": 12,
                "active": true, "user_id": "u1"}]
}
"#;

/// One case: the file and what its `.expect` says.
#[derive(Debug, Default)]
struct Case {
    file: PathBuf,
    args: Vec<String>,
    place: Option<String>,
    env: Vec<(String, String)>,
    code: Option<i32>,
    stderr: Vec<String>,
    stdout: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every case of every kind, sorted; panics on a case file without an `.expect` or a malformed one.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for kind in KINDS {
        let dir = corpus_dir().join(kind);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.extension().is_none_or(|e| e != "expect"))
            .collect();
        files.sort();
        for file in files {
            cases.push(parse_expect(file));
        }
    }
    cases
}

fn parse_expect(file: PathBuf) -> Case {
    let expect = PathBuf::from(format!("{}.expect", file.display()));
    let text = std::fs::read_to_string(&expect)
        .unwrap_or_else(|e| panic!("every corpus file needs {}: {e}", expect.display()));
    let mut case = Case {
        file,
        ..Case::default()
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("{}:{}: expected `key = value`", expect.display(), n + 1));
        match key {
            "args" => {
                case.args = serde_json::from_str(value)
                    .unwrap_or_else(|e| panic!("{}:{}: args: {e}", expect.display(), n + 1));
            }
            "place" => case.place = Some(value.to_owned()),
            "env" => {
                let (name, value) = value.split_once('=').unwrap();
                case.env.push((name.to_owned(), value.to_owned()));
            }
            "code" => case.code = Some(value.parse().unwrap()),
            "stderr" => case.stderr.push(value.to_owned()),
            "stdout" => case.stdout.push(value.to_owned()),
            other => panic!("{}:{}: unknown key {other}", expect.display(), n + 1),
        }
    }
    assert!(
        !case.args.is_empty() && case.code.is_some(),
        "{} needs args and code",
        expect.display()
    );
    case
}

/// `user[:password]@host:port` of a test database's URL.
fn server_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[tokio::test]
async fn every_corpus_case_gives_its_expected_code_and_message() {
    let live = db(test_path!("corpus_live"), "full").await;
    let drift = db(test_path!("corpus_drift"), "drift").await;
    let before = (checksum(&live).await, checksum(&drift).await);
    let server = server_of(live.url());
    let fill = |text: &str| {
        text.replace("{server}", &server)
            .replace("{db}", live.name())
    };

    let cases = cases();
    assert!(cases.len() >= 60, "only {} corpus cases", cases.len());
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dir = Workdir::with_profiles(
            &format!("corpus-{i}"),
            &[("live", live.url()), ("drift", drift.url())],
            SCHEMA_SECTIONS,
        );
        dir.write("good.json", GOOD_BACKUP);
        let bytes = std::fs::read(&case.file).unwrap();
        let bytes = match String::from_utf8(bytes) {
            Ok(text) => fill(&text).into_bytes(),
            Err(e) => e.into_bytes(),
        };
        let name = case
            .file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let placed = case.place.clone().unwrap_or_else(|| name.clone());
        std::fs::write(dir.path.join(&placed), &bytes).unwrap();
        let content = String::from_utf8_lossy(&bytes).trim().to_owned();

        let mut cmd = dir.dba();
        cmd.env("RUST_BACKTRACE", "1")
            .env("USER", "dba-corpus")
            .env_remove("PGUSER")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env_remove("PGDATABASE")
            .timeout(std::time::Duration::from_secs(60));
        cmd.args(case.args.iter().map(|a| a.replace("{case}", &placed)));
        for (var, value) in &case.env {
            cmd.env(var, fill(&value.replace("{content}", &content)));
        }
        let out = run(&mut cmd);
        let label = format!(
            "{} ({})",
            case.file
                .strip_prefix(corpus_dir())
                .unwrap_or(&case.file)
                .display(),
            case.args.join(" ")
        );
        let mut problems = Vec::new();
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            for bad in [
                "panicked",
                "RUST_BACKTRACE",
                "internal error",
                "stack backtrace",
            ] {
                if text.contains(bad) {
                    problems.push(format!("{stream} has {bad:?}"));
                }
            }
        }
        if out.code == 101 || Some(out.code) != case.code {
            problems.push(format!("exit code {} (expected {:?})", out.code, case.code));
        }
        for want in &case.stderr {
            if !out.stderr.contains(&fill(want)) {
                problems.push(format!("stderr lacks {want:?}"));
            }
        }
        for want in &case.stdout {
            if !out.stdout.contains(&fill(want)) {
                problems.push(format!("stdout lacks {want:?}"));
            }
        }
        if problems.is_empty() {
            dir.remove();
        } else {
            failures.push(format!(
                "{label}: {}\n--- stdout\n{}\n--- stderr\n{}",
                problems.join("; "),
                cut(&out.stdout),
                cut(&out.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    let after = (checksum(&live).await, checksum(&drift).await);
    assert_eq!(before, after, "a corpus case changed a database");
    live.drop_db().await;
    drift.drop_db().await;
}

/// At most 2,000 characters of a stream, for failure messages.
fn cut(text: &str) -> &str {
    match text.char_indices().nth(2_000) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
