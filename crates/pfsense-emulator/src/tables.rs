//! Behaviour the spec does not state, as small named tables. Every entry cites the rule it covers
//! from `shared/docs/pfsense-rest-api.md` (or the pfrest model it mirrors).

/// Fields whose value must be unique within their collection (`FIELD_MUST_BE_UNIQUE`, "Value is
/// in use by object with ID `0`.").
pub const UNIQUE_FIELDS: &[(&str, &str)] = &[
    // "aliases have unique names"
    ("FirewallAlias", "name"),
    // schedules are referenced by name from rules
    ("FirewallSchedule", "name"),
    // users and groups are looked up by name (auth, group membership)
    ("User", "name"),
    // "PUT on user groups fails FIELD_MUST_BE_UNIQUE": uniqueness is checked before clearing
    ("UserGroup", "name"),
    // one sysctl per tunable entry
    ("SystemTunable", "tunable"),
    // gateways are referenced by name from routes and rules
    ("RoutingGateway", "name"),
    ("RoutingGatewayGroup", "name"),
    // HAProxy frontends/backends are referenced by name
    ("HAProxyBackend", "name"),
    ("HAProxyFrontend", "name"),
    ("AuthServer", "name"),
    ("ACMEAccountKey", "name"),
    ("ACMECertificate", "name"),
    ("BINDZone", "name"),
    ("BINDView", "name"),
    ("BINDAccessList", "name"),
    ("TrafficShaperLimiter", "name"),
    ("InterfaceGroup", "ifname"),
    ("FreeRADIUSUser", "username"),
    ("FreeRADIUSClient", "ip"),
    // pfrest v2.7.1 FirewallRule `associated_rule_id` (`unique: true`): one rule per port
    // forward link; a port forward created with a link a rule already carries makes no second
    // rule (500 from `PortForward::pre_apply_create`, lab-tested; see `linked.rs`).
    ("FirewallRule", "associated_rule_id"),
];

/// Where a reference field points. A missing target is 404 `FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND`
/// ("a reference to a missing object is 404, not 400").
#[derive(Debug, Clone, Copy)]
pub enum RefTarget {
    /// A network interface id (`wan`, `lan`, `opt1`) or one of the listed keywords.
    Interface(&'static [&'static str]),
    /// The `field` of an object in `model` (e.g. a certificate's `refid`).
    ModelField(&'static str, &'static str),
    /// The same, or one of these keywords (pfrest's `ForeignModelField` `allowed_keywords`).
    ModelFieldOr(&'static [&'static str], &'static str, &'static str),
    /// An address that is either literal (IP, CIDR, keyword, `<if>`/`<if>:ip`) or an alias name.
    AddressOrAlias,
    /// A port or range, or a port alias name.
    PortOrAlias,
    /// pfrest's `SpecialNetworkField`: an address, interface address or alias name
    /// (400 `SPECIAL_NETWORK_FIELD_INVALID`).
    SpecialNetwork,
    /// A `ForeignModelField` with a `choices_callable` offering the `field` of every object in
    /// `model`: its choices are checked first (400 `FIELD_INVALID_CHOICE`).
    Choice(&'static str, &'static str),
}

/// Interfaces besides assigned ones and interface groups that rules and port forwards accept
/// (pfrest's `InterfaceField` with `allow_ipsec_interface` and `allow_openvpn_interface`; `any`
/// only on floating rules from v2.7.2). An unknown interface is 400 `FIELD_INVALID_CHOICE`.
const IF_KEYWORDS: &[&str] = &["enc0", "openvpn"];

/// The DNS Resolver's interface keywords besides `lo0` (pfrest's `allow_custom`).
const DNS_RESOLVER_KEYWORDS: &[&str] = &["lo0", "all", "_llocwan", "_lloclan"];

