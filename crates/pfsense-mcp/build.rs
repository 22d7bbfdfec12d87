//! Link options of the release `pfsense-mcp` binary that make it smaller without changing any
//! crate's code or profile, so neither the dependencies nor the generated tools recompile for
//! them: only the final link reads them (BENCHMARKS.md, "Build profile").
//!
//! - `-z pack-relative-relocs` (DT_RELR): the binary is position-independent, so every pointer
//!   in a static (the tool table, vtables, string tables) needs a relocation; as RELA entries
//!   they were 1.2 MB (24 bytes each), packed they are a few KB. Needs a glibc that reads
//!   DT_RELR (2.36 and later): only passed when the C library linked against declares
//!   `GLIBC_ABI_DT_RELR` (and only for a native x86_64 build, whose C library that is), so the
//!   binary always runs where it was built.
//!
//! Identical code folding (lld's `--icf`) was measured and is not used: `safe` folded nothing,
//! `all` would give C functions compared by address (SQLite's) one address.
//!
//! `PFSENSE_MCP_PLAIN_LINK=1` turns it off. Debug builds are left alone.

fn main() {
    println!("cargo::rerun-if-env-changed=PFSENSE_MCP_PLAIN_LINK");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("PROFILE") != "release"
        || !env("PFSENSE_MCP_PLAIN_LINK").is_empty()
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
