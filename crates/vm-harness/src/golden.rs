//! The golden image: a qcow2 disk that is never booted itself, plus what a run needs to reach it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Logins of a golden image. Never logged: `Debug` redacts the secrets.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    pub admin_username: String,
    pub admin_password: String,
    /// REST API key created by `cargo xtask golden` (`POST /api/v2/auth/key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

impl Default for Credentials {
    /// pfSense's factory login.
    fn default() -> Credentials {
        Credentials {
            admin_username: "admin".into(),
            admin_password: "pfsense".into(),
            api_key: None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("admin_username", &self.admin_username)
            .field("admin_password", &"<redacted>")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Boot a kernel and initrd directly instead of the disk's boot loader (the small test guest).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DirectKernel {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub append: String,
}

/// The descriptor file (`vm/golden.json`): disk path, credentials and provenance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GoldenImage {
    /// Relative paths are relative to the descriptor file.
    pub disk: PathBuf,
    pub credentials: Credentials,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_kernel: Option<DirectKernel>,
    /// Free-form facts: pfSense and REST API versions, SHA-256 of the inputs, build date.
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    #[error(
        "cannot read the golden image descriptor {path}: {source}. Build one with `cargo xtask golden`."
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the golden image descriptor {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the golden disk {0} does not exist. Build it with `cargo xtask golden`.")]
    MissingDisk(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl GoldenImage {
    /// Reads a descriptor and makes its paths absolute.
    pub fn load(descriptor: &Path) -> Result<GoldenImage, GoldenError> {
        let text = std::fs::read_to_string(descriptor).map_err(|source| GoldenError::Read {
            path: descriptor.to_owned(),
            source,
        })?;
        let mut golden: GoldenImage =
            serde_json::from_str(&text).map_err(|source| GoldenError::Parse {
                path: descriptor.to_owned(),
                source,
            })?;
        let base = descriptor.parent().unwrap_or(Path::new("."));
        golden.disk = base.join(&golden.disk);
        if let Some(direct) = golden.direct_kernel.as_mut() {
            direct.kernel = base.join(&direct.kernel);
            direct.initrd = base.join(&direct.initrd);
        }
        if !golden.disk.is_file() {
            return Err(GoldenError::MissingDisk(golden.disk));
        }
        Ok(golden)
    }

    /// Writes the descriptor; the file holds secrets, so only the owner may read it.
    pub fn save(&self, descriptor: &Path) -> Result<(), GoldenError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let write_error = |source| GoldenError::Write {
            path: descriptor.to_owned(),
            source,
        };
        let text = serde_json::to_string_pretty(self).expect("plain data serialises");
        let tmp = descriptor.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(write_error)?;
        file.write_all(text.as_bytes()).map_err(write_error)?;
        std::fs::rename(&tmp, descriptor).map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_resolves_relative_paths_and_debug_hides_secrets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("golden.qcow2"), b"x").unwrap();
        let golden = GoldenImage {
            disk: "golden.qcow2".into(),
            credentials: Credentials {
                admin_username: "admin".into(),
                admin_password: "pw-not-in-logs".into(),
                api_key: Some("s3cret-key".into()),
            },
            direct_kernel: None,
            provenance: BTreeMap::from([("pfsense".into(), "2.8.1".into())]),
        };
        let path = dir.path().join("golden.json");
        golden.save(&path).unwrap();
        let loaded = GoldenImage::load(&path).unwrap();
        assert_eq!(loaded.disk, dir.path().join("golden.qcow2"));
        assert_eq!(loaded.credentials, golden.credentials);
        let shown = format!("{loaded:?}");
        assert!(
            !shown.contains("s3cret-key") && !shown.contains("pw-not-in-logs"),
            "{shown}"
        );
    }

    #[test]
    fn missing_descriptor_and_missing_disk_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let error = GoldenImage::load(&dir.path().join("nope.json")).unwrap_err();
        assert!(error.to_string().contains("cargo xtask golden"), "{error}");
        std::fs::write(dir.path().join("g.json"), r#"{"disk":"gone.qcow2","credentials":{"admin_username":"admin","admin_password":"pfsense"}}"#).unwrap();
        let error = GoldenImage::load(&dir.path().join("g.json")).unwrap_err();
        assert!(matches!(error, GoldenError::MissingDisk(_)), "{error}");
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        assert!(matches!(
            GoldenImage::load(&dir.path().join("bad.json")).unwrap_err(),
            GoldenError::Parse { .. }
        ));
    }
}
