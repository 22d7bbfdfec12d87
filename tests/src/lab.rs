//! The pfrest lab (pfrest's own PHP, `crates/pfrest-lab`) as a target for end-to-end tests.
//!
//! In CI (`CI` set) a lab that cannot start fails the test with the reason; elsewhere the test
//! prints the reason and is skipped, so a developer without root or PHP can still run the rest.

use pfrest_lab::{Lab, LabOptions};
use std::path::PathBuf;

/// The sources directory: `PFREST_LAB_SOURCES`, else `../shared/third-party` beside the checkout.
pub fn sources() -> PathBuf {
    pfrest_lab::test_sources()
}

/// A lab running pfrest `version` (`v2.7.1`, `v2.10.0`, …) with KeyAuth on, or `None` (printed)
/// when it cannot run outside CI.
pub struct RunningLab {
    pub lab: Lab,
    pub api_key: String,
}

impl RunningLab {
    /// The environment that points the binary at this lab: KeyAuth, plus BasicAuth for the
    /// tools pfrest only allows with it (creating API keys).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PFSENSE_HOST".into(), self.lab.url().to_string()),
            ("PFSENSE_API_KEY".into(), self.api_key.clone()),
            ("PFSENSE_USERNAME".into(), self.lab.username().to_string()),
            ("PFSENSE_PASSWORD".into(), self.lab.password().to_string()),
        ]
    }

    /// Applies the pending changes and waits (a bounded number of polls, no clock assertion)
    /// until pfSense's `filter_configure()` has written the ruleset (`tmp/rules.debug` in the
    /// lab's root) with `marker` in it; returns the ruleset.
    pub fn apply_until_written(&self, marker: &str) -> String {
        let path = self.lab.root().join("tmp/rules.debug");
        for _ in 0..150 {
            let (status, answer) = self
                .lab
                .request("POST", "/api/v2/firewall/apply", Some("{}"))
                .unwrap_or_else(|e| panic!("POST /api/v2/firewall/apply: {e}"));
            assert_eq!(status, 200, "POST /api/v2/firewall/apply: {answer}");
            let applied: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if applied["data"]["applied"] == serde_json::json!(true) && text.contains(marker) {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!(
            "the lab never wrote a ruleset with `{marker}` to {}",
            path.display()
        );
    }

    /// Waits until pfrest's background dispatchers have finished (at most three minutes, then
    /// panics). A dispatcher loads config.xml when it starts and may save it when it ends (an
    /// apply with schedules adds pfSense's cron job): a change made meanwhile would be undone.
    pub fn settle(&self) {
        assert!(
            self.lab.wait_idle(std::time::Duration::from_secs(180)),
            "the lab's background dispatchers still ran after three minutes"
        );
    }

    /// The lab's live config.xml, as pfrest wrote it.
    pub fn config_xml(&self) -> String {
        let path = self.lab.config_path();
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading the lab's {}: {e}", path.display()))
    }
}

/// Start a lab of `version`, or say why not (a panic in CI, a printed skip elsewhere).
pub fn start(version: &str) -> Option<RunningLab> {
    if !pfrest_lab::test_may_start(&sources()) {
        return None;
    }
    let mut options = LabOptions::new(sources()).version(version);
    // The test harness keeps its own signal handling; the lab stops when dropped.
    options.install_signal_handler = false;
    let lab = Lab::start(options).unwrap_or_else(|e| panic!("lab {version} did not start: {e}"));
    let api_key = lab
        .enable_key_auth()
        .unwrap_or_else(|e| panic!("lab {version}: KeyAuth: {e}"));
    Some(RunningLab { lab, api_key })
}

/// A lab of `version` started from `config_xml` (a whole config.xml) instead of the reference
/// config, left as written: no KeyAuth switched on, no key created, so the config decides the REST
/// API settings. The caller writes its own API key into the config (see [`key_hash`]) and passes
/// the key, which [`RunningLab::env`] then hands to the binary.
pub fn start_with_config(version: &str, config_xml: &str, api_key: &str) -> Option<RunningLab> {
    if !pfrest_lab::test_may_start(&sources()) {
        return None;
    }
    let file = tempfile::NamedTempFile::new().expect("a temporary config.xml");
    std::fs::write(file.path(), config_xml).expect("write the lab's config.xml");
    let mut options = LabOptions::new(sources()).version(version);
    options.config = Some(file.path().to_path_buf());
    options.install_signal_handler = false;
    let lab = Lab::start(options).unwrap_or_else(|e| panic!("lab {version} did not start: {e}"));
    Some(RunningLab {
        lab,
        api_key: api_key.to_string(),
    })
}

/// The reference config.xml the lab starts from by default (`../shared/reference-config.xml`).
pub fn reference_config() -> String {
    let path = std::env::var_os("PFREST_LAB_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| sources().with_file_name("reference-config.xml"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading the reference config {}: {e}", path.display()))
}

/// A fresh API key (48 hex digits, as pfrest makes them) and the SHA-256 hash pfrest keeps of it
/// in config.xml (`RESTAPIKey::authenticate` hashes the presented key with the stored algorithm).
pub fn new_key() -> (String, String) {
    use std::io::{Read, Write};
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(key.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("sha256sum");
    let hash = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a hash")
        .to_string();
    (key, hash)
}

/// One test per scenario and pfrest release the lab runs, named `scenario::v2_7_1`,
/// `scenario::v2_8_4` and `scenario::v2_10_0`. Each scenario is an `async fn(version: &str)`;
/// the first argument is the test attribute (`#[tokio::test]`, or with a flavour). The binary
/// under test keeps the tools of the project's spec (v2.7.1), as a user who has not pulled the
/// box's own spec runs it.
#[macro_export]
macro_rules! on_every_release {
    (#[$test:meta] $($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[$test]
            async fn v2_7_1() {
                super::$scenario("v2.7.1").await
            }
            #[$test]
            async fn v2_8_4() {
                super::$scenario("v2.8.4").await
            }
            #[$test]
            async fn v2_10_0() {
                super::$scenario("v2.10.0").await
            }
        }
    )*};
}

#[cfg(test)]
mod tests {
    /// `on_every_release!` names each release the lab can run: a new one needs a line there.
    #[test]
    fn on_every_release_names_every_release_the_lab_knows() {
        let releases: Vec<&str> = pfrest_lab::RELEASES.iter().map(|r| r.version).collect();
        assert_eq!(releases, ["v2.7.1", "v2.8.4", "v2.10.0"]);
    }
}
