//! `cargo xtask golden`: build `vm/golden.qcow2` and `vm/golden.json` from the pfSense CE 2.7.2
//! memstick, upgraded to 2.8.1 with REST API v2.7.1. A thin driver over `vm-harness`: the console
//! flows are tables in `vm_harness::pfsense_flows`, the QEMU handling is `vm_harness::vm`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use vm_harness::accel::{AccelChoice, Accelerator};
use vm_harness::flow::{Flow, FlowEnd, FlowVars, RunOptions, run_flow};
use vm_harness::golden::{Credentials, GoldenImage};
use vm_harness::pfsense_flows;
use vm_harness::rest::{Auth, RestClient};
use vm_harness::vm::{UsbStick, VmOptions};
use vm_harness::{RunningVm, Vm};

const MEMSTICK_URL: &str = "https://atxfiles.netgate.com/mirror/downloads/pfSense-CE-memstick-serial-2.7.2-RELEASE-amd64.img.gz";
const RESTAPI_272_URL: &str = "https://github.com/pfrest/pfSense-pkg-RESTAPI/releases/download/v2.4.3/pfSense-2.7.2-pkg-RESTAPI.pkg";
const RESTAPI_281_URL: &str = "https://github.com/pfrest/pfSense-pkg-RESTAPI/releases/download/v2.7.1/pfSense-2.8.1-pkg-RESTAPI.pkg";
const ADDON_PACKAGES: [&str; 8] = [
    "pfSense-pkg-acme",
    "pfSense-pkg-bind",
    "pfSense-pkg-Cron",
    "pfSense-pkg-freeradius3",
    "pfSense-pkg-haproxy",
    "pfSense-pkg-Service_Watchdog",
    "pfSense-pkg-WireGuard",
    "pfSense-pkg-openvpn-client-export",
];

/// The stages, in order. Each leaves `VM_DIR/stages/NAME.done`; a re-run skips finished stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Stage {
    Download,
    Install,
    FirstBoot,
    Restapi,
    Backup,
    Upgrade,
    Restapi281,
    AuthMethods,
    ApiKey,
    Packages,
    LanDhcp,
    Halt,
}

impl Stage {
    const ALL: [Stage; 12] = [
        Stage::Download,
        Stage::Install,
        Stage::FirstBoot,
        Stage::Restapi,
        Stage::Backup,
        Stage::Upgrade,
        Stage::Restapi281,
        Stage::AuthMethods,
        Stage::ApiKey,
        Stage::Packages,
        Stage::LanDhcp,
        Stage::Halt,
    ];

    fn name(self) -> &'static str {
        match self {
            Stage::Download => "download",
            Stage::Install => "install",
            Stage::FirstBoot => "first-boot",
            Stage::Restapi => "restapi",
            Stage::Backup => "backup",
            Stage::Upgrade => "upgrade",
            Stage::Restapi281 => "restapi281",
            Stage::AuthMethods => "auth-methods",
            Stage::ApiKey => "api-key",
            Stage::Packages => "packages",
            Stage::LanDhcp => "lan-dhcp",
            Stage::Halt => "halt",
        }
    }

    /// Only `halt` can run without internet (everything before it downloads something).
    fn needs_internet(self) -> bool {
        self != Stage::Halt
    }
}

const STAGES_HELP: &str = "\
Stages (each leaves VM_DIR/stages/STAGE.done; a re-run resumes after the last finished one):
  download      memstick image (SHA-256 recorded in downloads.json, verified on re-use)
  install       serial installer: Auto ZFS on the virtio disk (VM_DIR/work.qcow2)
  first-boot    interface assignment (em0 WAN, em1 LAN), SSH on
  restapi       REST API package for 2.7.2, allow-all on WAN, API answers
  backup        clean halt, copy of the disk as VM_DIR/pre-upgrade.qcow2
  upgrade       2.7.2 -> 2.8.1 (starts from the backup, so it can simply be redone)
  restapi281    REST API v2.7.1 package for 2.8.1, API answers
  auth-methods  enable KeyAuth next to BasicAuth
  api-key       create the API key, check it works
  packages      optional add-on packages (skipped with --skip-addons)
  lan-dhcp      DHCP server on LAN, applied
  halt          power off, write VM_DIR/golden.qcow2 and VM_DIR/golden.json (credentials)

