//! The generated code of a few representative tools, formatted with prettyplease and pinned
//! with insta: a list, a create whose fields carry conditions, a singleton PATCH, an apply and
//! a binary download. Reads the spec at the workspace root, like the build does.

use pfsense_spec::Spec;
use std::path::Path;

fn spec() -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi-spec.json");
    Spec::load(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; place the REST API's OpenAPI spec (v2.7.1) at the workspace root",
            path.display()
        )
    })
}

/// One tool's items and its `TOOLS` entry, as formatted Rust.
fn formatted(spec: &Spec, name: &str) -> String {
    let Some(index) = spec.operations.iter().position(|o| o.tool_name == name) else {
        let like: Vec<&str> = spec
            .operations
            .iter()
            .map(|o| o.tool_name.as_str())
            .filter(|t| t.split('_').any(|w| w.len() > 3 && name.contains(w)))
            .collect();
        panic!("the spec has no tool {name} (similar: {})", like.join(", "));
    };
    let generated = pfsense_codegen::tool(index, &spec.operations[index]);
    let (items, def) = (generated.items, generated.def);
    let file = quote::quote! {
        #items
        /// This tool's entry of `TOOLS`.
        static ENTRY: ::pfsense_mcp::catalog::ToolDef = #def;
    };
    let parsed: syn::File = syn::parse2(file).expect("the generated code parses as a Rust file");
    prettyplease::unparse(&parsed)
}

#[test]
fn generated_code_of_representative_tools() {
    let spec = spec();
    for (what, name) in [
        ("list", "pfsense_list_firewall_aliases"),
        ("create_with_conditions", "pfsense_create_firewall_rule"),
        ("singleton_patch", "pfsense_update_system_dns"),
        ("apply", "pfsense_firewall_apply"),
        (
            "binary_download",
            "pfsense_post_system_certificate_pkcs12_export",
        ),
    ] {
        insta::assert_snapshot!(what, formatted(&spec, name));
    }
}
