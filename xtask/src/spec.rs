//! `cargo xtask spec`: get the OpenAPI spec from a firewall, check a spec, and show that a
//! changed spec regenerates the tools.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: SpecCommand,
}

#[derive(clap::Subcommand)]
enum SpecCommand {
    /// Download the spec a firewall serves (GET /api/v2/schema/openapi, no authentication),
    /// or with --release the one pfrest publishes with a release (v2.8.0 and later), and write
    /// it to the workspace root, so the next `cargo build` generates matching tools.
    Pull(PullArgs),
    /// Load a spec and print what would be generated from it (counts by verb and module).
    Check {
        /// The spec file (default: openapi-spec.json at the workspace root).
        file: Option<PathBuf>,
    },
    /// Show that `cargo build` regenerates the tools when the spec changes: builds the binary
    /// from a copy of the spec, edits the copy in place, builds again, and checks that the
    /// binary reports each version. Prints the build times.
    RebuildCheck,
    /// Show what a spec update changes before building: tools added, removed and changed
    /// (arguments, required fields, types, enum values, sensitivity, risk, apply behaviour).
    Diff {
        /// The spec the tools are built from now.
        old: PathBuf,
        /// The spec to compare it with.
        new: PathBuf,
        /// Print JSON instead of the text report.
        #[arg(long)]
        json: bool,
    },
}

/// Where pfrest publishes each release's files; `openapi.json` is one of them since v2.8.0
/// (pfrest-versions.md, "Where specs come from").
const PFREST_RELEASES_URL: &str = "https://github.com/pfrest/pfSense-pkg-RESTAPI/releases/download";

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["host", "release"])))]
struct PullArgs {
    /// The firewall, e.g. https://192.168.1.1.
    #[arg(long, env = "PFSENSE_HOST")]
    host: Option<String>,
    /// A pfrest release, e.g. v2.10.0: fetch the `openapi.json` published with it, for when no
    /// firewall is at hand. Releases before v2.8.0 publish none; pull from a firewall instead.
    #[arg(long, value_name = "vX.Y.Z")]
    release: Option<String>,
    /// Where releases are downloaded from (for mirrors and tests).
    #[arg(long, env = "PFREST_RELEASES_URL", default_value = PFREST_RELEASES_URL)]
    releases_url: String,
    /// Where to write the spec (default: openapi-spec.json at the workspace root).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Accept only the certificate with this SHA-256 (sha256:…), e.g. pfSense's self-signed one.
    #[arg(long, env = "PFSENSE_TLS_FINGERPRINT")]
    tls_fingerprint: Option<String>,
    /// Trust this CA (PEM) for the firewall's certificate.
    #[arg(long, env = "PFSENSE_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Do not verify the certificate at all.
    #[arg(long)]
    insecure: bool,
    /// Seconds to wait for the firewall.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub fn workspace_root() -> PathBuf {
    // xtask/ sits at the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        SpecCommand::Pull(a) => pull(a),
        SpecCommand::Check { file } => {
            let file = file.unwrap_or_else(|| workspace_root().join("openapi-spec.json"));
            let spec = pfsense_spec::Spec::load(&file)?;
            print_summary(&spec);
            Ok(())
        }
        SpecCommand::RebuildCheck => rebuild_check(),
        SpecCommand::Diff { old, new, json } => {
            let old = pfsense_spec::Spec::load(&old)?;
            let new = pfsense_spec::Spec::load(&new)?;
            let diff = pfsense_spec::diff::diff(&old, &new);
            if json {
                println!("{}", serde_json::to_string_pretty(&diff)?);
            } else {
                print!("{}", diff.to_text());
            }
            Ok(())
        }
    }
}

fn print_summary(spec: &pfsense_spec::Spec) {
    println!(
        "{} {}: {} paths, {} schemas, {} operations",
        spec.title, spec.api_version, spec.stats.paths, spec.stats.schemas, spec.stats.operations
    );
    let mut by_module: Vec<(String, usize)> =
        pfsense_spec::count_by(&spec.operations, |o| o.module.as_str().to_string())
            .into_iter()
            .collect();
    by_module.sort();
    for (m, n) in by_module {
        println!("  {m:<24} {n}");
    }
    for w in &spec.warnings {
        println!("warning: {w}");
    }
}

fn fingerprint_hex(s: &str) -> anyhow::Result<String> {
    let hex: String = s
        .trim()
        .trim_start_matches("sha256:")
        .trim_start_matches("SHA256:")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("`{s}` is not a SHA-256 fingerprint (sha256: followed by 64 hex digits)");
    }
    Ok(hex)
}

/// `v2.10.0` or `2.10.0` → `v2.10.0`; anything else is refused with the expected form.
fn release_tag(release: &str) -> anyhow::Result<String> {
    let bare = release.trim().trim_start_matches('v');
    let parts: Vec<&str> = bare.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        bail!("`{release}` is not a pfrest release; give one like v2.10.0");
    }
    let (major, minor): (u32, u32) = (parts[0].parse()?, parts[1].parse()?);
    if (major, minor) < (2, 8) {
        bail!(
            "pfrest v{bare} published no openapi.json (releases do since v2.8.0); pull the spec from a firewall running it with --host"
        );
    }
    Ok(format!("v{bare}"))
}

