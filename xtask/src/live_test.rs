//! `cargo xtask live-test --target vm|emulator|URL`: runs test groups (shell commands) against a
//! pfSense REST API, resetting the target between groups, and writes a JSON report.
//! The commands get the target in their environment, so any test program can be plugged in.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use vm_harness::golden::{Credentials, GoldenImage};
use vm_harness::{RunningVm, Vm, VmOptions};

const HELP: &str = "\
Targets:
  vm        boot a throwaway VM from the golden image (see `cargo xtask golden`) on an overlay;
            a snapshot taken once the API answers is restored before every group after the first
  emulator  start pfsense-emulator on a free loopback port, restarted before every group
  URL       an existing firewall, e.g. https://192.168.1.1 (not reset between groups)

Each group is NAME=COMMAND, run with `sh -c` and these variables:
  PFSENSE_URL, PFSENSE_USERNAME, PFSENSE_PASSWORD, PFSENSE_API_KEY (when known),
  PFSENSE_TLS_INSECURE=1 (the VM and the emulator use self-signed certificates)
Example: --group 'version=curl -skf -u \"$PFSENSE_USERNAME:$PFSENSE_PASSWORD\" \"$PFSENSE_URL/api/v2/system/version\"'

On SIGINT/SIGTERM the running group's process group and the VM are stopped and removed.";

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// vm, emulator, or the URL of a firewall.
    #[arg(long)]
    pub target: String,
    /// Test group as NAME=COMMAND (repeatable).
    #[arg(long = "group", value_name = "NAME=COMMAND")]
    pub groups: Vec<String>,
    /// Golden image descriptor for --target vm.
    #[arg(long, default_value = "vm/golden.json")]
    pub golden: PathBuf,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/live-test-report.json")]
    pub report: PathBuf,
    /// auto, kvm or tcg (--target vm).
    #[arg(long, env = "PFSENSE_VM_ACCEL", default_value = "auto")]
    pub accel: String,
    /// Seconds the VM may take until its API answers.
    #[arg(long, default_value_t = 300)]
    pub ready_timeout: u64,
    /// The pfsense-emulator binary (--target emulator).
    #[arg(
        long,
        env = "PFSENSE_EMULATOR_BIN",
        default_value = "target/debug/pfsense-emulator"
    )]
    pub emulator: PathBuf,
    /// OpenAPI spec the emulator serves.
    #[arg(long, default_value = "openapi-spec.json")]
    pub spec: PathBuf,
    /// Login for a URL target.
    #[arg(long, env = "PFSENSE_USERNAME", default_value = "admin")]
    pub username: String,
    #[arg(
        long,
        env = "PFSENSE_PASSWORD",
        default_value = "pfsense",
        hide_env_values = true
    )]
    pub password: String,
    #[arg(long, env = "PFSENSE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Readiness as plain HTTP GET GUEST_PORT:PATH instead of the pfSense API (test guests).
    #[arg(long, value_name = "GUEST_PORT:PATH")]
    pub http_probe: Option<String>,
}

#[derive(serde::Serialize)]
struct GroupResult {
    name: String,
    command: String,
    exit_code: Option<i32>,
    passed: bool,
    seconds: f64,
}

enum Target {
    Vm(Box<RunningVm>),
    Emulator(Option<Child>),
    Url(String),
}

