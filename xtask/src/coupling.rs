//! `cargo xtask coupling-check`: the layer table and the checks that enforce it.
//!
//! The tables below are the single source of truth for which crate may see
//! which; `docs/ARCHITECTURE.md` explains them in prose and `deny.toml`
//! restates part of them as a second net.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use cargo_metadata::{CargoOpt, DependencyKind, Metadata, MetadataCommand, Package};

/// Every library and binary crate, bottom-up. Every edge, dev- and
/// build-dependencies included, must point to a strictly lower layer; crates
/// in the same layer never see each other.
const LAYERS: &[&[&str]] = &[
    /* 0 */ &["dba-core", "dba-config"],
    /* 1 */ &["dba-postgres", "dba-supabase"],
    /* 2 */ &["dba-schema"],
    /* 3 */ &["dba-backup"],
    /* 4 */ &["dba"],
    /* 5 */ &["dba-cli"],
];

/// Test kits: dev-dependencies only, and they see layer 0 only.
const TEST_ONLY: &[&str] = &["dba-testkit"];

/// Tools: nothing depends on them, and they depend on external crates only.
const TOOLS: &[&str] = &["xtask"];

/// The facade re-exports every crate below it; all but these are optional.
const FACADE: &str = "dba";
const FACADE_REQUIRED: &[&str] = &["dba-core"];

/// External crates that must stay out of a crate's *normal* dependency
/// closure (dev-dependencies may use them).
const BANNED: &[(&str, &[&str])] = &[
    (
        "dba-core",
        &[
            "tokio-postgres",
            "deadpool-postgres",
            "postgrest",
            "reqwest",
            "clap",
            "anyhow",
            "tokio",
            "sqlx",
        ],
    ),
    (
        "dba-config",
        &[
            "tokio-postgres",
            "deadpool-postgres",
            "postgrest",
            "reqwest",
            "clap",
            "anyhow",
            "tokio",
        ],
    ),
    ("dba-postgres", &["postgrest", "reqwest", "clap", "anyhow"]),
    (
        "dba-supabase",
        &["tokio-postgres", "deadpool-postgres", "clap", "anyhow"],
    ),
    (
        "dba-schema",
        &[
            "tokio-postgres",
            "deadpool-postgres",
            "postgrest",
            "reqwest",
            "clap",
            "anyhow",
        ],
    ),
    (
        "dba-backup",
        &[
            "tokio-postgres",
            "deadpool-postgres",
            "postgrest",
            "reqwest",
            "clap",
            "anyhow",
        ],
    ),
    ("dba", &["clap", "anyhow"]),
];

/// Checks the workspace of `manifest`, prints one line per violation to
/// stderr, and fails if there is any.
pub(crate) fn run(manifest: &Path) -> Result<()> {
    // In CI the lock file must already be right; locally cargo may refresh it.
    let options = if std::env::var_os("CI").is_some() {
        vec!["--locked".to_owned()]
    } else {
        vec![]
    };
    let metadata = load(manifest, options)?;
    let errors = violations(&metadata);
    for error in &errors {
        eprintln!("coupling-check: {error}");
    }
    if !errors.is_empty() {
        bail!(
            "coupling-check: {} violation(s); see docs/ARCHITECTURE.md",
            errors.len()
        );
    }
    println!("coupling-check: ok");
    Ok(())
}

/// Runs `cargo metadata` with every feature on, so optional dependencies are
/// part of the graph.
pub(crate) fn load(manifest: &Path, options: Vec<String>) -> Result<Metadata> {
    MetadataCommand::new()
        .manifest_path(manifest)
        .features(CargoOpt::AllFeatures)
        .other_options(options)
        .exec()
        .with_context(|| format!("cargo metadata failed for {}", manifest.display()))
}

/// Every violation of the layering in `metadata`, one message each.
pub(crate) fn violations(metadata: &Metadata) -> Vec<String> {
    let members = metadata.workspace_packages();
    let mut errors = coverage(&members);
    errors.extend(edges(&members));
    errors.extend(banned_externals(metadata, &members));
    errors.extend(facade_features(&members));
    errors
}

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&name))
}

/// The table and the workspace must list the same crates.
fn coverage(members: &[&Package]) -> Vec<String> {
    let names: BTreeSet<&str> = members.iter().map(|p| p.name.as_str()).collect();
    let mut errors = Vec::new();
    for name in &names {
        if layer_of(name).is_none() && !TEST_ONLY.contains(name) && !TOOLS.contains(name) {
            errors.push(format!(
                "{name} is a workspace member but has no layer in xtask/src/coupling.rs"
            ));
        }
    }
    let table = LAYERS
        .iter()
        .flat_map(|layer| layer.iter())
        .chain(TEST_ONLY)
        .chain(TOOLS);
    for name in table {
        if !names.contains(name) {
            errors.push(format!(
                "{name} is in the layer table but not in the workspace"
            ));
        }
    }
    errors
}

