//! The `pfsense-emulator` binary prints exactly one JSON line once ready and serves on it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_prints_one_ready_line_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pfsense-emulator"))
        .args(["--spec"])
        .arg(common::spec_path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--enable-key-auth",
            "--packages",
            "all",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reader")
    .expect("a line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
    let url = ready["url"].as_str().expect("url").to_string();
    assert!(url.starts_with("https://127.0.0.1:"));
    assert_eq!(ready["username"], "admin");
    assert_eq!(ready["password"], "pfsense");
    let key = ready["api_key"]
        .as_str()
        .expect("key with --enable-key-auth")
        .to_string();
    let fingerprint = ready["fingerprint"].as_str().expect("fingerprint");
    assert!(fingerprint.starts_with("sha256:") && fingerprint.len() == 7 + 64);
    // reqwest has no crypto provider of its own: ring, the workspace's one (workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let r = client
        .get(format!("{url}/api/v2/system/version"))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 200);
    let _ = child.kill();
    let _ = child.wait();
}