Needs: qemu-system-x86_64 and qemu-img, working KVM (TCG would take many hours), internet.
Each is checked first, and a missing one ends the run at once with what to install or fix.
Takes about 25 minutes with KVM. The console transcript is VM_DIR/logs/console.log.";

#[derive(clap::Args, Debug)]
#[command(after_long_help = STAGES_HELP)]
pub struct Args {
    /// Working directory for downloads, disks, logs and the result.
    #[arg(long, default_value = "vm")]
    pub vm_dir: PathBuf,
    /// Redo this stage and every one after it.
    #[arg(long, value_enum)]
    pub from: Option<Stage>,
    /// kvm (default), or tcg to try without KVM (many hours); auto picks by probing.
    #[arg(long, default_value = "kvm", env = "PFSENSE_VM_ACCEL")]
    pub accel: String,
    /// Skip the optional add-on packages.
    #[arg(long)]
    pub skip_addons: bool,
    #[arg(long, env = "PFSENSE_QEMU", default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
    #[arg(long, default_value = "qemu-img")]
    pub qemu_img: PathBuf,
    /// Host and port whose reachability stands for "internet works" (checked with a 5 s timeout).
    #[arg(long, default_value = "atxfiles.netgate.com:443")]
    pub internet_probe: String,
    #[arg(long, default_value = MEMSTICK_URL)]
    pub memstick_url: String,
    #[arg(long, default_value = RESTAPI_272_URL)]
    pub restapi_272_url: String,
    #[arg(long, default_value = RESTAPI_281_URL)]
    pub restapi_281_url: String,
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
    let mut build = Build::prepare(args)?;
    build.run_stages()
}

struct Build {
    args: Args,
    accelerator: Accelerator,
    vm: Option<RunningVm>,
    credentials: Credentials,
}

impl Build {
    /// Everything that can fail without doing anything: QEMU, KVM, internet, stage bookkeeping.
    fn prepare(args: Args) -> Result<Build> {
        let choice: AccelChoice = args.accel.parse().map_err(anyhow::Error::msg)?;
        let (qemu, _) = vm_harness::preflight::check_qemu(&args.qemu, &args.qemu_img)
            .map_err(anyhow::Error::msg)?;
        std::fs::create_dir_all(args.vm_dir.join("stages"))
            .with_context(|| format!("creating {}", args.vm_dir.display()))?;
        if let Some(from) = args.from {
            for stage in Stage::ALL.iter().filter(|s| **s >= from) {
                let _ = std::fs::remove_file(sentinel(&args.vm_dir, *stage));
            }
        }
        let pending: Vec<Stage> = Stage::ALL
            .into_iter()
            .filter(|s| !sentinel(&args.vm_dir, *s).exists())
            .collect();
        if pending.is_empty() {
            println!(
                "All stages are done: {}. Use --from STAGE to redo one.",
                args.vm_dir.join("golden.json").display()
            );
        }
        let decision = if pending.is_empty() {
            // Nothing will boot: no need for KVM.
            vm_harness::accel::AccelDecision {
                accelerator: Accelerator::Tcg,
                reason: "nothing to run".into(),
            }
        } else {
            vm_harness::accel::choose(choice, &qemu, &args.vm_dir).map_err(|why| {
                anyhow::anyhow!(
                    "{why}\nThe golden image needs working KVM (a pfSense install and upgrade under TCG take many hours). \
                     Use a machine with KVM, or pass --accel tcg to try anyway."
                )
            })?
        };
        tracing::info!(accelerator = decision.accelerator.name(), reason = %decision.reason, "accelerator");
        if pending.iter().any(|s| s.needs_internet()) {
            vm_harness::preflight::check_internet(&args.internet_probe, Duration::from_secs(5))
                .map_err(|why| {
                    anyhow::anyhow!(
                        "no internet: {why}\nThe build downloads pfSense and packages; run it on a machine with internet access."
                    )
                })?;
        }
        let credentials = load_credentials(&args.vm_dir)?;
        Ok(Build {
            accelerator: decision.accelerator,
            args,
            vm: None,
            credentials,
        })
    }

