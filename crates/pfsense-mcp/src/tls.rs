//! TLS for the firewall connection: system roots, a CA file, a pinned certificate fingerprint,
//! or (explicitly) no verification. Uses the `ring` provider.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How the firewall's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Verify against the system's roots, or only against `ca_file` when given.
    Verify { ca_file: Option<PathBuf> },
    /// Accept exactly the certificate with this SHA-256 (of its DER encoding), whatever its
    /// issuer or names: the way to trust pfSense's self-signed certificate.
    Pinned([u8; 32]),
    /// Accept any certificate. Only with an explicit `--insecure`.
    Insecure,
}

/// Parse `sha256:AB:CD:…` / `sha256:abcd…` / bare hex into 32 bytes.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let trimmed = s.trim();
    let hex_part = trimmed
        .strip_prefix("sha256:")
        .or_else(|| trimmed.strip_prefix("SHA256:"))
        .unwrap_or(trimmed);
    let cleaned: String = hex_part.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&cleaned).map_err(|_| {
        format!("`{s}` is not a SHA-256 fingerprint: expected sha256: followed by 64 hex digits (colons allowed)")
    })?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "`{s}` has {} bytes; a SHA-256 fingerprint has 32 (64 hex digits)",
            b.len()
        )
    })
}

/// `sha256:<lowercase hex>` of a DER certificate.
pub fn fingerprint_of(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A configuration for a client that never makes a TLS connection (an `http://` firewall): no
/// roots, so nothing is read from the system store.
pub fn unused_config() -> Result<rustls::ClientConfig, String> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

/// Build the rustls client configuration for a mode.
pub fn client_config(mode: &TlsMode) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let config = match mode {
        TlsMode::Verify { ca_file } => {
            let mut roots = rustls::RootCertStore::empty();
            match ca_file {
                Some(path) => {
                    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
                        .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("CA file {} is not valid PEM: {e}", path.display()))?;
                    if certs.is_empty() {
                        return Err(format!(
                            "CA file {} holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)",
                            path.display()
                        ));
                    }
                    for c in certs {
                        roots
                            .add(c)
                            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
                    }
                }
                None => {
                    let loaded = rustls_native_certs::load_native_certs();
                    for c in loaded.certs {
                        let _ = roots.add(c);
                    }
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsMode::Pinned(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin: *pin,
                algorithms: provider.signature_verification_algorithms,
                accept_any: false,
                seen: None,
            }))
            .with_no_client_auth(),
        TlsMode::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin: [0; 32],
                algorithms: provider.signature_verification_algorithms,
                accept_any: true,
                seen: None,
            }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// A configuration that accepts any certificate and writes the leaf's fingerprint into `seen`:
/// for `doctor`, which shows the certificate before judging it.
pub fn observing_config(seen: Arc<Mutex<Option<String>>>) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin: [0; 32],
                algorithms: provider.signature_verification_algorithms,
                accept_any: true,
                seen: Some(seen),
            }))
            .with_no_client_auth(),
    )
}

/// Accepts the one certificate whose SHA-256 matches (or any, in insecure mode), and still
/// checks that the server holds its key (handshake signatures are verified).
#[derive(Debug)]
struct PinnedVerifier {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
    accept_any: bool,
    /// Where to note the fingerprint of the certificate presented (doctor).
    seen: Option<Arc<Mutex<Option<String>>>>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(mut seen) = self.seen.as_ref().and_then(|s| s.lock().ok()) {
            *seen = Some(fingerprint_of(end_entity.as_ref()));
        }
        if self.accept_any {
            return Ok(ServerCertVerified::assertion());
        }
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint {} does not match the pinned sha256:{}",
                fingerprint_of(end_entity.as_ref()),
                hex::encode(self.pin)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_common_spellings() {
        let hex64 = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(
            parse_fingerprint(&format!("sha256:{hex64}")).unwrap(),
            [0xab; 32]
        );
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{colons}")).unwrap(),
            [0xab; 32]
        );
        assert_eq!(parse_fingerprint(&hex64).unwrap(), [0xab; 32]);
        assert!(parse_fingerprint("sha256:abcd").unwrap_err().contains("32"));
        assert!(parse_fingerprint("sha256:zz").is_err());
    }
}
