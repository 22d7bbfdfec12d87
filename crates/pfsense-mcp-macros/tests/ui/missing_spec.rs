pfsense_mcp_macros::pfsense_tools!("openapi-spec.json");

fn main() {}
