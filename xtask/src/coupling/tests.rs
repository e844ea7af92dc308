//! Tests for coupling-check: each plants one kind of violation in a scratch workspace.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::coupling::{load, violations};

/// Manifest tails (everything after `[package]`) keyed by crate directory.
/// `ROOT` is replaced by the scratch workspace's path.
type Crates = BTreeMap<String, String>;

/// A workspace shaped like the real one, with no violations.
fn baseline() -> Crates {
    let mut crates = Crates::new();
    let mut add = |dir: &str, tail: &str| crates.insert(dir.to_owned(), tail.to_owned());
    add("crates/dba-core", "");
    add("crates/dba-config", "");
    add(
        "crates/dba-postgres",
        &(deps("dependencies", &["dba-core"]) + &deps("dev-dependencies", &["dba-testkit"])),
    );
    add("crates/dba-supabase", &deps("dependencies", &["dba-core"]));
    add("crates/dba-schema", &deps("dependencies", &["dba-core"]));
    add(
        "crates/dba-backup",
        &deps("dependencies", &["dba-core", "dba-schema"]),
    );
    add(
        "crates/dba",
        r#"
[features]
default = ["postgres", "config"]
full = ["postgres", "supabase", "config", "schema", "backup"]
postgres = ["dep:dba-postgres"]
supabase = ["dep:dba-supabase"]
config = ["dep:dba-config"]
schema = ["dep:dba-schema"]
backup = ["dep:dba-backup", "schema"]

[dependencies]
dba-core = { path = "ROOT/crates/dba-core" }
dba-postgres = { path = "ROOT/crates/dba-postgres", optional = true }
dba-supabase = { path = "ROOT/crates/dba-supabase", optional = true }
dba-config = { path = "ROOT/crates/dba-config", optional = true }
dba-schema = { path = "ROOT/crates/dba-schema", optional = true }
dba-backup = { path = "ROOT/crates/dba-backup", optional = true }
"#,
    );
    add(
        "crates/dba-cli",
        "\n[dependencies]\ndba = { path = \"ROOT/crates/dba\", features = [\"full\"] }\n",
    );
    add("crates/dba-testkit", &deps("dependencies", &["dba-core"]));
    add("xtask", "");
    crates
}

/// A `[<section>.<name>]` table per dependency, so tests can append more
/// tables of the same section without repeating a header.
fn deps(section: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("\n[{section}.{name}]\npath = \"ROOT/{}\"\n", dir_of(name)))
        .collect()
}

fn dir_of(name: &str) -> String {
    match name {
        "xtask" => "xtask".to_owned(),
        _ if name.starts_with("dba") => format!("crates/{name}"),
        _ => format!("vendor/{name}"),
    }
}

/// Appends dependencies to the crate `name`.
fn add_deps(crates: &mut Crates, name: &str, section: &str, names: &[&str]) {
    crates
        .get_mut(&dir_of(name))
        .unwrap()
        .push_str(&deps(section, names));
}

/// Writes `crates` as a scratch workspace, runs the check and deletes it.
fn check(crates: &Crates) -> Vec<String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let unique = format!(
        "dba-xtask-coupling-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let scratch = Scratch(std::env::temp_dir().join(unique));
    let root = &scratch.0;
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"crates/*\", \"xtask\"]\nexclude = [\"vendor\"]\n",
    )
    .unwrap();
    for (dir, tail) in crates {
        let name = dir.rsplit('/').next().unwrap();
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n{tail}"
        );
        std::fs::create_dir_all(root.join(dir).join("src")).unwrap();
        std::fs::write(
            root.join(dir).join("Cargo.toml"),
            manifest.replace("ROOT", &root.to_string_lossy()),
        )
        .unwrap();
        std::fs::write(root.join(dir).join("src/lib.rs"), "").unwrap();
    }
    let metadata = load(&root.join("Cargo.toml"), vec!["--offline".to_owned()])
        .unwrap_or_else(|err| panic!("{err:#}"));
    violations(&metadata)
}

