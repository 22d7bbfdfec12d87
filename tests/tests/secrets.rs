//! Issue 13, secrets deny-by-default: the real binary over stdio, a real MCP client that
//! answers approval prompts, and the emulator (or a recorder that echoes secrets back in its
//! error text). Every secret value sent must be absent from the results and prompts the client
//! received, from stderr at trace level, from the audit log and from the journal.

use pfsense_spec::{ArgType, Method, Operation, PathKind};
use serde_json::{Map, Value, json};
use std::path::Path;
use tests::safety::{Human, HumanAnswer, Session, emulator, env_for, spec};

/// The create (and action) tools whose input has a field we treat as secret, by the model
/// they create. Enumerated from the v2.7.1 spec (the test checks this list against it).
const TOOLS_WITH_SECRETS: &[&str] = &[
    // RESTAPIKey: hash, key
    "pfsense_create_auth_key",
    // OutboundNATMapping: source_hash_key
    "pfsense_create_firewall_nat_outbound_mapping",
    // VirtualIP: password (CARP)
    "pfsense_create_firewall_virtual_ip",
    // ACMEAccountKey: accountkey
    "pfsense_create_services_acme_account_key",
    // ACMECertificate: keypaste
    "pfsense_create_services_acme_certificate",
    // ACMECertificateDomain: DNS provider credentials (do_pw, infoblox_creds, …)
    "pfsense_create_services_acme_certificate_domain",
    // BINDSyncRemoteHost: password
    "pfsense_create_services_bind_sync_remote_host",
    // FreeRADIUSClient: secret, naspassword
    "pfsense_create_services_freeradius_client",
    // FreeRADIUSUser: password, motp_secret, motp_pin
    "pfsense_create_services_freeradius_user",
    // HAProxyBackend: stats_password, cookie key
    "pfsense_create_services_haproxy_backend",
    // Certificate: prv
    "pfsense_create_system_certificate",
    // CertificateAuthority: prv
    "pfsense_create_system_certificate_authority",
    // CertificateRevocationListRevokedCertificate: prv (write-only)
    "pfsense_create_system_crl_revoked_certificate",
    // User: password, ipsecpsk
    "pfsense_create_user",
    // AuthServer: ldap_bindpw, radius_secret
    "pfsense_create_user_auth_server",
    // IPsecPhase1: pre_shared_key
    "pfsense_create_vpn_ipsec_phase1",
    // OpenVPNClient: tls, auth_pass, proxy_passwd
    "pfsense_create_vpn_openvpn_client",
    // OpenVPNClientExportConfig: pass, proxypass
    "pfsense_create_vpn_openvpn_client_export_config",
    // OpenVPNServer: tls
    "pfsense_create_vpn_openvpn_server",
    // WireGuardPeer: presharedkey
    "pfsense_create_vpn_wireguard_peer",
    // WireGuardTunnel: privatekey
    "pfsense_create_vpn_wireguard_tunnel",
    // CertificateGenerate: (key inputs)
    "pfsense_post_system_cert_signing_request_sign",
    "pfsense_post_system_certificate_generate",
    // CertificatePKCS12Export: passphrase
    "pfsense_post_system_certificate_pkcs12_export",
    // CertificateSigningRequestSign: prv
    // OpenVPNClientExport: pass, proxypass
    "pfsense_post_vpn_openvpn_client_export",
];

/// The tools the spec says take a secret: POST of one object with a sensitive string field.
fn tools_with_secrets() -> Vec<Operation> {
    spec()
        .operations
        .iter()
        .filter(|o| {
            o.method == Method::Post && matches!(o.path_kind, PathKind::Item | PathKind::Action)
        })
        .filter(|o| o.danger.is_none())
        .filter(|o| o.args.iter().any(|a| a.sensitive && takes_text(&a.ty)))
        .cloned()
        .collect()
}

fn takes_text(ty: &ArgType) -> bool {
    matches!(ty, ArgType::String | ArgType::StringList)
}

