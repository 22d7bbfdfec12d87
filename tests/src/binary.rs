//! Locate (and build, once per test process) the real `pfsense-mcp` binary.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The target directory this test binary was built into (…/target).
fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // …/target/<profile>/deps/<test-binary>
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .and_then(|profile| profile.parent())
        .map(PathBuf::from)
        .expect("test binary lives in target/<profile>/deps")
}

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .expect("test binary lives in target/<profile>/deps")
}

/// `cargo` with the environment a shell would give it. cargo runs a test with the test crate's
/// `CARGO_PKG_*`, `CARGO_MANIFEST_*`, `CARGO_CRATE_NAME`…; ring's build script tracks several of
/// them (`rerun-if-env-changed`), so a nested build inheriting them rebuilds ring and everything
/// above it, and the next shell build rebuilds them back (xtask's `shell_cargo` does the same).
pub fn shell_cargo() -> Command {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_the_running_crate = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
            "CARGO_TARGET_TMPDIR",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        if set_for_the_running_crate {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}

/// Path of a workspace binary, built with `cargo build` first so tests never run a stale one.
/// `PFSENSE_MCP_BIN` (or `<NAME>_BIN` upper-cased) overrides it.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<String>>> = OnceLock::new();
    let env_name = format!("{}_BIN", bin.to_uppercase().replace('-', "_"));
    if let Ok(p) = std::env::var(&env_name) {
        return PathBuf::from(p);
    }
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let path = profile_dir().join(bin);
    if !built.iter().any(|b| b == bin) {
        let profile = profile_dir();
        let release = profile.file_name().is_some_and(|n| n == "release");
        let mut cmd = shell_cargo();
        cmd.args(["build", "--quiet", "-p", package, "--bin", bin])
            .env("CARGO_TARGET_DIR", target_dir());
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build -p {package} --bin {bin} failed"
        );
        built.push(bin.to_string());
    }
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The `pfsense-mcp` binary.
pub fn pfsense_mcp() -> PathBuf {
    workspace_binary("pfsense-mcp", "pfsense-mcp")
}
