//! The test guest: a Debian kernel + busybox initramfs running `pfsense-emulator` on 443,
//! built once from Debian packages into a cache under the target dir (vm-harness's builder).

use std::path::{Path, PathBuf};

/// False (saying so) when VM tests are skipped with PFSENSE_SKIP_VM_TESTS=1; panics when QEMU
/// is missing otherwise, so a machine without QEMU never passes them silently.
pub fn vm_tests_enabled() -> bool {
    if vm_harness::vm::find_program(Path::new("qemu-system-x86_64")).is_some() {
        return true;
    }
    if std::env::var("PFSENSE_SKIP_VM_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: qemu-system-x86_64 is missing and PFSENSE_SKIP_VM_TESTS=1");
        return false;
    }
    panic!(
        "qemu-system-x86_64 not found: install it (`apt-get install qemu-system-x86`), or set PFSENSE_SKIP_VM_TESTS=1"
    );
}

/// Build (or reuse) the emulator guest and return its golden-image descriptor.
pub fn emulator_guest(cache: &Path) -> PathBuf {
    let emulator = crate::binary::workspace_binary("pfsense-emulator", "pfsense-emulator");
    let spec = crate::spec_path();
    assert!(spec.is_file(), "{} not found", spec.display());
    vm_harness::guest::GuestBuilder::new(
        cache,
        vm_harness::guest::GuestService::Binary {
            binary: emulator,
            args: vec![
                "--spec".into(),
                "/app/openapi-spec.json".into(),
                "--listen".into(),
                "0.0.0.0:443".into(),
            ],
            files: vec![(spec, "/app/openapi-spec.json".into())],
        },
    )
    .build()
    .unwrap_or_else(|e| panic!("building the test guest failed: {e}"))
}
