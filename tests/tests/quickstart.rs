//! `.ci/quickstart` (the CI step that follows the README's quick start on a fresh clone) runs
//! the lines of the README it finds in the clone, and fails naming the line when one fails.
//! Each case is a throwaway git repository holding the script, a README and a `../shared`
//! beside it, as CI lays them out; the lines run the real binary.

use std::path::Path;
use std::process::{Command, Output};

/// A repository with `.ci/quickstart` and a README whose quick-start block is `lines`; runs
/// the script on it with the real binary.
fn quickstart(dir: &Path, lines: &[&str]) -> Output {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join(".ci")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/quickstart");
    std::fs::copy(&script, repo.join(".ci/quickstart")).unwrap();
    let readme = format!(
        "# t\n\n<!-- quickstart -->\n```sh\n{}\n```\n<!-- /quickstart -->\n",
        lines.join("\n")
    );
    std::fs::write(repo.join("README.md"), readme).unwrap();
    // The stand-in for the documented download.
    std::fs::create_dir_all(dir.join("shared/specs")).unwrap();
    std::fs::write(dir.join("shared/specs/openapi-v2.8.4.json"), "{}").unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-qm",
            "t",
        ],
    ] {
        let st = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    }
    Command::new("bash")
        .arg(repo.join(".ci/quickstart"))
        .arg(tests::binary::pfsense_mcp())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run .ci/quickstart")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_quickstart_step_runs_the_readme_lines_of_the_clone() {
    let dir = tempfile::tempdir().unwrap();
    let out = quickstart(
        dir.path(),
        &[
            "curl -fsSLo openapi-spec.json https://example.invalid/v2.8.4/openapi.json",
            "cargo install --locked --path crates/pfsense-mcp   # into ~/.cargo/bin",
            "test -s openapi-spec.json && pfsense-mcp --version",
        ],
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("(CI runs: cp '") && all.contains("(CI runs: install -m 755"),
        "the download and the install ran as their stand-ins: {all}"
    );
    assert!(all.contains("REST API"), "the version line ran: {all}");
    assert!(all.contains("quickstart: all 3 README lines ran"), "{all}");
}

#[test]
fn the_quickstart_step_fails_naming_the_readme_line_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let out = quickstart(
        dir.path(),
        &[
            "cargo install --locked --path crates/pfsense-mcp",
            "pfsense-mcp no-such-subcommand",
            "touch ran-after-the-failure",
        ],
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("quickstart: README line 2 failed: pfsense-mcp no-such-subcommand"),
        "{all}"
    );
    assert!(
        !all.contains("$ touch"),
        "nothing runs after a failed line: {all}"
    );

    // A failure inside a pipeline counts too (the lines run under pipefail).
    let dir = tempfile::tempdir().unwrap();
    let out = quickstart(dir.path(), &["false | cat", "true"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("quickstart: README line 1 failed: false | cat"),
        "{}",
        text(&out)
    );
}