/// Reference fields: (model, field, target). Values that are lists are checked element by element;
/// empty values are not references.
pub const REFERENCES: &[(&str, &str, RefTarget)] = &[
    // Interfaces are pfrest's InterfaceField choices (400 FIELD_INVALID_CHOICE); addresses and
    // ports are FilterAddressField / PortField (400 FILTER_ADDRESS_FIELD_INVALID /
    // PORT_FIELD_INVALID); the other targets are ForeignModelFields (404
    // FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND).
    (
        "FirewallRule",
        "interface",
        RefTarget::Interface(IF_KEYWORDS),
    ),
    ("FirewallRule", "source", RefTarget::AddressOrAlias),
    ("FirewallRule", "destination", RefTarget::AddressOrAlias),
    ("FirewallRule", "source_port", RefTarget::PortOrAlias),
    ("FirewallRule", "destination_port", RefTarget::PortOrAlias),
    (
        "FirewallRule",
        "sched",
        RefTarget::ModelField("FirewallSchedule", "name"),
    ),
    (
        "FirewallRule",
        "gateway",
        RefTarget::ModelField("RoutingGateway", "name"),
    ),
    (
        "PortForward",
        "interface",
        RefTarget::Interface(IF_KEYWORDS),
    ),
    ("PortForward", "source", RefTarget::AddressOrAlias),
    ("PortForward", "destination", RefTarget::AddressOrAlias),
    ("PortForward", "target", RefTarget::SpecialNetwork),
    // pfrest v2.7.1 PortForward `associated_rule_id`: a ForeignModelField to the rules'
    // `associated_rule_id` with the keywords "", "new" and "pass"; a link no rule carries (its
    // rule deleted directly, or made up) is 404 on a create and on every later update of the
    // port forward, until the link is cleared (lab-tested; see `linked.rs`).
    (
        "PortForward",
        "associated_rule_id",
        RefTarget::ModelFieldOr(&["new", "pass"], "FirewallRule", "associated_rule_id"),
    ),
    ("OutboundNATMapping", "interface", RefTarget::Interface(&[])),
    ("OneToOneNATMapping", "interface", RefTarget::Interface(&[])),
    (
        "StaticRoute",
        "gateway",
        RefTarget::ModelField("RoutingGateway", "name"),
    ),
    ("RoutingGateway", "interface", RefTarget::Interface(&[])),
    ("DHCPServer", "interface", RefTarget::Interface(&[])),
    ("VirtualIP", "interface", RefTarget::Interface(&["lo0"])),
    (
        "Certificate",
        "caref",
        RefTarget::ModelField("CertificateAuthority", "refid"),
    ),
    (
        "CertificateRevocationList",
        "caref",
        RefTarget::ModelField("CertificateAuthority", "refid"),
    ),
    (
        "OpenVPNServer",
        "caref",
        RefTarget::ModelField("CertificateAuthority", "refid"),
    ),
    (
        "OpenVPNServer",
        "certref",
        RefTarget::ModelField("Certificate", "refid"),
    ),
    (
        "OpenVPNClient",
        "caref",
        RefTarget::ModelField("CertificateAuthority", "refid"),
    ),
    (
        "WebGUISettings",
        "sslcertref",
        RefTarget::ModelField("Certificate", "refid"),
    ),
    (
        "CertificatePKCS12Export",
        "certref",
        RefTarget::ModelField("Certificate", "refid"),
    ),
    (
        "CertificateGenerate",
        "caref",
        RefTarget::ModelField("CertificateAuthority", "refid"),
    ),
    (
        "CertificateSigningRequestSign",
        "caref",
        RefTarget::ModelField("CertificateAuthority", "refid"),
    ),
    (
        "CertificateRenew",
        "certref",
        RefTarget::ModelField("Certificate", "refid"),
    ),
    (
        "CertificateAuthorityRenew",
        "caref",
        RefTarget::ModelField("CertificateAuthority", "refid"),
    ),
    (
        "ACMECertificateIssue",
        "certificate",
        RefTarget::ModelField("ACMECertificate", "name"),
    ),
    (
        "ACMECertificateRenew",
        "certificate",
        RefTarget::ModelField("ACMECertificate", "name"),
    ),
    (
        "ACMEAccountKeyRegister",
        "name",
        RefTarget::ModelField("ACMEAccountKey", "name"),
    ),
    ("WakeOnLANSend", "interface", RefTarget::Interface(&[])),
    // What binds to or sends from an interface: pfrest checks the stored value on every update,
    // so these settings refuse changes once their interface is deleted (lab-tested:
    // `what_names_a_deleted_interface_or_vip_stays_like_pfrest`).
    (
        "DNSResolverSettings",
        "active_interface",
        RefTarget::Interface(DNS_RESOLVER_KEYWORDS),
    ),
    (
        "DNSResolverSettings",
        "outgoing_interface",
        RefTarget::Interface(DNS_RESOLVER_KEYWORDS),
    ),
    ("NTPSettings", "interface", RefTarget::Interface(&["lo0"])),
    ("LogSettings", "sourceip", RefTarget::Interface(&["lo0"])),
    (
        "AuthServer",
        "radius_nasip_attribute",
        RefTarget::Interface(&[]),
    ),
    // UserGroup `member` is a ForeignModelField of User `name` (measured on the lab).
    ("UserGroup", "member", RefTarget::ModelField("User", "name")),
    // RESTAPIAccessListEntry `users`: its choices are the users' names, so an entry naming a
    // deleted or renamed user is 400 on every update (lab-tested:
    // `what_names_a_renamed_or_deleted_user_stays_like_pfrest`).
    (
        "RESTAPIAccessListEntry",
        "users",
        RefTarget::Choice("User", "name"),
    ),
];