pub fn run(args: Args) -> Result<()> {
    let _ = tracing_subscriber::fmt()
        // A closed stderr must not panic the logging thread (tracing falls back to eprintln!).
        .log_internal_errors(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let groups = parse_groups(&args.groups)?;
    // The running group (and emulator) are stopped if a signal arrives; the harness then
    // stops the VM and removes its run directory.
    let running: Arc<Mutex<Vec<i32>>> = Arc::default();
    let on_signal = Arc::clone(&running);
    let _hook = vm_harness::vm::on_signal(move || {
        for pgid in on_signal.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = killpg(Pid::from_raw(*pgid), Signal::SIGTERM);
        }
    });

    let mut credentials = Credentials {
        admin_username: args.username.clone(),
        admin_password: args.password.clone(),
        api_key: args.api_key.clone(),
    };
    let mut target = match args.target.as_str() {
        "vm" => {
            let golden = GoldenImage::load(&args.golden)?;
            credentials = golden.credentials.clone();
            let mut options = VmOptions {
                accel: args.accel.parse().map_err(anyhow::Error::msg)?,
                ..VmOptions::default()
            };
            if let Some(spec) = &args.http_probe {
                let (port, path) = spec
                    .split_once(':')
                    .context("--http-probe wants GUEST_PORT:PATH")?;
                options.readiness = Some(Arc::new(vm_harness::HttpProbe {
                    guest_port: port.parse().context("--http-probe port")?,
                    https: false,
                    path: path.to_owned(),
                    expect_status: 200,
                }));
            }
            let mut vm = Vm::boot(&golden, options)?;
            vm.wait_ready(Duration::from_secs(args.ready_timeout))?;
            if groups.len() > 1 {
                vm.snapshot("live-test-clean")?;
            }
            Target::Vm(Box::new(vm))
        }
        "emulator" => Target::Emulator(None),
        url if url.starts_with("https://") || url.starts_with("http://") => {
            Target::Url(url.to_owned())
        }
        other => bail!("unknown target {other:?}: use vm, emulator or an https:// URL"),
    };

    let mut results = Vec::new();
    for (index, (name, command)) in groups.iter().enumerate() {
        let url = prepare(&mut target, index, &args, &running)?;
        tracing::info!(group = %name, %url, "group started");
        let started = Instant::now();
        let mut shell = Command::new("sh");
        shell
            .args(["-c", command])
            .env("PFSENSE_URL", &url)
            .env("PFSENSE_USERNAME", &credentials.admin_username)
            .env("PFSENSE_PASSWORD", &credentials.admin_password)
            .env("PFSENSE_TLS_INSECURE", "1")
            .process_group(0);
        if let Some(key) = &credentials.api_key {
            shell.env("PFSENSE_API_KEY", key);
        }
        let mut child = shell
            .spawn()
            .with_context(|| format!("starting group {name}"))?;
        let pgid = child.id() as i32;
        running.lock().unwrap_or_else(|p| p.into_inner()).push(pgid);
        let status = child.wait()?;
        running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|p| *p != pgid);
        let result = GroupResult {
            name: name.clone(),
            command: command.clone(),
            exit_code: status.code(),
            passed: status.success(),
            seconds: started.elapsed().as_secs_f64(),
        };
        tracing::info!(group = %name, passed = result.passed, seconds = result.seconds, "group finished");
        results.push(result);
    }
    if let Target::Emulator(Some(child)) = &mut target {
        stop_child(child);
    }
    if let Target::Vm(vm) = target {
        vm.shutdown();
    }

    let report = serde_json::json!({
        "target": args.target,
        "finished_unix": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "groups": results,
    });
    if let Some(parent) = args.report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.report, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", args.report.display()))?;
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.name.as_str())
        .collect();
    println!("report: {}", args.report.display());
    if !failed.is_empty() {
        bail!(
            "{} of {} groups failed: {}",
            failed.len(),
            results.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn parse_groups(raw: &[String]) -> Result<Vec<(String, String)>> {
    if raw.is_empty() {
        bail!(
            "no test groups given: pass --group NAME=COMMAND (see --help). \
             The exerciser and the end-to-end suite become the default groups once they exist."
        );
    }
    raw.iter()
        .map(|group| {
            let (name, command) = group
                .split_once('=')
                .filter(|(n, c)| !n.is_empty() && !c.trim().is_empty())
                .with_context(|| format!("--group {group:?}: expected NAME=COMMAND"))?;
            Ok((name.to_owned(), command.to_owned()))
        })
        .collect()
}

/// Resets the target for group `index` and returns its URL.
fn prepare(
    target: &mut Target,
    index: usize,
    args: &Args,
    running: &Arc<Mutex<Vec<i32>>>,
) -> Result<String> {
    match target {
        Target::Vm(vm) => {
            if index > 0 {
                vm.restore("live-test-clean")?;
                vm.wait_ready(Duration::from_secs(60))?;
            }
            Ok(vm.base_url())
        }
        Target::Emulator(child) => {
            if let Some(old) = child.as_mut() {
                stop_child(old);
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|p| *p != old.id() as i32);
            }
            let (new, url) = start_emulator(args)?;
            running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(new.id() as i32);
            *child = Some(new);
            Ok(url)
        }
        Target::Url(url) => {
            if index > 0 {
                tracing::warn!("a URL target is not reset between groups");
            }
            Ok(url.clone())
        }
    }
}

fn start_emulator(args: &Args) -> Result<(Child, String)> {
    if !args.emulator.is_file() {
        bail!(
            "{} not found: build it with `cargo build -p pfsense-emulator` or pass --emulator",
            args.emulator.display()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = Command::new(&args.emulator)
        .arg("--spec")
        .arg(&args.spec)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", args.emulator.display()))?;
    // It prints one JSON line when it is ready.
    let stdout = child.stdout.take().context("emulator stdout")?;
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = send.send(line);
    });
    match receive.recv_timeout(Duration::from_secs(60)) {
        Ok(line) if !line.trim().is_empty() => Ok((child, format!("https://127.0.0.1:{port}"))),
        _ => {
            stop_child(&mut child);
            bail!("the emulator did not say it was ready within 60 s")
        }
    }
}

fn stop_child(child: &mut Child) {
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_need_a_name_and_a_command() {
        assert!(
            parse_groups(&[])
                .unwrap_err()
                .to_string()
                .contains("--group NAME=COMMAND")
        );
        assert!(parse_groups(&["x".into()]).is_err());
        assert!(parse_groups(&["=true".into()]).is_err());
        let groups = parse_groups(&["a=echo a=b".into()]).unwrap();
        assert_eq!(groups, vec![("a".to_owned(), "echo a=b".to_owned())]);
    }

    /// A URL target runs the commands with the target in the environment and reports failures.
    #[test]
    fn url_target_runs_groups_and_writes_the_report() {
        let dir = std::env::temp_dir().join(format!("xtask-live-{}", std::process::id()));
        let report = dir.join("report.json");
        let args = Args {
            target: "https://127.0.0.1:9".into(),
            groups: vec![
                "env=test \"$PFSENSE_URL\" = https://127.0.0.1:9 && test \"$PFSENSE_TLS_INSECURE\" = 1".into(),
                "fails=exit 3".into(),
            ],
            golden: "unused".into(),
            report: report.clone(),
            accel: "auto".into(),
            ready_timeout: 1,
            emulator: "unused".into(),
            spec: "unused".into(),
            username: "admin".into(),
            password: "pfsense".into(),
            api_key: None,
            http_probe: None,
        };
        let error = run(args).unwrap_err();
        assert!(
            error.to_string().contains("1 of 2 groups failed: fails"),
            "{error}"
        );
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(written["groups"][0]["passed"], true);
        assert_eq!(written["groups"][1]["exit_code"], 3);
        let _ = std::fs::remove_dir_all(dir);
    }
}
