//! Certificates and CAs: expiry, self-signed, weak keys and signatures, read from the PEM in
//! `crt` (every REST API version) or `valid_until` (v2.8.0 and later).

use super::access::EXPIRY_WARNING_DAYS;
use super::refs::*;
use super::util::*;
use super::{Check, Outcome};
use crate::model::{Area, Fix, Severity};
use crate::snapshot::*;
use serde_json::{Value, json};
use x509_parser::public_key::PublicKey;

/// RSA keys shorter than this are weak (NIST SP 800-131A: 2048 bits since 2014).
const MIN_RSA_BITS: usize = 2048;
/// Signature algorithms no longer accepted: md5WithRSA, sha1WithRSA, ecdsa-with-SHA1, dsa-with-sha1.
const WEAK_SIGNATURES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10040.4.3", "dsa-with-sha1"),
];

#[derive(Clone, Debug)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub self_signed: bool,
    /// Unix seconds.
    pub not_after: i64,
    pub rsa_bits: Option<usize>,
    pub weak_signature: Option<&'static str>,
}

/// Parses a certificate object's `crt` (PEM).
pub fn inspect(cert: &Value) -> Result<CertInfo, Unknown> {
    let label = text(cert, "descr");
    let crt = text(cert, "crt");
    if crt.is_empty() {
        return Err(Unknown(format!(
            "certificate \"{label}\" has no `crt` in the API answer"
        )));
    }
    let (_, pem) = x509_parser::pem::parse_x509_pem(crt.as_bytes())
        .map_err(|e| Unknown(format!("certificate \"{label}\": `crt` is not PEM ({e})")))?;
    let x509 = pem.parse_x509().map_err(|e| {
        Unknown(format!(
            "certificate \"{label}\": `crt` is not an X.509 certificate ({e})"
        ))
    })?;
    let rsa_bits = match x509.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(rsa.key_size()),
        _ => None,
    };
    let oid = x509.signature_algorithm.algorithm.to_id_string();
    let weak_signature = WEAK_SIGNATURES
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, name)| *name);
    Ok(CertInfo {
        subject: x509.subject().to_string(),
        issuer: x509.issuer().to_string(),
        self_signed: x509.subject().as_raw() == x509.issuer().as_raw(),
        not_after: x509.validity().not_after.timestamp(),
        rsa_bits,
        weak_signature,
    })
}

/// When a certificate object expires: from its PEM, else from `valid_until` (v2.8+).
fn expiry(cert: &Value) -> Result<i64, Unknown> {
    match inspect(cert) {
        Ok(info) => Ok(info.not_after),
        Err(why) => parse_ymd_hms(text(cert, "valid_until")).ok_or(why),
    }
}

/// Certificates and CAs, each with the endpoint it came from.
fn all_certs(s: &Snapshot) -> Result<Vec<(&'static str, &Value)>, Unknown> {
    let mut out: Vec<(&'static str, &Value)> = s
        .list(CERTIFICATES)?
        .iter()
        .map(|c| (CERTIFICATES, c))
        .collect();
    out.extend(
        s.list(CERTIFICATE_AUTHORITIES)?
            .iter()
            .map(|c| (CERTIFICATE_AUTHORITIES, c)),
    );
    Ok(out)
}

fn cert_label(endpoint: &str, cert: &Value) -> String {
    let kind = if endpoint == CERTIFICATE_AUTHORITIES {
        "CA"
    } else {
        "certificate"
    };
    format!(
        "{kind} \"{}\" ({})",
        text(cert, "descr"),
        text(cert, "refid")
    )
}

pub const CERTS_EXPIRING: Check = Check {
    id: "PFS-CERT-001",
    title: "Certificates or CAs expired or expiring within 30 days",
    area: Area::Certificates,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Renew or replace the certificates (and whatever uses them: webGUI, VPNs, RADIUS).",
        tool: Some("pfsense_update_system_certificate"),
        arguments: Some("renew in the GUI, or create a new certificate and point its users at it"),
        gui: "System > Certificates > Certificates",
    },
    references: &[NG_CERTS, BSI_A4],
    run: |s| {
        let mut e = Vec::new();
        let mut unreadable = Vec::new();
        let certs = all_certs(s)?;
        for (endpoint, c) in &certs {
            match expiry(c) {
                Ok(t) => {
                    let days = (t - s.taken_at_unix).div_euclid(86_400);
                    if days < EXPIRY_WARNING_DAYS {
                        e.push(ev(
                            endpoint,
                            cert_label(endpoint, c),
                            "valid_until",
                            json!(format!("{} ({days} days)", format_date(t))),
                        ));
                    }
                }
                Err(Unknown(why)) => unreadable.push(why),
            }
        }
        if !e.is_empty() {
            return Ok(Outcome::fail(
                format!("{} certificate(s) expired or expiring soon", e.len()),
                e,
            ));
        }
        if !unreadable.is_empty() {
            return Err(Unknown(unreadable.join("; ")));
        }
        Ok(Outcome::pass(
            format!(
                "all {} certificates and CAs are valid for at least {EXPIRY_WARNING_DAYS} days",
                certs.len()
            ),
            e,
        ))
    },
};

pub const CERTS_WEAK: Check = Check {
    id: "PFS-CERT-002",
    title: "Certificates with weak keys or signatures",
    area: Area::Certificates,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Reissue with RSA 2048+ (or ECDSA) keys and SHA-256 signatures.",
        tool: Some("pfsense_create_system_certificate"),
        arguments: Some("{\"keylen\": 2048, \"digest_alg\": \"sha256\", ...}"),
        gui: "System > Certificates > Certificates > Add/Sign",
    },
    references: &[NG_CERTS, BSI_A4],
    run: |s| {
        let mut e = Vec::new();
        let mut unreadable = Vec::new();
        for (endpoint, c) in all_certs(s)? {
            match inspect(c) {
                Ok(info) => {
                    if let Some(bits) = info.rsa_bits.filter(|b| *b < MIN_RSA_BITS) {
                        e.push(ev(
                            endpoint,
                            cert_label(endpoint, c),
                            "crt.rsa_bits",
                            json!(bits),
                        ));
                    }
                    if let Some(sig) = info.weak_signature {
                        e.push(ev(
                            endpoint,
                            cert_label(endpoint, c),
                            "crt.signature_algorithm",
                            json!(sig),
                        ));
                    }
                }
                Err(Unknown(why)) => unreadable.push(why),
            }
        }
        if !e.is_empty() {
            return Ok(Outcome::fail(
                format!("{} weak key(s) or signature(s)", e.len()),
                e,
            ));
        }
        if !unreadable.is_empty() {
            return Err(Unknown(unreadable.join("; ")));
        }
        Ok(Outcome::pass(
            "every certificate has an RSA key of 2048+ bits (or a non-RSA key) and a SHA-2 signature",
            e,
        ))
    },
};