fn pull(a: PullArgs) -> anyhow::Result<()> {
    let url = match (&a.host, &a.release) {
        (_, Some(release)) => format!(
            "{}/{}/openapi.json",
            a.releases_url.trim_end_matches('/'),
            release_tag(release)?
        ),
        (Some(host), None) => {
            let base = if host.contains("://") {
                host.clone()
            } else {
                format!("https://{host}")
            };
            format!("{}/api/v2/schema/openapi", base.trim_end_matches('/'))
        }
        (None, None) => bail!("give --host FIREWALL or --release vX.Y.Z"),
    };
    let pin = a
        .tls_fingerprint
        .as_deref()
        .map(fingerprint_hex)
        .transpose()?;
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(a.timeout))
        .connect_timeout(Duration::from_secs(a.timeout.min(10)))
        .tls_info(true);
    if a.insecure || pin.is_some() {
        // With a pin, the certificate is checked against it below, before the body is used.
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(ca) = &a.ca_cert {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", ca.display()))?,
        );
    }
    let client = builder.build()?;
    eprintln!("fetching {url}");
    let response = client.get(&url).header("Accept", "application/json").send().with_context(|| {
        format!("cannot reach {url}; check --host, and the certificate options (--tls-fingerprint for pfSense's self-signed certificate)")
    })?;
    if let Some(pin) = &pin {
        let presented = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .map(|der| {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(der))
            });
        match presented {
            Some(fp) if &fp == pin => {}
            Some(fp) => bail!(
                "the firewall presented certificate sha256:{fp}, not the pinned sha256:{pin}; nothing was written"
            ),
            None => bail!(
                "no TLS certificate to check against the pin (is --host http://?); nothing was written"
            ),
        }
    }
    let status = response.status();
    let body = response.bytes()?;
    if !status.is_success() {
        if a.release.is_some() {
            bail!(
                "{url} answered HTTP {status}: is there a pfrest release of that version with an openapi.json? Nothing was written"
            );
        }
        bail!(
            "{url} answered HTTP {status}: is the REST API v2 package installed on the firewall?"
        );
    }
    let text = std::str::from_utf8(&body).context("the spec is not UTF-8 text")?;
    let spec = pfsense_spec::Spec::from_json(text)
        .with_context(|| format!("{url} did not serve a usable OpenAPI spec"))?;
    let output = a
        .output
        .unwrap_or_else(|| workspace_root().join("openapi-spec.json"));
    let previous = pfsense_spec::Spec::load(&output).ok();
    std::fs::write(&output, &body).with_context(|| format!("writing {}", output.display()))?;
    print_summary(&spec);
    if let Some(prev) = previous {
        println!(
            "replaced {} ({} operations) with {} ({} operations)",
            prev.api_version, prev.stats.operations, spec.api_version, spec.stats.operations
        );
    }
    println!(
        "wrote {}; run `cargo build` to regenerate the tools",
        output.display()
    );
    Ok(())
}

/// Build the binary with `PFSENSE_OPENAPI_SPEC` set to `spec` and return the version it reports.
fn build_and_read_version(spec: Option<&Path>) -> anyhow::Result<(String, Duration)> {
    let root = workspace_root();
    let started = Instant::now();
    let mut cmd = crate::shell_cargo();
    cmd.current_dir(&root).args([
        "build",
        "--quiet",
        "-p",
        "pfsense-mcp",
        "--bin",
        "pfsense-mcp",
    ]);
    match spec {
        Some(spec) => cmd.env("PFSENSE_OPENAPI_SPEC", spec),
        None => cmd.env_remove("PFSENSE_OPENAPI_SPEC"),
    };
    let status = cmd.status()?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!("cargo build failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let out = Command::new(target.join("debug/pfsense-mcp"))
        .args(["tools", "--summary"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("").to_string();
    Ok((first, elapsed))
}

fn rebuild_check() -> anyhow::Result<()> {
    let root = workspace_root();
    let original = root.join("openapi-spec.json");
    let text = std::fs::read_to_string(&original).with_context(|| {
        format!(
            "reading {} (copy ../shared/openapi-spec.json there, or pull one)",
            original.display()
        )
    })?;
    let spec = pfsense_spec::Spec::from_json(&text)?;
    let dir = root.join("target/rebuild-check");
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join("openapi-spec.json");
    let marker = format!("\"version\":\"{}\"", spec.api_version);
    let compact = text.replace("\"version\": \"", "\"version\":\"");
    if !compact.contains(&marker) {
        bail!("cannot find info.version in the spec to edit");
    }
    for suffix in ["rebuild-a", "rebuild-b"] {
        let version = format!("{}-{suffix}", spec.api_version);
        let edited = compact.replacen(&marker, &format!("\"version\":\"{version}\""), 1);
        std::fs::write(&copy, edited)?;
        let (line, took) = build_and_read_version(Some(&copy))?;
        println!(
            "spec edited to {version}: cargo build took {:.1} s; binary reports: {line}",
            took.as_secs_f64()
        );
        if !line.contains(&version) {
            bail!(
                "after editing the spec to {version} the binary still reports `{line}`: the build did not regenerate the tools"
            );
        }
    }
    // Restore the normal build (spec at the workspace root, variable unset).
    let (line, took) = build_and_read_version(None)?;
    if !line.contains(&format!("(spec {})", spec.api_version)) {
        bail!("after restoring, the binary reports `{line}`");
    }
    println!(
        "restored {}: cargo build took {:.1} s; binary reports: {line}",
        original.display(),
        took.as_secs_f64()
    );
    println!("ok: editing the spec file in place regenerated the tools on the next `cargo build`");
    Ok(())
}
