//! `cargo xtask spec pull`: fetching a spec from a pfrest release (through the URL override,
//! against a local HTTP server standing in for the release downloads) and from a firewall; bad
//! versions and bad answers write nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tests::recorder::{Answer, Recorder};

fn specs_dir() -> PathBuf {
    std::env::var_os("PFSENSE_SPECS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/specs"))
}

fn pull(args: &[&str]) -> Output {
    Command::new(tests::binary::workspace_binary("xtask", "xtask"))
        .arg("spec")
        .arg("pull")
        .args(args)
        .env_remove("PFSENSE_HOST")
        .env_remove("PFREST_RELEASES_URL")
        .output()
        .expect("run xtask spec pull")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_release_fetches_the_published_openapi_json() {
    let body = std::fs::read(specs_dir().join("openapi-v2.10.0.json"))
        .expect("../shared/specs/openapi-v2.10.0.json (set PFSENSE_SPECS_DIR)");
    let releases = Recorder::start().await;
    releases.answer(
        "GET",
        "/v2.10.0/openapi.json",
        Answer::raw(200, "application/octet-stream", body.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("openapi-spec.json");
    let o = pull(&[
        "--release",
        "2.10.0",
        "--releases-url",
        &releases.url(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        body,
        "the file is the asset byte for byte"
    );
    assert!(
        text(&o).contains("v2.10.0: 267 paths, 186 schemas, 694 operations"),
        "{}",
        text(&o)
    );
    let asked: Vec<String> = releases.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(asked, ["/v2.10.0/openapi.json"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_release_refusals_write_nothing() {
    let releases = Recorder::start().await;
    releases.answer(
        "GET",
        "/v2.9.0/openapi.json",
        Answer::raw(200, "application/json", "<html>not a spec</html>"),
    );
    releases.answer(
        "GET",
        "/v2.8.1/openapi.json",
        Answer::raw(404, "text/plain", "Not Found"),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("openapi-spec.json");
    let url = releases.url();
    let cases: [(&[&str], &str); 4] = [
        // v2.7.x releases carry no openapi.json: say where to get one instead.
        (&["--release", "v2.7.1"], "published no openapi.json"),
        (
            &["--release", "latest"],
            "is not a pfrest release; give one like v2.10.0",
        ),
        // No such release (or no asset).
        (&["--release", "v2.8.1"], "answered HTTP 404"),
        (
            &["--release", "v2.9.0"],
            "did not serve a usable OpenAPI spec",
        ),
    ];
    for (args, expected) in cases {
        let mut all = args.to_vec();
        all.extend(["--releases-url", &url, "--output", out.to_str().unwrap()]);
        let o = pull(&all);
        assert!(!o.status.success(), "{args:?} succeeded: {}", text(&o));
        assert!(text(&o).contains(expected), "{args:?}: {}", text(&o));
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    // v2.7.1 is refused before anything is fetched.
    assert!(
        !releases.requests().iter().any(|r| r.path.contains("2.7.1")),
        "{:?}",
        releases.requests()
    );
    let o = pull(&["--output", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("--host") && text(&o).contains("--release"),
        "{}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_host_fetches_the_spec_the_firewall_serves() {
    let body = std::fs::read(tests::spec_path()).unwrap();
    let firewall = Recorder::start().await;
    firewall.answer(
        "GET",
        "/api/v2/schema/openapi",
        Answer::raw(200, "application/json", body.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("openapi-spec.json");
    let o = pull(&["--host", &firewall.url(), "--output", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&out).unwrap(), body);
}
