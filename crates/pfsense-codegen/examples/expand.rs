//! Print the generated catalogue of a spec, formatted, and what it is made of.
//!
//! `cargo run -p pfsense-codegen --example expand -- openapi-spec.json > expanded.rs`
//! Counts go to stderr: bytes of the token stream and of the formatted code, items, functions,
//! derives. `cargo xtask bench --build` records them beside the build times.

use pfsense_spec::Spec;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: expand SPEC.json");
        std::process::exit(2);
    };
    let spec = match Spec::load(std::path::Path::new(&path)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let tokens = pfsense_codegen::catalog(&spec);
    let token_bytes = tokens.to_string().len();
    let file: syn::File = match syn::parse2(tokens) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("the generated code does not parse: {e}");
            std::process::exit(1);
        }
    };
    let formatted = prettyplease::unparse(&file);
    let count = |needle: &str| formatted.matches(needle).count();
    eprintln!(
        "tools={} token_bytes={} formatted_bytes={} formatted_lines={} items={} fns={} structs={} derives={}",
        spec.operations.len(),
        token_bytes,
        formatted.len(),
        formatted.lines().count(),
        file.items.len(),
        count("fn "),
        count("pub struct "),
        count("::serde::Serialize")
            + count("::serde::Deserialize")
            + count("::std::fmt::Debug,")
            + count("::std::clone::Clone"),
    );
    print!("{formatted}");
}
