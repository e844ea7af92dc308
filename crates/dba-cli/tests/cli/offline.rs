//! Parsing, help and usage errors: no database needed.

use assert_cmd::Command;
use predicates::prelude::*;

fn dba() -> Command {
    let mut cmd = Command::cargo_bin("dba").unwrap();
    cmd.env_remove("DB_PROFILE")
        .env_remove("DATABASE_URL")
        .env_remove("DBA_CONFIG")
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn no_command_is_a_usage_error() {
    dba()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage"));
}

#[test]
fn unknown_flag_is_a_usage_error() {
    dba().args(["connect", "--nope"]).assert().code(2);
    dba()
        .args(["restore", "b.json", "--mode", "merge"])
        .assert()
        .code(2);
}

#[test]
fn sync_requires_from() {
    dba()
        .args(["sync", "--tables", "items", "--user-id", "abc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--from"));
}

#[test]
fn help_lists_every_verb() {
    let assert = dba().arg("--help").assert().success();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for verb in [
        "connect",
        "status",
        "profiles",
        "validate",
        "fix",
        "sync",
        "backup",
        "restore",
        "completions",
    ] {
        assert!(out.contains(verb), "--help lacks {verb}:\n{out}");
    }
    dba().args(["restore", "--help"]).assert().success().stdout(
        predicate::str::contains("--keep-ids").and(predicate::str::contains("--continue-on-error")),
    );
}

#[test]
fn completions_for_bash() {
    dba()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("_dba()"));
}
