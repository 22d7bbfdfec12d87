//! `cargo xtask link-order`: record which functions the release binary runs from spawn through
//! its first answers, and write them to `crates/pfsense-mcp/link-order.txt`, which
//! crates/pfsense-mcp/build.rs hands to the linker to lay them out first and together.
//! `--check` says whether the list still names this build's functions.
//!
//! Why: the kernel maps a binary's code around each page a process touches (64 KB and more,
//! whole page-cache folios on recent kernels). The few thousand functions a start runs lie
//! scattered through 12 MB of code, so a start mapped 8 MB of it; placed together they are about
//! 2 MB (BENCHMARKS.md, "Build profile").
//!
//! How: a release build keeping its symbols (`PFSENSE_MCP_KEEP_SYMBOLS=1`: the same profile, so
//! the same symbol names as the stripped build) runs under valgrind's callgrind, driven over
//! stdio against the emulator in a process of its own, once per scenario: each scenario's new
//! functions follow the earlier ones', so code a start needs comes before code a call needs.

#[path = "../../crates/pfsense-mcp/build/link_order.rs"]
mod ordering;

use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the list of functions.
    #[arg(long, default_value = "crates/pfsense-mcp/link-order.txt")]
    output: PathBuf,
    /// Keep callgrind's output files in this directory (default: a temporary one, removed).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Record nothing: build with symbols and fail when fewer than this share (in %) of the
    /// list's names are functions of the build (a new toolchain or Cargo.lock renames them).
    #[arg(long, value_name = "PERCENT", num_args = 0..=1, default_missing_value = "90")]
    check: Option<u32>,
}

/// One thing a recorded session does after initialize.
#[derive(Clone, Copy)]
enum Step {
    /// tools/list, every page.
    List,
    /// tools/call of this tool with these arguments (JSON).
    Call(&'static str, &'static str),
}

/// A recorded session: the tool mode and what it does after initialize.
struct Scenario {
    name: &'static str,
    mode: &'static str,
    steps: &'static [Step],
}

/// What a user's session does first, in the order its code should be laid out: start-up and
/// initialize in the default mode; the listing; a read call through the firewall's API (TLS,
/// HTTP, the audit log); a search in compact mode's catalogue; then the full listing.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "start",
        mode: "compact",
        steps: &[],
    },
    Scenario {
        name: "list",
        mode: "compact",
        steps: &[Step::List],
    },
    Scenario {
        name: "call",
        mode: "compact",
        steps: &[
            Step::List,
            Step::Call("pfsense_get_system_version", "{}"),
            Step::Call("pfsense_find_tools", r#"{"query":"firewall rule"}"#),
        ],
    },
    Scenario {
        name: "full",
        mode: "full",
        steps: &[Step::List],
    },
];

pub fn run(args: Args) -> Result<()> {
    let root = crate::spec::workspace_root();
    let output = if args.output.is_absolute() {
        args.output.clone()
    } else {
        root.join(&args.output)
    };
    if let Some(percent) = args.check {
        return check(&output, percent);
    }
    let valgrind = Command::new("valgrind").arg("--version").output();
    if !valgrind.is_ok_and(|o| o.status.success()) {
        bail!("valgrind is needed to record the functions a start runs (apt-get install valgrind)");
    }
    let work = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            let dir =
                std::env::temp_dir().join(format!("pfsense-link-order-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            dir
        }
    };
    let binary = build_with_symbols(&work)?;
    let emulator_binary =
        crate::bench::build_binary("pfsense-emulator", "pfsense-emulator", false)?;
    let emulator = crate::bench_http::EmulatorProcess::start(
        &emulator_binary,
        &root.join("openapi-spec.json"),
    )?;

    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for scenario in SCENARIOS {
        let state = work.join(format!("state-{}", scenario.name));
        std::fs::create_dir_all(&state)?;
        let out = work.join(format!("callgrind-{}.out", scenario.name));
        eprintln!("recording {} ({} mode)", scenario.name, scenario.mode);
        record(&binary, scenario, &emulator, &state, &out)?;
        let text = std::fs::read_to_string(&out).with_context(|| out.display().to_string())?;
        let before = order.len();
        for name in functions_run(&text, "pfsense-mcp-symbols") {
            if seen.insert(name.clone()) {
                order.push(name);
            }
        }
        eprintln!("  {} new functions", order.len() - before);
    }
    drop(emulator);
    let order = with_aliases(&order, &text_symbols(&binary)?);
    if order.len() < 500 {
        bail!(
            "only {} functions recorded: the binary did not run as expected",
            order.len()
        );
    }
    let rustc = Command::new("rustc").arg("-V").output()?;
    let mut list = format!(
        "# Written by `cargo xtask link-order` with {}: the functions the release binary ran\n\
         # from spawn through initialize, tools/list, a read call and a search (compact mode),\n\
         # then a full tools/list, in that order. crates/pfsense-mcp/build.rs has the linker\n\
         # place them first. Do not edit; rerun the command after a change of toolchain, of\n\
         # Cargo.lock or of the code a start runs (`cargo xtask link-order --check` says when).\n",
        String::from_utf8_lossy(&rustc.stdout).trim(),
    );
    let linkable: Vec<&String> = order.iter().filter(|s| ordering::linkable(s)).collect();
    for symbol in &linkable {
        list.push_str(symbol);
        list.push('\n');
    }
    std::fs::write(&output, &list)?;
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    eprintln!(
        "wrote {} ({} functions); the next release build links with it",
        output.display(),
        linkable.len()
    );
    Ok(())
}

