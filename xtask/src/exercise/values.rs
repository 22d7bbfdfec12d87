//! Argument synthesis: a valid value for every property of a tool's input schema, from the
//! schema itself plus tables of values that are *semantically* valid on a real firewall
//! (addresses, networks, ports, interface names, MACs, keys). Values that point at other
//! objects (certificate refids, gateway names, parent ids, …) come from `DEPENDENCIES`: the
//! exerciser creates the referenced object first and passes its value in as an override.

use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Where a value that references another object comes from.
#[derive(Debug, Clone, Copy)]
pub enum Dep {
    /// A field of a shared instance of `model` (created once, reused).
    Field(&'static str, &'static str),
    /// A field of a fresh instance of `model`, created for this one call (the reference must not
    /// be shared, e.g. one DHCP server per interface).
    FreshField(&'static str, &'static str),
    /// The current id of a shared instance of `model`.
    Id(&'static str),
}

/// Arguments that reference other objects: (model of the tool, argument path, where the value
/// comes from). A path `a.b` means field `b` of every object in list `a`.
pub const DEPENDENCIES: &[(&str, &str, Dep)] = &[
    // Certificates and CRLs are signed by a CA: `caref` is the CA's refid.
    (
        "CertificateGenerate",
        "caref",
        Dep::Field("CertificateAuthority", "refid"),
    ),
    (
        "CertificateRevocationList",
        "caref",
        Dep::Field("CertificateAuthority", "refid"),
    ),
    (
        "CertificateAuthorityRenew",
        "caref",
        Dep::Field("CertificateAuthority", "refid"),
    ),
    (
        "CertificateSigningRequestSign",
        "caref",
        Dep::Field("CertificateAuthority", "refid"),
    ),
    // Signing needs a pending request made by the CSR action.
    (
        "CertificateSigningRequestSign",
        "csr",
        Dep::FreshField("CertificateSigningRequest", "csr"),
    ),
    (
        "CertificateRenew",
        "certref",
        Dep::Field("Certificate", "refid"),
    ),
    (
        "CertificatePKCS12Export",
        "certref",
        Dep::Field("Certificate", "refid"),
    ),
    // A revoked-certificate entry names the certificate it revokes.
    (
        "CertificateRevocationListRevokedCertificate",
        "certref",
        Dep::Field("Certificate", "refid"),
    ),
    (
        "OpenVPNServer",
        "caref",
        Dep::Field("CertificateAuthority", "refid"),
    ),
    (
        "OpenVPNServer",
        "certref",
        Dep::Field("Certificate", "refid"),
    ),
    (
        "OpenVPNClient",
        "caref",
        Dep::Field("CertificateAuthority", "refid"),
    ),
    (
        "OpenVPNClient",
        "certref",
        Dep::Field("Certificate", "refid"),
    ),
    // Client exports belong to an OpenVPN server, addressed by its `vpnid`.
    (
        "OpenVPNClientExportConfig",
        "server",
        Dep::Field("OpenVPNServer", "vpnid"),
    ),
    (
        "OpenVPNClientExport",
        "server",
        Dep::Field("OpenVPNServer", "vpnid"),
    ),
    (
        "OpenVPNClientExport",
        "id",
        Dep::Id("OpenVPNClientExportConfig"),
    ),
    (
        "OpenVPNClientExport",
        "certref",
        Dep::Field("Certificate", "refid"),
    ),
    (
        "HAProxyFrontendCertificate",
        "ssl_certificate",
        Dep::Field("Certificate", "refid"),
    ),
    // Routes and gateway groups name a gateway.
    (
        "StaticRoute",
        "gateway",
        Dep::Field("RoutingGateway", "name"),
    ),
    (
        "RoutingGatewayGroup",
        "priorities.gateway",
        Dep::Field("RoutingGateway", "name"),
    ),
    // A group's priority for a gateway the group does not list yet (pfrest: `gateway` is
    // unique within a group, and the group was made with the shared gateway).
    (
        "RoutingGatewayGroupPriority",
        "gateway",
        Dep::FreshField("RoutingGateway", "name"),
    ),
    // A phase 2 hangs off a phase 1 by its `ikeid`.
    ("IPsecPhase2", "ikeid", Dep::Field("IPsecPhase1", "ikeid")),
    (
        "ACMECertificate",
        "acmeaccount",
        Dep::Field("ACMEAccountKey", "name"),
    ),
    (
        "ACMEAccountKeyRegister",
        "name",
        Dep::Field("ACMEAccountKey", "name"),
    ),
    (
        "ACMECertificateIssue",
        "certificate",
        Dep::Field("ACMECertificate", "name"),
    ),
    (
        "ACMECertificateRenew",
        "certificate",
        Dep::Field("ACMECertificate", "name"),
    ),
    // HAProxy actions point at an ACL of the same parent and at a backend.
    (
        "HAProxyFrontendAction",
        "backend",
        Dep::Field("HAProxyBackend", "name"),
    ),
    // A new interface takes an unassigned device: a VLAN made for it.
    (
        "NetworkInterface",
        "if",
        Dep::FreshField("InterfaceVLAN", "vlanif"),
    ),
    // A DHCP server needs an interface that has none yet ("one object per interface").
    (
        "DHCPServer",
        "interface",
        Dep::FreshField("NetworkInterface", "id"),
    ),
    // An error file names an HAProxy file by its `name` (pfrest looks it up).
    (
        "HAProxyBackendErrorFile",
        "errorfile",
        Dep::Field("HAProxyFile", "name"),
    ),
    (
        "HAProxyFrontendErrorFile",
        "errorfile",
        Dep::Field("HAProxyFile", "name"),
    ),
    // The service watchdog watches a service that exists.
    (
        "OpenVPNClientSpecificOverride",
        "server_list",
        Dep::Field("OpenVPNServer", "vpnid"),
    ),
];

/// Models a shared instance is made for by an action instead of a create, or taken from the
/// seeded configuration: (model, how).
pub enum Source {
    /// Call this action tool; the object it answers with is the instance.
    Action(&'static str),
    /// Use the existing object with this id (a fresh install has it).
    Existing(Value),
}

pub fn source_of(model: &str) -> Option<Source> {
    Some(match model {
        // Generated certificates have their private key kept on the firewall.
        "CertificateAuthority" => {
            Source::Action("pfsense_post_system_certificate_authority_generate")
        }
        "Certificate" => Source::Action("pfsense_post_system_certificate_generate"),
        "CertificateSigningRequest" => {
            Source::Action("pfsense_post_system_certificate_signing_request")
        }
        // "DHCP server is one object per interface": lan has one on a fresh install.
        "DHCPServer" => Source::Existing(json!("lan")),
        _ => return None,
    })
}

/// Object arguments the exerciser always sends besides the schema's required ones: values that
/// make the object meaningful on a real box (and conditionally required fields).
pub fn extra_fields(model: &str) -> &'static [&'static str] {
    match model {
        "FirewallAlias" => &["address", "descr"],
        "FirewallRule" => &["descr", "protocol"],
        "PortForward" => &["local_port", "destination_port", "descr"],
        "NetworkInterface" => &["enable", "ipaddr", "subnet"],
        "IPsecPhase1" => &["pre_shared_key", "descr"],
        "IPsecPhase2" => &[
            "localid_type",
            "localid_address",
            "localid_netbits",
            "remoteid_type",
            "remoteid_address",
            "remoteid_netbits",
            "encryption_algorithm_option",
            "descr",
        ],
        "OpenVPNServer" => &["tunnel_network", "description", "local_port", "interface"],
        "OpenVPNClient" => &["description", "interface"],
        "OpenVPNClientExport" => &["server", "certref", "type"],
        // The whole subject: pfrest passes unset DN parts to OpenSSL as empty strings, which
        // OpenSSL 3 refuses ("string too short"), so a generate without them fails.
        "CertificateAuthorityGenerate" | "CertificateGenerate" | "CertificateSigningRequest" => &[
            "keylen",
            "lifetime",
            "type",
            "dn_country",
            "dn_state",
            "dn_city",
            "dn_organization",
            "dn_organizationalunit",
        ],
        "VirtualIP" => &["descr"],
        "RoutingGateway" => &["descr"],
        "StaticRoute" => &["descr"],
        "User" => &["descr"],
        "UserGroup" => &["description"],
        "DHCPServerStaticMapping" => &["ipaddr", "descr"],
        "DNSResolverHostOverride" => &["descr"],
        "CertificateRevocationListRevokedCertificate" => &["certref", "reason"],
        "WireGuardPeer" => &["descr"],
        "WireGuardTunnel" => &["descr"],
        "InterfaceVLAN" => &["descr"],
        "InterfaceGroup" => &["members", "descr"],
        // pfrest requires `month` unless `position` (weekdays) is given.
        "FirewallScheduleTimeRange" => &["position"],
        "TrafficShaperLimiter" => &["bandwidth", "descr"],
        "ServiceWatchdog" => &["description"],
        "Ping" => &["count"],
        "Service" => &["action"],
        "CronJob" => &["hour", "mday", "month", "wday"],
        // Required whenever their conditions hold (pfrest refuses the create without them).
        // An IPv4 target takes a prefix of 32 or less (the default, 128, is refused).
        "OutboundNATMapping" => &["target", "target_subnet"],
        // pfrest needs tunnel_local_addr or tunnel_local_addr6.
        "InterfaceGRE" => &[
            "tunnel_local_addr",
            "tunnel_remote_addr",
            "tunnel_remote_net",
        ],
        "TrafficShaperQueue" => &["bandwidth"],
        "BINDZone" => &["baseip", "nameserver", "mail", "serial"],
        "FreeRADIUSUser" => &["password"],
        "AuthServer" => &["ldap_port", "ldap_urltype", "ldap_scope"],
        "IPsecPhase1Encryption" => &["encryption_algorithm_keylen"],
        "IPsecPhase2Encryption" => &["keylen"],
        _ => &[],
    }
}

/// Fields an update must send again although they did not change: pfrest reads the stored object
/// without them and then finds a required field missing (`FIELD_IS_REQUIRED` on a PATCH that
/// only changes the description).
pub fn resent_on_update(model: &str) -> &'static [&'static str] {
    match model {
        // The password is stored hashed under another key; a PATCH without it is refused.
        "FreeRADIUSUser" => &["password"],
        _ => &[],
    }
}

