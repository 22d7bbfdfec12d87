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
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", package, "--bin", bin])
            .env("CARGO_TARGET_DIR", target_dir())
            // The test process has CARGO_MANIFEST_DIR set; ring's build script tracks it, so
            // passing it on would make this build and a shell `cargo build` rebuild each other.
            .env_remove("CARGO_MANIFEST_DIR");
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
