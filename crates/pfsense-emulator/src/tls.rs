//! The self-signed certificate made at start and its pinning fingerprint.

use anyhow::Context;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A freshly generated server identity.
pub struct ServerIdentity {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// `sha256:<lowercase hex of the DER certificate's SHA-256>`: what clients pin.
    pub fingerprint: String,
}

/// ECDSA P-256 keeps start-up fast (an RSA key would take far longer to generate).
pub fn make_identity(hostnames: &[String]) -> anyhow::Result<ServerIdentity> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the TLS key")?;
    let mut params =
        rcgen::CertificateParams::new(hostnames.to_vec()).context("certificate parameters")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pfSense-emulator");
    params.distinguished_name.push(
        rcgen::DnType::OrganizationName,
        "pfsense-emulator (self-signed)",
    );
    let cert = params
        .self_signed(&key)
        .context("self-signing the certificate")?;
    let der = cert.der().clone();
    let fingerprint = format!("sha256:{}", hex::encode(Sha256::digest(der.as_ref())));
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(vec![der], key_der)
        .context("TLS server configuration")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerIdentity {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        fingerprint,
    })
}
