//! `cargo xtask bench --build`: what building costs. Clean workspace build (with `--clean`, in
//! its own target directory; then the bench's yardsticks in it), no-op build, rebuild after a
//! spec edit (release and debug), the switch between the README's run and test commands, and the
//! binary's size; each figure with the machine's load average, because build times on a shared
//! machine mean little without it. Writes the "Build" section of BENCHMARKS.md and keeps the rest.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SECTION_START: &str = "<!-- build: start (cargo xtask bench --build) -->";
const SECTION_END: &str = "<!-- build: end -->";
const CLEAN_ROW: &str = "clean release build of the workspace (`cargo build --release --workspace`, own target directory, dependencies already downloaded)";
const YARDSTICKS_ROW: &str = "the bench's yardsticks after that clean build (`cargo build --release -p xtask --examples`: the bare rmcp servers, examples, which a workspace build leaves out; `cargo xtask bench` builds them when it runs)";

/// The cell of `row` in an earlier build section, when it has one.
fn cell_of(section: &str, row: &str) -> Option<String> {
    section
        .lines()
        .find_map(|l| l.strip_prefix(&format!("| {row} | ")))
        .map(|cell| cell.trim_end_matches(" |").to_string())
}

/// One cargo invocation: how long, the CPU time of cargo and its compilers, how many units it
/// compiled, the load around it.
struct Measured {
    took: Duration,
    cpu: Duration,
    compiled: usize,
    load_before: f64,
    load_after: f64,
}

impl Measured {
    fn cell(&self) -> String {
        format!(
            "{:.1} s wall, {:.1} s CPU, {} crate(s) compiled (load {:.1} → {:.1})",
            self.took.as_secs_f64(),
            self.cpu.as_secs_f64(),
            self.compiled,
            self.load_before,
            self.load_after
        )
    }
}

/// User plus system time of this process's waited-for children and theirs (cargo, rustc,
/// linkers, build scripts): /proc/self/stat's cutime and cstime, in clock ticks of 1/100 s
/// (USER_HZ on Linux).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name, which may itself hold spaces.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // cutime and cstime: fields 16 and 17 of the line, indexes 13 and 14 after the name.
    let ticks: u64 = [13, 14]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Run cargo with these arguments and environment; count the `Compiling` lines it prints.
fn cargo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Measured> {
    let mut cmd = crate::shell_cargo();
    cmd.current_dir(root)
        .args(args)
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("PFSENSE_OPENAPI_SPEC");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let load_before = load_average();
    let cpu_before = children_cpu();
    let started = Instant::now();
    let output = cmd
        .output()
        .with_context(|| format!("run cargo {args:?}"))?;
    let took = started.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("cargo {args:?} failed:\n{stderr}");
    }
    let compiled = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .count();
    eprintln!(
        "cargo {}: {:.1} s, {compiled} compiled",
        args.join(" "),
        took.as_secs_f64()
    );
    Ok(Measured {
        took,
        cpu,
        compiled,
        load_before,
        load_after: load_average(),
    })
}

/// The spec with one operation's description changed: the smallest edit that changes a tool.
fn edited_spec(root: &Path, into: &Path) -> Result<()> {
    let text = std::fs::read_to_string(root.join("openapi-spec.json"))
        .context("read openapi-spec.json at the workspace root")?;
    let needle = "\"description\":";
    let at = text
        .find(needle)
        .context("the spec has no description to edit")?;
    let value_start = text[at + needle.len()..]
        .find('"')
        .map(|i| at + needle.len() + i + 1)
        .context("a description without a string value")?;
    let mut edited = text.clone();
    edited.insert_str(value_start, "(edited by cargo xtask bench --build) ");
    std::fs::write(into, edited)?;
    Ok(())
}