/// A value for `model.field` that a real firewall accepts, when the generic rules would not
/// give one. `token` is unique per object (`ex12`), `n` its number.
pub fn model_value(model: &str, field: &str, token: &str, n: u64) -> Option<Value> {
    let octet = 10 + (n % 200);
    Some(match (model, field) {
        ("FirewallAlias", "type") => json!("host"),
        ("FirewallAlias", "address") => json!([format!("198.51.100.{octet}")]),
        ("FirewallRule", "interface") => json!(["lan"]),
        ("FirewallRule", "protocol") => json!("tcp"),
        ("FirewallRule" | "PortForward", "source") => json!("any"),
        ("FirewallRule", "destination") => json!("any"),
        ("PortForward", "interface") => json!("wan"),
        ("PortForward", "protocol") => json!("tcp"),
        ("PortForward", "destination") => json!("wan:ip"),
        ("PortForward", "destination_port") => json!(format!("{}", 8000 + n)),
        ("PortForward", "target") => json!(format!("192.168.1.{octet}")),
        ("PortForward", "local_port") => json!("80"),
        ("OutboundNATMapping", "interface") => json!("wan"),
        ("OutboundNATMapping", "source") => json!("192.168.1.0/24"),
        ("OutboundNATMapping", "destination") => json!("any"),
        ("OneToOneNATMapping", "interface") => json!("wan"),
        ("OneToOneNATMapping", "external") => json!(format!("203.0.113.{octet}")),
        ("OneToOneNATMapping", "source") => json!(format!("192.168.1.{octet}")),
        ("OneToOneNATMapping", "destination") => json!("any"),
        ("FirewallScheduleTimeRange", "hour") => json!("8:00-17:00"),
        ("FirewallScheduleTimeRange", "position") => json!([1, 2, 3, 4, 5]),
        // pfrest requires `month` unless `position` (weekdays) is given.
        ("FirewallSchedule", "timerange") => {
            json!([{"position": [1, 2, 3, 4, 5], "hour": "8:00-17:00", "rangedescr": "weekdays"}])
        }
        ("TrafficShaper", "interface") => json!("lan"),
        ("TrafficShaper", "bandwidth") => json!(100),
        ("TrafficShaper", "bandwidthtype") => json!("Mb"),
        ("TrafficShaperQueue", "qlimit") => json!(50),
        ("TrafficShaperLimiter", "bandwidth") => json!([{"bw": 100, "bwscale": "Mb"}]),
        ("TrafficShaperLimiterBandwidth", "bw") => json!(100),
        ("TrafficShaperLimiterBandwidth", "bwscale") => json!("Mb"),
        ("VirtualIP", "mode") => json!("ipalias"),
        ("VirtualIP", "interface") => json!("lan"),
        ("VirtualIP", "subnet") => json!(format!("192.168.1.{}", 200 + n % 50)),
        ("VirtualIP", "subnet_bits") => json!(32),
        ("InterfaceBridge", "members") => json!(["lan"]),
        ("InterfaceGRE", "if") => json!("wan"),
        ("InterfaceGRE", "remote_addr") => json!(format!("198.51.100.{octet}")),
        ("InterfaceGRE", "tunnel_local_addr") => json!("10.255.0.1"),
        ("InterfaceGRE", "tunnel_remote_addr") => json!("10.255.0.2"),
        ("InterfaceGRE", "tunnel_remote_net") => json!(30),
        ("InterfaceGroup", "ifname") => json!(format!("grp{token}")),
        ("InterfaceGroup", "members") => json!(["lan"]),
        ("InterfaceLAGG", "members") => json!([format!("em{}", 3 + n % 4)]),
        ("InterfaceLAGG", "proto") => json!("failover"),
        ("InterfaceVLAN", "if") => json!("em1"),
        ("InterfaceVLAN", "tag") => json!(100 + n),
        ("NetworkInterface", "typev4") => json!("static"),
        ("NetworkInterface", "ipaddr") => json!(format!("10.{}.0.1", 100 + n % 150)),
        ("NetworkInterface", "subnet") => json!(24),
        ("NetworkInterface", "enable") => json!(true),
        ("NetworkInterface", "descr") => json!(format!("EX{n}")),
        ("RoutingGateway", "name") => json!(format!("GW_{}", token.to_uppercase())),
        ("RoutingGateway", "ipprotocol") => json!("inet"),
        ("RoutingGateway", "interface") => json!("lan"),
        ("RoutingGateway", "gateway") => json!(format!("192.168.1.{octet}")),
        ("RoutingGatewayGroup", "name") => json!(format!("GWG_{}", token.to_uppercase())),
        ("RoutingGatewayGroup" | "RoutingGatewayGroupPriority", "tier") => json!(1),
        ("StaticRoute", "network") => json!(format!("10.{}.0.0/24", 20 + n % 200)),
        ("ACMEAccountKey", "acmeserver") => json!("letsencrypt-staging-2"),
        ("ACMEAccountKey", "email") => json!("admin@example.com"),
        ("ACMECertificate", "a_domainlist") => {
            json!([{"status": "enable", "name": format!("{token}.example.com"), "method": "standalone"}])
        }
        ("ACMECertificateDomain", "name") => json!(format!("{token}.example.com")),
        ("ACMECertificateDomain", "method") => json!("standalone"),
        ("ACMECertificateAction", "command") => json!("/usr/bin/true"),
        ("BINDAccessList", "entries") => json!([{"value": "192.168.1.0/24"}]),
        ("BINDAccessListEntry", "value") => json!(format!("10.{}.0.0/24", n % 200)),
        ("BINDSyncSettings", "masterip") => json!("192.168.1.1"),
        ("BINDSyncRemoteHost", "ipaddress") => json!(format!("198.51.100.{octet}")),
        ("BINDSyncRemoteHost", "syncport") => json!("443"),
        ("BINDSyncRemoteHost", "username") => json!("admin"),
        ("BINDZone", "name") => json!(format!("{token}.example.com")),
        ("BINDZoneRecord", "type") => json!("A"),
        ("BINDZoneRecord", "rdata") => json!(format!("192.0.2.{octet}")),
        ("CronJob", "minute") => json!("0"),
        ("CronJob", "hour") => json!("3"),
        ("CronJob", "mday" | "month" | "wday") => json!("*"),
        ("CronJob", "who") => json!("root"),
        ("CronJob", "command") => json!(format!("/usr/bin/logger {token}")),
        ("DHCPServerAddressPool", "range_from") => json!("192.168.1.200"),
        ("DHCPServerAddressPool", "range_to") => json!("192.168.1.210"),
        ("DHCPServerCustomOption", "number") => json!(252),
        ("DHCPServerCustomOption", "type") => json!("text"),
        ("DHCPServerCustomOption", "value") => json!("http://wpad.example.com/wpad.dat"),
        ("DHCPServerStaticMapping", "ipaddr") => json!(format!("192.168.1.{}", 20 + n % 70)),
        ("DNSForwarderHostOverride" | "DNSResolverHostOverride", "domain")
        | ("DNSForwarderHostOverrideAlias" | "DNSResolverHostOverrideAlias", "domain") => {
            json!("example.com")
        }
        ("DNSResolverDomainOverride", "domain") => json!(format!("{token}.example.com")),
        ("DNSForwarderHostOverride", "ip") | ("DNSResolverDomainOverride", "ip") => {
            json!(format!("192.168.1.{octet}"))
        }
        ("DNSResolverHostOverride", "ip") => json!([format!("192.168.1.{octet}")]),
        ("DNSResolverAccessList", "action") => json!("allow"),
        ("DNSResolverAccessList", "networks") => json!([{"network": "192.168.1.0", "mask": 24}]),
        ("DNSResolverAccessListNetwork", "network") => json!(format!("10.{}.0.0", n % 200)),
        ("DNSResolverAccessListNetwork", "mask") => json!(24),
        ("FreeRADIUSClient", "addr") => json!(format!("192.168.1.{octet}")),
        ("FreeRADIUSClient", "shortname") => json!(token),
        ("FreeRADIUSInterface", "addr") => json!("*"),
        ("FreeRADIUSInterface", "ip_version") => json!("ipaddr"),
        ("FreeRADIUSUser", "username") => json!(token),
        ("HAProxyBackendACL" | "HAProxyFrontendACL", "expression") => json!("host_matches"),
        ("HAProxyBackendACL" | "HAProxyFrontendACL", "value") => {
            json!(format!("{token}.example.com"))
        }
        ("HAProxyBackendAction", "action") => json!("http-request_allow"),
        ("HAProxyFrontendAction", "action") => json!("use_backend"),
        // Required and not empty on a real box.
        ("HAProxyBackendAction" | "HAProxyFrontendAction", "acl") => json!(format!("acl_{token}")),
        ("OutboundNATMapping", "target") => json!(format!("203.0.113.{octet}")),
        ("OutboundNATMapping", "target_subnet") => json!(32),
        ("TrafficShaperQueue", "bandwidth") => json!(10),
        ("BINDZone", "baseip") => json!(format!("192.0.2.{octet}")),
        ("BINDZone", "nameserver") => json!(format!("ns1.{token}.example.com")),
        ("BINDZone", "mail") => json!(format!("hostmaster.{token}.example.com")),
        ("BINDZone", "serial") => json!(2024010101),
        ("FreeRADIUSUser", "password") => json!(format!("Radius-{token}-pw")),
        ("AuthServer", "ldap_port") => json!("389"),
        ("AuthServer", "ldap_urltype") => json!("Standard TCP"),
        ("AuthServer", "ldap_scope") => json!("subtree"),
        ("HAProxyBackendErrorFile" | "HAProxyFrontendErrorFile", "errorcode") => json!(503),
        ("HAProxyBackendServer", "address") => json!(format!("192.168.1.{octet}")),
        ("HAProxyBackendServer", "port") => json!("8080"),
        ("HAProxyFile", "content") => json!("<html><body>Service unavailable</body></html>"),
        ("HAProxyFrontend", "type") => json!("http"),
        ("HAProxyFrontendAddress", "extaddr") => json!("any_ipv4"),
        ("HAProxyFrontendAddress", "extaddr_port") => json!("8443"),
        ("HAProxyDNSResolver", "server") => json!("192.168.1.1"),
        ("HAProxyEmailMailer", "mailserver") => json!("192.168.1.25"),
        ("NTPTimeServer", "timeserver") => json!(format!("{token}.pool.ntp.org")),
        ("ServiceWatchdog", "name") => json!("sshd"),
        ("CertificateRevocationList", "method") => json!("internal"),
        ("CertificateRevocationList", "descr") => json!(format!("CRL {token}")),
        ("CertificateRevocationListRevokedCertificate", "revoke_time") => json!(1767225600),
        ("CertificateRevocationListRevokedCertificate", "reason") => json!(0),
        (
            "CertificateAuthorityGenerate" | "CertificateGenerate" | "CertificateSigningRequest",
            "keytype",
        ) => {
            json!("RSA")
        }
        (
            "CertificateAuthorityGenerate" | "CertificateGenerate" | "CertificateSigningRequest",
            "keylen",
        ) => {
            json!(2048)
        }
        (_, "digest_alg") => json!("sha256"),
        ("CertificateAuthorityGenerate" | "CertificateGenerate", "lifetime") => json!(365),
        ("CertificateGenerate" | "CertificateSigningRequest", "type") => json!("server"),
        (_, "dn_commonname") => json!(format!("{token}.example.com")),
        (_, "dn_country") => json!("US"),
        (_, "dn_state") => json!("Texas"),
        (_, "dn_city") => json!("Austin"),
        (_, "dn_organization") => json!("Exercise"),
        (_, "dn_organizationalunit") => json!("IT"),
        // Imported certificates and CAs need real PEM (a fresh self-signed pair per object).
        ("Certificate", "crt") => json!(pem_pair(token, false).0),
        ("Certificate", "prv") => json!(pem_pair(token, false).1),
        // pfrest refuses a CA import whose certificate is not a CA (basic constraints).
        ("CertificateAuthority", "crt") => json!(pem_pair(token, true).0),
        ("CertificateAuthority", "prv") => json!(pem_pair(token, true).1),
        ("Package", "name") => json!("pfSense-pkg-nmap"),
        ("RESTAPIAccessListEntry", "network") => json!(format!("198.51.100.{octet}/32")),
        ("RESTAPIAccessListEntry", "type") => json!("allow"),
        ("SystemTunable", "tunable") => json!(format!("net.inet.tcp.{token}")),
        ("SystemTunable", "value") => json!("1"),
        ("User", "name") => json!(format!("user{token}")),
        ("UserGroup", "name") => json!(format!("group{token}")),
        ("AuthServer", "type") => json!("ldap"),
        ("AuthServer", "host") => json!(format!("ldap{token}.example.com")),
        ("IPsecPhase1", "iketype") => json!("ikev2"),
        ("IPsecPhase1", "protocol") => json!("inet"),
        ("IPsecPhase1", "interface") => json!("wan"),
        ("IPsecPhase1", "remote_gateway") => json!(format!("198.51.100.{octet}")),
        ("IPsecPhase1", "authentication_method") => json!("pre_shared_key"),
        ("IPsecPhase1", "myid_type") => json!("myaddress"),
        ("IPsecPhase1", "peerid_type") => json!("peeraddress"),
        ("IPsecPhase1", "encryption") => json!([{"encryption_algorithm_name": "aes",
            "encryption_algorithm_keylen": 256, "hash_algorithm": "sha256", "dhgroup": 14}]),
        ("IPsecPhase1Encryption", "encryption_algorithm_name") => json!("aes"),
        ("IPsecPhase1Encryption", "encryption_algorithm_keylen") => json!(256),
        ("IPsecPhase1Encryption", "hash_algorithm") => json!("sha256"),
        ("IPsecPhase1Encryption", "dhgroup") => json!(14),
        ("IPsecPhase2", "mode") => json!("tunnel"),
        ("IPsecPhase2", "localid_type") => json!("network"),
        ("IPsecPhase2", "localid_address") => json!("192.168.1.0"),
        ("IPsecPhase2", "localid_netbits") => json!(24),
        ("IPsecPhase2", "remoteid_type") => json!("network"),
        ("IPsecPhase2", "remoteid_address") => json!(format!("10.{}.0.0", 50 + n % 150)),
        ("IPsecPhase2", "remoteid_netbits") => json!(24),
        // "IPsec phase 2 hash values need the hmac_ prefix"
        ("IPsecPhase2", "hash_algorithm_option") => json!(["hmac_sha256"]),
        ("IPsecPhase2", "encryption_algorithm_option") => json!([{"name": "aes", "keylen": 256}]),
        ("IPsecPhase2Encryption", "name") => json!("aes"),
        ("IPsecPhase2Encryption", "keylen") => json!(256),
        ("OpenVPNServer", "mode") => json!("server_tls"),
        ("OpenVPNClient", "mode") => json!("p2p_tls"),
        ("OpenVPNServer" | "OpenVPNClient", "dev_mode") => json!("tun"),
        ("OpenVPNServer" | "OpenVPNClient", "protocol") => json!("UDP4"),
        ("OpenVPNServer" | "OpenVPNClient", "interface") => json!("wan"),
        ("OpenVPNServer", "local_port") => json!(format!("{}", 1194 + n)),
        ("OpenVPNServer", "tunnel_network") => json!(format!("10.{}.8.0/24", n % 200)),
        ("OpenVPNServer", "dh_length") => json!("2048"),
        ("OpenVPNServer", "ecdh_curve") => json!("none"),
        ("OpenVPNServer" | "OpenVPNClient", "data_ciphers") => json!(["AES-256-GCM"]),
        ("OpenVPNServer" | "OpenVPNClient", "data_ciphers_fallback") => json!("AES-256-CBC"),
        ("OpenVPNServer" | "OpenVPNClient", "digest") => json!("SHA256"),
        ("OpenVPNClient", "server_addr") => json!(format!("198.51.100.{octet}")),
        ("OpenVPNClient", "server_port") => json!("1194"),
        ("OpenVPNClientSpecificOverride", "common_name") => json!(format!("client-{token}")),
        ("OpenVPNClientExport", "type") => json!("confzip"),
        ("WireGuardPeer", "publickey") | ("WireGuardTunnel", "privatekey") => {
            json!(wireguard_key(&format!("{model}-{token}")))
        }
        ("WireGuardPeerAllowedIP" | "WireGuardTunnelAddress", "address") => {
            json!(format!("10.{}.0.1", 150 + n % 100))
        }
        ("WireGuardPeerAllowedIP" | "WireGuardTunnelAddress", "mask") => json!(24),
        ("Ping", "host") => json!("127.0.0.1"),
        ("Ping", "count") => json!(1),
        ("CommandPrompt", "command") => json!("echo exercise"),
        ("GraphQL", "query") => json!("{ __typename }"),
        ("WakeOnLANSend", "interface") => json!("lan"),
        ("WakeOnLANSend", "mac_addr") => json!("00:0c:29:aa:bb:01"),
        ("Service", "id") => json!(0),
        ("Service", "action") => json!("restart"),
        ("RESTAPISettingsSync", "sync_data") => json!("{}"),
        _ => return None,
    })
}

