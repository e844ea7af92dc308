//! How errors are printed: one `error:` line naming what failed, each cause once.

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, backed_up_pair, db, run};

/// The `error:` lines of stderr.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect()
}

/// Asserts that no `: `-separated part of `line` appears twice.
fn each_cause_once(line: &str) {
    let parts: Vec<&str> = line.split(": ").collect();
    for (i, part) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(part),
            "{part:?} is repeated in {line:?}"
        );
    }
}

#[test]
fn a_refused_connection_names_each_cause_once() {
    let dir = Workdir::with_profiles(
        "errors-refused",
        &[("down", "postgresql://postgres:S3cr3t@127.0.0.1:1/x")],
        "",
    );
    let out = run(dir.dba().args(["connect", "--profile", "down"]));
    out.code(1);
    assert_eq!(
        error_lines(&out.stderr),
        [
            "error: profile down: connection error: cannot connect to PostgreSQL: \
          error connecting to server: Connection refused (os error 111)"
        ],
        "{}",
        out.stderr
    );
    // The same text in status's warning and its JSON.
    let out = run(dir.dba().args(["status", "--profile", "down", "--json"]));
    let doc = out.json();
    let text = doc["connection_error"].as_str().unwrap();
    each_cause_once(text);
    assert_eq!(text.matches("Connection refused").count(), 1, "{text}");
    assert!(!out.stderr.contains("S3cr3t") && !out.stdout.contains("S3cr3t"));
    dir.remove();
}

#[test]
fn a_config_error_names_the_file_and_position_once() {
    let dir = Workdir::new("errors-config");
    dir.write("db.toml", "[profiles.x\nurl = 1\n");
    let out = run(dir.dba().arg("profiles"));
    out.code(1);
    assert_eq!(
        error_lines(&out.stderr),
        ["error: db.toml:1:12: invalid TOML: unclosed table, expected `]`"],
        "{}",
        out.stderr
    );
    dir.write(
        "db.toml",
        "[profiles.x]\nurl = \"postgresql://h/d\"\nprovider = \"mysql\"\n",
    );
    let out = run(dir.dba().arg("profiles"));
    out.code(1);
    let lines = error_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains("db.toml"), "{}", out.stderr);
    each_cause_once(lines[0]);
    dir.remove();
}

#[tokio::test]
async fn a_backup_file_error_names_the_file_once() {
    let full = db(test_path!("errors_backup_file"), "full").await;
    let dir = Workdir::with_profiles("errors-backup", &[("full", full.url())], SCHEMA_SECTIONS);
    dir.write("bad-schema.json", "{");
    let out = run(dir.dba().args([
        "backup",
        "--validate",
        "b.json",
        "--backup-schema",
        "bad-schema.json",
    ]));
    out.code(1);
    assert_eq!(
        error_lines(&out.stderr),
        [
            "error: Failed to load backup schema: invalid JSON in bad-schema.json: \
          EOF while parsing an object at line 1 column 1"
        ],
        "{}",
        out.stderr
    );
    dir.write("truncated.json", "{\"metadata\": ");
    let out = run(dir.dba().args([
        "restore",
        "truncated.json",
        "--profile",
        "full",
        "--user-id",
        "u1",
        "-y",
    ]));
    out.code(1);
    let lines = error_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains("truncated.json"), "{}", out.stderr);
    each_cause_once(lines[0]);
    dir.remove();
    full.drop_db().await;
}

#[tokio::test]
async fn a_failed_row_names_its_reason_once() {
    let (full, empty, dir) = backed_up_pair(
        test_path!("errors_failed_row_src"),
        test_path!("errors_failed_row_dst"),
        "errors-failed-row",
    )
    .await;
    // A column the destination lacks: the first row fails.
    dir.write("b.json", &dir.read("b.json").replace("\"name\"", "\"nme\""));
    let out = run(dir.dba().args([
        "restore",
        "b.json",
        "--profile",
        "empty",
        "--user-id",
        "u1",
        "-y",
    ]));
    out.code(1);
    let lines = error_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    let line = lines[0];
    assert!(
        line.starts_with("error: Restore failed: categories row 0 (pk 1, key 'tools') failed: "),
        "{line}"
    );
    assert_eq!(line.matches("does not exist").count(), 1, "{line}");
    assert!(line.ends_with("; nothing was committed"), "{line}");
    dir.remove();
    full.drop_db().await;
    empty.drop_db().await;
}