    fn run_stages(&mut self) -> Result<()> {
        for stage in Stage::ALL {
            let done = sentinel(&self.args.vm_dir, stage);
            if done.exists() {
                tracing::info!(stage = stage.name(), "already done");
                continue;
            }
            let started = Instant::now();
            tracing::info!(stage = stage.name(), "stage started");
            self.run_stage(stage).with_context(|| {
                format!(
                    "stage `{}` failed; fix the cause and re-run (it resumes here), or redo it with --from {}",
                    stage.name(),
                    stage.name()
                )
            })?;
            std::fs::write(&done, format!("{:?}\n", started.elapsed()))
                .with_context(|| format!("writing {}", done.display()))?;
            tracing::info!(
                stage = stage.name(),
                took_s = started.elapsed().as_secs(),
                "stage done"
            );
        }
        println!(
            "golden image ready: {}",
            self.args.vm_dir.join("golden.json").display()
        );
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.args.vm_dir.join(name)
    }

    fn work_golden(&self) -> GoldenImage {
        GoldenImage {
            disk: self.path("work.qcow2"),
            credentials: self.credentials.clone(),
            direct_kernel: None,
            provenance: Default::default(),
        }
    }

    fn vm_options(&self) -> VmOptions {
        VmOptions {
            qemu: self.args.qemu.clone(),
            qemu_img: self.args.qemu_img.clone(),
            accel: match self.accelerator {
                Accelerator::Kvm => AccelChoice::Kvm,
                Accelerator::Tcg => AccelChoice::Tcg,
            },
            transcript: Some(self.path("logs/console.log")),
            // pfSense downloads packages during the build.
            restrict_network: false,
            ..VmOptions::default()
        }
    }

    fn flow_options(&self) -> RunOptions {
        RunOptions {
            time_scale: if self.accelerator == Accelerator::Tcg {
                8.0
            } else {
                1.0
            },
            ..RunOptions::default()
        }
    }

    /// The VM on the work disk, started if it is not running.
    fn vm(&mut self) -> Result<&mut RunningVm> {
        if self.vm.is_none() {
            std::fs::create_dir_all(self.path("logs"))?;
            let vm = Vm::boot_in_place(&self.work_golden(), self.vm_options())?;
            self.vm = Some(vm);
        }
        Ok(self.vm.as_mut().expect("just set"))
    }

    fn flow(&mut self, flow: &Flow, vars: &FlowVars) -> Result<FlowEnd> {
        let options = self.flow_options();
        let vm = self.vm()?;
        let end = run_flow(vm.console(), flow, vars, options)?;
        if matches!(end, FlowEnd::ConsoleClosed { .. }) {
            // QEMU ended (reboot with -no-reboot, power-off): forget it; the next use boots again.
            if let Some(vm) = self.vm.take() {
                vm.shutdown();
            }
        }
        Ok(end)
    }

    fn stop_vm(&mut self) {
        if let Some(vm) = self.vm.take() {
            vm.shutdown();
        }
    }

    fn rest(&mut self, auth: Auth, timeout: Duration) -> Result<RestClient> {
        let url = self.vm()?.base_url();
        RestClient::new(&url, auth, timeout).map_err(anyhow::Error::msg)
    }

