//! The product's MCP tools against a real QEMU guest booted through vm-harness: a small Debian
//! kernel + busybox initramfs running `pfsense-emulator` on 443, reached through the harness's
//! forwarded loopback port. A VM snapshot/restore round trip undoes an alias created through
//! MCP, and nothing of the run is left afterwards.
//!
//! Needs `qemu-system-x86_64` (Debian package qemu-system-x86) and `apt-get download` access to
//! the Debian archive; without QEMU this FAILS unless PFSENSE_SKIP_VM_TESTS=1.

use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use tests::mcp::{McpSession, is_error, structured, text};
use vm_harness::{GoldenImage, Vm, VmOptions};

/// The emulator prints its ready line (with the certificate fingerprint) into the guest's
/// service log: read it through the serial console, and pin exactly that certificate.
fn fingerprint_from_console(vm: &mut vm_harness::RunningVm) -> String {
    let pin = regex::bytes::Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let console = vm.console();
    console.discard_pending();
    console.send(b"cat /tmp/service.log\r").unwrap();
    match console.expect(&[pin], Duration::from_secs(30)).unwrap() {
        vm_harness::console::Expected::Matched { text, .. } => {
            let found = regex::Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
            found
                .find(&text)
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| panic!("no fingerprint in {text}"))
        }
        other => panic!(
            "no fingerprint on the console ({other:?}): {}",
            console.tail(2000)
        ),
    }
}

async fn alias_names(s: &McpSession) -> Vec<String> {
    // The first call after a restore may meet a connection the restored guest never had.
    for attempt in 0..3 {
        let r = s
            .call("pfsense_list_firewall_aliases", json!({}))
            .await
            .unwrap();
        if !is_error(&r) {
            return structured(&r)["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a["name"].as_str().map(String::from))
                .collect();
        }
        eprintln!("list attempt {attempt}: {}", text(&r));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("listing aliases through MCP kept failing");
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_tools_run_against_a_qemu_guest_and_restore_undoes_an_alias() {
    if !tests::vm::vm_tests_enabled() {
        return;
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vm-guest-cache");
    let descriptor = tokio::task::spawn_blocking(move || tests::vm::emulator_guest(&cache))
        .await
        .unwrap();
    let golden = GoldenImage::load(&descriptor).unwrap();
    let runs_root = tempfile::tempdir().unwrap();
    let options = VmOptions {
        memory_mib: 512,
        runs_root: runs_root.path().to_owned(),
        readiness: Some(std::sync::Arc::new(vm_harness::PfSenseApiProbe::new(
            Default::default(),
        ))),
        ..VmOptions::default()
    };
    let started = Instant::now();
    let mut vm = tokio::task::block_in_place(|| Vm::boot(&golden, options))
        .unwrap_or_else(|e| panic!("{e}"));
    let qemu_pid = vm.qemu_pid();
    let run_dir = vm.run_dir().to_owned();
    tokio::task::block_in_place(|| vm.wait_ready(Duration::from_secs(120)))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "guest ready after {:?} ({:?})",
        started.elapsed(),
        vm.accelerator().accelerator
    );
    let fingerprint = tokio::task::block_in_place(|| fingerprint_from_console(&mut vm));

    let base = vm.base_url();
    let session = McpSession::spawn(
        &tests::binary::pfsense_mcp(),
        &[],
        &[
            ("PFSENSE_HOST", base.as_str()),
            ("PFSENSE_USERNAME", "admin"),
            ("PFSENSE_PASSWORD", "pfsense"),
            ("PFSENSE_TLS_FINGERPRINT", fingerprint.as_str()),
            ("PFSENSE_TOOL_MODE", "full"),
        ],
    )
    .await
    .expect("start pfsense-mcp");
    let r = session
        .call("pfsense_get_system_version", json!({}))
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    assert!(
        !alias_names(&session)
            .await
            .contains(&"vm_mcp_alias".to_string())
    );

    tokio::task::block_in_place(|| vm.snapshot("clean")).unwrap_or_else(|e| panic!("{e}"));
    let r = session
        .call(
            "pfsense_create_firewall_alias",
            json!({"name": "vm_mcp_alias", "type": "host", "address": ["192.0.2.44"], "confirm": true}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    assert!(
        alias_names(&session)
            .await
            .contains(&"vm_mcp_alias".to_string())
    );

    tokio::task::block_in_place(|| {
        vm.restore("clean")?;
        vm.wait_ready(Duration::from_secs(60)).map(|_| ())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !alias_names(&session)
            .await
            .contains(&"vm_mcp_alias".to_string()),
        "the snapshot restore did not undo the alias"
    );
    session.close().await;

    drop(vm);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{qemu_pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stat = std::fs::read_to_string(format!("/proc/{qemu_pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "QEMU {qemu_pid} is still running"
    );
    assert!(!run_dir.exists(), "{} is still there", run_dir.display());
}