/// A plausible value for a required, non-secret field, from its JSON Schema.
fn filler(name: &str, schema: &Value, n: usize) -> Option<Value> {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return Some(first.clone());
    }
    match schema["type"].as_str() {
        Some("string") => Some(json!(match name {
            n if n.contains("interface") || n == "if" => "lan".to_string(),
            n if n.contains("addr") || n.contains("host") || n.contains("server") => {
                "192.0.2.10".to_string()
            }
            n if n.contains("port") => "1194".to_string(),
            _ => format!("t13x{n}"),
        })),
        Some("integer") | Some("number") => Some(schema["minimum"].clone())
            .filter(|m| !m.is_null())
            .or(Some(json!(1))),
        Some("boolean") => Some(json!(false)),
        Some("array") => filler(name, &schema["items"], n).map(|v| json!([v])),
        _ => None,
    }
}

/// Values a field must have the form of, known to the test: WireGuard keys are 32 bytes in
/// base64, an mOTP PIN has at most 4 characters.
const SHAPED: &[(&str, &str)] = &[
    // base64 of "K13-wireguard-private-key-0001!!"
    ("privatekey", "SzEzLXdpcmVndWFyZC1wcml2YXRlLWtleS0wMDAxISE="),
    // base64 of "K13-wireguard-preshared-key-01!!"
    (
        "presharedkey",
        "SzEzLXdpcmVndWFyZC1wcmVzaGFyZWQta2V5LTAxISE=",
    ),
    // exactly 4 characters; pfrest's help says digits but it checks only the length, and a
    // 4-digit PIN turned up by chance in the trace log's numbers (seen: `7391` in stderr.log)
    ("motp_pin", "Q#z~"),
    // pfrest: hex digits only
    ("source_hash_key", "0x13a5e1c0ffee13a5e1c0ffee13a5e1c0"),
];

/// Tools run before the others because later ones refer to what they create: the CA and the
/// certificate (`caref`, `certref`) and the OpenVPN server (`server`, its `vpnid`).
const FIRST: &[&str] = &[
    "pfsense_create_system_certificate_authority",
    "pfsense_create_system_certificate",
    "pfsense_create_vpn_openvpn_server",
];

/// Non-secret fields the emulator checks the form of: a WireGuard peer's public key.
const NOT_SECRET: &[(&str, &str)] = &[
    // base64 of "public-key-of-a-test-peer-000001"
    ("publickey", "cHVibGljLWtleS1vZi1hLXRlc3QtcGVlci0wMDAwMDE="),
];