/// What keeps an object from being deleted: (target model, target field, referencing model,
/// referencing field). Deleting a referenced object → 409
/// `MODEL_CANNOT_BE_DELETED_WHILE_REFERENCED` with the referencing objects as `data`.
pub const DELETE_GUARDS: &[(&str, &str, &str, &str)] = &[
    // pfrest v2.7.1 declares `referenced_by` only on gateways and gateway groups
    // (`Models/RoutingGateway.inc`: StaticRoute and FirewallRule `gateway`); aliases and
    // schedules have none, so deleting an alias a rule uses succeeds (measured on the lab by the
    // differential test). The certificate of the web GUI is pfrest's own in-use check.
    ("RoutingGateway", "name", "StaticRoute", "gateway"),
    ("RoutingGateway", "name", "FirewallRule", "gateway"),
    ("RoutingGatewayGroup", "name", "StaticRoute", "gateway"),
    ("RoutingGatewayGroup", "name", "FirewallRule", "gateway"),
    ("Certificate", "refid", "WebGUISettings", "sslcertref"),
];

/// Dirty marks reported in `pending_subsystems` of `GET /firewall/apply`, by model (the
/// pfSense subsystem each model's write marks dirty).
pub const FIREWALL_DIRTY_MARKS: &[(&str, &str)] = &[
    ("FirewallAlias", "aliases"),
    ("PortForward", "natconf"),
    ("OutboundNATMapping", "natconf"),
    ("OutboundNATMode", "natconf"),
    ("OneToOneNATMapping", "natconf"),
    ("TrafficShaper", "shaper"),
    ("TrafficShaperQueue", "shaper"),
    ("TrafficShaperLimiter", "shaper"),
    ("TrafficShaperLimiterQueue", "shaper"),
    ("TrafficShaperLimiterBandwidth", "shaper"),
    ("FirewallSchedule", "filter"),
    ("FirewallScheduleTimeRange", "filter"),
];

/// Models whose writes mark no subsystem dirty although their endpoints do not apply at once:
/// pfrest's `FirewallRule` sets no `$subsystem` (v2.7.1 to v2.10.0), so its create, update and
/// delete call no `mark_subsystem_dirty`. Measured on the lab, every release
/// (`pending_subsystems_are_pfrests` in `tests/tests/differential.rs`): a rule's create, update,
/// delete and plural delete leave `pending_subsystems` empty; a port forward's create and its
/// delete, which deletes its linked rule, leave only `natconf`.
pub const MARKS_NO_SUBSYSTEM: &[&str] = &["FirewallRule"];

/// Fields hidden from every response besides writeOnly and the sensitive-name rule (key hashes).
pub const HIDDEN_FIELDS: &[(&str, &str)] = &[("RESTAPIKey", "hash")];

/// Objects a plural PUT (replace-all) keeps, first, instead of deleting them: (model, field,
/// value). Delete rules live in `rules.rs`.
pub const KEPT_ON_REPLACE: &[(&str, &str, &str)] = &[
    ("User", "name", "admin"),
    ("UserGroup", "name", "admins"),
    ("UserGroup", "name", "all"),
    ("NetworkInterface", "__id", "wan"),
];

/// Actions that create an object in a collection: action model → stored model.
pub const ACTION_CREATES: &[(&str, &str)] = &[
    ("CertificateGenerate", "Certificate"),
    ("CertificateSigningRequest", "Certificate"),
    ("CertificateAuthorityGenerate", "CertificateAuthority"),
    ("CertificateSigningRequestSign", "Certificate"),
];

/// Action paths answering with a record kept in a read-only collection (ACME runs asynchronously:
/// "ACME register/issue/renew are asynchronous (200 with a pending status)").
pub const ACTION_LOGS: &[(&str, &str)] = &[
    ("ACMEAccountKeyRegister", "ACMEAccountKeyRegister"),
    ("ACMECertificateIssue", "ACMECertificateIssue"),
    ("ACMECertificateRenew", "ACMECertificateRenew"),
];

/// Models addressed by a string id, not an index ("String ids: network interfaces, DHCP servers,
/// PF tables").
pub fn is_string_id(model: &str) -> bool {
    pfsense_spec::tables::STRING_ID_MODELS.contains(&model)
}

/// Nested singular endpoints that fail on a real box whatever the arguments: "HAProxy settings
/// dns_resolver / email_mailer: singular GET/PATCH/DELETE → 500
/// MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL".
pub const BROKEN_SINGULAR: &[&str] = &[
    "services/haproxy/settings/dns_resolver",
    "services/haproxy/settings/email_mailer",
];

/// Commands `POST /diagnostics/command_prompt` runs; everything else exits 127.
pub const COMMANDS: &[&str] = &[
    "echo", "hostname", "uname", "uptime", "date", "whoami", "true", "false",
];
