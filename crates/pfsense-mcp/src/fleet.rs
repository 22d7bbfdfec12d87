//! Several named firewalls from a TOML config file (`--config FILE`, `PFSENSE_CONFIG`).
//!
//! ```toml
//! default = "lab"
//! [firewalls.prod]
//! url = "https://10.0.0.1"
//! api_key_env = "PROD_PFSENSE_KEY"
//! tls_fingerprint = "sha256:…"
//! read_only = true
//! [firewalls.lab]
//! url = "https://192.168.56.10"
//! auth = "basic"
//! username = "admin"
//! password_file = "/run/secrets/lab-password"
//! modules = ["firewall", "status"]
//! deny = ["pfsense_delete_*"]
//! ```
//!
//! Secrets never live in this file: each credential names an environment variable (`*_env`) or
//! a file (`*_file`) that holds it, and a plain `api_key = "…"` or `password = "…"` is refused.
//! Every error names the file, the firewall and the field. Without a config file the flags and
//! environment make a fleet of one firewall named `default` (`sandbox` in `--sandbox`).

use crate::client::{AuthMethod, ClientConfig};
use crate::policy::{Origin, Policy};
use crate::secret::Secret;
use crate::tls::{TlsMode, parse_fingerprint};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The firewall made from flags and environment when there is no config file.
pub const DEFAULT_NAME: &str = "default";
/// The firewall of `--sandbox`.
pub const SANDBOX_NAME: &str = "sandbox";

/// Whether `name` is a firewall of a config file, rather than the sole firewall of flags or
/// `--sandbox` (where messages need not name it).
pub fn from_config_file(name: &str) -> bool {
    name != DEFAULT_NAME && name != SANDBOX_NAME
}

/// Seconds per request when a firewall does not say (as `--timeout`).
const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// The config file's location: `explicit` (from `--config` / `PFSENSE_CONFIG`), else
/// `$XDG_CONFIG_HOME/pfsense-mcp/config.toml` or `~/.config/pfsense-mcp/config.toml` when that
/// file exists. The bool says whether the path was given explicitly.
pub fn config_path(explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return Some((p.to_path_buf(), true));
    }
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    let path = dir.join("pfsense-mcp").join("config.toml");
    path.is_file().then_some((path, false))
}

/// One firewall's table, as written. Unknown keys are errors (a misspelt `read_only` must not
/// silently leave a firewall writable).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FirewallEntry {
    url: Option<String>,
    auth: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<PathBuf>,
    username: Option<String>,
    username_env: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    /// Refused: a secret in plain text (read only to say how to do it instead).
    api_key: Option<serde::de::IgnoredAny>,
    /// Refused, as `api_key`.
    password: Option<serde::de::IgnoredAny>,
    tls_fingerprint: Option<String>,
    ca_cert: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
    timeout: Option<u64>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    allow_dangerous: bool,
    #[serde(default)]
    modules: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

/// A parsed config file: the firewalls by name, credentials not yet read.
#[derive(Debug)]
pub struct FleetConfig {
    path: PathBuf,
    default: String,
    firewalls: BTreeMap<String, FirewallEntry>,
}

/// One firewall, ready to connect: its name, how to reach it, and its policy.
#[derive(Debug, Clone)]
pub struct FirewallConfig {
    pub name: String,
    pub client: ClientConfig,
    pub policy: Policy,
}

/// Where a name may come from: letters, digits, `_`, `-`, `.`; it is the key of the firewall's
/// audit lines and journal rows, so it stays short and plain.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        let shown: String = name.chars().take(80).flat_map(char::escape_debug).collect();
        Err(format!(
            "the firewall name `{shown}` is not allowed: use 1 to 64 letters, digits, `_`, `-` or `.`"
        ))
    }
}

/// The key of a firewall's table whose value does not fit (a value read from the table, not
/// the text, has no position to say): each key is tried alone beside a valid `url`.
fn misfit_key(entry: &toml::Value) -> Option<String> {
    let table = entry.as_table()?;
    table.iter().find_map(|(key, value)| {
        let mut alone = toml::Table::new();
        alone.insert(
            "url".into(),
            toml::Value::String("https://192.0.2.1".into()),
        );
        alone.insert(key.clone(), value.clone());
        FirewallEntry::deserialize(toml::Value::Table(alone))
            .is_err()
            .then(|| key.clone())
    })
}

