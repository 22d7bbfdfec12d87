//! Downloads for the golden-image build: progress on stderr, SHA-256 recorded on first download
//! and verified whenever the file is used again.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Recorded {
    pub url: String,
    pub sha256: String,
    pub bytes: u64,
}

/// `downloads.json`: file name → what was downloaded.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub files: BTreeMap<String, Recorded>,
}

impl Ledger {
    pub fn load(path: &Path) -> Result<Ledger, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ledger::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).expect("plain data serialises");
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Returns `dir/NAME` for `url`, downloading it unless a copy whose SHA-256 matches the ledger
/// is already there. A copy that does not match is an error (never silently replaced).
pub fn fetch(url: &str, dir: &Path, ledger_path: &Path) -> Result<PathBuf, String> {
    let name = url
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("cannot name a file after {url}"))?;
    let dest = dir.join(name);
    let mut ledger = Ledger::load(ledger_path)?;
    if dest.is_file()
        && let Some(record) = ledger.files.get(name)
    {
        let actual = sha256_file(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        if actual != record.sha256 {
            return Err(format!(
                "{} has SHA-256 {actual} but {} was recorded when it was downloaded from {}; \
                     delete it to download it again",
                dest.display(),
                record.sha256,
                record.url
            ));
        }
        tracing::info!(file = %dest.display(), sha256 = %actual, "re-using verified download");
        return Ok(dest);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (sha256, bytes) = download(url, &dest)?;
    tracing::info!(file = %dest.display(), %sha256, bytes, "downloaded");
    ledger.files.insert(
        name.to_owned(),
        Recorded {
            url: url.to_owned(),
            sha256,
            bytes,
        },
    );
    ledger.save(ledger_path)?;
    Ok(dest)
}

/// Streams `url` into `dest` (through a `.part` file), printing progress to stderr.
pub fn download(url: &str, dest: &Path) -> Result<(String, u64), String> {
    crate::install_ring_provider();
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        // The blocking client has no per-read timeout; bound the whole transfer instead.
        .timeout(Duration::from_secs(45 * 60))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut response = client
        .get(url)
        .send()
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("downloading {url}: {e}"))?;
    let total = response.content_length();
    let part = dest.with_extension("part");
    let mut file = std::fs::File::create(&part).map_err(|e| format!("{}: {e}", part.display()))?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut done: u64 = 0;
    let mut last_report = Instant::now();
    loop {
        let n = response
            .read(&mut chunk)
            .map_err(|e| format!("downloading {url}: {e}"))?;
        if n == 0 {
            break;
        }
        file.write_all(&chunk[..n])
            .map_err(|e| format!("{}: {e}", part.display()))?;
        hasher.update(&chunk[..n]);
        done += n as u64;
        if last_report.elapsed() > Duration::from_millis(500) {
            last_report = Instant::now();
            match total {
                Some(total) if total > 0 => eprint!(
                    "\r  {:>5.1}%  {} / {} MiB   ",
                    done as f64 * 100.0 / total as f64,
                    done >> 20,
                    total >> 20
                ),
                _ => eprint!("\r  {} MiB   ", done >> 20),
            }
        }
    }
    eprintln!("\r  {} MiB done          ", done >> 20);
    file.flush()
        .map_err(|e| format!("{}: {e}", part.display()))?;
    if let Some(total) = total
        && total != done
    {
        return Err(format!("{url}: got {done} of {total} bytes"));
    }
    std::fs::rename(&part, dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    Ok((format!("{:x}", hasher.finalize()), done))
}

/// Decompresses a `.gz` file (the memstick image) next to it.
pub fn gunzip(src: &Path, dest: &Path) -> Result<(), String> {
    let input = std::fs::File::open(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let mut decoder = flate2::read::GzDecoder::new(std::io::BufReader::new(input));
    let part = dest.with_extension("part");
    let mut output =
        std::fs::File::create(&part).map_err(|e| format!("{}: {e}", part.display()))?;
    std::io::copy(&mut decoder, &mut output)
        .map_err(|e| format!("decompressing {}: {e}", src.display()))?;
    std::fs::rename(&part, dest).map_err(|e| format!("{}: {e}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one file once over HTTP on loopback.
    fn serve_once(body: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        format!("http://127.0.0.1:{port}/image.img.gz")
    }

    #[test]
    fn download_records_sha_and_reuse_verifies_it() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("downloads.json");
        let url = serve_once(b"memstick bytes");
        let path = fetch(&url, dir.path(), &ledger).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"memstick bytes");
        let recorded = Ledger::load(&ledger).unwrap();
        let record = &recorded.files["image.img.gz"];
        assert_eq!(record.sha256, sha256_file(&path).unwrap());
        // Re-use without any server: verified from the ledger.
        assert_eq!(fetch(&url, dir.path(), &ledger).unwrap(), path);
        // A changed file is refused.
        std::fs::write(&path, b"tampered").unwrap();
        let error = fetch(&url, dir.path(), &ledger).unwrap_err();
        assert!(
            error.contains("SHA-256") && error.contains("delete it"),
            "{error}"
        );
    }

    #[test]
    fn refused_connection_fails_fast() {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let error =
            download(&format!("http://127.0.0.1:{port}/x"), &dir.path().join("x")).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(error.contains("downloading"), "{error}");
    }
}
