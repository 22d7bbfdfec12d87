//! `pfsense-mcp doctor` against real HTTPS targets (the emulator on loopback, set up for each
//! failure class), run as a user runs it: the binary with environment variables.

use pfsense_emulator::{EmulatorConfig, Fault, FaultAction, RunningEmulator};
use serde_json::{Value, json};
use std::process::{Command, Output};

struct Doctor {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Doctor {
    /// The report line of one check, e.g. `FAIL  tls …`.
    fn line(&self, check: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| {
                let mut words = l.split_whitespace();
                let status = words.next().unwrap_or("");
                ["ok", "warn", "FAIL", "skip"].contains(&status)
                    && words.collect::<Vec<_>>().join(" ").starts_with(check)
            })
            .unwrap_or_else(|| panic!("no `{check}` line in:\n{}", self.stdout))
    }

    fn status(&self, check: &str) -> &str {
        self.line(check).split_whitespace().next().unwrap_or("")
    }
}

fn doctor(env: &[(&str, &str)]) -> Doctor {
    doctor_with(Command::new(tests::binary::pfsense_mcp()), env)
}

fn doctor_with(mut cmd: Command, env: &[(&str, &str)]) -> Doctor {
    for var in [
        "PFSENSE_HOST",
        "PFSENSE_URL",
        "PFSENSE_API_KEY",
        "PFSENSE_USERNAME",
        "PFSENSE_PASSWORD",
        "PFSENSE_AUTH",
        "PFSENSE_TLS_FINGERPRINT",
        "PFSENSE_CA_CERT",
        "PFSENSE_VERIFY_SSL",
    ] {
        cmd.env_remove(var);
    }
    // The doctor checks the audit log and journal a start would use: fresh ones, not this
    // machine's (the default state directory is under HOME).
    let state = tempfile::tempdir().expect("temp state dir");
    cmd.env("XDG_STATE_HOME", state.path());
    cmd.arg("doctor").envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run pfsense-mcp doctor");
    let d = Doctor {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    eprintln!("{}\n{}", d.stdout, d.stderr);
    d
}

async fn emulator(
    key_auth: bool,
    state: Option<Value>,
) -> (RunningEmulator, Option<tempfile::NamedTempFile>) {
    let mut config = EmulatorConfig::new(tests::spec_path());
    config.enable_key_auth = key_auth;
    // Not a word of the report, so "the password never shows" can fail.
    config.password = "doctor-Test-passw0rd".into();
    let file = state.map(|s| {
        let f = tempfile::NamedTempFile::new().expect("temp state file");
        std::fs::write(f.path(), s.to_string()).expect("write state file");
        f
    });
    config.state_file = file.as_ref().map(|f| f.path().to_path_buf());
    let emu = pfsense_emulator::start(config)
        .await
        .expect("emulator starts");
    (emu, file)
}

/// The environment of a user who pinned the emulator's certificate and set its API key.
fn key_env(emu: &RunningEmulator) -> Vec<(&'static str, String)> {
    vec![
        ("PFSENSE_HOST", emu.url().to_string()),
        (
            "PFSENSE_API_KEY",
            emu.api_key().unwrap_or_default().to_string(),
        ),
        ("PFSENSE_TLS_FINGERPRINT", emu.fingerprint().to_string()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn settings(overrides: Value) -> Value {
    let mut s = json!({"enabled": true, "read_only": false, "keep_backup": true, "login_protection": true,
        "log_successful_auth": false, "hateoas": false, "expose_sensitive_fields": false,
        "override_sensitive_fields": [], "allowed_interfaces": [], "represent_interfaces_as": "id",
        "auth_methods": ["BasicAuth", "KeyAuth"], "jwt_exp": 3600, "ha_sync": false, "ha_sync_hosts": []});
    if let (Some(s), Some(o)) = (s.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            s.insert(k.clone(), v.clone());
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_target_passes_every_check() {
    let (emu, _state) = emulator(true, None).await;
    let d = doctor(&borrowed(&key_env(&emu)));
    assert_eq!(d.code, 0, "a healthy target exits 0");
    for check in [
        "name resolution",
        "tcp",
        "tls",
        "rest api",
        "authentication",
        "privileges",
        "auth methods",
        "read-only",
        "version",
    ] {
        assert_eq!(d.status(check), "ok", "{check}");
    }
    assert!(d.line("tls").contains("matches the pinned fingerprint"));
    assert!(
        d.stdout.contains(emu.fingerprint()),
        "prints the fingerprint to pin"
    );
    assert!(d.line("authentication").contains("key: works"));
    let key = emu.api_key().unwrap_or_default();
    assert!(
        !d.stdout.contains(key) && !d.stderr.contains(key),
        "the key never shows"
    );
    // The doctor only reads.
    assert!(
        emu.requests()
            .iter()
            .all(|r| r.method == "GET" || r.path == "/api/v2/auth/jwt"),
        "only reads (and JWT issuing) are sent"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_and_changed_certificates_fail_with_the_fingerprint_to_pin() {
    let (emu, _state) = emulator(true, None).await;
    let mut env = key_env(&emu);
    env.retain(|(k, _)| *k != "PFSENSE_TLS_FINGERPRINT");
    let d = doctor(&borrowed(&env));
    assert_ne!(d.code, 0);
    assert_eq!(d.status("tls"), "FAIL");
    assert!(
        d.stdout
            .contains(&format!("PFSENSE_TLS_FINGERPRINT={}", emu.fingerprint())),
        "the fix names the pin"
    );
    assert_eq!(d.status("authentication"), "skip");

    env.push((
        "PFSENSE_TLS_FINGERPRINT",
        format!("sha256:{}", "ab".repeat(32)),
    ));
    let d = doctor(&borrowed(&env));
    assert_ne!(d.code, 0);
    assert_eq!(d.status("tls"), "FAIL");
    assert!(
        d.stdout.contains("the firewall now presents"),
        "a pin mismatch says the certificate changed"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_port_fails_tcp() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let host = format!("https://127.0.0.1:{port}");
    let d = doctor(&[("PFSENSE_HOST", host.as_str()), ("PFSENSE_API_KEY", "0123")]);
    assert_ne!(d.code, 0);
    assert_eq!(d.status("name resolution"), "ok");
    assert_eq!(d.status("tcp"), "FAIL");
    assert!(d.line("tcp").contains("connection refused"));
    assert!(d.stdout.contains("webGUI's port"));
    assert_eq!(d.status("tls"), "skip");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_is_reported_with_where_it_points_and_not_followed() {
    // A webGUI that sends http:// to https:// (here: to another loopback server, which must
    // see nothing: the key would go along).
    let webgui = tests::recorder::Recorder::start().await;
    let (elsewhere, target) = webgui
        .redirect_elsewhere("/api/v2/system/version", 302)
        .await;
    let key = "ab".repeat(24);
    let d = doctor(&[
        ("PFSENSE_HOST", webgui.url().as_str()),
        ("PFSENSE_API_KEY", key.as_str()),
    ]);
    assert_ne!(d.code, 0);
    assert_eq!(d.status("rest api"), "FAIL");
    assert!(
        d.line("rest api")
            .contains(&format!("HTTP 302, a redirect to {target}")),
        "{}",
        d.stdout
    );
    assert!(d.stdout.contains("set PFSENSE_HOST to the address"));
    assert!(!d.stdout.contains(&key), "the key never shows");
    assert!(!webgui.requests().is_empty());
    assert!(
        elsewhere.requests().is_empty(),
        "nothing followed the redirect"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_fail_authentication_and_name_what_works() {
    let (emu, _state) = emulator(true, None).await;
    let mut env = key_env(&emu);
    env.retain(|(k, _)| *k != "PFSENSE_API_KEY");
    env.push(("PFSENSE_API_KEY", "00".repeat(24)));
    let d = doctor(&borrowed(&env));
    assert_ne!(d.code, 0);
    assert_eq!(d.status("rest api"), "ok");
    assert_eq!(d.status("authentication"), "FAIL");
    assert!(
        d.line("authentication")
            .contains("401 AUTH_AUTHENTICATION_FAILED")
    );
    assert!(!d.stdout.contains(&"00".repeat(24)), "the key never shows");

    // A wrong key but a good user: the doctor says which method works.
    env.push(("PFSENSE_USERNAME", emu.username().to_string()));
    env.push(("PFSENSE_PASSWORD", emu.password().to_string()));
    env.push(("PFSENSE_AUTH", "key".to_string()));
    let d = doctor(&borrowed(&env));
    assert_eq!(d.status("authentication"), "FAIL");
    assert!(
        d.stdout.contains("set PFSENSE_AUTH=basic"),
        "suggests the working method"
    );
    assert!(
        !d.stdout.contains(emu.password()),
        "the password never shows"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_only_install_warns_about_key_auth() {
    // The install default: auth_methods = [BasicAuth].
    let (emu, _state) = emulator(false, None).await;
    let d = doctor(&[
        ("PFSENSE_HOST", emu.url()),
        ("PFSENSE_USERNAME", emu.username()),
        ("PFSENSE_PASSWORD", emu.password()),
        ("PFSENSE_TLS_FINGERPRINT", emu.fingerprint()),
    ]);
    assert_eq!(d.code, 0, "a warning is not a failure");
    assert_eq!(d.status("authentication"), "ok");
    assert!(d.line("authentication").contains("basic: works"));
    assert_eq!(d.status("auth methods"), "warn");
    assert!(
        d.line("auth methods")
            .contains("auth_methods = [BasicAuth]")
    );
    assert!(d.stdout.contains("enable KeyAuth"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_api_fails_with_where_to_enable_it() {
    let state = json!({"singletons": {"RESTAPISettings": settings(json!({"enabled": false}))}});
    let (emu, _state) = emulator(true, Some(state)).await;
    let d = doctor(&borrowed(&key_env(&emu)));
    assert_ne!(d.code, 0);
    assert_eq!(d.status("rest api"), "FAIL");
    assert!(d.line("rest api").contains("disabled"));
    assert!(d.stdout.contains("System > REST API > Settings > Enable"));
    assert_eq!(d.status("authentication"), "skip");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_package_is_named() {
    let (emu, _state) = emulator(true, None).await;
    emu.add_fault(Fault::new(FaultAction::Html404).on_path("/api/v2/*"));
    let d = doctor(&borrowed(&key_env(&emu)));
    assert_ne!(d.code, 0);
    assert_eq!(d.status("rest api"), "FAIL");
    assert!(d.line("rest api").contains("not installed"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_privileges_are_listed_by_name() {
    // A user who may log in but holds no privilege (not in `admins`).
    let state = json!({"collections": {"User": [
        {"name": "admin", "password": "pfsense", "uid": 0, "scope": "system", "descr": "System Administrator",
         "priv": ["user-shell-access"], "disabled": false},
        {"name": "auditor", "password": "correct horse battery", "uid": 2000, "scope": "user", "descr": "",
         "priv": ["api-v2-system-version-get"], "disabled": false}
    ]}});
    let (emu, _state) = emulator(false, Some(state)).await;
    let d = doctor(&[
        ("PFSENSE_HOST", emu.url()),
        ("PFSENSE_USERNAME", "auditor"),
        ("PFSENSE_PASSWORD", "correct horse battery"),
        ("PFSENSE_TLS_FINGERPRINT", emu.fingerprint()),
    ]);
    assert_ne!(d.code, 0);
    assert_eq!(d.status("authentication"), "ok", "logging in works");
    assert_eq!(d.status("privileges"), "FAIL");
    assert!(d.line("privileges").contains("api-v2-firewall-rules-get"));
    assert!(d.stdout.contains("page-all"));
    // The same user configured for JWT: the firewall issues it no token (403 on
    // POST /auth/jwt), so no call of the server's would work. Not a pass.
    let d = doctor(&[
        ("PFSENSE_HOST", emu.url()),
        ("PFSENSE_USERNAME", "auditor"),
        ("PFSENSE_PASSWORD", "correct horse battery"),
        ("PFSENSE_AUTH", "jwt"),
        ("PFSENSE_TLS_FINGERPRINT", emu.fingerprint()),
    ]);
    assert_eq!(d.code, 3, "{}", d.stdout);
    assert_eq!(d.status("authentication"), "FAIL");
    assert!(
        d.stdout.contains("jwt: no token issued") && d.stdout.contains("api-v2-auth-jwt-post"),
        "{}",
        d.stdout
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_api_warns_and_old_version_fails() {
    let state = json!({"singletons": {
        "RESTAPISettings": settings(json!({"read_only": true})),
        "RESTAPIVersion": {"current_version": "v2.6.0", "latest_version": "v2.7.1",
            "latest_version_release_date": "2025-10-01T00:00:00Z", "update_available": true,
            "available_versions": ["v2.7.1", "v2.7.0", "v2.6.0"]}
    }});
    let (emu, _state) = emulator(true, Some(state)).await;
    let d = doctor(&borrowed(&key_env(&emu)));
    assert_ne!(d.code, 0);
    assert_eq!(d.status("read-only"), "warn");
    assert!(d.stdout.contains("PFSENSE_READ_ONLY=true"));
    assert_eq!(d.status("version"), "FAIL");
    assert!(d.line("version").contains("v2.6.0"));
    assert!(d.stdout.contains("cargo xtask spec pull"));
    emu.shutdown().await;
}

/// Name resolution fails inside a fresh network namespace (no interface is up, so the lookup
/// fails without a packet leaving this machine). Needs `unshare -rn`; skipped where user
/// namespaces are not allowed.
#[test]
fn unresolvable_name_fails_first() {
    let probe = Command::new("unshare").args(["-rn", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: `unshare -rn` is not available here");
        return;
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["-rn"]).arg(tests::binary::pfsense_mcp());
    let d = doctor_with(
        cmd,
        &[
            ("PFSENSE_HOST", "https://firewall.example.internal"),
            ("PFSENSE_API_KEY", "0123"),
        ],
    );
    assert_ne!(d.code, 0);
    assert_eq!(d.status("name resolution"), "FAIL");
    assert!(
        d.line("name resolution")
            .contains("firewall.example.internal")
    );
    assert!(d.stdout.contains("getent hosts firewall.example.internal"));
    assert_eq!(d.status("tcp"), "skip");
}

/// With a config file the doctor checks every firewall in it (or the one named), each in its own
/// report; a firewall whose credentials cannot be read fails without stopping the others.
#[tokio::test(flavor = "multi_thread")]
async fn config_file_firewalls_are_checked_one_by_one() {
    let (emu, _state) = emulator(true, None).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default = \"lab\"\n\n[firewalls.lab]\nurl = \"{}\"\napi_key_env = \"DOCTOR_TEST_LAB_KEY\"\ntls_fingerprint = \"{}\"\n\n[firewalls.prod]\nurl = \"https://127.0.0.1:9\"\napi_key_env = \"DOCTOR_TEST_PROD_KEY_UNSET\"\nread_only = true\n",
            emu.url(),
            emu.fingerprint()
        ),
    )
    .expect("write config");
    let config = config.to_string_lossy().into_owned();
    let key = emu.api_key().unwrap_or_default();
    let env = [
        ("PFSENSE_CONFIG", config.as_str()),
        ("DOCTOR_TEST_LAB_KEY", key),
    ];
    let d = doctor(&env);
    assert_ne!(d.code, 0, "prod cannot be checked");
    assert!(d.stdout.contains("== firewall `lab`"), "{}", d.stdout);
    assert!(d.stdout.contains("== firewall `prod`"));
    assert!(
        d.stdout.contains("DOCTOR_TEST_PROD_KEY_UNSET"),
        "names the unset variable"
    );
    assert_eq!(d.status("version"), "ok", "lab was checked in full");
    assert!(!d.stdout.contains(key), "the key never shows");

    let mut cmd = Command::new(tests::binary::pfsense_mcp());
    cmd.args(["--config", config.as_str()]);
    let only_lab = {
        let mut c = cmd;
        c.env("DOCTOR_TEST_LAB_KEY", key);
        c.arg("doctor").args(["--firewall", "lab"]);
        c.output().expect("run doctor --firewall lab")
    };
    assert!(
        only_lab.status.success(),
        "{}",
        String::from_utf8_lossy(&only_lab.stdout)
    );
    assert!(!String::from_utf8_lossy(&only_lab.stdout).contains("prod"));
    emu.shutdown().await;
}

/// A config file the server would refuse is a failed check of the doctor's, naming the file and
/// the line or key, with what to fix; the rest of the report (this server's own settings)
/// follows, and the doctor exits 3 at the end (before, it exited 2 with the error alone).
#[test]
fn a_bad_config_file_is_a_failed_check_and_the_report_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    let config_arg = config.to_string_lossy().into_owned();
    for (text, words) in [
        (
            "default = \"lab\"\n\n[firewalls.lab\nurl = \"https://192.0.2.1\"\n",
            format!("{config_arg}:3:"),
        ),
        (
            "[firewalls.lab]\nurl = \"https://192.0.2.1\"\nread_olny = true\n",
            "read_olny".to_string(),
        ),
    ] {
        std::fs::write(&config, text).expect("write config");
        let start = run_clean(&["--config", &config_arg], &[], dir.path());
        assert_eq!(start.code, 2, "the server refuses it");
        assert!(start.stderr.contains(&words), "{}", start.stderr);

        let d = doctor(&[("PFSENSE_CONFIG", config_arg.as_str())]);
        assert_eq!(d.code, 3, "{}", d.stderr);
        assert_eq!(d.status("config file"), "FAIL");
        assert!(d.line("config file").contains(&words), "{}", d.stdout);
        let fix = d
            .stdout
            .lines()
            .skip_while(|l| !l.contains(&words))
            .nth(1)
            .unwrap_or_default();
        assert!(
            fix.trim_start().starts_with("fix: ") && fix.contains(&config_arg),
            "{}",
            d.stdout
        );
        // The checks that need no firewall of the file were made.
        assert_eq!(d.status("policy"), "ok", "{}", d.stdout);
        // It does not claim firewalls it could not read.
        assert!(
            d.line("policy").contains("once it can be read")
                && !d.line("policy").contains("each firewall of"),
            "{}",
            d.stdout
        );
        assert_eq!(d.status("rate limits"), "ok", "{}", d.stdout);
        assert!(d.stdout.contains("1 check failed"), "{}", d.stdout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_firewall_is_not_blamed_on_the_credentials() {
    // pfrest's dispatcher queue is full: every request gets 503 with Retry-After.
    let (emu, _state) = emulator(true, None).await;
    emu.add_fault(Fault::new(FaultAction::Unavailable { retry_after: 2 }));
    let env = key_env(&emu);
    let d = doctor(&borrowed(&env));
    assert_eq!(d.code, 3);
    assert_eq!(d.status("authentication"), "FAIL");
    assert!(
        d.stdout.contains("busy or failing") && !d.stdout.contains("check the credentials"),
        "{}",
        d.stdout
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_firewall_gets_the_servers_timeout() {
    // The version read (the doctor's probe of the API) takes 11 s: over the 10 s the
    // connection steps get, under --timeout 20, which the server would wait.
    let (emu, _state) = emulator(true, None).await;
    emu.add_fault(
        Fault::new(FaultAction::Delay)
            .with_latency_ms(11_000)
            .on_path("/api/v2/system/version"),
    );
    let mut env = key_env(&emu);
    env.push(("PFSENSE_TIMEOUT", "20".into()));
    let d = doctor(&borrowed(&env));
    assert_eq!(d.status("rest api"), "ok", "{}", d.stdout);
    assert_eq!(d.status("authentication"), "ok", "{}", d.stdout);
    emu.shutdown().await;
}

/// `pfsense-mcp ARGS` with only `env` (and PATH, and HOME in `home`): stdout, stderr, status.
fn run_clean(args: &[&str], env: &[(&str, &str)], home: &std::path::Path) -> Doctor {
    let o = Command::new(tests::binary::pfsense_mcp())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run pfsense-mcp");
    let d = Doctor {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    eprintln!("{args:?}\n{}\n{}", d.stdout, d.stderr);
    d
}

/// Settings only serving uses, which the server refuses at start (exit 2), are found by the
/// doctor without serving: each fails its own check with the server's own words and a fix
/// (before, the doctor checked the firewall only, and such a setting was found when an MCP
/// client started the server and it would not start).
#[test]
fn the_doctor_fails_serve_settings_the_server_would_refuse_with_its_words() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let tokens = home.join("tokens");
    std::fs::write(&tokens, "alice:too-short\n").unwrap();
    let a_file = home.join("a-file");
    std::fs::write(&a_file, "not a directory").unwrap();
    let tokens = tokens.to_string_lossy().into_owned();
    let under_a_file = a_file.join("audit.jsonl").to_string_lossy().into_owned();
    let both = home.join("both").to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["--http", "127.0.0.1:0", "--tokens-file", &tokens],
            "http",
            "token `alice` is 9 characters long",
        ),
        (
            vec!["--http", "0.0.0.0:0"],
            "http",
            "without a bearer token",
        ),
        (
            vec!["--allow", "pfsense_lst_*"],
            "policy",
            "`pfsense_lst_*` matches no tool",
        ),
        (
            vec!["--modules", "firewal"],
            "policy",
            "unknown module `firewal`",
        ),
        (
            vec!["--rate-limit", "write=3/fortnight"],
            "rate limits",
            "period `fortnight`",
        ),
        (
            vec!["--audit-log", &under_a_file],
            "audit log",
            "is not a directory",
        ),
        (
            vec!["--audit-log", &both, "--journal", &both],
            "state files",
            "are the same file",
        ),
        (
            vec!["--breaker-cooldown", "0"],
            "retries",
            "--breaker-cooldown must be at least 1 second",
        ),
    ];
    for (flags, check, words) in cases {
        let mut server = vec!["--sandbox"];
        server.extend(&flags);
        let start = run_clean(&server, &[], home);
        assert_eq!(start.code, 2, "the server refuses {flags:?}");
        assert!(start.stderr.contains(words), "{flags:?}: {}", start.stderr);
        let mut doctor = vec!["doctor"];
        doctor.extend(&server);
        let d = run_clean(&doctor, &[], home);
        assert_eq!(d.code, 3, "{flags:?}");
        assert_eq!(d.status(check), "FAIL", "{flags:?}");
        assert!(
            d.line(check).contains(words),
            "{flags:?}: {}",
            d.line(check)
        );
        let fix = d
            .stdout
            .lines()
            .skip_while(|l| !l.contains(words))
            .nth(1)
            .unwrap_or_default();
        assert!(
            fix.trim_start().starts_with("fix: "),
            "{flags:?}: {}",
            d.stdout
        );
        // The sandbox itself was checked all the same.
        assert_eq!(d.status("version"), "ok", "{flags:?}");
    }
    assert!(
        !std::fs::exists(&both).unwrap(),
        "the doctor created nothing"
    );
}

/// What a start would warn about (or what would stop a second server) is a warning of the
/// doctor's: an HTTP address already taken, no bearer token, a backup copy of the audit log
/// named like a rotated file; a journal whose pages are damaged fails. Good settings pass, and
/// the doctor writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_doctor_warns_of_what_a_start_warns_of_and_checks_the_journals_pages() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let log = home.join("audit.jsonl");
    let journal = home.join("journal.sqlite");
    let (log_arg, journal_arg) = (
        log.to_string_lossy().into_owned(),
        journal.to_string_lossy().into_owned(),
    );
    // A server writes both (a change, so the journal has a row), then stops.
    let emu = tests::safety::emulator().await;
    let env = tests::safety::env_for(&emu);
    let session = tests::safety::Session::start(
        &["--audit-log", &log_arg, "--journal", &journal_arg],
        &env,
        tests::safety::Human::new(false, tests::safety::HumanAnswer::Accept),
        None,
    )
    .await;
    session
        .ok(
            "pfsense_create_firewall_alias",
            json!({"name": "doctor_test", "type": "host", "address": ["192.0.2.1"], "confirm": true}),
        )
        .await;
    session.close().await;
    let wal = home.join("journal.sqlite-wal");
    for _ in 0..1200 {
        if !wal.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let healthy = run_clean(
        &[
            "doctor",
            "--sandbox",
            "--audit-log",
            &log_arg,
            "--journal",
            &journal_arg,
        ],
        &[],
        home,
    );
    assert_eq!(healthy.code, 0, "{}", healthy.stdout);
    assert!(
        healthy.line("audit log").contains(", appended to"),
        "{}",
        healthy.stdout
    );
    assert!(
        healthy.line("journal").contains("1 change,")
            && healthy.line("journal").contains("pages intact"),
        "{}",
        healthy.stdout
    );
    let files = |paths: &[&std::path::Path]| -> Vec<Vec<u8>> {
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    };
    let before = files(&[&log, &journal]);

    std::fs::copy(&log, home.join("audit.jsonl.202612051200")).unwrap();
    let d = run_clean(
        &[
            "doctor",
            "--sandbox",
            "--http",
            &taken,
            "--audit-log",
            &log_arg,
            "--journal",
            &journal_arg,
        ],
        &[],
        home,
    );
    assert_eq!(d.code, 0, "warnings only: {}", d.stdout);
    assert_eq!(d.status("http"), "warn");
    assert!(
        d.stdout.contains("no bearer token configured"),
        "{}",
        d.stdout
    );
    assert_eq!(d.status("http listen"), "warn");
    assert!(
        d.line("http listen").contains("Address already in use"),
        "{}",
        d.stdout
    );
    assert_eq!(d.status("audit log"), "warn");
    assert!(
        d.stdout
            .contains("audit.jsonl.202612051200 is named like a rotated file"),
        "{}",
        d.stdout
    );
    assert!(
        files(&[&log, &journal]) == before,
        "the doctor wrote nothing"
    );

    let mut damaged = std::fs::read(&journal).unwrap();
    let pages = damaged.len() / 4096;
    assert!(pages >= 3, "{pages} pages");
    let last = (pages - 1) * 4096;
    damaged[last..last + 4096].fill(0xA5);
    std::fs::write(&journal, &damaged).unwrap();
    let d = run_clean(
        &[
            "doctor",
            "--sandbox",
            "--audit-log",
            &log_arg,
            "--journal",
            &journal_arg,
        ],
        &[],
        home,
    );
    assert_eq!(d.code, 3, "{}", d.stdout);
    assert_eq!(d.status("journal"), "FAIL");
    assert!(
        d.line("journal").contains("is damaged") && d.stdout.contains("move the file aside"),
        "{}",
        d.stdout
    );
    emu.shutdown().await;
}

/// With `--lockout-source`, the doctor says how the lockout guard reads this server's path now,
/// from the reads and the evaluator a guarded change meets: on LAN, the anti-lockout rule passes
/// it; from across WAN with no rule for it, the path it finds blocked is a warning naming the
/// default deny (the guard would send changes with only a warning on stderr), which a pass rule
/// on WAN for the address turns into an ok naming that rule. Without the flag there is no line.
#[tokio::test(flavor = "multi_thread")]
async fn the_doctor_says_how_the_lockout_guard_reads_the_servers_path() {
    let (emu, _state) = emulator(true, None).await;
    let env = key_env(&emu);
    let with_source = |source: &'static str| {
        let mut env = borrowed(&env);
        env.push(("PFSENSE_LOCKOUT_SOURCE", source));
        doctor(&env)
    };
    let d = with_source("192.168.1.50");
    assert_eq!(d.code, 0);
    assert_eq!(d.status("lockout guard"), "ok");
    assert!(
        d.line("lockout guard").contains(
            "192.168.1.50 comes in on lan; to 192.168.1.1, port 443 passes by rule \"Anti-Lockout Rule"
        ),
        "{}",
        d.line("lockout guard")
    );
    let d = with_source("81.2.69.200");
    assert_eq!(d.code, 0, "a warning is no failure");
    assert_eq!(d.status("lockout guard"), "warn");
    assert!(
        d.line("lockout guard").contains(
            "cannot judge the path from 81.2.69.200: it comes in on wan, where the model finds port 443 blocked by rule \"Default deny rule IPv4\""
        ),
        "{}",
        d.line("lockout guard")
    );
    let created = tests::http::client_builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .post(format!("{}/api/v2/firewall/rule", emu.url()))
        .header("X-API-Key", emu.api_key().unwrap_or_default())
        .json(
            &json!({"type": "pass", "interface": ["wan"], "ipprotocol": "inet",
            "protocol": "tcp", "source": "81.2.69.200", "destination": "wan:ip",
            "destination_port": "443", "descr": "API from the admin"}),
        )
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let d = with_source("81.2.69.200");
    assert_eq!(d.status("lockout guard"), "ok");
    assert!(
        d.line("lockout guard")
            .contains("81.2.69.200 comes in on wan; to 10.0.2.15, port 443 passes by rule #"),
        "{}",
        d.line("lockout guard")
    );
    assert!(d.line("lockout guard").contains("\"API from the admin\""));
    let d = doctor(&borrowed(&env));
    assert!(!d.stdout.contains("lockout guard"), "{}", d.stdout);
}