/// Fail when fewer than `percent` % of the names in `list` are functions of a release build
/// made now (with symbols kept, which does not rename them).
fn check(list: &Path, percent: u32) -> Result<()> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("{}: run `cargo xtask link-order`", list.display()))?;
    let listed: Vec<String> = ordering::ordering_file(&text)
        .lines()
        .map(str::to_string)
        .collect();
    let work = std::env::temp_dir().join(format!("pfsense-link-check-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let binary = build_with_symbols(&work);
    let symbols = binary.and_then(|b| text_symbols(&b));
    let _ = std::fs::remove_dir_all(&work);
    let names: HashSet<String> = symbols?.into_iter().map(|(_, name)| name).collect();
    let found = listed.iter().filter(|n| names.contains(*n)).count();
    let share = found * 100 / listed.len().max(1);
    println!(
        "{}: {found} of {} names are functions of this build ({share}%)",
        list.display(),
        listed.len()
    );
    if share < percent as usize {
        bail!(
            "under {percent}%: the toolchain, Cargo.lock or the code a start runs changed; run `cargo xtask link-order` (needs valgrind) and commit {}",
            list.display()
        );
    }
    Ok(())
}

/// The release binary with its symbols, copied out of the target directory (the next plain
/// build relinks it stripped). Same profile, so the same names as the stripped build.
fn build_with_symbols(work: &Path) -> Result<PathBuf> {
    let status = crate::shell_cargo()
        .current_dir(crate::spec::workspace_root())
        .env("PFSENSE_MCP_KEEP_SYMBOLS", "1")
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "pfsense-mcp",
            "--bin",
            "pfsense-mcp",
        ])
        .status()?;
    if !status.success() {
        bail!("cargo build --release -p pfsense-mcp (symbols kept) failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| crate::spec::workspace_root().join("target"));
    let copy = work.join("pfsense-mcp-symbols");
    std::fs::copy(target.join("release/pfsense-mcp"), &copy)?;
    Ok(copy)
}

/// Run `scenario` once under callgrind, writing its profile to `out`.
fn record(
    binary: &Path,
    scenario: &Scenario,
    emulator: &crate::bench_http::EmulatorProcess,
    state: &Path,
    out: &Path,
) -> Result<()> {
    let mut child = Command::new("valgrind")
        .args([
            "--quiet",
            "--tool=callgrind",
            "--demangle=no",
            "--dump-instr=no",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(binary)
        .arg("--allow-dangerous")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PFSENSE_HOST", &emulator.url)
        .env("PFSENSE_API_KEY", &emulator.api_key)
        .env("PFSENSE_TLS_FINGERPRINT", &emulator.fingerprint)
        .env("PFSENSE_TOOL_MODE", scenario.mode)
        .env("XDG_STATE_HOME", state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn valgrind")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut id = 0;
    // A request (params as JSON text) and its answer; a notification (no params) has none.
    let mut request = |method: &str, params: &str| -> Result<String> {
        if params.is_empty() {
            writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"{method}"}}"#)?;
            stdin.flush()?;
            return Ok(String::new());
        }
        id += 1;
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#
        )?;
        stdin.flush()?;
        lines
            .next()
            .context("the server closed stdout")?
            .map_err(Into::into)
    };
    request(
        "initialize",
        r#"{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"link-order","version":"1"}}"#,
    )?;
    // What every client sends next; it has no answer.
    request("notifications/initialized", "")?;
    for step in scenario.steps {
        match *step {
            Step::List => {
                let mut cursor: Option<String> = None;
                loop {
                    let params = match &cursor {
                        Some(c) => serde_json::json!({ "cursor": c }).to_string(),
                        None => "{}".into(),
                    };
                    let answer: serde_json::Value =
                        serde_json::from_str(&request("tools/list", &params)?)?;
                    match answer["result"]["nextCursor"].as_str() {
                        Some(next) => cursor = Some(next.to_string()),
                        None => break,
                    }
                }
            }
            Step::Call(tool, arguments) => {
                let answer = request(
                    "tools/call",
                    &format!(r#"{{"name":"{tool}","arguments":{arguments}}}"#),
                )?;
                if !answer.contains(r#""isError":false"#) {
                    bail!("{tool} failed while recording: {answer}");
                }
            }
        }
    }
    // End of input: the server finishes and callgrind writes its profile.
    drop(stdin);
    let status = child.wait()?;
    if !status.success() {
        bail!("the recorded server exited with {status}");
    }
    Ok(())
}

/// The functions of `object` (a file name) that a callgrind profile saw running, in the order
/// the profile first names them. Callgrind writes a name once, `fn=(id) name`, then `fn=(id)`;
/// `ob=` says which object the functions that follow belong to. A recursive call's name gets a
/// `'N` suffix, which is not part of the symbol.
fn functions_run(profile: &str, object: &str) -> Vec<String> {
    let mut objects = std::collections::HashMap::new();
    let mut names = std::collections::HashMap::new();
    let mut in_object = false;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for line in profile.lines() {
        let Some((key, rest)) = line.split_once('=') else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('(') else {
            continue;
        };
        let Some((id, name)) = rest.split_once(')') else {
            continue;
        };
        let name = name.trim();
        match key {
            "ob" | "cob" => {
                if !name.is_empty() {
                    objects.insert(id.to_string(), name.to_string());
                }
                if key == "ob" {
                    in_object = objects
                        .get(id)
                        .is_some_and(|o| Path::new(o).file_name() == Some(object.as_ref()));
                }
            }
            "fn" | "cfn" => {
                if !name.is_empty() {
                    let symbol = match name.rsplit_once('\'') {
                        Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) => base,
                        _ => name,
                    };
                    names.insert(id.to_string(), symbol.to_string());
                }
                if key == "fn"
                    && in_object
                    && let Some(symbol) = names.get(id)
                    && seen.insert(symbol.clone())
                {
                    out.push(symbol.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// The binary's functions: each address and the names it has (`nm`, from binutils).
fn text_symbols(binary: &Path) -> Result<Vec<(u64, String)>> {
    let out = Command::new("nm")
        .arg("--defined-only")
        .arg(binary)
        .output()
        .context("run nm (binutils)")?;
    if !out.status.success() {
        bail!("nm {} failed", binary.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = u64::from_str_radix(fields.next()?, 16).ok()?;
            let kind = fields.next()?;
            let name = fields.next()?;
            matches!(kind, "t" | "T" | "w" | "W" | "i").then(|| (address, name.to_string()))
        })
        .collect())
}

/// `order` with, after each function, the other names of its code. LLVM merges identical
/// functions into one body with several names, and callgrind reports whichever it picks; the
/// section holding the body is named after only one of them.
fn with_aliases(order: &[String], symbols: &[(u64, String)]) -> Vec<String> {
    let mut address_of = std::collections::HashMap::new();
    let mut names_at: std::collections::HashMap<u64, Vec<&str>> = Default::default();
    for (address, name) in symbols {
        address_of.insert(name.as_str(), *address);
        names_at.entry(*address).or_default().push(name);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for name in order {
        if seen.insert(name.clone()) {
            out.push(name.clone());
        }
        let Some(address) = address_of.get(name.as_str()) else {
            continue;
        };
        for alias in &names_at[address] {
            if seen.insert(alias.to_string()) {
                out.push(alias.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ordering::ordering_file;
    use super::*;

    #[test]
    fn the_ordering_file_keeps_function_names_and_drops_comments_and_pseudo_functions() {
        let list = "# a comment\nmain\n(below main)\n0x00000000005ba7b0\n\
                    _ZN3foo3bar17h0123456789abcdefE\n  \n_RNvNtCsjrHSEGnQ3l9_3std2rt19lang_start_internal\n";
        assert_eq!(
            ordering_file(list),
            "main\n_ZN3foo3bar17h0123456789abcdefE\n_RNvNtCsjrHSEGnQ3l9_3std2rt19lang_start_internal\n"
        );
    }

    #[test]
    fn merged_functions_bring_their_other_names_right_after_them() {
        let symbols = [
            (0x10, "a".to_string()),
            (0x20, "b".to_string()),
            (0x20, "b_alias".to_string()),
            (0x30, "c".to_string()),
        ];
        let order = ["b_alias".to_string(), "a".to_string(), "b".to_string()];
        assert_eq!(with_aliases(&order, &symbols), ["b_alias", "b", "a"]);
    }

    #[test]
    fn a_profile_names_the_functions_of_one_object_once_in_order() {
        // The shape callgrind writes (checked against a real profile of this binary): names
        // given once with their id, then the id alone; `cfn` names callees.
        let profile = "\
ob=(1) /usr/lib/libc.so.6
fn=(1) memcpy
0 5
ob=(2) /tmp/x/pfsense-mcp-symbols
fn=(2) main
cob=(1)
cfn=(1)
calls=1 0
0 3
cfn=(3) _ZN3foo3bar17h0123456789abcdefE'2
calls=1 0
fn=(3)
0 1
fn=(2)
0 1
";
        assert_eq!(
            functions_run(profile, "pfsense-mcp-symbols"),
            ["main", "_ZN3foo3bar17h0123456789abcdefE"]
        );
    }
}