/// Line and column (1-based) of a byte offset, for errors.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl FleetConfig {
    /// Read and check a config file (structure only: credentials are read by `resolve`).
    pub fn load(path: &Path) -> Result<FleetConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("config file {}: cannot be read: {e}", path.display()))?;
        if let Some(mode) = writable_by_others(path) {
            crate::note!(
                "pfsense-mcp: warning: config file {} can be changed by other users (mode {mode:04o}): it says which address each firewall is and whether its certificate is checked; make it writable by its owner only (chmod go-w)",
                path.display()
            );
        }
        FleetConfig::parse(&text, path)
    }

    /// Check the text of a config file; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<FleetConfig, String> {
        let file = path.display();
        // Only the message and position: toml's own rendering quotes the source line, which may
        // be a line holding a secret.
        let table: toml::Table = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                format!("config file {file}:{line}:{col}: {}", e.message().trim())
            }
            None => format!("config file {file}: {}", e.message().trim()),
        })?;
        let mut default = None;
        let mut firewalls = BTreeMap::new();
        for (key, value) in table {
            match key.as_str() {
                "default" => match value {
                    toml::Value::String(s) => default = Some(s),
                    _ => {
                        return Err(format!(
                            "config file {file}: `default` must be the name of a firewall, e.g. default = \"lab\""
                        ));
                    }
                },
                "firewalls" => {
                    let toml::Value::Table(entries) = value else {
                        return Err(format!(
                            "config file {file}: `firewalls` must be tables, e.g. [firewalls.lab]"
                        ));
                    };
                    for (name, entry) in entries {
                        check_name(&name).map_err(|e| format!("config file {file}: {e}"))?;
                        if !entry.is_table() {
                            return Err(format!(
                                "config file {file}, firewall `{name}`: must be a table of settings, e.g. [firewalls.{name}] followed by url = \"https://192.168.1.1\" and api_key_env = \"VARIABLE\""
                            ));
                        }
                        let culprit = misfit_key(&entry);
                        let entry = FirewallEntry::deserialize(entry).map_err(|e| {
                            format!(
                                "config file {file}, firewall `{name}`{}: {}",
                                culprit.map(|k| format!(", `{k}`")).unwrap_or_default(),
                                e.message().trim()
                            )
                        })?;
                        firewalls.insert(name, entry);
                    }
                }
                other => {
                    return Err(format!(
                        "config file {file}: unknown key `{other}` (expected `default` and [firewalls.NAME] tables)"
                    ));
                }
            }
        }
        if firewalls.is_empty() {
            return Err(format!(
                "config file {file}: no firewalls; add at least one [firewalls.NAME] table with a `url`"
            ));
        }
        let default = match default {
            Some(d) if firewalls.contains_key(&d) => d,
            Some(d) => {
                return Err(format!(
                    "config file {file}: default = \"{d}\" names no firewall; the firewalls are {}",
                    names(&firewalls)
                ));
            }
            None if firewalls.len() == 1 => firewalls.keys().next().cloned().unwrap_or_default(),
            None if firewalls.contains_key(DEFAULT_NAME) => DEFAULT_NAME.to_string(),
            None => {
                return Err(format!(
                    "config file {file}: say which firewall a session starts on, e.g. default = \"{}\" (the firewalls are {})",
                    firewalls.keys().next().cloned().unwrap_or_default(),
                    names(&firewalls)
                ));
            }
        };
        let config = FleetConfig {
            path: path.to_path_buf(),
            default,
            firewalls,
        };
        // Problems that need no environment are found at once, for every firewall.
        for (name, entry) in &config.firewalls {
            config.check_static(name, entry)?;
        }
        Ok(config)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The firewall a session starts on.
    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// The firewalls' names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.firewalls.keys().map(String::as_str).collect()
    }

    fn context(&self, name: &str) -> String {
        format!("config file {}, firewall `{name}`", self.path.display())
    }

    fn check_static(&self, name: &str, entry: &FirewallEntry) -> Result<(), String> {
        let at = self.context(name);
        for (field, present) in [
            ("api_key", entry.api_key.is_some()),
            ("password", entry.password.is_some()),
        ] {
            if present {
                return Err(format!(
                    "{at}: `{field}` holds a secret in plain text, which pfsense-mcp refuses to read from its config file. Put the value in an environment variable and write `{field}_env = \"VARIABLE\"`, or in a file only you can read (chmod 600) and write `{field}_file = \"/path/to/file\"`."
                ));
            }
        }
        let url = entry
            .url
            .as_deref()
            .ok_or_else(|| format!("{at}: `url` is missing, e.g. url = \"https://192.168.1.1\""))?;
        let base_url = crate::config::parse_base_url(url, &format!("{at}: `url`"))?;
        crate::config::certificate_settings_over_plain_http(
            &base_url,
            entry.tls_fingerprint.as_ref().map(|_| "`tls_fingerprint`"),
            entry.ca_cert.as_ref().map(|_| "`ca_cert`"),
        )
        .map_err(|e| format!("{at}: {e}"))?;
        if let Some(a) = &entry.auth {
            parse_auth(a).map_err(|e| format!("{at}: {e}"))?;
        }
        for (a, b, both) in [
            (
                "api_key_env",
                "api_key_file",
                entry.api_key_env.is_some() && entry.api_key_file.is_some(),
            ),
            (
                "password_env",
                "password_file",
                entry.password_env.is_some() && entry.password_file.is_some(),
            ),
            (
                "username",
                "username_env",
                entry.username.is_some() && entry.username_env.is_some(),
            ),
        ] {
            if both {
                return Err(format!("{at}: give either `{a}` or `{b}`, not both"));
            }
        }
        if let Some(fp) = &entry.tls_fingerprint {
            parse_fingerprint(fp).map_err(|e| format!("{at}: `tls_fingerprint`: {e}"))?;
            if entry.insecure {
                return Err(format!(
                    "{at}: `insecure = true` and `tls_fingerprint` contradict each other; keep the fingerprint"
                ));
            }
        }
        if let Some(ca) = &entry.ca_cert {
            if entry.tls_fingerprint.is_some() {
                return Err(format!(
                    "{at}: `ca_cert` and `tls_fingerprint` contradict each other: a pinned certificate is trusted whatever its issuer, so the CA would be ignored; keep one"
                ));
            }
            if entry.insecure {
                return Err(format!(
                    "{at}: `insecure = true` and `ca_cert` contradict each other: without verification the CA would be ignored; keep the CA"
                ));
            }
            let path = self.relative(ca);
            if !path.is_file() {
                return Err(format!(
                    "{at}: `ca_cert` {} {}",
                    path.display(),
                    if path.exists() {
                        "is not a file"
                    } else {
                        "does not exist"
                    }
                ));
            }
        }
        if entry.timeout == Some(0) {
            return Err(format!("{at}: `timeout` must be at least 1 second"));
        }
        if entry
            .timeout
            .is_some_and(|t| t > crate::config::MAX_SECONDS)
        {
            return Err(format!(
                "{at}: `timeout` must be at most {} seconds (a day)",
                crate::config::MAX_SECONDS
            ));
        }
        self.policy(name, entry)?;
        Ok(())
    }

    fn policy(&self, name: &str, entry: &FirewallEntry) -> Result<Policy, String> {
        let at = self.context(name);
        let modules = crate::config::parse_modules(&entry.modules)
            .map_err(|e| format!("{at}: `modules`: {e}"))?;
        Policy {
            read_only: entry.read_only,
            allow_dangerous: entry.allow_dangerous,
            modules,
            allow: crate::config::clean_patterns(&entry.allow),
            deny: crate::config::clean_patterns(&entry.deny),
            origin: Origin::ConfigFile {
                firewall: name.to_string(),
                path: self.path.display().to_string(),
            },
            narrowed_by: None,
        }
        .checked()
    }

    /// One firewall, ready to connect: credentials read from the environment (through `env`)
    /// and files now. The lead's `doctor` uses this to check a single firewall.
    pub fn resolve(
        &self,
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<FirewallConfig, String> {
        let entry = self.firewalls.get(name).ok_or_else(|| {
            format!(
                "config file {}: there is no firewall `{name}`; the firewalls are {}",
                self.path.display(),
                names(&self.firewalls)
            )
        })?;
        let at = self.context(name);
        let url = entry.url.as_deref().unwrap_or_default();
        let base_url = crate::config::parse_base_url(url, &format!("{at}: `url`"))?;
        let api_key = self.secret(
            name,
            "api_key",
            entry.api_key_env.as_deref(),
            entry.api_key_file.as_deref(),
            env,
        )?;
        let password = self.secret(
            name,
            "password",
            entry.password_env.as_deref(),
            entry.password_file.as_deref(),
            env,
        )?;
        let username = match (&entry.username, &entry.username_env) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(var)) => Some(read_env(env, var).map_err(|e| {
                format!("{at}: `username_env` names the environment variable {var}, {e}")
            })?),
            (None, None) => None,
        };
        let auth = match entry.auth.as_deref() {
            Some(a) => parse_auth(a).map_err(|e| format!("{at}: {e}"))?,
            None if api_key.is_some() => AuthMethod::Key,
            None if username.is_some() && password.is_some() => AuthMethod::Basic,
            None => {
                return Err(format!(
                    "{at}: no credentials; set `api_key_env` (or `api_key_file`), or `username` and `password_env` (or `password_file`)"
                ));
            }
        };
        match auth {
            AuthMethod::Key if api_key.is_none() => {
                return Err(format!(
                    "{at}: auth = \"key\" needs `api_key_env` or `api_key_file`"
                ));
            }
            AuthMethod::Basic | AuthMethod::Jwt if username.is_none() || password.is_none() => {
                return Err(format!(
                    "{at}: auth = \"{}\" needs `username` and `password_env` (or `password_file`)",
                    if auth == AuthMethod::Basic {
                        "basic"
                    } else {
                        "jwt"
                    }
                ));
            }
            _ => {}
        }
        let tls = if let Some(fp) = &entry.tls_fingerprint {
            TlsMode::Pinned(parse_fingerprint(fp).map_err(|e| format!("{at}: {e}"))?)
        } else if entry.insecure {
            TlsMode::Insecure
        } else {
            TlsMode::Verify {
                ca_file: entry.ca_cert.as_deref().map(|p| self.relative(p)),
            }
        };
        let timeout = entry.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
        Ok(FirewallConfig {
            name: name.to_string(),
            client: ClientConfig {
                base_url,
                auth,
                api_key,
                username,
                password,
                tls,
                timeout: Duration::from_secs(timeout),
                connect_timeout: Duration::from_secs(timeout.min(10)),
                // The server sets the flags' retry and breaker settings (`cli`).
                resilience: crate::resilience::ResilienceOptions::default(),
                origin: Origin::ConfigFile {
                    firewall: name.to_string(),
                    path: self.path.display().to_string(),
                },
            },
            policy: self.policy(name, entry)?,
        })
    }

    /// Every firewall, sorted by name; stops at the first one that cannot be resolved, so a
    /// missing credential fails at start rather than at the first call.
    pub fn resolve_all(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<FirewallConfig>, String> {
        self.firewalls
            .keys()
            .map(|name| self.resolve(name, env))
            .collect()
    }

    /// A path from the file, relative to the file's folder.
    fn relative(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        self.path
            .parent()
            .map(|dir| dir.join(p))
            .unwrap_or_else(|| p.to_path_buf())
    }

    fn secret(
        &self,
        name: &str,
        field: &str,
        env_var: Option<&str>,
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, String> {
        let at = self.context(name);
        if let Some(var) = env_var {
            let value = read_env(env, var).map_err(|e| {
                format!("{at}: `{field}_env` names the environment variable {var}, {e}")
            })?;
            if field == "api_key" && value.chars().any(char::is_control) {
                return Err(format!(
                    "{at}: `{field}_env` names the environment variable {var}, which holds more than the key (a control character such as a newline), so it cannot be sent in an HTTP header"
                ));
            }
            return Ok(Some(Secret::new(value)));
        }
        let Some(file) = file else {
            return Ok(None);
        };
        let path = self.relative(file);
        if let Some(mode) = loose_permissions(&path) {
            tracing::warn!(
                "{at}: `{field}_file` {} can be read by other users (mode {mode:04o}); make it private with chmod 600",
                path.display()
            );
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{at}: `{field}_file` {} cannot be read: {e}",
                path.display()
            )
        })?;
        // A trailing newline is how editors and `echo` leave a file, not part of the secret.
        let value = text.trim_end_matches(['\n', '\r']);
        if value.trim().is_empty() {
            return Err(format!("{at}: `{field}_file` {} is empty", path.display()));
        }
        if field == "api_key" && value.chars().any(char::is_control) {
            return Err(format!(
                "{at}: `{field}_file` {} holds more than the key (a control character such as a newline: a file of more than one line?), so it cannot be sent in an HTTP header; leave the key alone in it",
                path.display()
            ));
        }
        Ok(Some(Secret::new(value)))
    }
}