    fn wait_api(&mut self) -> Result<()> {
        let scale = if self.accelerator == Accelerator::Tcg {
            8
        } else {
            1
        };
        let vm = self.vm()?;
        vm.wait_ready(Duration::from_secs(300 * scale))?;
        Ok(())
    }

    fn run_stage(&mut self, stage: Stage) -> Result<()> {
        let no_vars = FlowVars::new();
        match stage {
            Stage::Download => {
                let gz = vm_harness::artifacts::fetch(
                    &self.args.memstick_url,
                    &self.path("downloads"),
                    &self.path("downloads.json"),
                )
                .map_err(anyhow::Error::msg)?;
                let img = gz.with_extension("");
                vm_harness::artifacts::gunzip(&gz, &img).map_err(anyhow::Error::msg)?;
            }
            Stage::Install => {
                self.stop_vm();
                let work = self.path("work.qcow2");
                let output = std::process::Command::new(&self.args.qemu_img)
                    .args(["create", "-q", "-f", "qcow2"])
                    .arg(&work)
                    .arg("4G")
                    .output()?;
                if !output.status.success() {
                    bail!(
                        "qemu-img create failed: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
                let memstick = self.memstick_image()?;
                let options = VmOptions {
                    usb_stick: Some(UsbStick {
                        raw_image: memstick,
                    }),
                    no_reboot: true,
                    ..self.vm_options()
                };
                self.vm = Some(Vm::boot_in_place(&self.work_golden(), options)?);
                self.flow(&pfsense_flows::INSTALL, &no_vars)?;
                self.stop_vm();
            }
            Stage::FirstBoot => {
                self.flow(&pfsense_flows::FIRST_BOOT, &no_vars)?;
            }
            Stage::Restapi => {
                let vars = FlowVars::new().set("restapi_pkg_url", &self.args.restapi_272_url);
                self.flow(&pfsense_flows::INSTALL_RESTAPI, &vars)?;
                self.wait_api()?;
            }
            Stage::Backup => {
                self.flow(&pfsense_flows::HALT, &no_vars)?;
                self.stop_vm();
                std::fs::copy(self.path("work.qcow2"), self.path("pre-upgrade.qcow2"))
                    .context("copying the work disk to pre-upgrade.qcow2")?;
            }
            Stage::Upgrade => {
                // Always from the backup: a failed attempt leaves the work disk half-upgraded.
                self.stop_vm();
                std::fs::copy(self.path("pre-upgrade.qcow2"), self.path("work.qcow2"))
                    .context("restoring the work disk from pre-upgrade.qcow2")?;
                self.flow(&pfsense_flows::UPGRADE_START, &no_vars)?;
                self.flow(&pfsense_flows::UPGRADE_FINISH, &no_vars)?;
            }
            Stage::Restapi281 => {
                let vars = FlowVars::new().set("restapi_pkg_url", &self.args.restapi_281_url);
                self.flow(&pfsense_flows::INSTALL_RESTAPI, &vars)?;
                self.wait_api()?;
            }
            Stage::AuthMethods => {
                self.wait_api()?;
                let basic = Auth::basic(&self.credentials);
                let api = self.rest(basic, Duration::from_secs(60))?;
                api.patch(
                    "/api/v2/system/restapi/settings",
                    &json!({"auth_methods": ["BasicAuth", "KeyAuth"]}),
                )
                .map_err(anyhow::Error::msg)?;
            }
            Stage::ApiKey => {
                self.wait_api()?;
                let basic = Auth::basic(&self.credentials);
                let api = self.rest(basic, Duration::from_secs(60))?;
                let created = api
                    .post(
                        "/api/v2/auth/key",
                        &json!({"descr": "pfsense-mcp golden image"}),
                    )
                    .map_err(anyhow::Error::msg)?;
                let key = created["data"]["key"]
                    .as_str()
                    .context("POST /api/v2/auth/key returned no data.key")?
                    .to_owned();
                let by_key = self.rest(Auth::ApiKey(key.clone()), Duration::from_secs(30))?;
                by_key
                    .get("/api/v2/system/version")
                    .map_err(|e| anyhow::anyhow!("the new API key does not work: {e}"))?;
                self.credentials.api_key = Some(key);
                save_credentials(&self.args.vm_dir, &self.credentials)?;
            }
            Stage::Packages => {
                if self.args.skip_addons {
                    tracing::info!("add-on packages skipped (--skip-addons)");
                    return Ok(());
                }
                self.wait_api()?;
                let basic = Auth::basic(&self.credentials);
                let api = self.rest(basic, Duration::from_secs(180))?;
                for package in ADDON_PACKAGES {
                    let body = json!({"name": package});
                    // nginx may answer 504 after 60 s while pkg keeps working: try once more.
                    if let Err(first) = api.post("/api/v2/system/package", &body) {
                        tracing::warn!(package, error = %first, "package install failed once; retrying");
                        api.post("/api/v2/system/package", &body)
                            .map_err(anyhow::Error::msg)?;
                    }
                    tracing::info!(package, "installed");
                }
            }
            Stage::LanDhcp => {
                self.wait_api()?;
                let basic = Auth::basic(&self.credentials);
                let api = self.rest(basic, Duration::from_secs(120))?;
                api.patch(
                    "/api/v2/services/dhcp_server",
                    &json!({"id": "lan", "enable": true, "range_from": "192.168.1.100", "range_to": "192.168.1.200"}),
                )
                .map_err(anyhow::Error::msg)?;
                api.post("/api/v2/services/dhcp_server/apply", &json!({}))
                    .map_err(anyhow::Error::msg)?;
            }
            Stage::Halt => {
                self.wait_api()?;
                let basic = Auth::basic(&self.credentials);
                let api = self.rest(basic, Duration::from_secs(60))?;
                let version = api
                    .get("/api/v2/system/version")
                    .map_err(anyhow::Error::msg)?;
                let _ = api.post("/api/v2/diagnostics/halt_system", &json!({}));
                let exited = self.vm()?.wait_exit(Duration::from_secs(60));
                if !exited {
                    tracing::warn!("the firewall did not power off within 60 s; stopping QEMU");
                }
                self.stop_vm();
                self.write_golden(&version)?;
            }
        }
        Ok(())
    }

    fn memstick_image(&self) -> Result<PathBuf> {
        let name = self
            .args
            .memstick_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".gz")
            .to_owned();
        let img = self.path("downloads").join(name);
        if !img.is_file() {
            bail!(
                "{} is missing: redo the download stage (--from download)",
                img.display()
            );
        }
        Ok(img)
    }

    fn write_golden(&self, version: &serde_json::Value) -> Result<()> {
        let golden_disk = self.path("golden.qcow2");
        // `convert` also compacts the image.
        let output = std::process::Command::new(&self.args.qemu_img)
            .args(["convert", "-O", "qcow2"])
            .arg(self.path("work.qcow2"))
            .arg(&golden_disk)
            .output()?;
        if !output.status.success() {
            bail!(
                "qemu-img convert failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let ledger = vm_harness::artifacts::Ledger::load(&self.path("downloads.json"))
            .map_err(anyhow::Error::msg)?;
        let mut provenance: std::collections::BTreeMap<String, String> = ledger
            .files
            .iter()
            .map(|(name, record)| (format!("sha256:{name}"), record.sha256.clone()))
            .collect();
        provenance.insert("version".into(), version["data"].to_string());
        provenance.insert("restapi_package".into(), self.args.restapi_281_url.clone());
        let golden = GoldenImage {
            disk: "golden.qcow2".into(),
            credentials: self.credentials.clone(),
            direct_kernel: None,
            provenance,
        };
        golden.save(&self.path("golden.json"))?;
        Ok(())
    }
}

fn sentinel(vm_dir: &Path, stage: Stage) -> PathBuf {
    vm_dir.join("stages").join(format!("{}.done", stage.name()))
}

/// Credentials survive between runs (the API key is shown only once).
fn credentials_path(vm_dir: &Path) -> PathBuf {
    vm_dir.join("stages/credentials.json")
}

fn load_credentials(vm_dir: &Path) -> Result<Credentials> {
    match std::fs::read_to_string(credentials_path(vm_dir)) {
        Ok(text) => serde_json::from_str(&text).context("reading stages/credentials.json"),
        Err(_) => Ok(Credentials::default()),
    }
}

fn save_credentials(vm_dir: &Path, credentials: &Credentials) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(credentials_path(vm_dir))?;
    file.write_all(serde_json::to_string_pretty(credentials)?.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-golden-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn args(vm_dir: &Path, extra: &[&str]) -> Args {
        let mut argv = vec!["golden", "--vm-dir", vm_dir.to_str().unwrap()];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args
    }

    fn closed_loopback_port() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", listener.local_addr().unwrap().port())
    }

    #[test]
    fn help_documents_every_stage() {
        let help = Cli::command().render_long_help().to_string();
        for stage in Stage::ALL {
            assert!(
                help.contains(&format!("\n  {}", stage.name())),
                "{} missing:\n{help}",
                stage.name()
            );
        }
        assert!(help.contains("--from"));
    }

    #[test]
    fn missing_qemu_fails_at_once_saying_what_to_install() {
        let dir = scratch("noqemu");
        let started = Instant::now();
        let error = Build::prepare(args(&dir, &["--qemu", "/nonexistent/qemu-system-x86_64"]))
            .err()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            error
                .to_string()
                .contains("apt-get install qemu-system-x86"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Without working KVM the build stops in seconds; where KVM works it stops at the internet
    /// check instead (the probe target is a closed loopback port: no traffic leaves the machine).
    #[test]
    fn without_kvm_or_internet_it_fails_fast() {
        if vm_harness::vm::find_program(Path::new("qemu-system-x86_64")).is_none() {
            eprintln!(
                "qemu-system-x86_64 missing: the KVM probe cannot run; covered by the test above"
            );
            return;
        }
        let dir = scratch("nokvm");
        let probe = closed_loopback_port();
        let started = Instant::now();
        let error = Build::prepare(args(&dir, &["--accel", "kvm", "--internet-probe", &probe]))
            .err()
            .unwrap();
        let message = format!("{error:#}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            message.contains("KVM") || message.contains("no internet"),
            "{message}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn without_internet_it_fails_fast() {
        if vm_harness::vm::find_program(Path::new("qemu-system-x86_64")).is_none() {
            return;
        }
        let dir = scratch("nonet");
        let probe = closed_loopback_port();
        let started = Instant::now();
        let error = Build::prepare(args(&dir, &["--accel", "tcg", "--internet-probe", &probe]))
            .err()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(format!("{error:#}").contains("no internet"), "{error:#}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn from_clears_that_stage_and_later_ones_only() {
        if vm_harness::vm::find_program(Path::new("qemu-system-x86_64")).is_none() {
            return;
        }
        let dir = scratch("from");
        std::fs::create_dir_all(dir.join("stages")).unwrap();
        for stage in Stage::ALL {
            std::fs::write(sentinel(&dir, stage), "").unwrap();
        }
        // Stages from `upgrade` on are pending again, so the internet check runs (and fails).
        let probe = closed_loopback_port();
        let result = Build::prepare(args(
            &dir,
            &[
                "--accel",
                "tcg",
                "--from",
                "upgrade",
                "--internet-probe",
                &probe,
            ],
        ));
        assert!(format!("{:#}", result.err().unwrap()).contains("no internet"));
        for stage in Stage::ALL {
            assert_eq!(
                sentinel(&dir, stage).exists(),
                stage < Stage::Upgrade,
                "{stage:?}"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