/// The known secret value sent in `field` of `tool` (number `i`).
fn secret_value(i: usize, tool: &str, field: &str, pki: &Pki) -> String {
    match (tool, field) {
        // pfrest checks that `prv` is a private key matching `crt`
        ("pfsense_create_system_certificate_authority", "prv") => pki.ca_key.clone(),
        ("pfsense_create_system_certificate", "prv") => pki.server_key.clone(),
        // an OpenVPN static key: 16 lines of 32 hex digits between its markers
        (_, "tls") => format!(
            "-----BEGIN OpenVPN Static key V1-----\n{}\n-----END OpenVPN Static key V1-----\n",
            (0..16)
                .map(|l| format!("13a5{i:04x}c0ffee{l:04x}13a5{i:04x}c0ffee{l:04x}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        _ => match SHAPED.iter().find(|(f, _)| *f == field) {
            Some((_, v)) => v.to_string(),
            None => format!("K13s{i:03}-{field}-Qz7"),
        },
    }
}

/// What to look for: the value, and each long line of a multi-line value on its own (JSON text
/// escapes the line breaks, so the whole value would not be found there).
fn needles(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    if secret.contains('\n') {
        out.extend(
            secret
                .lines()
                .filter(|l| l.len() >= 20 && !l.starts_with("-----"))
                .map(str::to_string),
        );
    }
    out
}

/// A CA and a server certificate it signed, made for the test: pfrest checks that `crt` is an
/// X509 certificate and `prv` its key.
struct Pki {
    /// A certificate signing request (for the CSR-signing tool).
    csr: String,
    ca_crt: String,
    ca_key: String,
    server_crt: String,
    server_key: String,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "k13 test CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_crt = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let mut server = rcgen::CertificateParams::new(vec!["k13.example".to_string()]).unwrap();
    server
        .distinguished_name
        .push(rcgen::DnType::CommonName, "k13 server");
    let server_crt = server.signed_by(&server_key, &issuer).unwrap().pem();
    let csr_key = rcgen::KeyPair::generate().unwrap();
    let mut request = rcgen::CertificateParams::new(vec!["csr.k13.example".to_string()]).unwrap();
    request
        .distinguished_name
        .push(rcgen::DnType::CommonName, "csr.k13.example");
    let csr = request.serialize_request(&csr_key).unwrap().pem().unwrap();
    Pki {
        csr,
        ca_crt,
        ca_key: ca_key.serialize_pem(),
        server_crt,
        server_key: server_key.serialize_pem(),
    }
}

/// Non-secret arguments that pfrest's own validation accepts, by tool (tried by hand on the
/// lab: the fillers alone fail its per-model rules). The lab's stand-ins list no OpenVPN
/// ciphers, digests or DH lengths, so only `none` is a valid choice there.
fn known_args(tool: &str, pki: &Pki) -> Value {
    let openvpn = json!({
        "dev_mode": "tun", "protocol": "UDP4", "interface": "wan", "use_tls": true,
        "tls_type": "auth", "data_ciphers": ["none"], "data_ciphers_fallback": "none",
        "digest": "none",
    });
    let with = |mut base: Value, extra: Value| {
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    match tool {
        "pfsense_create_firewall_nat_outbound_mapping" => json!({
            "interface": "wan", "source": "any", "destination": "any",
            "target": "198.51.100.4", "target_subnet": 30, "poolopts": "source-hash",
        }),
        "pfsense_create_firewall_virtual_ip" => json!({
            "mode": "carp", "interface": "lan", "subnet": "192.168.1.250", "subnet_bits": 24,
            "vhid": 5,
        }),
        "pfsense_create_system_certificate_authority" => json!({"crt": pki.ca_crt}),
        "pfsense_create_system_certificate" => json!({"crt": pki.server_crt}),
        "pfsense_create_user_auth_server" => json!({
            "type": "ldap", "host": "192.0.2.20", "ldap_port": "389",
            "ldap_urltype": "Standard TCP", "ldap_protver": 3, "ldap_scope": "one",
            "ldap_basedn": "dc=example,dc=org", "ldap_authcn": "ou=people",
            "ldap_attr_user": "uid", "ldap_attr_group": "cn", "ldap_attr_member": "member",
            "ldap_binddn": "cn=admin", "ldap_timeout": 25,
        }),
        "pfsense_create_vpn_ipsec_phase1" => json!({
            "iketype": "ikev2", "protocol": "inet", "interface": "wan",
            "remote_gateway": "198.51.100.10", "authentication_method": "pre_shared_key",
            "myid_type": "myaddress", "peerid_type": "peeraddress", "lifetime": 28800,
            "encryption": [{"encryption_algorithm_name": "aes", "encryption_algorithm_keylen": 256,
                            "hash_algorithm": "sha256", "dhgroup": 14}],
        }),
        "pfsense_create_vpn_openvpn_server" => with(
            openvpn,
            json!({
                "mode": "server_tls", "local_port": "1194", "dh_length": "none",
                "ecdh_curve": "none", "cert_depth": 1, "tunnel_network": "10.13.0.0/24",
                "topology": "subnet",
            }),
        ),
        "pfsense_create_vpn_openvpn_client" => with(
            openvpn,
            json!({
                "mode": "p2p_tls", "server_addr": "198.51.100.20", "server_port": "1194",
                "auth_user": "k13user", "tunnel_network": "10.14.0.0/24",
            }),
        ),
        "pfsense_post_system_certificate_generate" => json!({
            "keytype": "RSA", "keylen": 2048, "digest_alg": "sha256", "lifetime": 365,
            "dn_commonname": "k13.example", "type": "server",
        }),
        "pfsense_post_vpn_openvpn_client_export" => json!({"type": "confinline"}),
        "pfsense_post_system_cert_signing_request_sign" => json!({
            "csr": pki.csr, "descr": "k13 signed", "digest_alg": "sha256", "lifetime": 365,
            "type": "server",
        }),
        // `keypaste` (the secret) is only taken with a custom key length.
        "pfsense_create_services_acme_certificate" => json!({
            "keylength": "custom",
            "a_domainlist": [{"name": "k13.example", "method": "standalone"}],
        }),
        "pfsense_create_services_acme_certificate_domain" => {
            json!({"name": "www.k13.example", "method": "standalone"})
        }
        _ => json!({}),
    }
}

/// Arguments for `op`: required fields filled, every secret string field set to its known
/// value. Returns the arguments and the secrets.
fn arguments(
    i: usize,
    op: &Operation,
    refs: &Map<String, Value>,
    pki: &Pki,
) -> (Value, Vec<String>) {
    let schema: Value = op.input_schema.clone();
    let mut args = Map::new();
    let mut secrets = Vec::new();
    let known = known_args(&op.tool_name, pki);
    for arg in &op.args {
        let prop = &schema["properties"][&arg.name];
        if arg.sensitive && takes_text(&arg.ty) {
            let v = secret_value(i, &op.tool_name, &arg.name, pki);
            secrets.push(v.clone());
            args.insert(
                arg.name.clone(),
                if matches!(arg.ty, ArgType::StringList) {
                    json!([v])
                } else {
                    json!(v)
                },
            );
        } else if let Some(v) = refs.get(&arg.name) {
            args.insert(arg.name.clone(), v.clone());
        } else if let Some(v) = known.get(&arg.name) {
            args.insert(arg.name.clone(), v.clone());
        } else if let Some((_, v)) = NOT_SECRET.iter().find(|(f, _)| *f == arg.name) {
            args.insert(arg.name.clone(), json!(v));
        } else if arg.required
            && let Some(v) = filler(&arg.name, prop, i)
        {
            args.insert(arg.name.clone(), v);
        }
    }
    (Value::Object(args), secrets)
}

/// Every file in `dir` (audit log, journal and its WAL, stderr) as lossy text.
fn files_text(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).to_string(),
            )
        })
        .collect()
}