/// Deletes the scratch workspace even when an assertion fails.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[track_caller]
fn assert_reported(errors: &[String], expected: &str) {
    assert!(
        errors.iter().any(|e| e == expected),
        "expected the violation\n  {expected}\namong\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn real_workspace_respects_the_layers() {
    // Like rust-analyzer's tidy test: `cargo test` alone catches a violation.
    let metadata = load(&crate::project_root().join("Cargo.toml"), Vec::new()).unwrap();
    let errors = violations(&metadata);
    assert!(
        errors.is_empty(),
        "coupling-check violations:\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn baseline_scratch_workspace_is_clean() {
    assert_eq!(check(&baseline()), Vec::<String>::new());
}

#[test]
fn member_without_a_layer() {
    let mut crates = baseline();
    crates.insert("crates/dba-extra".to_owned(), String::new());
    assert_reported(
        &check(&crates),
        "dba-extra is a workspace member but has no layer in xtask/src/coupling.rs",
    );
}

#[test]
fn layer_table_names_a_missing_crate() {
    let mut crates = baseline();
    crates.remove("crates/dba-supabase");
    let facade = crates.get_mut("crates/dba").unwrap();
    *facade = facade
        .lines()
        .filter(|line| !line.contains("dba-supabase"))
        .map(|line| line.replace(", \"supabase\"", "") + "\n")
        .collect();
    let errors = check(&crates);
    assert_reported(
        &errors,
        "dba-supabase is in the layer table but not in the workspace",
    );
}

#[test]
fn same_layer_edge() {
    let mut crates = baseline();
    add_deps(&mut crates, "dba-core", "dependencies", &["dba-config"]);
    assert_reported(
        &check(&crates),
        "dba-core (layer 0) -> dba-config (layer 0) (dependency): dependencies must point to a lower layer",
    );
}

#[test]
fn upward_dev_dependency() {
    let mut crates = baseline();
    add_deps(&mut crates, "dba-postgres", "dev-dependencies", &["dba"]);
    assert_reported(
        &check(&crates),
        "dba-postgres (layer 1) -> dba (layer 4) (dev-dependency): dependencies must point to a lower layer",
    );
}

#[test]
fn upward_build_dependency() {
    let mut crates = baseline();
    add_deps(
        &mut crates,
        "dba-config",
        "build-dependencies",
        &["dba-supabase"],
    );
    assert_reported(
        &check(&crates),
        "dba-config (layer 0) -> dba-supabase (layer 1) (build-dependency): dependencies must point to a lower layer",
    );
}

#[test]
fn banned_external_directly_and_through_the_closure() {
    let mut crates = baseline();
    crates.insert("vendor/tokio-postgres".to_owned(), String::new());
    crates.insert("vendor/anyhow".to_owned(), String::new());
    crates.insert(
        "vendor/helper".to_owned(),
        deps("dependencies", &["anyhow"]),
    );
    crates.insert("vendor/tokio".to_owned(), String::new());
    add_deps(&mut crates, "dba-core", "dependencies", &["tokio-postgres"]);
    add_deps(&mut crates, "dba-backup", "dependencies", &["helper"]);
    // Dev-dependencies are outside the normal closure, so this one is fine.
    add_deps(&mut crates, "dba-config", "dev-dependencies", &["tokio"]);
    let errors = check(&crates);
    assert_reported(
        &errors,
        "dba-core pulls in tokio-postgres, which its layer must not use",
    );
    assert_reported(
        &errors,
        "dba-backup pulls in anyhow, which its layer must not use",
    );
    assert!(
        !errors.iter().any(|e| e.contains("dba-config pulls in")),
        "{errors:?}"
    );
}

#[test]
fn facade_feature_missing_or_not_in_full() {
    let mut crates = baseline();
    let facade = crates.get_mut("crates/dba").unwrap();
    *facade = facade
        .replace(
            "full = [\"postgres\", \"supabase\",",
            "full = [\"postgres\",",
        )
        .replace(
            "schema = [\"dep:dba-schema\"]",
            "schema = []\nextra = [\"dep:dba-schema\"]",
        );
    let errors = check(&crates);
    assert_reported(&errors, "facade feature `full` must include `supabase`");
    assert_reported(
        &errors,
        "facade feature `schema` must exist and enable `dep:dba-schema`",
    );
}

#[test]
fn nothing_depends_on_xtask() {
    let mut crates = baseline();
    add_deps(&mut crates, "dba-cli", "dev-dependencies", &["xtask"]);
    assert_reported(
        &check(&crates),
        "dba-cli -> xtask (dev-dependency): nothing may depend on a tool crate",
    );
}

#[test]
fn testkit_as_a_normal_dependency() {
    let mut crates = baseline();
    add_deps(&mut crates, "dba-schema", "dependencies", &["dba-testkit"]);
    assert_reported(
        &check(&crates),
        "dba-schema -> dba-testkit (dependency): test kits are dev-dependencies only",
    );
}

#[test]
fn testkit_above_layer_zero() {
    let mut crates = baseline();
    add_deps(
        &mut crates,
        "dba-testkit",
        "dependencies",
        &["dba-supabase"],
    );
    assert_reported(
        &check(&crates),
        "dba-testkit -> dba-supabase (dependency): test kits may depend on layer 0 only",
    );
}
