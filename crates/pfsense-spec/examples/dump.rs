//! Print the classified model as JSON:
//! `cargo run -p pfsense-spec --example dump -- SPEC [TOOL | --listed]`.
//! `--listed` prints every tool as tools/list would (name, description, listed schema).
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "openapi-spec.json".into());
    let spec = match pfsense_spec::Spec::load(std::path::Path::new(&path)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let out = match args.next().as_deref() {
        Some("--listed") => {
            let tools: Vec<serde_json::Value> = spec
                .operations
                .iter()
                .map(|o| serde_json::json!({"name": o.tool_name, "description": o.description, "inputSchema": o.listed_schema}))
                .collect();
            serde_json::to_string(&serde_json::json!({ "tools": tools }))
        }
        Some(tool) => serde_json::to_string_pretty(&spec.operation(tool)),
        None => serde_json::to_string(&spec.operations),
    };
    println!("{}", out.unwrap_or_default());
}
