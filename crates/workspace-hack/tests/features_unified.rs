//! Every member built alone resolves its dependencies with the same features as the whole
//! workspace with all targets (what `cargo test --workspace` builds), so `cargo run --release
//! -p pfsense-mcp`, `cargo build --workspace` and `cargo test --workspace` never rebuild each
//! other's dependencies. Asked of `cargo tree`, which resolves features like a build does.

use std::collections::BTreeSet;
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

#[test]
fn each_member_alone_gets_the_workspace_features() {
    let workspace = resolved(&["--workspace"], "normal,build,dev");
    let mut differing = Vec::new();
    for member in MEMBERS {
        for line in resolved(&["-p", member], "normal,build") {
            if !workspace.contains(&line) {
                differing.push(format!("{member}: {line}"));
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
