//! `pfsense_tools!("openapi-spec.json")`: one typed MCP tool per pfSense REST API operation.
//!
//! A thin shell: it parses the literal, finds and loads the spec, reports problems naming the
//! spec file and the operation, and keeps rustc tracking the spec. `pfsense-spec` decides
//! everything (names, schemas, risk, apply steps) and `pfsense-codegen` turns that model into
//! tokens. The output refers to the runtime through `::pfsense_mcp::catalog`, so it is meant to
//! be expanded inside the `pfsense-mcp` crate.
//!
//! The spec path is resolved against `PFSENSE_OPENAPI_SPEC` when it is set, else against the
//! invoking crate's directory and its ancestors (so `"openapi-spec.json"` finds the workspace
//! root). The output `include_str!`s the spec into an unused constant and reads the variable with
//! `option_env!`, so rustc rebuilds the tools when the file or the variable changes; the spec
//! itself is embedded deflated (`SPEC_DEFLATED`): v2.7.1's 4.1 MB of JSON become 0.14 MB.

use pfsense_spec::Spec;
use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use std::path::{Path, PathBuf};
use syn::{LitStr, parse_macro_input};

const SPEC_ENV: &str = "PFSENSE_OPENAPI_SPEC";

/// The default level: on v2.7.1's spec within 3% of the best level's size in about two thirds of
/// its time (zlib on this machine: 141 KB in 0.25 s against 137 KB in 0.36 s; level 1: 253 KB).
const SPEC_DEFLATE_LEVEL: u8 = 6;

#[proc_macro]
pub fn pfsense_tools(input: TokenStream) -> TokenStream {
    let lit = parse_macro_input!(input as LitStr);
    match expand(&lit) {
        Ok(tokens) => tokens.into(),
        Err(message) => syn::Error::new(lit.span(), message)
            .to_compile_error()
            .into(),
    }
}

/// Where the spec is: the environment variable wins, then the first ancestor of the invoking
/// crate that holds the given relative path.
fn locate_spec(requested: &str) -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var(SPEC_ENV)
        && !p.trim().is_empty()
    {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "{SPEC_ENV} points to {}, which is not a file. Point it at the REST API's OpenAPI spec, or unset it to use {requested} at the workspace root.",
                p.display()
            ))
        };
    }
    let requested_path = Path::new(requested);
    if requested_path.is_absolute() {
        return if requested_path.is_file() {
            Ok(requested_path.to_path_buf())
        } else {
            Err(missing_message(requested, &[requested_path.to_path_buf()]))
        };
    }
    let start = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("."));
    let mut tried = Vec::new();
    for dir in start.ancestors() {
        let candidate = dir.join(requested_path);
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate);
    }
    Err(missing_message(requested, &tried))
}

fn missing_message(requested: &str, tried: &[PathBuf]) -> String {
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    format!(
        "pfsense_tools!: the OpenAPI spec `{requested}` was not found (looked at: {}).\n\
         Get the spec your firewall serves with `cargo xtask spec pull --host https://FIREWALL` \
         (it is served at GET /api/v2/schema/openapi, no authentication needed), place it at the \
         workspace root as {requested}, or set {SPEC_ENV} to its path.",
        tried.join(", ")
    )
}

fn expand(lit: &LitStr) -> Result<TokenStream2, String> {
    let path = locate_spec(&lit.value())?;
    let spec = Spec::load(&path).map_err(|e| {
        let op = e
            .operation()
            .map(|o| format!(" (operation {o})"))
            .unwrap_or_default();
        format!("pfsense_tools!: {}{op}: {e}", path.display())
    })?;
    let path_str = path
        .canonicalize()
        .unwrap_or(path.clone())
        .display()
        .to_string();
    let catalog = pfsense_codegen::catalog(&spec);
    let json =
        std::fs::read(&path).map_err(|e| format!("pfsense_tools!: {}: {e}", path.display()))?;
    let deflated = proc_macro2::Literal::byte_string(&miniz_oxide::deflate::compress_to_vec(
        &json,
        SPEC_DEFLATE_LEVEL,
    ));
    Ok(quote! {
        // Including the spec makes rustc rebuild on change; unused, it adds nothing to the binary.
        const _: &str = ::core::include_str!(#path_str);
        /// The spec the tools were generated from, raw deflate (`miniz_oxide::inflate`); the
        /// sandbox serves it.
        pub const SPEC_DEFLATED: &[u8] = #deflated;
        const _: ::core::option::Option<&str> = ::core::option_env!("PFSENSE_OPENAPI_SPEC");
        /// Path of the spec the tools were generated from.
        pub const SPEC_PATH: &str = #path_str;

        #catalog
    })
}