/// A self-signed certificate and its private key as PEM, for certificate imports. The pair is
/// derived from `token`, so the certificate and key arguments of one object match; `ca` makes it
/// a CA certificate (basic constraints CA:TRUE, key usage for signing certificates and CRLs).
pub fn pem_pair(token: &str, ca: bool) -> (String, String) {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static PAIRS: OnceLock<Mutex<HashMap<String, (String, String)>>> = OnceLock::new();
    let pairs = PAIRS.get_or_init(Default::default);
    let mut pairs = pairs.lock().unwrap_or_else(|e| e.into_inner());
    pairs
        .entry(format!("{token}/{ca}"))
        .or_insert_with(|| {
            let name = format!("{token}.example.com");
            let made = (|| -> Result<(String, String), rcgen::Error> {
                let mut params = rcgen::CertificateParams::new(vec![name.clone()])?;
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, name);
                if ca {
                    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                    params.key_usages = vec![
                        rcgen::KeyUsagePurpose::KeyCertSign,
                        rcgen::KeyUsagePurpose::CrlSign,
                        rcgen::KeyUsagePurpose::DigitalSignature,
                    ];
                }
                let key = rcgen::KeyPair::generate()?;
                let cert = params.self_signed(&key)?;
                Ok((cert.pem(), key.serialize_pem()))
            })();
            made.unwrap_or_default()
        })
        .clone()
}

