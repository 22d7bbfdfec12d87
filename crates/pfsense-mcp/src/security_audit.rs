//! The security audit (crate `pfsense-audit`) over this server's HTTP client: the read-only
//! snapshot of the endpoints the checks need, the report, the answer a `pfsense_security_audit`
//! tool gives (structured findings and a Markdown summary), and `pfsense-mcp security-audit`.
//! Only GETs are sent (it works with `--read-only`), plus, when asked, one BasicAuth login as
//! `admin:pfsense` to see whether the default password still works.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::{AuthMethod, CallError, Client};
use crate::request::PreparedRequest;
use crate::secret::Secret;
use crate::spec::Method;
use pfsense_audit::render::{Format, markdown_summary, render};
use pfsense_audit::snapshot::{REST_API_SETTINGS, REST_API_VERSION};
use pfsense_audit::{ENDPOINTS, PasswordProbe, Read, Report, Snapshot, State};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const TOOL_NAME: &str = "pfsense_security_audit";

/// The built-in account and password pfSense's installer sets.
const DEFAULT_ADMIN: (&str, &str) = ("admin", "pfsense");
/// The default-password login gets one attempt of this length (no retries: each attempt counts
/// as a failed login for login protection).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

fn get_def(path: &str) -> Option<&'static ToolDef> {
    TOOLS
        .iter()
        .find(|d| d.method == Method::Get && d.path == path)
}

/// `limit=0&x=y` → `{"limit": 0, "x": "y"}` (numbers as numbers: the API's types are strict).
fn query_args(query: &str) -> Value {
    let mut args = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = v
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(v));
        args.insert(k.to_string(), value);
    }
    Value::Object(args)
}

async fn read(client: &Client, path: &str, query: &str) -> Read {
    let Some(def) = get_def(path) else {
        return Read::Error {
            status: None,
            message: format!("the tools were built from a REST API spec without GET {path}"),
        };
    };
    match client.call(def, &query_args(query)).await {
        Ok(response) => Read::Data(response.data()),
        Err(CallError::Api {
            http_status,
            envelope,
        }) => Read::Error {
            status: Some(http_status),
            message: format!("{} {}", envelope.response_id, envelope.message),
        },
        Err(CallError::NotJson {
            http_status,
            content_type,
            ..
        }) => Read::Error {
            status: Some(http_status),
            message: format!("not the REST API's JSON ({content_type})"),
        },
        Err(other) => Read::Error {
            status: None,
            message: other.to_string(),
        },
    }
}

/// Reads every endpoint the checks need (GET only), and tries the default password when
/// `probe_default_password` is set.
pub async fn snapshot(client: &Client, probe_default_password: bool) -> Snapshot {
    let mut reads = BTreeMap::new();
    for e in ENDPOINTS {
        reads.insert(e.path.to_string(), read(client, e.path, e.query).await);
    }
    let default_password_probe = if probe_default_password {
        default_password(client, &reads).await
    } else {
        PasswordProbe::NotRun
    };
    let taken_at_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Snapshot {
        taken_at_unix,
        default_password_probe,
        reads,
    }
}

/// One BasicAuth request as `admin:pfsense` to a cheap endpoint.
async fn default_password(client: &Client, reads: &BTreeMap<String, Read>) -> PasswordProbe {
    if let Some(Read::Data(settings)) = reads.get(REST_API_SETTINGS) {
        let basic = settings
            .get("auth_methods")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|x| x == "BasicAuth"));
        if !basic {
            return PasswordProbe::BasicAuthDisabled;
        }
    }
    let Some(def) = get_def(REST_API_VERSION) else {
        return PasswordProbe::NotRun;
    };
    let mut config = client.config().clone();
    config.auth = AuthMethod::Basic;
    config.api_key = None;
    config.username = Some(DEFAULT_ADMIN.0.to_string());
    config.password = Some(Secret::new(DEFAULT_ADMIN.1));
    let outcome = match (Client::new(config), PreparedRequest::build(def, &json!({}))) {
        (Ok(probe), Ok(request)) => probe.probe(def, &request, PROBE_TIMEOUT).await,
        (Err(e), _) => Err(CallError::Transport(e)),
        (_, Err(e)) => Err(CallError::Arguments(e.0)),
    };
    match outcome {
        Ok(_) => PasswordProbe::Accepted,
        Err(CallError::Api {
            http_status: 401, ..
        }) => PasswordProbe::Refused,
        Err(other) => {
            tracing::warn!("default password probe inconclusive: {other}");
            PasswordProbe::NotRun
        }
    }
}

/// Snapshot and checks.
pub async fn audit(client: &Client, target: &str, probe_default_password: bool) -> Report {
    let snapshot = snapshot(client, probe_default_password).await;
    pfsense_audit::run(&snapshot, target)
}

