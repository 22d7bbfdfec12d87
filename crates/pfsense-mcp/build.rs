//! Link options of the release `pfsense-mcp` binary that make it smaller without changing any
//! crate's code or profile, so neither the dependencies nor the generated tools recompile for
//! them: only the final link reads them (BENCHMARKS.md, "Build profile").
//!
//! - `-z pack-relative-relocs` (DT_RELR): the binary is position-independent, so every pointer
//!   in a static (the tool table, vtables, string tables) needs a relocation; as RELA entries
//!   they were 1.2 MB (24 bytes each), packed they are a few KB. Needs a glibc that reads
//!   DT_RELR (2.36 and later): only passed when the C library linked against declares
//!   `GLIBC_ABI_DT_RELR`, so the binary always runs where it was built.
//! - `--icf=safe` (identical code folding, lld only): one copy of functions whose machine code
//!   is identical (the same generic instantiated in several crates or codegen units). Only
//!   passed when rustc links with its own lld (the default for x86_64 Linux since Rust 1.90)
//!   and no other linker is configured.
//!
//! `PFSENSE_MCP_PLAIN_LINK=1` turns both off. Debug builds are left alone.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=PFSENSE_MCP_PLAIN_LINK");
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("PROFILE") != "release"
        || !env("PFSENSE_MCP_PLAIN_LINK").is_empty()
        || env("CARGO_CFG_TARGET_OS") != "linux"
        || env("CARGO_CFG_TARGET_ENV") != "gnu"
    {
        return;
    }
    if glibc_reads_relr() {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    if links_with_rust_lld(
        &env("CARGO_CFG_TARGET_ARCH"),
        &env("RUSTC_LINKER"),
        &env("CARGO_ENCODED_RUSTFLAGS"),
    ) {
        println!("cargo::rustc-link-arg-bins=-Wl,--icf=safe");
    }
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

/// rustc links x86_64 Linux binaries with its own lld from 1.90 on, unless a linker is set
/// (`target.<triple>.linker`, which cargo passes as `RUSTC_LINKER`) or rustflags choose one.
fn links_with_rust_lld(arch: &str, linker: &str, rustflags: &str) -> bool {
    if arch != "x86_64" || !linker.is_empty() {
        return false;
    }
    if ["linker", "link-self-contained", "fuse-ld", "link-arg"]
        .iter()
        .any(|f| rustflags.contains(f))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (…)"
    let version = String::from_utf8_lossy(&out.stdout);
    let mut parts = version
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 1 || (major == 1 && minor >= 90)
}
