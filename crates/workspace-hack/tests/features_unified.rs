//! Every member built alone resolves its dependencies with the same features as the whole
//! workspace with all targets (what `cargo test --workspace` builds), so `cargo run --release
//! -p pfsense-mcp`, `cargo build --workspace` and `cargo test --workspace` never rebuild each
//! other's dependencies. Asked of `cargo tree`, which resolves features like a build does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Members that build for the target and depend on workspace-hack. The macro's host-only
/// crates (pfsense-spec, pfsense-codegen, pfsense-mcp-macros) are built inside these.
const MEMBERS: [&str; 5] = [
    "pfsense-mcp",
    "pfsense-emulator",
    "vm-harness",
    "xtask",
    "tests",
];

/// `name vX.Y.Z [features]` of every package in the selection's dependency graph.
fn resolved(selection: &[&str], edges: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args([
            "tree",
            "--locked",
            "--prefix",
            "none",
            "-f",
            "{p} [{f}]",
            "-e",
            edges,
        ])
        .args(selection)
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree {selection:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.replace(" (*)", "").replace(" (proc-macro)", ""))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// The largest feature set each package is resolved with: `name vX.Y.Z` to its features.
/// A package built for the host (a proc macro's dependency) and for the target appears once
/// per feature set; the target's is the largest when workspace-hack does its job.
fn widest(lines: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut widest: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in lines {
        let Some((package, features)) = line.split_once(" [") else {
            continue;
        };
        let features: BTreeSet<String> = features
            .trim_end_matches(']')
            .split(',')
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect();
        let entry = widest.entry(package.to_string()).or_default();
        if features.len() > entry.len() {
            *entry = features;
        }
    }
    widest
}

#[test]
fn each_member_alone_gets_the_workspace_features() {
    let workspace = resolved(&["--workspace"], "normal,build,dev");
    let workspace_widest = widest(&workspace);
    let mut differing = Vec::new();
    for member in MEMBERS {
        let alone = resolved(&["-p", member], "normal,build");
        for line in &alone {
            if !workspace.contains(line) {
                differing.push(format!("{member}: {line}"));
            }
        }
        // A feature set the workspace also has is not enough: when the member alone never
        // asks for the package's widest set, its host and target builds share the narrower
        // one, and the workspace build compiles the member against another variant (seen
        // with miniz_oxide: `cargo build --release -p pfsense-mcp` after the workspace build
        // recompiled pfsense-mcp).
        for (package, features) in widest(&alone) {
            if let Some(wide) = workspace_widest.get(&package)
                && *wide != features
            {
                let wide: Vec<&str> = wide.iter().map(String::as_str).collect();
                differing.push(format!("{member}: {package} [{}]", wide.join(",")));
            }
        }
    }
    assert!(
        differing.is_empty(),
        "built alone, these members resolve dependencies with other features than the \
         workspace build, so the two builds rebuild each other; add the package to \
         crates/workspace-hack/Cargo.toml with the workspace's features ([dependencies], or \
         [build-dependencies] for host builds):\n{}",
        differing.join("\n")
    );
}

/// A package the workspace build needs both for the host (the macro and its pfsense-spec,
/// proc macros, build scripts) and for the target is one compile only when both builds resolve
/// it with the same features (and, in `Cargo.toml`, the same opt-level): otherwise a release
/// workspace build compiles pfsense-spec, serde_json, syn and the crates between twice (about
/// 78 s of a measured clean build's 1,088 s of compile time: BENCHMARKS.md, "Build profile").
#[test]
fn host_and_target_builds_resolve_the_same_features() {
    // With the target named, `cargo tree` keeps the host's and the target's resolution apart,
    // as a build does; without it, it shows one of them.
    let host = host_triple();
    let workspace = resolved(&["--workspace", "--target", &host], "normal,build");
    let mut feature_sets: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in &workspace {
        if let Some((package, features)) = line.split_once(" [") {
            feature_sets.entry(package).or_default().push(features);
        }
    }
    let twice: Vec<String> = feature_sets
        .iter()
        .filter(|(_, sets)| sets.len() > 1)
        .map(|(package, sets)| format!("{package}: [{}", sets.join(" and [")))
        .collect();
    assert!(
        twice.is_empty(),
        "built for the host and for the target with different features, so compiled twice; add \
         the wider features to crates/workspace-hack/Cargo.toml's [build-dependencies] (host) \
         or [dependencies] (target):\n{}",
        twice.join("\n")
    );
}

/// The triple rustc builds for when no target is named.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}