/// A WireGuard key: 32 bytes, base64. Derived from a label so runs are repeatable; any 32
/// bytes are a valid Curve25519 private key once clamped, and a valid public key encoding.
pub fn wireguard_key(label: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(label.as_bytes()))
}

/// A value by field name alone, for fields any model may have.
fn named_value(field: &str, token: &str, n: u64) -> Option<Value> {
    let octet = 10 + (n % 200);
    Some(match field {
        "descr" | "description" => json!(format!("exercise {token}")),
        "name" => json!(token),
        "interface" => json!("lan"),
        "host" | "hostname" => json!(format!("host{token}")),
        "domain" => json!("example.com"),
        "mac" | "macaddr" | "mac_addr" => json!(format!("00:0c:29:ee:00:{:02x}", n % 256)),
        "ip" | "ipaddr" | "address" | "addr" | "server" => json!(format!("192.168.1.{octet}")),
        "network" => json!(format!("10.{}.0.0/24", n % 200)),
        "mask" | "subnet" | "subnet_bits" => json!(24),
        "port" | "local_port" | "syncport" => json!("8080"),
        "email" => json!("admin@example.com"),
        "username" | "user" => json!(format!("user{token}")),
        "password" | "secret" | "pre_shared_key" | "passwordagain" => {
            json!(format!("Exercise-Secret-{n}"))
        }
        "errorfile" => json!("HTTP/1.0 503 Service Unavailable\r\n\r\nunavailable"),
        "url" => json!("https://example.com/"),
        _ => return None,
    })
}

