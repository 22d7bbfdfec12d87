//! How well `pfsense_find_tools` ranks: a set of requests an administrator would write, each
//! with the tool an expert would pick. The set and its score are kept in the repository.

use pfsense_mcp::catalog::TOOLS;
use pfsense_mcp::search::Index;

#[test]
fn the_expert_choice_is_in_the_top_three_for_at_least_90_percent() {
    let requests: Vec<(String, String)> =
        serde_json::from_str(include_str!("find_tools_requests.json")).expect("request set");
    assert!(requests.len() >= 60, "{} requests", requests.len());
    let index = Index::new(TOOLS.iter().collect());
    let mut misses = Vec::new();
    let mut top1 = 0;
    for (request, expected) in &requests {
        assert!(
            pfsense_mcp::catalog::tool(expected).is_some(),
            "the set names a tool that does not exist: {expected}"
        );
        let hits: Vec<&str> = index
            .find(request, None, 3)
            .iter()
            .map(|h| h.tool.name)
            .collect();
        if hits.first() == Some(&expected.as_str()) {
            top1 += 1;
        }
        if !hits.contains(&expected.as_str()) {
            misses.push(format!("{request:?}: wanted {expected}, got {hits:?}"));
        }
    }
    let hit = requests.len() - misses.len();
    let score = hit as f64 / requests.len() as f64;
    println!(
        "find_tools: {hit}/{} in the top 3 ({:.1}%), {top1} first",
        requests.len(),
        score * 100.0
    );
    for m in &misses {
        println!("  miss: {m}");
    }
    assert!(
        score >= 0.9,
        "only {:.1}% in the top 3:\n{}",
        score * 100.0,
        misses.join("\n")
    );
}