/// Direct edges between workspace crates, of every dependency kind.
fn edges(members: &[&Package]) -> Vec<String> {
    let names: BTreeSet<&str> = members.iter().map(|p| p.name.as_str()).collect();
    let mut errors = BTreeSet::new();
    for pkg in members {
        let from = pkg.name.as_str();
        for dep in &pkg.dependencies {
            let to = dep.name.as_str();
            if !names.contains(to) {
                continue;
            }
            let kind = match dep.kind {
                DependencyKind::Development => "dev-dependency",
                DependencyKind::Build => "build-dependency",
                _ => "dependency",
            };
            if TOOLS.contains(&to) {
                errors.insert(format!(
                    "{from} -> {to} ({kind}): nothing may depend on a tool crate"
                ));
            } else if TOOLS.contains(&from) {
                errors.insert(format!(
                    "{from} -> {to} ({kind}): tools depend on external crates only"
                ));
            } else if TEST_ONLY.contains(&to) {
                if dep.kind != DependencyKind::Development {
                    errors.insert(format!(
                        "{from} -> {to} ({kind}): test kits are dev-dependencies only"
                    ));
                }
            } else if TEST_ONLY.contains(&from) {
                if layer_of(to) != Some(0) {
                    errors.insert(format!(
                        "{from} -> {to} ({kind}): test kits may depend on layer 0 only"
                    ));
                }
            } else if let (Some(lf), Some(lt)) = (layer_of(from), layer_of(to)) {
                // Dev-dependencies follow the same rule: an upward
                // dev-dependency is how a hidden cycle creeps in.
                if lt >= lf {
                    errors.insert(format!(
                        "{from} (layer {lf}) -> {to} (layer {lt}) ({kind}): dependencies must point to a lower layer"
                    ));
                }
            }
        }
    }
    errors.into_iter().collect()
}

/// Banned external crates, through the whole normal-dependency closure.
fn banned_externals(metadata: &Metadata, members: &[&Package]) -> Vec<String> {
    let mut errors = Vec::new();
    for (name, banned) in BANNED {
        let Some(pkg) = members.iter().find(|p| p.name.as_str() == *name) else {
            continue;
        };
        let reached = normal_closure(metadata, pkg);
        for hit in banned.iter().filter(|b| reached.contains(*b)) {
            errors.push(format!(
                "{name} pulls in {hit}, which its layer must not use"
            ));
        }
    }
    errors
}

/// Names of all packages reachable from `root` through normal dependencies.
///
/// The resolve graph has features unified across the workspace, so this errs
/// on the side of reporting too much, never too little.
fn normal_closure<'a>(metadata: &'a Metadata, root: &Package) -> BTreeSet<&'a str> {
    let Some(resolve) = &metadata.resolve else {
        return BTreeSet::new();
    };
    let nodes: BTreeMap<_, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![&root.id];
    while let Some(id) = stack.pop() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            let normal = dep
                .dep_kinds
                .iter()
                .any(|k| k.kind == DependencyKind::Normal);
            if normal && seen.insert(&dep.pkg) {
                stack.push(&dep.pkg);
            }
        }
    }
    seen.into_iter()
        .map(|id| metadata[id].name.as_str())
        .collect()
}

/// The facade exposes every optional crate as a feature of the same short
/// name (`dba-postgres` -> `postgres`) that enables `dep:<crate>`, and `full`
/// enables all of them.
fn facade_features(members: &[&Package]) -> Vec<String> {
    // A missing facade is already a coverage error.
    let Some(facade) = members.iter().find(|p| p.name.as_str() == FACADE) else {
        return Vec::new();
    };
    let Some(facade_layer) = layer_of(FACADE) else {
        return Vec::new();
    };
    let empty = Vec::new();
    let full = facade.features.get("full").unwrap_or(&empty);
    let optional = LAYERS[..facade_layer].iter().flat_map(|layer| layer.iter());
    let mut errors = Vec::new();
    for crate_name in optional.filter(|c| !FACADE_REQUIRED.contains(c)) {
        let feature = crate_name.trim_start_matches("dba-");
        let enables = facade.features.get(feature).unwrap_or(&empty);
        let dep = format!("dep:{crate_name}");
        if !enables.contains(&dep) {
            errors.push(format!(
                "facade feature `{feature}` must exist and enable `{dep}`"
            ));
        }
        if !full.iter().any(|f| f == feature) {
            errors.push(format!("facade feature `full` must include `{feature}`"));
        }
    }
    errors
}

#[cfg(test)]
mod tests;