async fn start(env: Vec<(String, String)>, dir: &Path, human: Human) -> Session {
    let mut env = env;
    env.push(("PFSENSE_LOG".into(), "trace".into()));
    Session::start_in(dir, &env, human).await
}

#[tokio::test]
async fn no_secret_sent_to_any_create_tool_comes_back_or_is_stored() {
    let emu = emulator().await;
    let mut env = env_for(&emu);
    // Creating an API key takes Basic authentication.
    env.push(("PFSENSE_USERNAME".into(), "admin".into()));
    env.push(("PFSENSE_PASSWORD".into(), "pfsense".into()));
    // Every package is installed in the emulator: all 25 object types are created (measured),
    // the ACME certificate's domain and the revoked certificate under their parents.
    no_secret_comes_back_or_is_stored(env, 25).await;
}

/// The same against pfrest's own code, on each release the lab runs. The lab runs pfrest's models
/// but not the add-on packages (ACME, BIND, FreeRADIUS, HAProxy), and pfrest's own validation
/// refuses some of the test's filler values: the floor is what was measured.
async fn no_secret_sent_to_any_create_tool_comes_back_or_is_stored_on_the_lab(version: &str) {
    let Some(lab) = tests::lab::start(version) else {
        return;
    };
    no_secret_comes_back_or_is_stored(lab.env(), LAB_FLOOR).await;
}

/// Creates that succeed on the lab (v2.7.1), measured: 20 of 25. The other five are gaps of
/// the lab's stand-ins, not of pfrest: an ACME account key (HTTP 500 in pfrest's
/// ACMEAccountKey: the ACME package's server list is absent), so neither the ACME certificate
/// nor its domain has its parent; a CRL (pfSense's `crl_update` needs an X509 CRL library the
/// sources directory does not hold), so the revoked certificate has no parent; and the OpenVPN
/// client export (HTTP 500 "for unknown reason": the lab stands in for the tools it runs).
const LAB_FLOOR: usize = 20;