/// Synthesis context for one object.
pub struct Synth<'a> {
    pub model: &'a str,
    pub token: &'a str,
    pub n: u64,
    /// Values decided beforehand (dependencies), by argument path.
    pub overrides: &'a Map<String, Value>,
}

impl Synth<'_> {
    /// An object for an object schema: required properties, the model's extra fields, and
    /// every override; `id`, `parent_id`, `confirm` and `apply` are the caller's business.
    pub fn object(&self, schema: &Value, prefix: &str, skip_ids: bool) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return out;
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, prop) in props {
            if prefix.is_empty()
                && (matches!(name.as_str(), "confirm" | "apply")
                    || (skip_ids && matches!(name.as_str(), "id" | "parent_id")))
            {
                continue;
            }
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            // A description carries the object's token, so it can be found again by it.
            let describes = prefix.is_empty()
                && matches!(name.as_str(), "descr" | "description")
                && prop["type"] == "string"
                && prop.get("enum").is_none();
            let wanted = required.contains(&name.as_str())
                || describes
                || (prefix.is_empty() && extra_fields(self.model).contains(&name.as_str()))
                || self.overrides.contains_key(&path);
            if !wanted {
                continue;
            }
            out.insert(name.clone(), self.value(name, prop, &path));
        }
        out
    }

    /// A value for one property.
    pub fn value(&self, name: &str, schema: &Value, path: &str) -> Value {
        if let Some(v) = self.overrides.get(path) {
            return v.clone();
        }
        if !path.contains('.')
            && let Some(v) = model_value(self.model, name, self.token, self.n)
        {
            return v;
        }
        // A field an update may reset: the values besides `null`.
        let schema = pfsense_spec::schema::non_null(schema);
        if let Some(choices) = schema.get("enum").and_then(Value::as_array)
            && let Some(first) = choices.iter().find(|c| !c.is_null() && *c != "")
        {
            return first.clone();
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("boolean") => schema.get("default").cloned().unwrap_or(json!(false)),
            Some("integer") => json!(integer_in(schema, name)),
            Some("number") => json!(1.0),
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                let min = schema
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .max(1);
                let one = if items.get("type").and_then(Value::as_str) == Some("object") {
                    Value::Object(self.object(&items, path, false))
                } else {
                    self.value(&singular(name), &items, &format!("{path}[]"))
                };
                Value::Array(vec![one; min as usize])
            }
            Some("object") => Value::Object(self.object(schema, path, false)),
            _ => self.string(name, schema),
        }
    }

    fn string(&self, name: &str, schema: &Value) -> Value {
        let v = named_value(name, self.token, self.n).unwrap_or_else(|| json!(self.token));
        // Respect a short maximum length (tokens are short; names built on them may not be).
        match (v.as_str(), schema.get("maxLength").and_then(Value::as_u64)) {
            (Some(s), Some(max)) if s.chars().count() as u64 > max => {
                json!(s.chars().take(max as usize).collect::<String>())
            }
            _ => v,
        }
    }
}

fn singular(name: &str) -> String {
    name.strip_suffix('s').unwrap_or(name).to_string()
}

/// An integer inside the schema's range: 1 unless the range says otherwise, ports and counts
/// by name.
fn integer_in(schema: &Value, name: &str) -> i64 {
    let min = schema.get("minimum").and_then(Value::as_i64);
    let max = schema.get("maximum").and_then(Value::as_i64);
    let wanted = match name {
        "mask" | "subnet" | "netbits" => 24,
        "mtu" => 1500,
        "port" => 8080,
        _ => 1,
    };
    let mut v = wanted;
    if let Some(min) = min {
        v = v.max(min);
    }
    if let Some(max) = max {
        v = v.min(max);
    }
    v
}

/// Set `value` at `path` (`a` or `a.b` = field `b` of every object in list `a`).
pub fn set_path(obj: &mut Map<String, Value>, path: &str, value: &Value) {
    match path.split_once('.') {
        None => {
            obj.insert(path.to_string(), value.clone());
        }
        Some((head, rest)) => {
            if let Some(Value::Array(items)) = obj.get_mut(head) {
                for item in items {
                    if let Value::Object(m) = item {
                        set_path(m, rest, value);
                    }
                }
            }
        }
    }
}