/// The environment as `resolve` reads it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn read_env(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Result<String, String> {
    match env(var) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err("which is empty".into()),
        None => Err("which is not set".into()),
    }
}

fn parse_auth(a: &str) -> Result<AuthMethod, String> {
    match a {
        "key" => Ok(AuthMethod::Key),
        "basic" => Ok(AuthMethod::Basic),
        "jwt" => Ok(AuthMethod::Jwt),
        other => Err(format!(
            "`auth = \"{other}\"` is not a method; use \"key\", \"basic\" or \"jwt\""
        )),
    }
}

fn names(firewalls: &BTreeMap<String, FirewallEntry>) -> String {
    firewalls
        .keys()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The file's mode when group or others may read or write it (a credential file should be
/// private to its owner).
pub fn loose_permissions(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The file's mode when group or others may write it.
fn writable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o022 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// One firewall of a config file as a client configuration: what `pfsense-mcp doctor` needs to
/// check a single named firewall.
pub fn client_config(path: &Path, name: &str) -> Result<ClientConfig, String> {
    Ok(FleetConfig::load(path)?.resolve(name, &process_env)?.client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const GOOD: &str = r#"
default = "lab"

[firewalls.prod]
url = "https://10.0.0.1"
api_key_env = "PROD_KEY"
tls_fingerprint = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
read_only = true

[firewalls.lab]
url = "192.168.56.10:8443"
auth = "basic"
username = "admin"
password_file = "lab-password"
modules = ["firewall", "status"]
deny = ["pfsense_delete_*"]
timeout = 5
"#;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_good_file_gives_every_firewall_its_credentials_tls_and_policy() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "config.toml", GOOD);
        write(dir.path(), "lab-password", "s3cret-lab\n");
        let fleet = FleetConfig::load(&path).unwrap();
        assert_eq!(fleet.default_name(), "lab");
        assert_eq!(fleet.names(), vec!["lab", "prod"]);
        let all = fleet.resolve_all(&env(&[("PROD_KEY", "k-prod")])).unwrap();
        let (lab, prod) = (&all[0], &all[1]);
        assert_eq!(prod.name, "prod");
        assert_eq!(prod.client.base_url.as_str(), "https://10.0.0.1/");
        assert_eq!(prod.client.auth, AuthMethod::Key);
        assert_eq!(prod.client.api_key.as_ref().unwrap().expose(), "k-prod");
        assert!(matches!(prod.client.tls, TlsMode::Pinned(_)));
        assert!(prod.policy.read_only);
        assert_eq!(lab.client.base_url.as_str(), "https://192.168.56.10:8443/");
        assert_eq!(lab.client.auth, AuthMethod::Basic);
        assert_eq!(lab.client.password.as_ref().unwrap().expose(), "s3cret-lab");
        assert_eq!(lab.client.timeout, Duration::from_secs(5));
        assert!(!lab.policy.read_only);
        assert_eq!(lab.policy.deny, vec!["pfsense_delete_*"]);
        assert_eq!(lab.policy.modules.as_ref().unwrap().len(), 2);
        assert!(matches!(lab.client.tls, TlsMode::Verify { ca_file: None }));
    }

    #[test]
    fn a_plain_text_secret_is_refused_with_the_way_to_do_it_and_without_the_value() {
        for field in ["api_key", "password"] {
            let text = format!(
                "[firewalls.prod]\nurl = \"https://10.0.0.1\"\n{field} = \"hunter2-secret\"\n"
            );
            let e = FleetConfig::parse(&text, Path::new("/etc/pf.toml")).unwrap_err();
            assert!(e.contains("firewall `prod`"), "{e}");
            assert!(e.contains(&format!("`{field}_env")), "{e}");
            assert!(e.contains(&format!("`{field}_file")), "{e}");
            assert!(e.contains("/etc/pf.toml"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn a_syntax_error_gives_the_position_but_never_quotes_the_line() {
        let text = "[firewalls.prod]\nurl = \"https://10.0.0.1\"\napi_key = hunter2-secret\n";
        let e = FleetConfig::parse(text, Path::new("c.toml")).unwrap_err();
        assert!(e.contains("c.toml:3:"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors_naming_key_firewall_and_file() {
        let text = "[firewalls.prod]\nurl = \"https://10.0.0.1\"\nread_olny = true\n";
        let e = FleetConfig::parse(text, Path::new("/etc/pf.toml")).unwrap_err();
        assert!(e.contains("read_olny"), "{e}");
        assert!(e.contains("firewall `prod`"), "{e}");
        assert!(e.contains("/etc/pf.toml"), "{e}");
        let e = FleetConfig::parse("defualt = \"x\"\n", Path::new("/etc/pf.toml")).unwrap_err();
        assert!(e.contains("unknown key `defualt`"), "{e}");
    }

    #[test]
    fn a_value_of_the_wrong_kind_names_its_key_and_a_bad_name_is_shown_escaped() {
        for (line, key) in [
            ("timeout = \"abc\"", "`timeout`"),
            ("timeout = -5", "`timeout`"),
            ("modules = \"firewall\"", "`modules`"),
        ] {
            let text = format!("[firewalls.a]\nurl = \"https://10.0.0.1\"\n{line}\n");
            let e = FleetConfig::parse(&text, Path::new("c.toml")).unwrap_err();
            assert!(e.contains(&format!("firewall `a`, {key}:")), "{line}: {e}");
        }
        let text = "[firewalls.\"a b\\u001b[31m\"]\nurl = \"https://10.0.0.1\"\n";
        let e = FleetConfig::parse(text, Path::new("c.toml")).unwrap_err();
        assert!(
            !e.contains('\u{1b}') && e.contains("a b\\u{1b}[31m"),
            "{e:?}"
        );
    }

    #[test]
    fn a_missing_environment_variable_names_firewall_field_and_variable() {
        let text = "[firewalls.prod]\nurl = \"https://10.0.0.1\"\napi_key_env = \"PROD_KEY\"\n";
        let fleet = FleetConfig::parse(text, Path::new("c.toml")).unwrap();
        let e = fleet.resolve("prod", &env(&[])).unwrap_err();
        assert!(e.contains("firewall `prod`"), "{e}");
        assert!(e.contains("api_key_env"), "{e}");
        assert!(e.contains("PROD_KEY"), "{e}");
        assert!(e.contains("not set"), "{e}");
        let e = fleet
            .resolve("prod", &env(&[("PROD_KEY", " ")]))
            .unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn bad_urls_are_refused_naming_the_firewall() {
        for url in ["ftp://10.0.0.1", "https://", "not a url at all"] {
            let text = format!("[firewalls.edge]\nurl = \"{url}\"\napi_key_env = \"K\"\n");
            let e = FleetConfig::parse(&text, Path::new("c.toml")).unwrap_err();
            assert!(e.contains("firewall `edge`"), "{url}: {e}");
            assert!(e.contains("`url`"), "{url}: {e}");
        }
        let e = FleetConfig::parse("[firewalls.edge]\napi_key_env = \"K\"\n", Path::new("c"))
            .unwrap_err();
        assert!(e.contains("`url` is missing"), "{e}");
    }

    #[test]
    fn an_unreadable_credential_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[firewalls.lab]\nurl = \"https://10.0.0.2\"\napi_key_file = \"missing-key\"\n";
        let path = write(dir.path(), "c.toml", text);
        let fleet = FleetConfig::load(&path).unwrap();
        let e = fleet.resolve("lab", &env(&[])).unwrap_err();
        assert!(e.contains("firewall `lab`"), "{e}");
        assert!(e.contains("api_key_file"), "{e}");
        assert!(e.contains("missing-key"), "{e}");
        let e = FleetConfig::load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(
            e.contains("nope.toml") && e.contains("cannot be read"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn credential_files_others_can_read_are_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "key", "k\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(loose_permissions(&p), Some(0o644));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(loose_permissions(&p), None);
    }

    #[test]
    fn default_must_name_a_firewall_and_is_required_among_several() {
        let two = "[firewalls.a]\nurl = \"https://10.0.0.1\"\napi_key_env = \"K\"\n[firewalls.b]\nurl = \"https://10.0.0.2\"\napi_key_env = \"K\"\n";
        let e = FleetConfig::parse(two, Path::new("c")).unwrap_err();
        assert!(e.contains("default = "), "{e}");
        let e = FleetConfig::parse(&format!("default = \"c\"\n{two}"), Path::new("c")).unwrap_err();
        assert!(
            e.contains("names no firewall") && e.contains("`a`, `b`"),
            "{e}"
        );
        let one = "[firewalls.a]\nurl = \"https://10.0.0.1\"\napi_key_env = \"K\"\n";
        assert_eq!(
            FleetConfig::parse(one, Path::new("c"))
                .unwrap()
                .default_name(),
            "a"
        );
    }

    #[test]
    fn policy_mistakes_and_contradictions_are_found_at_load() {
        let base = "[firewalls.a]\nurl = \"https://10.0.0.1\"\napi_key_env = \"K\"\n";
        for (extra, needle) in [
            ("modules = [\"firewal\"]", "unknown module `firewal`"),
            ("deny = [\"pfsense delete\"]", "`deny` of firewall `a`"),
            ("auth = \"token\"", "not a method"),
            (
                "insecure = true\ntls_fingerprint = \"sha256:00\"",
                "tls_fingerprint",
            ),
            ("timeout = 0", "at least 1 second"),
            ("api_key_file = \"k\"", "not both"),
        ] {
            let e = FleetConfig::parse(&format!("{base}{extra}\n"), Path::new("c")).unwrap_err();
            assert!(e.contains(needle), "{extra}: {e}");
        }
        let e = FleetConfig::parse(
            "[firewalls.\"bad name\"]\nurl = \"https://10.0.0.1\"\n",
            Path::new("c"),
        )
        .unwrap_err();
        assert!(e.contains("not allowed"), "{e}");
    }

    /// The server takes `firewall` out of every call's arguments: a spec that gave some
    /// operation a real field of that name must fail here, not lose the field silently.
    #[test]
    fn no_generated_tool_has_an_argument_named_firewall() {
        for def in crate::catalog::TOOLS.iter() {
            let props = def.schema().get("properties").and_then(|p| p.as_object());
            assert!(
                props.is_none_or(|p| !p.contains_key("firewall")),
                "{} has a `firewall` argument",
                def.name
            );
        }
    }

    #[test]
    fn flags_narrow_a_firewall_policy_and_never_widen_it() {
        let text = "[firewalls.lab]\nurl = \"https://10.0.0.2\"\napi_key_env = \"K\"\nallow_dangerous = true\n";
        let fleet = FleetConfig::parse(text, Path::new("c.toml")).unwrap();
        let lab = fleet.resolve("lab", &env(&[("K", "k")])).unwrap();
        let flags = Policy {
            read_only: true,
            ..Policy::default()
        };
        let narrowed = lab.policy.clone().narrowed(&flags);
        assert!(narrowed.is_read_only());
        let create = crate::catalog::tool("pfsense_create_firewall_alias").unwrap();
        let reason = narrowed.refusal(create).unwrap();
        assert!(reason.contains("read-only mode"), "{reason}");
        // The flags' default `allow_dangerous = false` does not take the file's `true` away.
        let plain = lab.policy.clone().narrowed(&Policy::default());
        assert!(plain.allow_dangerous && plain.narrowed_by.is_none());
        let reboot = crate::catalog::tool("pfsense_post_diagnostics_reboot").unwrap();
        assert!(plain.offers(reboot));
        // A read-only firewall stays read-only whatever the flags say.
        let ro = Policy {
            read_only: true,
            origin: Origin::ConfigFile {
                firewall: "prod".into(),
                path: "c.toml".into(),
            },
            ..Policy::default()
        }
        .narrowed(&Policy::default());
        let reason = ro.refusal(create).unwrap();
        assert!(reason.contains("firewall `prod` is read-only"), "{reason}");
    }
}
