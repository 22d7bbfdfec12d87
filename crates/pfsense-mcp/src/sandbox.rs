//! `--sandbox`: an in-process pfSense REST API emulator on a free loopback port with fresh
//! state, so the server can be tried with no firewall at risk.

use crate::client::{AuthMethod, Client, ClientConfig};
use crate::secret::Secret;
use crate::server::Target;
use crate::tls::{TlsMode, parse_fingerprint};
use futures::FutureExt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

static RUNNING: OnceLock<pfsense_emulator::RunningEmulator> = OnceLock::new();

/// Said on stderr at start and in the server instructions.
pub const BANNER: &str = "SANDBOX MODE: no real firewall is involved. An in-memory emulator of the pfSense REST API answers on 127.0.0.1 with a fresh default configuration (all add-on packages installed); every change is lost when the server exits.";

/// Start the emulator with the built-in spec and fresh default state.
async fn start_emulator() -> Result<&'static pfsense_emulator::RunningEmulator, String> {
    let spec = tokio::task::spawn_blocking(|| {
        let json = miniz_oxide::inflate::decompress_to_vec(crate::catalog::SPEC_DEFLATED)
            .map_err(|e| format!("sandbox: the built-in spec does not inflate: {e}"))?;
        pfsense_spec::Spec::from_json(&String::from_utf8_lossy(&json))
            .map_err(|e| format!("sandbox: the built-in spec does not load: {e}"))
    })
    .await
    .map_err(|e| format!("sandbox: loading the spec failed: {e}"))??;
    let mut config = pfsense_emulator::EmulatorConfig::new(crate::catalog::SPEC_PATH);
    config.spec = Some(Arc::new(spec));
    config.enable_key_auth = true;
    config.installed_packages = vec!["all".into()];
    let emulator = pfsense_emulator::start(config)
        .await
        .map_err(|e| format!("sandbox: the emulator did not start: {e:#}"))?;
    // The emulator runs for the life of the process.
    Ok(RUNNING.get_or_init(|| emulator))
}

/// `doctor --sandbox`: the checks run against a fresh sandbox emulator, as the server would
/// reach it.
pub async fn doctor_target() -> Result<crate::doctor::Target, String> {
    let emulator = start_emulator().await?;
    Ok(crate::doctor::Target {
        base_url: url::Url::parse(emulator.url())
            .map_err(|e| format!("sandbox: bad emulator URL: {e}"))?,
        tls: TlsMode::Pinned(parse_fingerprint(emulator.fingerprint())?),
        auth: Some(AuthMethod::Key),
        api_key: emulator.api_key().map(Secret::new),
        username: Some(emulator.username().to_string()),
        password: Some(Secret::new(emulator.password())),
        timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        lockout_source: None,
    })
}

/// Start the emulator in the background and return the target that resolves once it is up.
/// The emulator lives as long as the returned target's future is held.
pub fn start(timeout: Duration, resilience: crate::resilience::ResilienceOptions) -> Target {
    let task = tokio::spawn(async move {
        let started = Instant::now();
        let emulator = start_emulator().await?;
        let pin = parse_fingerprint(emulator.fingerprint())?;
        let base_url = url::Url::parse(emulator.url())
            .map_err(|e| format!("sandbox: bad emulator URL: {e}"))?;
        let client = Client::new(ClientConfig {
            base_url,
            auth: AuthMethod::Key,
            api_key: emulator.api_key().map(Secret::new),
            username: Some(emulator.username().to_string()),
            password: Some(Secret::new(emulator.password())),
            tls: TlsMode::Pinned(pin),
            timeout,
            connect_timeout: Duration::from_secs(5),
            resilience,
            origin: crate::policy::Origin::Flags,
        })?;
        tracing::info!(
            url = emulator.url(),
            fingerprint = emulator.fingerprint(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sandbox emulator ready"
        );
        Ok::<_, String>(Arc::new(client))
    });
    let future = async move {
        match task.await {
            Ok(result) => result,
            Err(e) => Err(format!("sandbox: the emulator task failed: {e}")),
        }
    };
    Target::Starting(future.boxed().shared())
}
