//! Print the classified model as JSON: `cargo run -p pfsense-spec --example dump -- SPEC [TOOL]`.
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
    let out = match args.next() {
        Some(tool) => serde_json::to_string_pretty(&spec.operation(&tool)),
        None => serde_json::to_string(&spec.operations),
    };
    println!("{}", out.unwrap_or_default());
}
