//! The symbol ordering file handed to the linker, made from `link-order.txt` (written by
//! `cargo xtask link-order`, which records the functions; see build.rs). Shared with xtask,
//! which tests it.

/// The ordering file for `list`, a `link-order.txt`: one symbol per line, `#` starting a
/// comment. The linker places each symbol's section in this order ahead of the rest of the
/// code; a name it does not find (another toolchain or lock file changed the hashes) is skipped.
pub fn ordering_file(list: &str) -> String {
    let mut out = String::with_capacity(list.len());
    for symbol in list
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && linkable(line))
    {
        out.push_str(symbol);
        out.push('\n');
    }
    out
}

/// Whether `symbol` can name a function's code: callgrind also reports pseudo-functions such as
/// `(below main)`, and addresses it found no symbol for as `0x...`.
pub fn linkable(symbol: &str) -> bool {
    !symbol.is_empty()
        && !symbol.starts_with("0x")
        && symbol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
}
