//! The command line of the real binary: flags on either side of the subcommand, short
//! subcommand help, booleans from the environment, exit status by failure class, a closed
//! stdout, the version, renamed environment variables, completions and the man page.

use std::io::Read;
use std::process::{Command, Output, Stdio};

fn pfsense_mcp(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(tests::binary::pfsense_mcp())
        .args(args)
        .env_clear()
        .env("HOME", std::env::temp_dir())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run pfsense-mcp")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Tools the read-only policy offers: the v2.7.1 catalogue's GET operations.
const READ_TOOLS: usize = 236;

fn summary_count(o: &Output) -> usize {
    stdout(o)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {}{}", stdout(o), stderr(o)))
}

#[test]
fn flags_go_before_or_after_the_subcommand() {
    for args in [&["doctor", "--sandbox"][..], &["--sandbox", "doctor"][..]] {
        let o = pfsense_mcp(args, &[]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(stdout(&o).contains("sandbox emulator"), "{}", stdout(&o));
    }
    for args in [
        &["tools", "--sandbox", "--read-only", "--summary"][..],
        &["--read-only", "tools", "--summary"][..],
    ] {
        let o = pfsense_mcp(args, &[]);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(summary_count(&o), READ_TOOLS, "{args:?}");
    }
    // A flag the subcommand does not use is refused, naming it.
    let o = pfsense_mcp(&["--page-size", "5", "tools"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--page-size"), "{}", stderr(&o));
}

#[test]
fn subcommand_help_shows_only_what_it_uses() {
    let o = pfsense_mcp(&["audit", "verify", "--help"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    assert!(help.lines().count() < 20, "{help}");
    assert!(
        !help.contains("--host") && !help.contains("--rate-limit"),
        "{help}"
    );
    let o = pfsense_mcp(&["tools", "--help"], &[]);
    let help = stdout(&o);
    assert!(
        help.contains("--read-only") && !help.contains("--api-key"),
        "{help}"
    );
    // The doctor checks what a start with the server's flags would, --rate-limit and --http
    // included: it takes them all, so a server's command line is checked as it is.
    let o = pfsense_mcp(&["doctor", "--help"], &[]);
    let help = stdout(&o);
    for flag in [
        "--host",
        "--sandbox",
        "--firewall",
        "--rate-limit",
        "--http",
        "--journal",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    // The top-level help documents the exit statuses and the environment rule.
    let o = pfsense_mcp(&["--help"], &[]);
    let help = stdout(&o);
    for needle in [
        "Exit status",
        "3 doctor",
        "PFSENSE_READ_ONLY=1",
        "waits for an MCP client",
    ] {
        assert!(help.contains(needle), "{needle} missing from --help");
    }
}

#[test]
fn booleans_from_the_environment_accept_the_usual_spellings() {
    for value in ["1", "yes", "TRUE", "On", "true"] {
        let o = pfsense_mcp(&["tools", "--summary"], &[("PFSENSE_READ_ONLY", value)]);
        assert_eq!(o.status.code(), Some(0), "{value}: {}", stderr(&o));
        assert_eq!(summary_count(&o), READ_TOOLS, "PFSENSE_READ_ONLY={value}");
    }
    for value in ["0", "no", "False", "OFF"] {
        let o = pfsense_mcp(&["tools", "--summary"], &[("PFSENSE_READ_ONLY", value)]);
        assert_eq!(o.status.code(), Some(0), "{value}: {}", stderr(&o));
        assert!(summary_count(&o) > READ_TOOLS, "PFSENSE_READ_ONLY={value}");
    }
    let o = pfsense_mcp(&["tools", "--summary"], &[("PFSENSE_READ_ONLY", "maybe")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("PFSENSE_READ_ONLY") && err.contains("maybe"),
        "{err}"
    );
    assert!(err.contains("yes/no"), "says what is accepted: {err}");
    // The same check when serving, and a bad number names its variable too.
    let o = pfsense_mcp(&["--sandbox"], &[("PFSENSE_ALLOW_DANGEROUS", "sure")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("PFSENSE_ALLOW_DANGEROUS"),
        "{}",
        stderr(&o)
    );
    let o = pfsense_mcp(&["--sandbox"], &[("PFSENSE_PAGE_SIZE", "many")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("PFSENSE_PAGE_SIZE"), "{}", stderr(&o));
    // A bad choice names its variable.
    let o = pfsense_mcp(
        &["doctor"],
        &[
            ("PFSENSE_HOST", "https://127.0.0.1:1"),
            ("PFSENSE_AUTH", "hunter2"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("PFSENSE_AUTH"), "{}", stderr(&o));
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let mut child = Command::new(tests::binary::pfsense_mcp())
        .args(["tools"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -1`: read a little, then close the pipe; the listing (~100 kB) is larger than
    // the pipe buffer, so the binary writes into a closed pipe.
    let mut pipe = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    pipe.read_exact(&mut first).unwrap();
    drop(pipe);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn exit_status_follows_the_failure_class() {
    // 2: usage (unknown flag; no firewall configured).
    assert_eq!(pfsense_mcp(&["--no-such-flag"], &[]).status.code(), Some(2));
    assert_eq!(pfsense_mcp(&[], &[]).status.code(), Some(2));
    // 3: a doctor check failed (nothing listens on port 1).
    let o = pfsense_mcp(&["doctor"], &[("PFSENSE_HOST", "https://127.0.0.1:1")]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    // 4: the audit log is not intact.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    std::fs::write(&log, "{\"not\": \"an audit entry\"}\n").unwrap();
    let o = pfsense_mcp(&["audit", "verify", log.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("NOT intact"), "{}", stderr(&o));
}

#[test]
fn version_names_the_spec_of_the_tools() {
    let o = pfsense_mcp(&["--version"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let v = stdout(&o);
    assert!(v.starts_with("pfsense-mcp 0."), "{v}");
    assert!(v.contains("REST API v2.7.1"), "{v}");
}

#[test]
fn old_environment_names_still_work_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-config.toml");
    let missing = missing.to_str().unwrap();
    // The doctor reports the config file it was given as a failed check (exit 3).
    let o = pfsense_mcp(&["doctor"], &[("PFSENSE_MCP_CONFIG", missing)]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("PFSENSE_MCP_CONFIG") && err.contains("PFSENSE_CONFIG"),
        "{err}"
    );
    assert!(
        stdout(&o).contains("no-such-config.toml"),
        "the old variable was read: {}",
        stdout(&o)
    );
    // The new name wins over the old one.
    let o = pfsense_mcp(
        &["doctor"],
        &[
            ("PFSENSE_MCP_CONFIG", "/nonexistent/old.toml"),
            ("PFSENSE_CONFIG", missing),
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains("no-such-config.toml") && !out.contains("old.toml"),
        "{out}"
    );
}

#[test]
fn completions_and_man_page() {
    let o = pfsense_mcp(&["generate", "bash"], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("--read-only") && stdout(&o).contains("doctor"));
    let o = pfsense_mcp(&["generate", "man"], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).starts_with(".ie") || stdout(&o).contains(".TH pfsense-mcp"),
        "{}",
        stdout(&o)
    );
    // Every page a page lists (`pfsense-mcp-doctor(1)`, …) is written by `man-pages`.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = pfsense_mcp(&["generate", "man-pages", "--dir", d], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert!(
        written.contains(&"pfsense-mcp-doctor.1".to_string()),
        "{written:?}"
    );
    for page in &written {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        for (at, _) in text.match_indices("(1)") {
            let start = text[..at]
                .rfind(|c: char| c.is_whitespace())
                .map_or(0, |i| i + 1);
            let listed = format!("{}.1", text[start..at].replace("\\-", "-"));
            assert!(
                written.contains(&listed),
                "{page} lists {listed}, not written: {written:?}"
            );
        }
    }
    let o = pfsense_mcp(&["generate", "man-pages"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A server on stdio with a list call (id 2) in flight: started with `args` and `env` (a clean
/// environment otherwise), sent initialize, `notifications/initialized`, the call and a ping
/// (id 3). The server reads stdin in order, so once the ping is answered the call has been
/// read (a signal sent earlier could come before the server saw it: nothing would be in
/// flight). stdin stays open, as a client's would.
struct CallInFlight {
    child: std::process::Child,
    /// Held open until the test ends, as a client's would be.
    _stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    /// What stdout held up to the ping's answer.
    seen: String,
}

impl CallInFlight {
    fn start(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> CallInFlight {
        use std::io::{BufRead, Write};
        let mut child = Command::new(tests::binary::pfsense_mcp())
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        for message in [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"pfsense_list_firewall_aliases","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
        ] {
            writeln!(stdin, "{message}").unwrap();
        }
        stdin.flush().unwrap();
        let mut seen = String::new();
        let mut line = String::new();
        while !line.contains("\"id\":3") {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the ping was not answered: {seen}"
            );
            seen.push_str(&line);
        }
        CallInFlight {
            child,
            _stdin: stdin,
            stdout,
            seen,
        }
    }

    fn sigterm(&self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }

    /// The rest of stdout, to its end.
    fn rest(&mut self) -> String {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        rest
    }
}

/// A firewall that accepts connections and never answers: its URL.
fn silent_firewall() -> String {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    url
}

#[test]
fn sigterm_answers_the_call_in_flight_then_exits_0() {
    // The first call waits for the sandbox emulator to start: it is in flight when the
    // signal arrives.
    let mut server = CallInFlight::start(&["--sandbox"], &[], Stdio::null());
    server.sigterm();
    let rest = server.seen.clone() + &server.rest();
    assert_eq!(
        server.child.wait().unwrap().code(),
        Some(0),
        "exits 0 after SIGTERM"
    );
    assert!(
        rest.contains("\"id\":2") && rest.contains("\"result\""),
        "the call was answered: {rest}"
    );
}

/// A call to a firewall that does not answer is still answered after SIGTERM (with its
/// timeout error), although that takes longer than the 5 s rmcp waits for answers once its
/// input ends: the server ends stdin only when its calls are answered.
#[test]
fn sigterm_waits_for_a_slow_call_longer_than_rmcps_drain() {
    let url = silent_firewall();
    let key = "k".repeat(32);
    let mut server = CallInFlight::start(
        &[
            "--audit-log",
            "off",
            "--journal",
            "memory",
            "--timeout",
            "7",
        ],
        &[("PFSENSE_HOST", &url), ("PFSENSE_API_KEY", &key)],
        Stdio::null(),
    );
    assert!(
        !server.seen.contains("\"id\":2"),
        "the call is still in flight: {}",
        server.seen
    );
    server.sigterm();
    let rest = server.rest();
    assert_eq!(
        server.child.wait().unwrap().code(),
        Some(0),
        "exits 0 after SIGTERM"
    );
    assert!(
        rest.contains("\"id\":2") && rest.contains("no answer from"),
        "the slow call was answered with its timeout: {rest}"
    );
}

/// A second SIGTERM while a call is still in flight exits at once, with status 1 and a note
/// that the call went unanswered (before, the process waited out the drain and exited 0).
#[test]
fn a_second_signal_exits_at_once_with_the_unanswered_call_said() {
    let url = silent_firewall();
    let key = "k".repeat(32);
    let mut server = CallInFlight::start(
        &[
            "--audit-log",
            "off",
            "--journal",
            "memory",
            "--timeout",
            "600",
        ],
        &[("PFSENSE_HOST", &url), ("PFSENSE_API_KEY", &key)],
        Stdio::piped(),
    );
    let started = std::time::Instant::now();
    for _ in 0..2 {
        server.sigterm();
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let mut err = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(server.child.wait().unwrap().code(), Some(1), "{err}");
    // Well inside the 30 s drain the first signal waits for.
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    assert!(
        err.contains("a second signal") && err.contains("1 call(s) unanswered"),
        "{err}"
    );
}

#[test]
fn settings_that_cannot_work_are_refused_at_start_without_showing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    // A key file of two lines: no HTTP header can carry it.
    let o = pfsense_mcp(
        &[],
        &[
            ("PFSENSE_HOST", "https://127.0.0.1:1"),
            ("PFSENSE_API_KEY", "Key-Part-One-51\nKey-Part-Two-52"),
            ("XDG_STATE_HOME", state),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot be sent in an HTTP header"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("Key-Part"), "{}", stderr(&o));
    // Credentials in the firewall's URL.
    for args in [&[][..], &["doctor"][..]] {
        let o = pfsense_mcp(
            args,
            &[
                ("PFSENSE_HOST", "https://admin:Url-Pass-53@127.0.0.1:1"),
                ("PFSENSE_API_KEY", "k"),
                ("XDG_STATE_HOME", state),
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("holds a user name or password"),
            "{}",
            stderr(&o)
        );
        assert!(!format!("{}{}", stdout(&o), stderr(&o)).contains("Url-Pass-53"));
    }
    // A setting that cannot be read names itself, so the reader knows what to change.
    let base = [
        ("PFSENSE_HOST", "https://127.0.0.1:1"),
        ("PFSENSE_API_KEY", "k"),
        ("XDG_STATE_HOME", state),
    ];
    let cases = [
        (
            ("PFSENSE_TLS_FINGERPRINT", "sha256:zz"),
            "PFSENSE_TLS_FINGERPRINT / --tls-fingerprint: `sha256:zz` is not a SHA-256 fingerprint",
        ),
        (
            ("PFSENSE_RATE_LIMIT", "write=0/min"),
            "a count of 0 would refuse every such change",
        ),
        // It was raised to 1000 without a word.
        (
            ("PFSENSE_RESULT_BUDGET", "100"),
            "PFSENSE_RESULT_BUDGET is `100`",
        ),
    ];
    for (setting, expected) in cases {
        let mut env = base.to_vec();
        env.push(setting);
        let o = pfsense_mcp(&[], &env);
        assert_eq!(o.status.code(), Some(2), "{setting:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{setting:?}: {}", stderr(&o));
    }
    // HTTP settings are flags like any other: exit 2, before anything starts.
    for (args, expected) in [
        (&["--http", "http://127.0.0.1:0"][..], "is not an address"),
        (
            &["--http", "127.0.0.1:0", "--max-body-bytes", "0"][..],
            "--max-body-bytes",
        ),
        (
            &[
                "--http",
                "127.0.0.1:0",
                "--tokens-file",
                "/nonexistent/tokens",
            ][..],
            "tokens file",
        ),
    ] {
        let mut all = vec!["--sandbox"];
        all.extend_from_slice(args);
        let o = pfsense_mcp(&all, &[("XDG_STATE_HOME", state)]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
    }
}

/// One firewall under two names in a config file is two policies for one box: said at start.
#[test]
fn two_names_for_one_firewall_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "default = \"guarded\"\n\
         [firewalls.guarded]\nurl = \"https://127.0.0.1:9\"\napi_key_env = \"K\"\nread_only = true\n\
         [firewalls.open]\nurl = \"https://127.0.0.1:9/\"\napi_key_env = \"K\"\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let o = pfsense_mcp(
        &["--config", config.to_str().unwrap()],
        &[
            ("K", "not-a-real-key"),
            ("XDG_STATE_HOME", state.to_str().unwrap()),
        ],
    );
    let err = stderr(&o);
    assert!(
        err.contains("firewalls `guarded` and `open` have the same address https://127.0.0.1:9"),
        "{err}"
    );
    assert!(!err.contains("not-a-real-key"), "{err}");
}

/// A reader that stops early (`| head -1`) closes stdout and, with `2>&1`, stderr too: the
/// commands stop quietly instead of panicking (exit 101).
#[test]
fn a_reader_that_stops_early_is_no_panic() {
    let binary = tests::binary::pfsense_mcp();
    for command in ["tools", "doctor --sandbox", "security-audit --sandbox"] {
        let o = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "'{}' {command} 2>&1 | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}",
                binary.display()
            ))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{command}: {}", stderr(&o));
    }
}

/// Durations beyond any deadline the clock can hold are refused at start: a huge breaker
/// cooldown overflowed the clock (a panic, and a call that never answered) and a huge
/// auto-revert wrapped round to a deadline in the past (changes reverted at once).
#[test]
fn durations_too_long_for_the_clock_are_refused_at_start() {
    for (args, env, named) in [
        (
            vec!["--sandbox", "--breaker-cooldown", "9999999999999999999"],
            vec![],
            "--breaker-cooldown",
        ),
        (
            vec!["--sandbox"],
            vec![("PFSENSE_AUTO_REVERT", "18446744073709551615")],
            "PFSENSE_AUTO_REVERT",
        ),
        (vec!["--sandbox", "--timeout", "86401"], vec![], "--timeout"),
    ] {
        let o = pfsense_mcp(&args, &env);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(named), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

/// `doctor` refuses what the server refuses: an explicit config file and PFSENSE_HOST both
/// naming a firewall (it used to check PFSENSE_HOST alone without a word).
#[test]
fn doctor_refuses_a_config_file_and_a_host_together() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[firewalls.a]\nurl = \"https://127.0.0.1:9\"\napi_key_env = \"K\"\n",
    )
    .unwrap();
    let o = pfsense_mcp(
        &["doctor", "--config", config.to_str().unwrap()],
        &[("PFSENSE_HOST", "https://127.0.0.1:10"), ("K", "x")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("both a config file"), "{}", stderr(&o));
}

/// `audit verify` of a path with no log is a wrong path (exit 2), not a tampered log (exit 4).
#[test]
fn verifying_a_missing_audit_log_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("audit.jsonl");
    let o = pfsense_mcp(&["audit", "verify", missing.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("there is no audit log at"),
        "{}",
        stderr(&o)
    );
}

/// `tools` lists the catalogue, and says which tools these settings would offer: allow and deny
/// rules and --allow-dangerous (read-only and --modules narrow the list itself).
#[test]
fn tools_say_which_are_offered_with_these_settings() {
    let offered = |args: &[&str]| -> usize {
        let o = pfsense_mcp(args, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let first = stdout(&o).lines().next().unwrap_or_default().to_string();
        first
            .split(", ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no offered count in {first}"))
    };
    let plain = offered(&["tools", "--summary"]);
    let dangerous = offered(&["tools", "--summary", "--allow-dangerous"]);
    let denied = offered(&["tools", "--summary", "--deny", "pfsense_delete_*"]);
    assert!(
        dangerous > plain && denied < plain,
        "{plain} {dangerous} {denied}"
    );
    let o = pfsense_mcp(&["tools"], &[]);
    let reboot = stdout(&o)
        .lines()
        .find(|l| l.starts_with("pfsense_post_diagnostics_reboot "))
        .unwrap()
        .to_string();
    assert!(reboot.ends_with("(not offered)"), "{reboot}");
}

/// `--help` shows where each setting's environment variable is, not its value: a firewall
/// URL can carry credentials (refused at start, but the help would have printed them).
#[test]
fn help_does_not_print_the_hosts_value() {
    let o = pfsense_mcp(
        &["--help"],
        &[("PFSENSE_HOST", "https://admin:Help-Secret-42@192.0.2.1")],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("PFSENSE_HOST"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("Help-Secret-42"), "{}", stdout(&o));
}

/// A bad value of a variable only the server reads (PFSENSE_TIMEOUT) does not break the
/// subcommands that do not use it, and still stops the one that does, naming it; a module or
/// allow list given empty (a variable holding nothing) is refused instead of offering every
/// tool.
#[test]
fn server_variables_stay_with_the_server_and_empty_restrictions_are_refused() {
    let bad = [("PFSENSE_TIMEOUT", "abc")];
    let o = pfsense_mcp(&["generate", "bash"], &bad);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = pfsense_mcp(&["audit", "verify", "/nonexistent/audit.jsonl"], &bad);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no audit log"), "{}", stderr(&o));
    let o = pfsense_mcp(&["tools", "--summary"], &bad);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for args in [&["doctor", "--sandbox"][..], &["--sandbox"][..]] {
        let o = pfsense_mcp(args, &bad);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("PFSENSE_TIMEOUT"), "{}", stderr(&o));
    }
    for (env, words) in [
        (("PFSENSE_MODULES", ""), "names no module"),
        (("PFSENSE_MODULES", " , "), "names no module"),
        (("PFSENSE_ALLOW", " "), "names no pattern"),
    ] {
        for args in [&["tools", "--summary"][..], &["--sandbox"][..]] {
            let o = pfsense_mcp(args, &[env]);
            assert_eq!(o.status.code(), Some(2), "{env:?} {args:?}: {}", stderr(&o));
            assert!(stderr(&o).contains(words), "{}", stderr(&o));
        }
    }
}

/// `--page-size 0` and `--timeout 0` are refused (the first was raised to 1 silently, the
/// second made every request time out at once); HTTP settings given to a stdio
/// server are named in a warning, since they do nothing there.
#[test]
fn page_size_zero_is_refused_and_http_settings_without_http_are_named() {
    for flag in ["--page-size", "--timeout"] {
        let o = pfsense_mcp(&["--sandbox", flag, "0"], &[]);
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{}", stderr(&o));
    }
    let o = pfsense_mcp(
        &["--sandbox", "--max-connections", "5"],
        &[("PFSENSE_ALLOWED_HOST", "mcp.example.net")],
    );
    assert!(
        stderr(&o).contains("--allowed-host, --max-connections only apply with --http"),
        "{}",
        stderr(&o)
    );
    let o = pfsense_mcp(&["--sandbox"], &[]);
    assert!(
        !stderr(&o).contains("only apply with --http"),
        "{}",
        stderr(&o)
    );
}

/// A device of our own (a copy of /dev/null's node in a temporary directory, mode 0666), or
/// None where nodes cannot be made (not root): what `--audit-log /dev/null` would have hit,
/// without touching the real /dev/null.
#[cfg(unix)]
fn private_null_device(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let node = dir.join("null");
    let made = Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("skipped: cannot make a device node here (not root)");
        return None;
    }
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o666)).unwrap();
    Some(node)
}

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// An audit log or journal path that is a device, a pipe or a directory is refused at start
/// (exit 2) and left as it was: `--audit-log /dev/null` run as root made /dev/null 0600 for the
/// whole system, and the server then ran with every audit write failing.
#[cfg(unix)]
#[test]
fn an_audit_log_or_journal_that_is_not_a_regular_file_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let Some(device) = private_null_device(dir.path()) else {
        return;
    };
    let link = dir.path().join("link-to-device");
    std::os::unix::fs::symlink(&device, &link).unwrap();
    let subdir = dir.path().join("a-directory");
    std::fs::create_dir(&subdir).unwrap();
    for (flag, path, kind) in [
        ("--audit-log", &device, "a character device"),
        ("--audit-log", &link, "a character device"),
        ("--journal", &device, "a character device"),
        ("--audit-log", &subdir, "a directory"),
        ("--journal", &subdir, "a directory"),
    ] {
        let o = pfsense_mcp(
            &["--sandbox", flag, path.to_str().unwrap()],
            &[("XDG_STATE_HOME", state)],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag} {}: {err}", path.display());
        assert!(err.contains(flag) && err.contains(kind), "{err}");
        assert!(err.contains("not a regular file"), "{err}");
        assert_eq!(mode_of(&device), 0o666, "{flag} {}: {err}", path.display());
    }
}

/// One file for the audit log and the journal (SQLite would write over the audit lines) is
/// refused at start, also when the paths differ only by a symlink or a relative part.
#[cfg(unix)]
#[test]
fn the_audit_log_and_the_journal_cannot_be_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let file = dir.path().join("both");
    let alias = dir.path().join("alias");
    std::os::unix::fs::symlink(&file, &alias).unwrap();
    let dotted = dir.path().join(".").join("both");
    let wal = dir.path().join("both-wal");
    for (audit, journal) in [
        (&file, &file),
        (&file, &dotted),
        (&alias, &file),
        (&wal, &file),
    ] {
        let o = pfsense_mcp(
            &[
                "--sandbox",
                "--audit-log",
                audit.to_str().unwrap(),
                "--journal",
                journal.to_str().unwrap(),
            ],
            &[("XDG_STATE_HOME", state)],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{audit:?} {journal:?}: {err}");
        assert!(err.contains("are the same file"), "{err}");
        assert!(!file.exists(), "nothing was created: {err}");
    }
}

/// Start the sandbox server on the audit log `log` ending in a line a crash cut off: the
/// server closes it off with a `cut_off` entry, so the log gets a line of the chain. Its stderr.
fn server_writes_a_line_to(log: &std::path::Path, state: &std::path::Path) -> String {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    file.write_all(b"{\"cut by a crash").unwrap();
    let o = pfsense_mcp(
        &["--sandbox", "--audit-log", log.to_str().unwrap()],
        &[("XDG_STATE_HOME", state.to_str().unwrap())],
    );
    assert!(
        std::fs::read_to_string(log).unwrap().contains("cut_off"),
        "{}",
        stderr(&o)
    );
    stderr(&o)
}

/// A backup copy named with 12 digits (`cp audit.jsonl audit.jsonl.$(date +%Y%m%d%H%M)`)
/// looks like one of the server's rotated files (`.<12 digits>`) but does not end in the entry
/// its name says: `audit verify` leaves it out of the chain, saying why (before, it was merged
/// in and verify failed as if the log had been edited), and a start right after a rotation
/// goes on from the real rotated file, not from the copy with the larger number (before, the
/// chain forked from the copy's end).
#[test]
fn a_backup_copy_with_twelve_digits_is_neither_merged_into_nor_forking_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("audit.jsonl");
    let numbered = |n: &str| dir.path().join(format!("audit.jsonl.{n}"));
    let verify =
        |path: &std::path::Path| pfsense_mcp(&["audit", "verify", path.to_str().unwrap()], &[]);
    server_writes_a_line_to(&log, &state);
    std::fs::copy(&log, numbered("202612051200")).unwrap();
    let o = verify(&log);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a backup copy beside it: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("audit.jsonl.202612051200")
            && stderr(&o).contains("none of its chain")
            && stderr(&o).contains("last entry is number 1"),
        "{}",
        stderr(&o)
    );
    // The server rotates: the file moves aside under its last entry's number (2), and the
    // next start finds no current file.
    server_writes_a_line_to(&log, &state);
    std::fs::rename(&log, numbered("000000000002")).unwrap();
    let started = server_writes_a_line_to(&log, &state);
    assert!(
        started.contains("audit.jsonl.202612051200") && started.contains("none of its chain"),
        "the start names the copy: {started}"
    );
    let o = verify(&log);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("3 entries across 2 files"),
        "the chain goes on from the rotated file: {}",
        stdout(&o)
    );
}

/// Files named `audit.jsonl.<digits>` by another tool (logrotate's `.1`, `.2`, a dated copy)
/// are not the server's rotated files (`.<12 digits>`): a backup copy no longer makes
/// `audit verify` fail, two logrotate cycles no longer fork the chain, and both are named in
/// a warning.
#[test]
fn numbered_files_of_other_tools_are_not_taken_for_rotated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("audit.jsonl");
    let numbered = |n: &str| dir.path().join(format!("audit.jsonl.{n}"));
    let verify =
        |path: &std::path::Path| pfsense_mcp(&["audit", "verify", path.to_str().unwrap()], &[]);
    server_writes_a_line_to(&log, &state);
    std::fs::copy(&log, numbered("20261205")).unwrap();
    let o = verify(&log);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a backup copy beside it: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("audit.jsonl.20261205") && stderr(&o).contains("not by pfsense-mcp"),
        "{}",
        stderr(&o)
    );
    // Two logrotate cycles (rename, the server goes on in a new file).
    std::fs::rename(&log, numbered("1")).unwrap();
    server_writes_a_line_to(&log, &state);
    std::fs::rename(numbered("1"), numbered("2")).unwrap();
    std::fs::rename(&log, numbered("1")).unwrap();
    server_writes_a_line_to(&log, &state);
    for path in [
        log.clone(),
        numbered("1"),
        numbered("2"),
        numbered("20261205"),
    ] {
        let o = verify(&path);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stderr(&o)
        );
        assert!(stdout(&o).contains("chain intact"), "{}", stdout(&o));
    }
}

/// A deny or allow pattern that matches no tool is a mistake that would offer every tool
/// (`deny`) or none (`allow`): refused at start, naming the pattern and the closest names,
/// from a flag, a variable or the config file alike; a pattern in the wrong case says so.
#[test]
fn a_pattern_that_matches_no_tool_is_refused_with_the_closest_names() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    for (args, env, named, closest) in [
        (
            &["--sandbox", "--deny", "pfsense_delte_*"][..],
            &[][..],
            "--deny / PFSENSE_DENY",
            "pfsense_delete_",
        ),
        (
            &["tools", "--summary"][..],
            &[("PFSENSE_ALLOW", "pfsense_lst_*")][..],
            "--allow / PFSENSE_ALLOW",
            "pfsense_list_",
        ),
        (
            &["--sandbox", "--allow", "pfsense_list_*,pfsense_undoo"][..],
            &[][..],
            "`pfsense_undoo` matches no tool",
            "`pfsense_undo`",
        ),
    ] {
        let mut env = env.to_vec();
        env.push(("XDG_STATE_HOME", state));
        let o = pfsense_mcp(args, &env);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("matches no tool"), "{err}");
        assert!(err.contains(named) && err.contains(closest), "{err}");
    }
    let o = pfsense_mcp(&["tools", "--summary", "--allow", "PFSENSE_LIST_*"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("case-sensitive") && stderr(&o).contains("(`pfsense_list_*` matches)"),
        "{}",
        stderr(&o)
    );
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[firewalls.lab]\nurl = \"https://127.0.0.1:9\"\napi_key_env = \"K\"\ndeny = [\"pfsense_delte_*\"]\n",
    )
    .unwrap();
    let o = pfsense_mcp(
        &["--config", config.to_str().unwrap()],
        &[("K", "k"), ("XDG_STATE_HOME", state)],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`deny` of firewall `lab`") && stderr(&o).contains("pfsense_delte_*"),
        "{}",
        stderr(&o)
    );
}

/// `sqlite3 DB SQL`'s output, or None when the sqlite3 shell is not installed.
fn sqlite3(db: &std::path::Path, sql: &str) -> Option<String> {
    let o = Command::new("sqlite3").arg(db).arg(sql).output().ok()?;
    assert!(o.status.success(), "sqlite3 {sql}: {}", stderr(&o));
    Some(stdout(&o).trim().to_string())
}

/// A journal whose tables are not the server's (another program's database, or a `changes`
/// table without the columns the server writes) is refused at start, naming the file and what
/// is wrong, and left unstamped: it was accepted and marked valid, and every write then failed
/// with SQL text.
#[test]
fn a_journal_of_another_schema_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for (name, sql, expected) in [
        (
            "narrow.sqlite",
            "CREATE TABLE changes (id INTEGER PRIMARY KEY, firewall TEXT, address TEXT);",
            "its table `changes` lacks the columns time_ms",
        ),
        (
            "places.sqlite",
            "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT);",
            "holds the tables moz_places and no `changes` table",
        ),
    ] {
        let db = dir.path().join(name);
        if sqlite3(&db, sql).is_none() {
            eprintln!("skipped: no sqlite3 shell");
            return;
        }
        let o = pfsense_mcp(
            &["--sandbox", "--journal", db.to_str().unwrap()],
            &[("XDG_STATE_HOME", state.to_str().unwrap())],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains(db.to_str().unwrap()) && err.contains(expected),
            "{err}"
        );
        assert!(err.contains("is not a journal of pfsense-mcp"), "{err}");
        assert_eq!(
            sqlite3(&db, "PRAGMA user_version").unwrap(),
            "0",
            "unstamped"
        );
        assert_eq!(sqlite3(&db, "PRAGMA journal_mode").unwrap(), "delete");
    }
}

/// The guards open while the server answers `initialize`: a start whose journal cannot open
/// still ends with status 2 and says why, and a call sent before it ends is not answered (it
/// would have run without its audit line and journal row).
#[test]
fn a_start_whose_journal_cannot_open_ends_before_any_call_runs() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("places.sqlite");
    if sqlite3(
        &db,
        "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT);",
    )
    .is_none()
    {
        eprintln!("skipped: no sqlite3 shell");
        return;
    }
    let state = dir.path().join("state");
    let mut child = Command::new(tests::binary::pfsense_mcp())
        .args(["--sandbox", "--journal", db.to_str().unwrap()])
        .env_clear()
        .env("HOME", std::env::temp_dir())
        .env("XDG_STATE_HOME", &state)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stdin stays open: the server ends by itself.
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"pfsense_list_firewall_aliases","arguments":{}}}"#,
    ];
    for line in lines {
        // The server may already be gone.
        let _ = writeln!(stdin, "{line}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not end");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("is not a journal of pfsense-mcp"), "{err}");
    assert!(!out.contains(r#""id":2"#), "the call was answered: {out}");
    assert_eq!(
        sqlite3(&db, "PRAGMA user_version").unwrap(),
        "0",
        "unstamped"
    );
}

/// A firewall address with characters an HTTP request cannot carry (`{`, `}`) passed start-up,
/// and every call then failed blaming its arguments: refused at start, naming the setting, and
/// saying that `${…}` is not expanded when the value holds one.
#[test]
fn an_address_a_request_cannot_carry_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    for (host, unexpanded) in [
        ("https://fw{x}", false),
        ("https://${EMU}", true),
        ("$EMU", true),
    ] {
        let o = pfsense_mcp(
            &[],
            &[
                ("PFSENSE_HOST", host),
                ("PFSENSE_API_KEY", "k"),
                ("XDG_STATE_HOME", state),
            ],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{host}: {err}");
        assert!(err.contains("PFSENSE_HOST") && err.contains(host), "{err}");
        assert_eq!(err.contains("not expanded"), unexpanded, "{err}");
    }
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[firewalls.emu]\nurl = \"${EMU}\"\napi_key_env = \"K\"\n",
    )
    .unwrap();
    let o = pfsense_mcp(
        &["--config", config.to_str().unwrap()],
        &[
            ("K", "k"),
            ("EMU", "https://127.0.0.1:9"),
            ("XDG_STATE_HOME", state),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("firewall `emu`") && err.contains("`url`") && err.contains("not expanded"),
        "{err}"
    );
}

/// `off` and `memory` are words in any case and with spaces around them, as booleans are
/// (`PFSENSE_AUDIT_LOG=OFF` made a file named `OFF`); enumerated values take any case too.
#[test]
fn keywords_and_enumerated_values_take_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    for (audit, journal) in [("OFF", "Memory"), (" off", "MEMORY "), ("Off", " memory")] {
        let o = Command::new(tests::binary::pfsense_mcp())
            .args(["--sandbox"])
            .current_dir(dir.path())
            .env_clear()
            .env("HOME", dir.path())
            .env("XDG_STATE_HOME", state)
            .env("PFSENSE_AUDIT_LOG", audit)
            .env("PFSENSE_JOURNAL", journal)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let made: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "state")
            .collect();
        assert!(
            made.is_empty(),
            "{audit:?} {journal:?}: made {made:?}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("audit log path="), "{}", stderr(&o));
    }
    for value in ["FULL", "Compact"] {
        let o = pfsense_mcp(
            &["--sandbox", "--tool-mode", value],
            &[("XDG_STATE_HOME", state)],
        );
        assert_ne!(
            o.status.code(),
            Some(2),
            "--tool-mode {value}: {}",
            stderr(&o)
        );
    }
    let o = pfsense_mcp(
        &["--sandbox"],
        &[("PFSENSE_CONFIRM", "FLAG"), ("XDG_STATE_HOME", state)],
    );
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `audit verify` of a directory, a SQLite file (the journal) or text with no JSON line is a
/// wrong path (exit 2, "not an audit log"), not a log someone edited (exit 4).
#[test]
fn verifying_what_is_not_an_audit_log_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    let o = pfsense_mcp(
        &[
            "--sandbox",
            "--audit-log",
            "off",
            "--journal",
            journal.to_str().unwrap(),
        ],
        &[("XDG_STATE_HOME", dir.path().to_str().unwrap())],
    );
    assert!(journal.is_file(), "{}", stderr(&o));
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    for (path, what) in [
        (dir.path().to_path_buf(), "a directory"),
        (journal, "a SQLite database"),
        (passwd, "none of whose lines is JSON"),
    ] {
        let o = pfsense_mcp(&["audit", "verify", path.to_str().unwrap()], &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", path.display());
        assert!(
            err.contains("is not an audit log") && err.contains(what),
            "{err}"
        );
        assert!(!err.contains("NOT intact"), "{err}");
    }
}

/// TLS settings that contradict each other are refused at start (exit 2), from flags as from
/// a config file: one of them was ignored without a word (the CA under --insecure or beside a
/// fingerprint, --insecure beside a fingerprint); a CA file that is not there is named.
#[test]
fn contradictory_tls_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not read before the settings are checked\n").unwrap();
    let ca = ca.to_str().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let missing = missing.to_str().unwrap();
    let fp = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let base = [
        ("PFSENSE_HOST", "https://127.0.0.1:9"),
        ("PFSENSE_API_KEY", "k"),
        ("XDG_STATE_HOME", state),
    ];
    for (args, env, expected) in [
        (
            &["--insecure", "--ca-cert", ca][..],
            &[][..],
            "--insecure and --ca-cert",
        ),
        (
            &["--insecure", "--tls-fingerprint", fp][..],
            &[][..],
            "--insecure and --tls-fingerprint",
        ),
        (
            &["--ca-cert", ca][..],
            &[("PFSENSE_TLS_FINGERPRINT", fp)][..],
            "contradict each other",
        ),
        (
            &[][..],
            &[("PFSENSE_VERIFY_SSL", "false"), ("PFSENSE_CA_CERT", ca)][..],
            "PFSENSE_VERIFY_SSL=false) and --ca-cert",
        ),
        (&["--ca-cert", missing][..], &[][..], "does not exist"),
    ] {
        let mut env = env.to_vec();
        env.extend_from_slice(&base);
        for command in [&[][..], &["doctor"][..]] {
            let mut all = command.to_vec();
            all.extend_from_slice(args);
            let o = pfsense_mcp(&all, &env);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{all:?} {env:?}: {err}");
            assert!(err.contains(expected), "{all:?}: {err}");
        }
    }
    let config = dir.path().join("config.toml");
    for (extra, expected) in [
        (
            format!("ca_cert = \"{ca}\"\ninsecure = true"),
            "`insecure = true` and `ca_cert`",
        ),
        (
            format!("ca_cert = \"{ca}\"\ntls_fingerprint = \"{fp}\""),
            "`ca_cert` and `tls_fingerprint`",
        ),
        (
            "ca_cert = \"missing-ca.pem\"".to_string(),
            "missing-ca.pem does not exist",
        ),
    ] {
        std::fs::write(
            &config,
            format!(
                "[firewalls.lab]\nurl = \"https://127.0.0.1:9\"\napi_key_env = \"K\"\n{extra}\n"
            ),
        )
        .unwrap();
        let o = pfsense_mcp(
            &["--config", config.to_str().unwrap()],
            &[("K", "k"), ("XDG_STATE_HOME", state)],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra}: {err}");
        assert!(
            err.contains("firewall `lab`") && err.contains(expected),
            "{extra}: {err}"
        );
    }
}

/// A fingerprint or a CA with a plain `http://` firewall URL is refused at start (exit 2),
/// from flags as from a config file: no certificate is presented over plain HTTP, so the
/// setting was ignored without a word while the credentials went unencrypted.
#[test]
fn certificate_settings_with_a_plain_http_url_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not read before the settings are checked\n").unwrap();
    let ca = ca.to_str().unwrap();
    let fp = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    for (setting, value, named) in [
        ("PFSENSE_TLS_FINGERPRINT", fp, "--tls-fingerprint"),
        ("PFSENSE_CA_CERT", ca, "--ca-cert"),
    ] {
        let env = [
            ("PFSENSE_HOST", "http://127.0.0.1:9"),
            ("PFSENSE_API_KEY", "k"),
            ("XDG_STATE_HOME", state),
            (setting, value),
        ];
        for command in [&[][..], &["doctor"][..]] {
            let o = pfsense_mcp(command, &env);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{command:?} {setting}: {err}");
            assert!(
                err.contains(named) && err.contains("plain http://"),
                "{command:?} {setting}: {err}"
            );
        }
    }
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[firewalls.lab]\nurl = \"http://127.0.0.1:9\"\napi_key_env = \"K\"\ntls_fingerprint = \"{fp}\"\n"),
    )
    .unwrap();
    let o = pfsense_mcp(
        &["--config", config.to_str().unwrap()],
        &[("K", "k"), ("XDG_STATE_HOME", state)],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("firewall `lab`")
            && err.contains("`tls_fingerprint`")
            && err.contains("plain http://"),
        "{err}"
    );
}

/// A rate-limit period beyond a week is refused like other durations too long to mean; a
/// config file's credential problems name the file, the firewall and the key (not
/// PFSENSE_API_KEY); a firewall that is not a table is said in words, not Rust type names.
#[test]
fn rate_limit_periods_and_config_file_credentials_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let o = pfsense_mcp(
        &["--sandbox", "--rate-limit", "write=1/18446744073709551615"],
        &[("XDG_STATE_HOME", state)],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("at most 604800 seconds"),
        "{}",
        stderr(&o)
    );
    let config = dir.path().join("config.toml");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "Key-Line-One\nKey-Line-Two\n").unwrap();
    for (text, env, expected) in [
        (
            "[firewalls.lab]\nurl = \"https://127.0.0.1:9\"\napi_key_file = \"key\"\n",
            ("UNUSED", ""),
            "`api_key_file`",
        ),
        (
            "[firewalls.lab]\nurl = \"https://127.0.0.1:9\"\napi_key_env = \"LAB_KEY\"\n",
            ("LAB_KEY", "Key-Line-One\nKey-Line-Two"),
            "`api_key_env` names the environment variable LAB_KEY",
        ),
        (
            "[firewalls]\nlab = \"https://127.0.0.1:9\"\n",
            ("UNUSED", ""),
            "must be a table",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let o = pfsense_mcp(
            &["--config", config.to_str().unwrap()],
            &[env, ("XDG_STATE_HOME", state)],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(expected)
                && err.contains("firewall `lab`")
                && err.contains(config.to_str().unwrap()),
            "{text}: {err}"
        );
        assert!(
            !err.contains("PFSENSE_API_KEY") && !err.contains("FirewallEntry"),
            "{err}"
        );
        assert!(!err.contains("Key-Line"), "{err}");
    }
}

/// A config file other users can write decides where the server connects and whether it
/// checks the certificate: said on stderr, by the server and by doctor.
#[cfg(unix)]
#[test]
fn a_config_file_others_can_write_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[firewalls.lab]\nurl = \"https://127.0.0.1:9\"\napi_key_env = \"K\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--config", config.to_str().unwrap()]);
        stderr(&pfsense_mcp(
            &all,
            &[("K", "k"), ("XDG_STATE_HOME", state.to_str().unwrap())],
        ))
    };
    for mode in [0o664, 0o646] {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        for args in [&[][..], &["doctor"][..]] {
            let err = run(args);
            assert!(
                err.contains("can be changed by other users")
                    && err.contains(&format!("{mode:04o}")),
                "{args:?} {mode:o}: {err}"
            );
        }
    }
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(!run(&[]).contains("other users"));
}