/// Create every object type with a secret field (a preview, then the confirmed call) through
/// the binary pointed at `env`, and look for each secret value sent in every message to the
/// client, stderr at trace level, the audit log and the journal. At least `floor` creates must
/// succeed, so the secrets went through results and the journal, not only through refusals.
async fn no_secret_comes_back_or_is_stored(env: Vec<(String, String)>, floor: usize) {
    let ops = tools_with_secrets();
    let names: Vec<&str> = ops.iter().map(|o| o.tool_name.as_str()).collect();
    assert_eq!(
        names, TOOLS_WITH_SECRETS,
        "the tools that take a secret changed: update TOOLS_WITH_SECRETS"
    );
    let dir = tempfile::tempdir().unwrap();
    let human = Human::new(true, HumanAnswer::Accept);
    let s = start(env, dir.path(), human.clone()).await;
    let mut shown = Vec::new();
    let mut all_secrets = Vec::new();
    let mut created = 0;
    // References to objects made earlier in the run: a CA's and a certificate's refid.
    let mut refs = Map::new();
    let pki = pki();
    let mut outcomes = Vec::new();
    let mut ordered: Vec<&Operation> = FIRST
        .iter()
        .filter_map(|t| ops.iter().find(|o| o.tool_name == *t))
        .collect();
    ordered.extend(
        ops.iter()
            .filter(|o| !FIRST.contains(&o.tool_name.as_str())),
    );
    for (i, op) in ordered.into_iter().enumerate() {
        if op.tool_name == "pfsense_create_system_crl_revoked_certificate" {
            // A revoked certificate is nested under a CRL of the test CA (no secret of its own).
            let crl = s
                .call(
                    "pfsense_create_system_crl",
                    json!({"caref": refs.get("caref"), "descr": "k13 CRL", "method": "internal",
                           "confirm": true}),
                )
                .await;
            if crl.is_error.unwrap_or(false) {
                outcomes.push(format!(
                    "pfsense_create_system_crl (the parent) refused: {}",
                    tests::mcp::text(&crl).chars().take(300).collect::<String>()
                ));
            }
            let id = crl
                .structured_content
                .as_ref()
                .map(|c| c["data"]["id"].clone())
                .unwrap_or(Value::Null);
            refs.insert("parent_id".into(), id);
        }
        let (args, secrets) = arguments(i, op, &refs, &pki);
        all_secrets.extend(secrets);
        // A preview first, then the change itself.
        let preview = s.call(&op.tool_name, args.clone()).await;
        shown.push(serde_json::to_string(&preview).unwrap());
        let mut confirmed = args;
        confirmed["confirm"] = json!(true);
        let done = s.call(&op.tool_name, confirmed).await;
        if done.is_error.unwrap_or(false) {
            outcomes.push(format!(
                "{} refused: {}",
                op.tool_name,
                tests::mcp::text(&done)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        } else {
            outcomes.push(format!("{} created", op.tool_name));
            created += 1;
            let data = done
                .structured_content
                .as_ref()
                .map(|c| c["data"].clone())
                .unwrap_or(Value::Null);
            let refid = data["refid"].clone();
            match op.tool_name.as_str() {
                "pfsense_create_system_certificate_authority" => {
                    refs.insert("caref".into(), refid);
                }
                "pfsense_create_system_certificate" => {
                    refs.insert("certref".into(), refid);
                }
                "pfsense_create_vpn_openvpn_server" => {
                    refs.insert("server".into(), data["vpnid"].clone());
                }
                "pfsense_create_services_acme_account_key" => {
                    refs.insert("acmeaccount".into(), data["name"].clone());
                }
                // The next tool, the certificate's domain, is nested under it.
                "pfsense_create_services_acme_certificate" => {
                    refs.insert("parent_id".into(), data["id"].clone());
                }
                _ => {}
            }
        }
        shown.push(serde_json::to_string(&done).unwrap());
    }
    shown.extend(human.asked());
    s.close().await;
    eprintln!(
        "{created} of {} creates succeeded:\n{}",
        ops.len(),
        outcomes.join("\n")
    );
    assert!(
        created >= floor,
        "fewer creates succeeded than measured: {created} of {}, measured {floor}",
        ops.len()
    );
    let mut places: Vec<(String, String)> = shown
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("message {i} to the client"), t))
        .collect();
    places.extend(files_text(dir.path()));
    assert!(
        places
            .iter()
            .any(|(n, t)| n == "stderr.log" && t.contains("TRACE")),
        "stderr was not at trace level"
    );
    assert!(places.iter().any(|(n, _)| n == "audit.jsonl"));
    assert!(places.iter().any(|(n, _)| n.starts_with("journal.sqlite")));
    let mut leaks = Vec::new();
    for secret in &all_secrets {
        for needle in needles(secret) {
            for (place, text) in &places {
                if text.contains(needle.as_str()) {
                    leaks.push(format!("{needle} in {place}"));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked: {leaks:#?}");
}

/// A firewall that echoes the request in its error text (the envelope's `message`, an HTML
/// error page): the secret is scrubbed from the result, the audit log, the journal and logs.
#[tokio::test]
async fn secrets_echoed_in_a_firewalls_error_text_are_scrubbed() {
    use tests::recorder::{Answer, Recorder};
    let bind_pw = "Echoed-ldap-bind-pw-0042";
    let user_pw = "Echoed-user-password-0043";
    // pfrest's messages turn a value's quotes into backticks.
    let psk = r#"Echoed-"quoted"-psk-0044"#;
    let rec = Recorder::start().await;
    rec.answer(
        "POST",
        "/api/v2/user/auth_server",
        Answer::envelope(
            400,
            "AUTH_SERVER_BIND_FAILED",
            &format!("Could not bind to the LDAP server with password `{bind_pw}`."),
            json!({"ldap_bindpw": bind_pw}),
        ),
    );
    rec.answer(
        "POST",
        "/api/v2/user",
        Answer::raw(
            500,
            "text/html",
            format!("<html><body><h1>Fatal error</h1><pre>{{\"name\":\"u13\",\"password\":\"{user_pw}\"}}</pre></body></html>"),
        ),
    );
    rec.answer(
        "POST",
        "/api/v2/vpn/ipsec/phase1",
        Answer::envelope(
            400,
            "FIELD_INVALID_CHOICE",
            &format!(
                "Field `pre_shared_key` value `{}` is not valid.",
                psk.replace('"', "`")
            ),
            json!([]),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("PFSENSE_HOST".to_string(), rec.url()),
        (
            "PFSENSE_API_KEY".to_string(),
            "0123456789abcdef0123456789abcdef0123456789abcdef".to_string(),
        ),
    ];
    let s = start(env, dir.path(), Human::new(false, HumanAnswer::Accept)).await;
    let bind = s
        .call(
            "pfsense_create_user_auth_server",
            json!({"name": "ldap13", "type": "ldap", "host": "192.0.2.20", "ldap_bindpw": bind_pw, "confirm": true}),
        )
        .await;
    let user = s
        .call(
            "pfsense_create_user",
            json!({"name": "u13", "password": user_pw, "confirm": true}),
        )
        .await;
    let phase1 = s
        .call(
            "pfsense_create_vpn_ipsec_phase1",
            json!({"iketype": "ikev2", "protocol": "inet", "interface": "wan",
                "remote_gateway": "192.0.2.30", "authentication_method": "pre_shared_key",
                "myid_type": "myaddress", "peerid_type": "peeraddress",
                "pre_shared_key": psk, "encryption": [{"encryption_algorithm_name": "aes",
                "encryption_algorithm_keylen": 256, "hash_algorithm": "sha256", "dhgroup": 14}],
                "confirm": true}),
        )
        .await;
    s.close().await;
    let sent: Vec<String> = rec
        .requests()
        .into_iter()
        .filter(|q| q.method == "POST")
        .map(|q| String::from_utf8_lossy(&q.body).to_string())
        .collect();
    assert!(
        sent.iter().any(|b| b.contains(bind_pw)) && sent.iter().any(|b| b.contains(user_pw)),
        "the secrets reached the firewall: {sent:?}"
    );
    let mut places = vec![
        (
            "auth server result".to_string(),
            serde_json::to_string(&bind).unwrap(),
        ),
        (
            "user result".to_string(),
            serde_json::to_string(&user).unwrap(),
        ),
        (
            "phase 1 result".to_string(),
            serde_json::to_string(&phase1).unwrap(),
        ),
    ];
    for (name, text) in &places {
        assert!(
            text.contains("<redacted>"),
            "{name} shows the echo, scrubbed: {text}"
        );
    }
    places.extend(files_text(dir.path()));
    for (place, text) in &places {
        for secret in [bind_pw, user_pw, &psk.replace('"', "`")] {
            assert!(!text.contains(secret), "{secret} in {place}: {text}");
        }
    }
}

tests::on_every_release!(
    #[tokio::test]
    no_secret_sent_to_any_create_tool_comes_back_or_is_stored_on_the_lab,
);

/// A query filter on a secret field with an operator (`ldap_bindpw__contains`, pfrest's
/// `field__op`) is a secret too: absent from the preview, the result, the audit log, the
/// journal and the trace log, for a read and a bulk delete.
#[tokio::test]
async fn secret_query_filters_with_an_operator_are_redacted() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        env_for(&emu),
        dir.path(),
        Human::new(false, HumanAnswer::Accept),
    )
    .await;
    let secret = "Filter-bind-pw-0045";
    let mut results = Vec::new();
    for (tool, args) in [
        (
            "pfsense_list_user_auth_servers",
            json!({"query": {"ldap_bindpw__contains": secret}}),
        ),
        (
            "pfsense_delete_user_auth_servers",
            json!({"query": {"ldap_bindpw__regex": secret}}),
        ),
        (
            "pfsense_delete_user_auth_servers",
            json!({"query": {"ldap_bindpw__startswith": secret}, "confirm": true}),
        ),
    ] {
        let r = s.call(tool, args).await;
        results.push((tool.to_string(), serde_json::to_string(&r).unwrap()));
    }
    s.close().await;
    assert!(
        emu.requests()
            .iter()
            .any(|q| q.method == "DELETE" && q.query.contains(secret)),
        "the filter reached the firewall: {:?}",
        emu.requests()
    );
    results.extend(files_text(dir.path()));
    for (place, text) in &results {
        assert!(!text.contains(secret), "{secret} in {place}: {text}");
    }
}

/// Objects sent as their JSON text (`"objects": "[{…}]"`, a common slip of models) are
/// refused, and the secret fields inside the text stay out of the answer, the audit log, the
/// journal and stderr.
#[tokio::test]
async fn secrets_inside_json_text_arguments_are_not_echoed_or_stored() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        env_for(&emu),
        dir.path(),
        Human::new(false, HumanAnswer::Accept),
    )
    .await;
    let (key, password) = ("Leak-wg-privkey-0071", "Leak-user-pw-0072");
    let calls = [
        (
            "pfsense_replace_vpn_wireguard_tunnels",
            json!({"objects": format!("[{{\"name\":\"tun_wg0\",\"privatekey\":\"{key}\"}}]"), "confirm": true}),
        ),
        (
            "pfsense_call",
            json!({"name": "pfsense_create_user", "arguments": format!("{{\"name\":\"u\",\"password\":\"{password}\"}}")}),
        ),
    ];
    let mut results = Vec::new();
    for (tool, args) in calls {
        let r = s.call(tool, args).await;
        assert!(r.is_error.unwrap_or(false), "{r:?}");
        let t = tests::mcp::text(&r);
        assert!(
            t.contains("not its JSON text"),
            "the hint says what to send: {t}"
        );
        results.push((tool.to_string(), serde_json::to_string(&r).unwrap()));
    }
    s.close().await;
    results.extend(files_text(dir.path()));
    assert!(
        results.iter().any(|(place, _)| place.contains("audit")),
        "{results:?}"
    );
    for secret in [key, password] {
        for (place, text) in &results {
            assert!(!text.contains(secret), "{secret} in {place}: {text}");
        }
    }
}

/// A weak secret (a word such as `firewall`) is scrubbed where it stands as a word of its own,
/// not inside tool names, API paths and the journal's undo steps: after a user is created
/// with the password `firewall`, a rule is made, named and undone as usual.
#[tokio::test]
async fn a_weak_password_does_not_garble_tool_names_paths_or_undo() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        env_for(&emu),
        dir.path(),
        Human::new(false, HumanAnswer::Accept),
    )
    .await;
    s.ok(
        "pfsense_create_user",
        json!({"name": "op2", "password": "firewall", "confirm": true}),
    )
    .await;
    let r = s
        .call(
            "pfsense_create_firewall_rule",
            json!({"type": "pass", "interface": ["lan"], "ipprotocol": "inet",
                "source": "192.168.1.5", "destination": "any", "descr": "weak secret test",
                "confirm": true}),
        )
        .await;
    assert!(
        tests::mcp::text(&r).contains("pfsense_firewall_apply"),
        "{}",
        tests::mcp::text(&r)
    );
    let undone = s
        .call("pfsense_undo", json!({"last": 1, "confirm": true}))
        .await;
    assert!(
        !undone.is_error.unwrap_or(false),
        "{}",
        tests::mcp::text(&undone)
    );
    s.close().await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap_or_default();
    assert!(
        audit.contains("\"tool\":\"pfsense_create_firewall_rule\"")
            && audit.contains("/api/v2/firewall/rule"),
        "{audit}"
    );
    for (place, text) in files_text(dir.path()) {
        assert!(
            !text.contains("\"password\":\"firewall\""),
            "{place}: {text}"
        );
    }
}
