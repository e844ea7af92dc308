//! `dba profiles`: no database access.

use crate::support::{Workdir, run};

#[tokio::test]
async fn lists_profiles_and_marks_the_current_one() {
    let dir = Workdir::with_profiles(
        "profiles-list",
        &[
            ("full", "postgresql://postgres@127.0.0.1:1/full"),
            ("drift", "postgresql://postgres@127.0.0.1:1/drift"),
        ],
        "",
    );
    let out = run(dir.dba().arg("profiles"));
    out.code(0)
        .stdout_has("Database Profiles")
        .stdout_has("full")
        .stdout_has("drift")
        .stdout_has("postgres")
        .stdout_lacks("* = current profile");
    dir.write(".db-profile", "full");
    run(dir.dba().arg("profiles"))
        .code(0)
        .stdout_has("*")
        .stdout_has("* = current profile");
    let doc = run(dir.dba().args(["profiles", "--json"])).code(0).json();
    assert_eq!(doc["current"], "full");
    assert_eq!(doc["profiles"].as_array().unwrap().len(), 2);
    assert_eq!(doc["profiles"][1]["name"], "full");
    assert_eq!(doc["profiles"][1]["current"], true);
    dir.remove();
}

#[tokio::test]
async fn a_missing_or_broken_config_is_an_error() {
    let dir = Workdir::new("profiles-missing");
    run(dir.dba().arg("profiles"))
        .code(1)
        .stderr_has("Database config not found")
        .stderr_has("db.toml");
    let doc = run(dir.dba().args(["profiles", "--json"])).code(1).json();
    assert_eq!(doc["ok"], false);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("Database config not found")
    );
    dir.write("db.toml", "[profiles.x\nurl = 1\n");
    run(dir.dba().arg("profiles"))
        .code(1)
        .stderr_has("db.toml:1:")
        .stderr_has("invalid TOML");
    // --config (and DBA_CONFIG) name another file.
    dir.write(
        "other.toml",
        "[profiles.elsewhere]\nurl = \"postgresql://h/db\"\n",
    );
    run(dir.dba().args(["profiles", "--config", "other.toml"]))
        .code(0)
        .stdout_has("elsewhere");
    run(dir.dba().arg("profiles").env("DBA_CONFIG", "other.toml"))
        .code(0)
        .stdout_has("elsewhere");
    dir.remove();
}