/// What a `pfsense_security_audit` tool returns: the Markdown summary, the counts, the
/// non-compliant findings in full, the unknown ones with their reason, and the ids of the
/// compliant ones (the full evidence of passing checks would only fill the context).
pub fn tool_result(report: &Report) -> Value {
    let of = |state: State| report.findings.iter().filter(move |f| f.state == state);
    json!({
        "summary": markdown_summary(report),
        "counts": report.counts,
        "non_compliant": of(State::NonCompliant).collect::<Vec<_>>(),
        "unknown": of(State::Unknown)
            .map(|f| json!({"id": f.id, "title": f.title, "why": f.detail}))
            .collect::<Vec<_>>(),
        "compliant": of(State::Compliant).map(|f| f.id).collect::<Vec<_>>(),
    })
}

// `pfsense-mcp security-audit`.
#[derive(Debug, clap::Args)]
pub struct SecurityAuditArgs {
    /// Report format.
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif", "html", "md"])]
    pub format: String,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Also try one BasicAuth login as admin:pfsense (it counts as a failed login on the
    /// firewall, and login protection may block this address after several).
    #[arg(long)]
    pub probe_default_password: bool,
    #[command(flatten)]
    pub connection: crate::config::ConnectionArgs,
    #[command(flatten)]
    pub target: crate::config::TargetArgs,
    /// Accepted so a server command line can be reused: the audit only reads anyway.
    #[arg(long, env = "PFSENSE_READ_ONLY", value_parser = clap::builder::BoolishValueParser::new())]
    pub read_only: bool,
}

/// Write the report readable by its owner only: it tells where the firewall is weak (and,
/// with --probe-default-password, whether admin:pfsense logs in).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// Boxed once here (lib.rs, "One copy of a big future"): awaited from several places, its future would be
/// compiled into each of their codegen units.
#[inline(never)]
pub fn run_cli<'a>(
    args: &'a SecurityAuditArgs,
) -> futures::future::BoxFuture<'a, Result<(), String>> {
    Box::pin(run_cli_unboxed(args))
}

/// Runs the audit against the sandbox or the firewall the flags name, and writes the report.
async fn run_cli_unboxed(args: &SecurityAuditArgs) -> Result<(), String> {
    let format: Format = args.format.parse()?;
    let cli = args;
    let (client, target): (Arc<Client>, String) = if args.target.sandbox {
        crate::note!("pfsense-mcp: {}", crate::sandbox::BANNER);
        let target = crate::sandbox::start(
            Duration::from_secs(cli.connection.timeout.max(1)),
            cli.connection.resilience()?,
        );
        let client = match target {
            crate::server::Target::Ready(c) => c,
            crate::server::Target::Starting(f) => f.await?,
        };
        (client, "the sandbox emulator".into())
    } else {
        let config = cli.connection.client_config()?;
        let label = config.base_url.as_str().trim_end_matches('/').to_string();
        (Arc::new(Client::new(config)?), label)
    };
    let report = audit(&client, &target, args.probe_default_password).await;
    let text = render(&report, format);
    match &args.output {
        Some(path) => {
            write_private(path, &text)
                .map_err(|e| format!("cannot write the report to {}: {e}", path.display()))?;
            crate::note!(
                "pfsense-mcp: security audit of {target}: {} non-compliant, {} compliant, {} unknown; report in {}",
                report.counts.non_compliant,
                report.counts.compliant,
                report.counts.unknown,
                path.display()
            );
        }
        None => {
            // A reader that stopped early (`| head`) is not an error.
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(format!("cannot write to stdout: {e}"));
                }
                _ => {}
            }
        }
    }
    // A report that decided nothing is no clean bill of health (cron, CI, SARIF uploads read
    // the exit code): the firewall could not be read at all.
    if report.counts.compliant + report.counts.non_compliant == 0 {
        // A read's failure, rather than a check that is unknown by nature.
        let why = report
            .findings
            .iter()
            .find(|f| f.detail.contains("/api/v2/"))
            .or(report.findings.first())
            .map(|f| f.detail.clone())
            .unwrap_or_default();
        return Err(format!(
            "the audit of {target} decided none of its {} checks: the firewall could not be read ({why}). Run `pfsense-mcp doctor` with the same settings to see why",
            report.findings.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_the_audit_reads_is_a_get_tool_of_the_spec() {
        for e in ENDPOINTS {
            assert!(get_def(e.path).is_some(), "no GET tool for {}", e.path);
        }
    }

    #[test]
    fn query_strings_become_typed_arguments() {
        assert_eq!(query_args("limit=0"), json!({"limit": 0}));
        assert_eq!(query_args(""), json!({}));
    }
}