pub fn run(root: &Path, output: &Path, clean: bool) -> Result<()> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let mut rows: Vec<(String, String)> = Vec::new();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let path = root.join(output);
    let existing = std::fs::read_to_string(&path).unwrap_or_default();

    if clean {
        let dir = target.join("bench-clean");
        let _ = std::fs::remove_dir_all(&dir);
        let dir_str = dir.display().to_string();
        let m = cargo(
            root,
            &["build", "--release", "--workspace"],
            &[("CARGO_TARGET_DIR", &dir_str)],
        )?;
        rows.push((CLEAN_ROW.into(), format!("{} (measured {date})", m.cell())));
        let m = cargo(
            root,
            &["build", "--release", "-p", "xtask", "--examples"],
            &[("CARGO_TARGET_DIR", &dir_str)],
        )?;
        rows.push((
            YARDSTICKS_ROW.into(),
            format!("{} (measured {date})", m.cell()),
        ));
        let _ = std::fs::remove_dir_all(&dir);
    } else if let Some(section) = section_of(&existing) {
        // A clean build takes minutes to the better part of half an hour on a loaded 2-core
        // machine: keep the last one measured (its cell says when) rather than drop the rows.
        for row in [CLEAN_ROW, YARDSTICKS_ROW] {
            if let Some(cell) = cell_of(section, row) {
                rows.push((row.into(), cell));
            }
        }
    }

    let release_ws = ["build", "--release", "--workspace"];
    let release_run = [
        "build",
        "--release",
        "-p",
        "pfsense-mcp",
        "--bin",
        "pfsense-mcp",
    ];
    let test_ws = ["test", "--workspace", "--no-run"];
    let debug_run = ["build", "-p", "pfsense-mcp", "--bin", "pfsense-mcp"];

    // Bring both profiles up to date first; these are not measured.
    cargo(root, &release_ws, &[])?;
    cargo(root, &test_ws, &[])?;
    cargo(root, &debug_run, &[])?;

    let m = cargo(root, &release_ws, &[])?;
    rows.push((
        "no-op build (`cargo build --release --workspace` again)".into(),
        m.cell(),
    ));
    let m = cargo(root, &release_run, &[])?;
    rows.push((
        "switch: `cargo build --release -p pfsense-mcp` (the README's run) after the workspace build".into(),
        m.cell(),
    ));
    let m = cargo(root, &test_ws, &[])?;
    rows.push((
        "switch: `cargo test --workspace --no-run` (the README's test) after the run build".into(),
        m.cell(),
    ));
    let m = cargo(root, &debug_run, &[])?;
    rows.push((
        "switch: `cargo build -p pfsense-mcp` (what the end-to-end tests run) after the test build"
            .into(),
        m.cell(),
    ));
    let m = cargo(root, &release_run, &[])?;
    rows.push((
        "switch back: the README's run after the test build".into(),
        m.cell(),
    ));

    // A spec edit, through PFSENSE_OPENAPI_SPEC so the real file is never touched; rustc tracks
    // the variable and the file alike. Then back to the real spec, which rebuilds again.
    let edited = target.join("bench-edited-spec.json");
    edited_spec(root, &edited)?;
    let edited_str = edited.display().to_string();
    for (profile, args) in [("release", &release_run[..]), ("debug", &debug_run[..])] {
        let m = cargo(root, args, &[("PFSENSE_OPENAPI_SPEC", &edited_str)])?;
        rows.push((
            format!("{profile} rebuild of pfsense-mcp after one description in the spec changed"),
            m.cell(),
        ));
        let m = cargo(root, args, &[])?;
        rows.push((
            format!("{profile} rebuild of pfsense-mcp after restoring the spec"),
            m.cell(),
        ));
    }
    let _ = std::fs::remove_file(&edited);

    let binary = target.join("release/pfsense-mcp");
    let size = std::fs::metadata(&binary)
        .with_context(|| format!("{} after the release build", binary.display()))?
        .len();
    rows.push((
        "release binary `target/release/pfsense-mcp`".into(),
        format!("{:.1} MiB ({size} bytes)", size as f64 / 1024.0 / 1024.0),
    ));

    let mut section = format!(
        "{SECTION_START}\n## Build\n\n\
         Measured by `cargo xtask bench --build{}` on {date}, {machine}. Each row gives the \
         wall time, the CPU time of cargo and the compilers it ran, and the 1-minute load \
         average before and after: the machine may be shared, so the CPU time is the steadier \
         figure. Profiles as in the workspace `Cargo.toml` (the choices and their measurements \
         are in \"Build profile\" below). The switch rows run each command right after the \
         other; 0 crates compiled is the goal. Cargo is run with the environment `cargo run` \
         gives xtask cleared of `CARGO_PKG_*` and the like: ring's build script tracks some of \
         them, and passing them on rebuilt ring and its dependants where a shell never does.\n\n\
         | what | measured |\n|---|---|\n",
        if clean { " --clean" } else { "" },
        machine = crate::bench::machine(),
    );
    for (what, value) in &rows {
        section.push_str(&format!("| {what} | {value} |\n"));
    }
    section.push_str(SECTION_END);
    section.push('\n');

    let report = with_section(&existing, &section);
    std::fs::write(&path, &report)?;
    println!("{section}");
    Ok(())
}

/// `report` with its build section replaced by `section` (appended when it has none).
pub fn with_section(report: &str, section: &str) -> String {
    match (report.find(SECTION_START), report.find(SECTION_END)) {
        (Some(start), Some(end)) if end > start => {
            // What follows the section keeps the blank line that separates it.
            let rest = report[end + SECTION_END.len()..].trim_start_matches('\n');
            let gap = if rest.is_empty() { "" } else { "\n" };
            format!("{}{section}{gap}{rest}", &report[..start])
        }
        _ => {
            let mut out = report.trim_end().to_string();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(section);
            out
        }
    }
}

/// The build section of an existing report, to carry over when the run figures are rewritten.
pub fn section_of(report: &str) -> Option<&str> {
    let start = report.find(SECTION_START)?;
    let end = report.find(SECTION_END)? + SECTION_END.len();
    (end > start).then(|| &report[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_section_is_replaced_in_place_or_appended() {
        let section = format!("{SECTION_START}\nnew\n{SECTION_END}\n");
        let appended = with_section("# Benchmarks\n\nrun rows\n", &section);
        assert_eq!(appended, format!("# Benchmarks\n\nrun rows\n\n{section}"));
        let old = format!("# B\n\n{SECTION_START}\nold\n{SECTION_END}\n\ntail\n");
        assert_eq!(
            with_section(&old, &section),
            format!("# B\n\n{section}\ntail\n")
        );
        let last = format!("# B\n\n{SECTION_START}\nold\n{SECTION_END}\n");
        assert_eq!(with_section(&last, &section), format!("# B\n\n{section}"));
        assert_eq!(
            section_of(&appended),
            Some(format!("{SECTION_START}\nnew\n{SECTION_END}").as_str())
        );
    }

    #[test]
    fn the_last_clean_build_is_carried_over() {
        let section = format!(
            "{SECTION_START}\n| what | measured |\n|---|---|\n| {CLEAN_ROW} | 9.9 s (measured then) |\n| other | 1 |\n{SECTION_END}"
        );
        assert_eq!(
            cell_of(&section, CLEAN_ROW).as_deref(),
            Some("9.9 s (measured then)")
        );
        assert_eq!(cell_of(&section, YARDSTICKS_ROW), None);
        assert_eq!(cell_of("| other | 1 |", CLEAN_ROW), None);
    }
}
