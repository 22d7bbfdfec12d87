//! Link options of the release `pfsense-mcp` binary that make it smaller and quicker to start
//! without changing any crate's code or profile, so neither the dependencies nor the generated
//! tools recompile for them: only the final link reads them (BENCHMARKS.md, "Build profile").
//!
//! - `--strip-all`: symbols are most of an unstripped binary. Passed here rather than as the
//!   profile's `strip = "symbols"` because the profile is part of the crate's symbol hashes: a
//!   build with symbols kept (`PFSENSE_MCP_KEEP_SYMBOLS=1`, what `cargo xtask link-order`
//!   records from) then names every function exactly as the stripped build does. On targets
//!   whose linker is not GNU-like (macOS, Windows) the binary keeps its symbols.
//! - `-z pack-relative-relocs` (DT_RELR): the binary is position-independent, so every pointer
//!   in a static (the tool table, vtables, string tables) needs a relocation; as RELA entries
//!   they were 1.2 MB (24 bytes each), packed they are a few KB. Needs a glibc that reads
//!   DT_RELR (2.36 and later): only passed when the C library linked against declares
//!   `GLIBC_ABI_DT_RELR` (and only for a native x86_64 build, whose C library that is), so the
//!   binary always runs where it was built.
//! - `--symbol-ordering-file` from `link-order.txt` (written by `cargo xtask link-order`): the
//!   code a start, a tools/list and a call run, placed first and together. Scattered through
//!   12 MB of code it made a start map 8 MB of it; together it is about 2 MB. A linker script
//!   doing the same (with wildcards for the hashes) was measured and not used: lld matched
//!   every input section against every pattern, and a relink took 35 s instead of 1. Passed
//!   only when the linker this build uses accepts it (rustc links with lld on this target from
//!   1.90 on; GNU ld does not know the option): a probe links an empty program with it.
//!
//! Identical code folding (lld's `--icf`) was measured and is not used: `safe` folded nothing,
//! `all` would give C functions compared by address (SQLite's) one address.
//!
//! `PFSENSE_MCP_PLAIN_LINK=1` turns off all but the stripping. Debug builds are left alone.

#[path = "build/link_order.rs"]
mod link_order;

use std::path::Path;

/// The functions a start runs, in order, beside this file.
const LINK_ORDER: &str = "link-order.txt";

fn main() {
    println!("cargo::rerun-if-env-changed=PFSENSE_MCP_PLAIN_LINK");
    println!("cargo::rerun-if-env-changed=PFSENSE_MCP_KEEP_SYMBOLS");
    println!("cargo::rerun-if-changed={LINK_ORDER}");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("PROFILE") != "release" {
        return;
    }
    let gnu_like_linker = !matches!(
        env("CARGO_CFG_TARGET_OS").as_str(),
        "macos" | "ios" | "tvos" | "watchos" | "visionos" | "windows"
    );
    if gnu_like_linker && env("PFSENSE_MCP_KEEP_SYMBOLS").is_empty() {
        println!("cargo::rustc-link-arg-bins=-Wl,--strip-all");
    }
    if !env("PFSENSE_MCP_PLAIN_LINK").is_empty()
        || env("CARGO_CFG_TARGET_OS") != "linux"
        || env("CARGO_CFG_TARGET_ENV") != "gnu"
        || env("CARGO_CFG_TARGET_ARCH") != "x86_64"
        || env("HOST") != env("TARGET")
    {
        return;
    }
    if glibc_reads_relr() {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let list = Path::new(&env("CARGO_MANIFEST_DIR")).join(LINK_ORDER);
    if let Ok(list) = std::fs::read_to_string(list) {
        let order = Path::new(&env("OUT_DIR")).join("symbol-order.txt");
        match std::fs::write(&order, link_order::ordering_file(&list)) {
            Ok(())
                if !linker_accepts(&format!("-Wl,--symbol-ordering-file,{}", order.display())) =>
            {
                println!(
                    "cargo::warning=link order not used: the linker does not take --symbol-ordering-file (lld does)"
                );
            }
            Ok(()) => {
                println!(
                    "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file,{}",
                    order.display()
                );
                // Names a build of another toolchain or lock file lacks are expected.
                println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
            }
            Err(e) => println!(
                "cargo::warning=link order not used: {}: {e}",
                order.display()
            ),
        }
    }
}

/// Whether the linker this build uses accepts `arg`: rustc links an empty program for the target
/// with the build's own flags and linker, and `arg`.
fn linker_accepts(arg: &str) -> bool {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let out_dir = Path::new(&env("OUT_DIR")).join("linker-probe");
    if std::fs::create_dir_all(&out_dir).is_err() {
        return false;
    }
    let source = out_dir.join("probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let mut rustc = std::process::Command::new(env("RUSTC"));
    rustc
        .args(["--crate-type=bin", "--crate-name=probe", "--edition=2021"])
        .args(["--target", &env("TARGET")])
        .arg("-o")
        .arg(out_dir.join("probe"))
        .arg(format!("-Clink-arg={arg}"));
    if !env("RUSTC_LINKER").is_empty() {
        rustc.arg(format!("-Clinker={}", env("RUSTC_LINKER")));
    }
    let flags = env("CARGO_ENCODED_RUSTFLAGS");
    rustc.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    rustc
        .arg(&source)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether the C library the binary links against understands DT_RELR: glibc defines the
/// version `GLIBC_ABI_DT_RELR` from 2.36 on, and the linker makes the binary require it.
fn glibc_reads_relr() -> bool {
    const LIBC: [&str; 4] = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
        "/usr/lib64/libc.so.6",
    ];
    let needle = b"GLIBC_ABI_DT_RELR";
    LIBC.iter().any(|path| {
        std::fs::read(path)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}
