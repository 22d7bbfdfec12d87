//! What `cargo xtask bench` compares the server's run cost with, and the state it runs in: the
//! bare rmcp server (`examples/bare-mcp.rs`), a user's state directory (audit
//! log and journal on, as without `--sandbox`), and one holding a 200k-entry audit log.

use anyhow::{Result, bail};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A state home (`XDG_STATE_HOME`) removed when dropped; the server keeps its audit log and
/// journal in `<home>/pfsense-mcp/`.
pub struct StateHome(PathBuf);

impl StateHome {
    pub fn new(name: &str) -> Result<StateHome> {
        let dir = std::env::temp_dir().join(format!("pfsense-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pfsense-mcp"))?;
        Ok(StateHome(dir))
    }

    pub fn home(&self) -> &Path {
        &self.0
    }

    /// The server's state directory inside it.
    pub fn state(&self) -> PathBuf {
        self.0.join("pfsense-mcp")
    }

    pub fn audit_log(&self) -> PathBuf {
        self.state().join("audit.jsonl")
    }
}

impl Drop for StateHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write an audit log of `entries` chained read calls, as the server writes them (each
/// line's `prev` the SHA-256 of the line before), and check it with `audit verify`.
pub fn write_audit_log(binary: &Path, path: &Path, entries: u64) -> Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut prev = "0".repeat(64);
    for seq in 1..=entries {
        let line = format!(
            r#"{{"seq":{seq},"time":"2026-12-01T00:00:00.000Z","firewall":"default","tool":"pfsense_get_system_version","caller":"stdio","outcome":"executed","arguments":{{}},"request":{{"method":"GET","path":"/api/v2/system/version"}},"response_id":"SUCCESS","change_id":null,"message":null,"prev":"{prev}"}}"#
        );
        prev = hex::encode(Sha256::digest(line.as_bytes()));
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let verify = Command::new(binary)
        .args(["audit", "verify"])
        .arg(path)
        .env_clear()
        .output()?;
    if !verify.status.success() {
        bail!(
            "the generated audit log does not verify: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    Ok(std::fs::metadata(path)?.len())
}
