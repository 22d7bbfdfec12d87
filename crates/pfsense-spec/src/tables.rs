//! Facts about the real API that the spec does not state. Each entry names the behaviour it
//! covers (see `shared/docs/pfsense-rest-api.md`); code consults these tables instead of
//! growing special-case branches.

use crate::model::{Method, Module, Risk};

/// API path prefix (after `/api/v2/`) → module. The longest matching prefix wins; a prefix
/// matches the path itself, a sub-path, or its plural (`interface` matches `interfaces`).
pub const MODULE_PREFIXES: &[(&str, Module)] = &[
    ("firewall", Module::Firewall),
    ("interface", Module::Interface),
    ("routing", Module::Routing),
    ("vpn/wireguard", Module::VpnWireguard),
    ("vpn/openvpn", Module::VpnOpenvpn),
    ("vpn/ipsec", Module::VpnIpsec),
    ("services/dhcp_server", Module::ServicesDhcp),
    ("services/dhcp_relay", Module::ServicesDhcp),
    ("services/dns_resolver", Module::ServicesDnsResolver),
    ("services/dns_forwarder", Module::ServicesDnsForwarder),
    ("services/haproxy", Module::ServicesHaproxy),
    ("services/bind", Module::ServicesBind),
    ("services/freeradius", Module::ServicesFreeradius),
    ("services/acme", Module::ServicesAcme),
    // Cron, NTP, SSH, service watchdog, wake-on-LAN.
    ("services", Module::ServicesMisc),
    ("system", Module::System),
    ("status", Module::Status),
    ("diagnostics", Module::Diagnostics),
    ("user", Module::User),
    ("auth", Module::Auth),
    // GraphQL reads and writes every model: it belongs with the system-wide tools.
    ("graphql", Module::System),
];

/// Operations that can take the firewall down, run arbitrary code, or wipe state wholesale.
/// They are not offered unless the server runs with `--allow-dangerous`.
pub const DANGEROUS: &[(Method, &str, &str)] = &[
    (
        Method::Post,
        "diagnostics/halt_system",
        "halts the firewall; it stays off until someone powers it on",
    ),
    (
        Method::Post,
        "diagnostics/reboot",
        "reboots the firewall and drops all traffic while it restarts",
    ),
    (
        Method::Post,
        "diagnostics/command_prompt",
        "runs an arbitrary shell command as root",
    ),
    (
        Method::Post,
        "graphql",
        "runs arbitrary GraphQL queries and mutations over every model, with no confirmation per object",
    ),
    (
        Method::Delete,
        "diagnostics/arp_table",
        "clears the ARP table in bulk",
    ),
    (
        Method::Delete,
        "firewall/states",
        "clears firewall states in bulk, cutting existing connections (and can time out with no limit)",
    ),
    (
        Method::Delete,
        "diagnostics/config_history/revisions",
        "deletes configuration history in bulk; pfSense has no restore API to bring it back",
    ),
    // pfrest spawns pfSense-upgrade in the background (spec v2.8 and later): packages are
    // replaced, services restart and a new base system reboots the box.
    (
        Method::Post,
        "system/update",
        "upgrades pfSense and its packages, restarting services and usually rebooting the firewall",
    ),
    // RESTAPISettingsSync: pfrest unserializes the data given and writes it over the
    // package's whole configuration (meant for HA peers syncing each other).
    (
        Method::Post,
        "system/restapi/settings/sync",
        "overwrites the REST API's whole configuration (on or off, read-only, authentication methods, access list, keys) with the data given",
    ),
    // pfrest reinstalls its own package on this PATCH: the API goes away mid-call.
    (
        Method::Patch,
        "system/restapi/version",
        "reinstalls the REST API package, cutting the API off while it runs",
    ),
    // CronJob: `command` is any command line, run as `who` (root included) by cron.
    (
        Method::Post,
        "services/cron/job",
        "schedules a command of the caller's choosing, run by cron as any user, root included",
    ),
    (
        Method::Patch,
        "services/cron/job",
        "changes the command or user of a cron job: it runs as any user, root included",
    ),
    (
        Method::Put,
        "services/cron/jobs",
        "replaces every cron job with commands of the caller's choosing, run as any user, root included",
    ),
    // ACMECertificateAction: `method` shellcommand / php_command runs `command` as root after
    // each issue or renewal.
    (
        Method::Post,
        "services/acme/certificate/action",
        "adds a shell or PHP command that runs as root whenever the certificate is issued or renewed",
    ),
    (
        Method::Patch,
        "services/acme/certificate/action",
        "changes a command that runs as root whenever the certificate is issued or renewed",
    ),
    // Package: pfrest runs `pkg install`, whose scripts run as root and start services.
    (
        Method::Post,
        "system/package",
        "installs a package, running its install scripts as root and starting its services",
    ),
    (
        Method::Delete,
        "system/package",
        "removes a package with its settings; removing the REST API package cuts this server off",
    ),
    (
        Method::Delete,
        "system/packages",
        "removes packages in bulk with their settings, the REST API package included",
    ),
];

/// Writes that are ordinary except when an argument holds certain values: then the call is
/// as dangerous as an entry of [`DANGEROUS`] and needs the same permission. The tool stays
/// offered; the call with those values is refused without it.
pub struct DangerousArgument {
    /// API path prefix (after `/api/v2/`), matched like [`MODULE_PREFIXES`].
    pub path: &'static str,
    /// The field, found at any depth of the arguments (a PUT nests it in each object).
    pub field: &'static str,
    pub test: DangerTest,
    pub why: &'static str,
}

/// What makes a field's value dangerous.
pub enum DangerTest {
    /// The field is a list of objects, and one of them has `field` set to one of `values`.
    EntryWith {
        field: &'static str,
        values: &'static [&'static str],
    },
    /// The field holds a string (or a list of strings) `grants` picks out.
    Grants(fn(&str) -> bool),
    /// The field holds anything but an empty string or list.
    NotEmpty,
    /// The field (a list of names) adds a name to an object whose `guard` field holds one of
    /// `values`. The guard and the names already there are read from the arguments and, for
    /// a change to an existing object, from its current state.
    AddsMemberTo {
        guard: &'static str,
        grants: fn(&str) -> bool,
    },
    /// The field (a credential) is set on an existing object whose `guard` field holds one
    /// of `values`, read from its current state (for a user: its privileges with those of
    /// its groups). Setting a credential of such an account is taking it over.
    CredentialOf {
        guard: &'static str,
        grants: fn(&str) -> bool,
    },
}

/// The privileges pfSense itself marks as equivalent to root (`'warn' =>
/// "standard-warning-root"` in etc/inc/priv*.inc at 6a92af1): a shell, the command prompt,
/// the file editor, a config restore, managing users, groups and their privileges, …
pub const ROOT_PRIVILEGES: &[&str] = &[
    "page-all",
    "page-diagnostics-backup-restore",
    "page-diagnostics-command",
    "page-diagnostics-configurationhistory",
    "page-diagnostics-edit",
    "page-diagnostics-factorydefaults",
    "page-openvpn-client-advanced",
    "page-openvpn-csc-advanced",
    "page-openvpn-server-advanced",
    "page-system-authservers",
    "page-system-groupmanager",
    "page-system-groupmanager-addprivs",
    "page-system-usermanager",
    "page-system-usermanager-addprivs",
    "page-system-usermanager-settings",
    "system-xmlrpc-ha-sync",
    "user-copy-files",
    "user-shell-access",
];

/// The [`DANGEROUS`] operations whose privilege is as good as root: they run commands or code
/// of the caller's choosing, or write who may use the API. (Rebooting, clearing states or the
/// ARP table is dangerous to do, but holding the right to do it is not root.)
const ROOT_OPERATIONS: &[(Method, &str)] = &[
    (Method::Post, "diagnostics/command_prompt"),
    (Method::Post, "graphql"),
    (Method::Post, "services/cron/job"),
    (Method::Patch, "services/cron/job"),
    (Method::Put, "services/cron/jobs"),
    (Method::Post, "services/acme/certificate/action"),
    (Method::Patch, "services/acme/certificate/action"),
    (Method::Post, "system/package"),
    (Method::Post, "system/restapi/settings/sync"),
];

/// Whether holding privilege `p` is as good as root: one pfSense marks so
/// ([`ROOT_PRIVILEGES`]), or an API endpoint's own privilege (`api-v2-<path>-<method>`, which
/// pfrest grants besides `page-all`) of a [`ROOT_OPERATIONS`] entry or of a write whose
/// arguments can be dangerous ([`DANGEROUS_ARGUMENTS`]: granting privileges, an account's
/// credentials, raw directives; its apply endpoint takes none).
pub fn is_root_privilege(p: &str) -> bool {
    if ROOT_PRIVILEGES.contains(&p) {
        return true;
    }
    let Some((path, method)) = p.strip_prefix("api-v2-").and_then(|r| r.rsplit_once('-')) else {
        return false;
    };
    let hyphenated = |api_path: &str| api_path.replace(['/', '_'], "-");
    let root_operation = ROOT_OPERATIONS.iter().any(|(m, api_path)| {
        m.as_str().eq_ignore_ascii_case(method) && hyphenated(api_path) == path
    });
    let dangerous_write = matches!(method, "post" | "patch" | "put")
        && !path.ends_with("-apply")
        && DANGEROUS_ARGUMENTS.iter().any(|d| {
            let prefix = hyphenated(d.path);
            path.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('-') || rest.starts_with('s')
            })
        });
    root_operation || dangerous_write
}

pub const DANGEROUS_ARGUMENTS: &[DangerousArgument] = &[
    // ACMECertificate carries its actions inline (`a_actionlist`, ACMECertificateAction).
    DangerousArgument {
        path: "services/acme/certificate",
        field: "a_actionlist",
        test: DangerTest::EntryWith {
            field: "method",
            values: &["shellcommand", "php_command"],
        },
        why: "an `a_actionlist` entry with method `shellcommand` or `php_command` runs its command as root whenever the certificate is issued or renewed",
    },
    // User.priv and UserGroup.priv.
    DangerousArgument {
        path: "user",
        field: "priv",
        test: DangerTest::Grants(is_root_privilege),
        why: "`priv` grants a privilege pfSense marks as equivalent to root (a shell, the command prompt, the file editor, a config restore, managing users or groups, …)",
    },
    // UserGroup.member: pfSense grants a group's privileges to its members (`admins` holds
    // `page-all`), so adding a user to such a group is granting them.
    DangerousArgument {
        path: "user/group",
        field: "member",
        test: DangerTest::AddsMemberTo {
            guard: "priv",
            grants: is_root_privilege,
        },
        why: "`member` adds a user to a group holding a privilege pfSense marks as equivalent to root (`admins` holds `page-all`), which the user then has",
    },
    // User.password and User.authorizedkeys of a user holding a root-equivalent privilege
    // (`admin` holds `user-shell-access` and, through `admins`, `page-all`): whoever sets them
    // signs in, or in over SSH, as that user.
    DangerousArgument {
        path: "user",
        field: "password",
        test: DangerTest::CredentialOf {
            guard: "priv",
            grants: is_root_privilege,
        },
        why: "`password` sets the password of a user holding a privilege pfSense marks as equivalent to root (the webGUI, the API and SSH then let in whoever knows it)",
    },
    DangerousArgument {
        path: "user",
        field: "authorizedkeys",
        test: DangerTest::CredentialOf {
            guard: "priv",
            grants: is_root_privilege,
        },
        why: "`authorizedkeys` lets a new SSH key sign in as a user holding a privilege pfSense marks as equivalent to root",
    },
    // OpenVPNServer, OpenVPNClient and OpenVPNClientSpecificOverride: raw directives, which
    // pfSense guards as root-equivalent (page-openvpn-*-advanced).
    DangerousArgument {
        path: "vpn/openvpn",
        field: "custom_options",
        test: DangerTest::NotEmpty,
        why: "`custom_options` are raw OpenVPN directives, which can run commands as root (`script-security` with `up`, `down`, `plugin`, …)",
    },
    // HAProxySettings, HAProxyFrontend and HAProxyBackend: raw configuration lines.
    DangerousArgument {
        path: "services/haproxy",
        field: "advanced",
        test: DangerTest::NotEmpty,
        why: "`advanced` is raw HAProxy configuration, which can run commands (`external-check` with `insecure-fork-wanted`)",
    },
    DangerousArgument {
        path: "services/haproxy",
        field: "advanced_backend",
        test: DangerTest::NotEmpty,
        why: "`advanced_backend` is raw HAProxy configuration, which can run commands (`external-check` with `insecure-fork-wanted`)",
    },
];

/// Why a call to `rel_path` with `args` is dangerous although its tool is not, if it is.
pub fn argument_danger(rel_path: &str, args: &serde_json::Value) -> Option<&'static str> {
    argument_danger_at(rel_path, args, TargetState::NotRead)
}

/// What is known of a change's target when its arguments are judged (tests such as
/// [`DangerTest::AddsMemberTo`] read it).
#[derive(Debug, Clone, Copy)]
pub enum TargetState<'a> {
    /// A new object, or a target not read (yet): the arguments alone are judged.
    NotRead,
    /// The target as read.
    Known(&'a serde_json::Value),
    /// The target exists but could not be read: judged as the worst it could be.
    Unreadable,
    /// The target is read later and judged then: only the tests that need no state apply.
    ReadLater,
}

/// [`argument_danger`] given what is known of the target.
pub fn argument_danger_at(
    rel_path: &str,
    args: &serde_json::Value,
    state: TargetState<'_>,
) -> Option<&'static str> {
    DANGEROUS_ARGUMENTS
        .iter()
        .filter(|d| prefix_matches(d.path, rel_path))
        .find(|d| carries(args, d, state))
        .map(|d| d.why)
}

/// Whether `object` (the arguments for one object, or their part at one level of a PUT's
/// `objects`) adds a member to an object guarded by one of `values`; `state` is the target's,
/// for the top level only.
fn adds_member(
    object: &serde_json::Map<String, serde_json::Value>,
    field: &str,
    guard: &str,
    grants: fn(&str) -> bool,
    state: TargetState<'_>,
) -> bool {
    use serde_json::Value;
    let names = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let current = match state {
        TargetState::Known(c) => Some(c),
        _ => None,
    };
    let present = names(current.and_then(|c| c.get(field)));
    let adds = names(object.get(field))
        .iter()
        .any(|n| !present.contains(n));
    let guarded = |v: Option<&Value>| names(v).iter().any(|p| grants(p));
    // The guard the object has after the change: the arguments' when they set it, else the
    // target's (unknown for an unreadable one: assumed).
    let guard_after = match (object.get(guard), state) {
        (Some(v), _) => guarded(Some(v)),
        (None, TargetState::Unreadable) => true,
        (None, _) => guarded(current.and_then(|c| c.get(guard))),
    };
    adds && guard_after
}

fn carries(value: &serde_json::Value, d: &DangerousArgument, state: TargetState<'_>) -> bool {
    use serde_json::Value;
    if let (DangerTest::CredentialOf { guard, grants }, Value::Object(m)) = (&d.test, value) {
        let set = m
            .get(d.field)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        return set
            && match state {
                TargetState::Known(current) => current
                    .get(*guard)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(grants),
                // Judged at its worst: the account may well be root-equivalent.
                TargetState::Unreadable => true,
                // A new account: its privileges are judged by `priv` and `member`.
                TargetState::NotRead | TargetState::ReadLater => false,
            };
    }
    if let (DangerTest::AddsMemberTo { guard, grants }, Value::Object(m)) = (&d.test, value)
        && !matches!(state, TargetState::ReadLater)
        && m.contains_key(d.field)
        && adds_member(m, d.field, guard, *grants, state)
    {
        return true;
    }
    let dangerous = |v: &Value| match &d.test {
        DangerTest::EntryWith { field, values } => v.as_array().is_some_and(|entries| {
            entries.iter().any(|e| {
                e.get(*field)
                    .and_then(Value::as_str)
                    .is_some_and(|s| values.contains(&s))
            })
        }),
        // Only what the object does not hold already is granted (an update that keeps
        // `admins`' `page-all` grants nothing).
        DangerTest::Grants(_) if matches!(state, TargetState::ReadLater) => false,
        DangerTest::Grants(grants) => {
            let held = |p: &str| match state {
                TargetState::Known(current) => current
                    .get(d.field)
                    .and_then(Value::as_array)
                    .is_some_and(|h| h.iter().any(|x| x.as_str() == Some(p))),
                _ => false,
            };
            match v {
                Value::String(s) => grants(s) && !held(s),
                Value::Array(items) => items
                    .iter()
                    .any(|i| i.as_str().is_some_and(|p| grants(p) && !held(p))),
                _ => false,
            }
        }
        DangerTest::NotEmpty => match v {
            Value::String(s) => !s.trim().is_empty(),
            Value::Array(items) => items
                .iter()
                .any(|i| i.as_str().is_none_or(|s| !s.trim().is_empty())),
            Value::Null => false,
            _ => true,
        },
        // Judged on the object holding the field, above.
        DangerTest::AddsMemberTo { .. } | DangerTest::CredentialOf { .. } => false,
    };
    // Nested objects (a PUT's `objects`) carry their own state: with the collection read (a
    // PUT's target), each is judged against the object of the same name, else as new.
    let collection = match state {
        TargetState::Known(serde_json::Value::Array(list)) => Some(list),
        _ => None,
    };
    let nested = match (collection, state) {
        (Some(_), _) | (_, TargetState::ReadLater) => state,
        _ => TargetState::NotRead,
    };
    let element = |v: &Value| {
        if matches!(state, TargetState::ReadLater) {
            return state;
        }
        collection
            .and_then(|list| {
                let name = v.get("name")?;
                list.iter().find(|o| o.get("name") == Some(name))
            })
            .map_or(TargetState::NotRead, TargetState::Known)
    };
    match value {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| (k == d.field && dangerous(v)) || carries(v, d, nested)),
        Value::Array(a) => a.iter().any(|v| carries(v, d, element(v))),
        _ => false,
    }
}

/// Every action endpoint (a POST that is neither a create nor an apply) that is not in
/// [`DANGEROUS`], reviewed by hand against pfrest's model code: the risk its tool carries (which
/// sets the MCP `destructiveHint` and whether a human must approve) and why. An action a newer
/// spec adds that is not here gets `Write` and a warning in `Spec::warnings`.
pub const ACTION_RISKS: &[(Method, &str, Risk, &str)] = &[
    (
        Method::Post,
        "auth/jwt",
        Risk::Write,
        "issues an API token; changes no configuration",
    ),
    (
        Method::Post,
        "diagnostics/ping",
        Risk::Write,
        "sends pings from the firewall; changes no configuration",
    ),
    (
        Method::Post,
        "services/acme/account_key/register",
        Risk::Write,
        "registers the account key with the ACME certificate authority",
    ),
    (
        Method::Post,
        "services/acme/certificate/issue",
        Risk::Write,
        "requests a certificate from the ACME certificate authority",
    ),
    (
        Method::Post,
        "services/acme/certificate/renew",
        Risk::Destructive,
        "replaces the stored certificate in place; the old one cannot be restored",
    ),
    (
        Method::Post,
        "services/wake_on_lan/send",
        Risk::Write,
        "sends a magic packet that powers a host on; changes no configuration",
    ),
    // Service::_create calls service_control_stop for `action: stop`.
    (
        Method::Post,
        "status/service",
        Risk::Destructive,
        "can stop a service (DNS, DHCP, VPN, …), cutting off what depends on it until it is started again",
    ),
    (
        Method::Post,
        "system/certificate/generate",
        Risk::Write,
        "creates a new certificate",
    ),
    (
        Method::Post,
        "system/certificate/pkcs12/export",
        Risk::Write,
        "returns an archive with the private key; changes no configuration",
    ),
    (
        Method::Post,
        "system/certificate/renew",
        Risk::Destructive,
        "replaces the certificate (and its key unless reusekey) in place; the old one cannot be restored",
    ),
    (
        Method::Post,
        "system/certificate/signing_request",
        Risk::Write,
        "creates a new certificate signing request",
    ),
    (
        Method::Post,
        "system/certificate/signing_request/sign",
        Risk::Write,
        "creates a certificate from an existing signing request",
    ),
    (
        Method::Post,
        "system/certificate_authority/generate",
        Risk::Write,
        "creates a new certificate authority",
    ),
    (
        Method::Post,
        "system/certificate_authority/renew",
        Risk::Destructive,
        "replaces the certificate authority (and its key unless reusekey) in place; certificates it signed may stop validating",
    ),
    (
        Method::Post,
        "system/enum",
        Risk::Write,
        "lists the choices of a model field; changes no configuration",
    ),
    // RESTAPISettingsSync::_create writes the sent settings over this host's REST API settings.
    (
        Method::Post,
        "vpn/openvpn/client_export",
        Risk::Write,
        "builds a client configuration file; changes no configuration",
    ),
];

/// Typos of the spec that would reach tool descriptions, as (wrong, right), matched as whole
/// words: pfrest derives plurals mechanically (`InterfaceStats` → "Statses", `Gateway` →
/// "Gatewaies") and spells HAProxy two ways.
pub const TEXT_FIXES: &[(&str, &str)] = &[
    ("Statses", "Stats"),
    ("Certificateses", "Certificates"),
    ("Gatewaies", "Gateways"),
    ("HA Proxy", "HAProxy"),
];

/// Models whose ids are strings on a real box, although the spec says integer:
/// network interfaces (`wan`, `lan`, `opt1`), DHCP servers (one per interface) and PF tables.
pub const STRING_ID_MODELS: &[&str] = &["NetworkInterface", "DHCPServer", "Table"];

/// Paths (after `/api/v2/`) whose response is not wrapped in the usual envelope:
/// `POST /graphql` answers raw `{"data": …}` / `{"errors": …}`, always with 200.
pub const UNENVELOPED_PATHS: &[&str] = &["graphql"];

/// Query parameters pfrest hands to PHP's `array_slice` (`Model::paginate`): a negative
/// offset counts from the end and a negative limit stops short of it, which no caller means,
/// least of all in a bulk delete. The spec gives them no minimum; the full schema gets 0.
pub const NON_NEGATIVE_PARAMETERS: &[&str] = &["limit", "offset"];

/// pfrest gives every string field without a real limit `maxLength: 1024`; repeating it in
/// 1,000 listed schemas tells a model nothing, so the listed form leaves out limits at or
/// above this (the full schema, which arguments are checked against, keeps them).
pub const DEFAULT_STRING_MAX_LENGTH: usize = 1024;

/// Word endings that mark a field's value as a secret: a field is sensitive when any of its
/// `_`-separated words ends with one of these (`cf_key`, `ha_sync_password`, `ipsecpsk`,
/// `nc_apipw`). Covers passwords, pre-shared keys, private keys (`prv`), API keys and tokens.
pub const SENSITIVE_WORD_ENDINGS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "apipw",
    "secret",
    "token",
    "key",
    "psk",
    "passphrase",
    "passwordhash",
    "authdata",
];

/// Words that are secrets on their own: `prv` (private keys), `pass` (passwords), and the
/// two-letter OVH/Mythic Beasts credentials (`ovh_ak`, `ovh_as`, `ovh_ck`, `mb_ak`, `mb_as`).
pub const SENSITIVE_WORDS: &[&str] = &["prv", "pass", "ak", "as", "ck"];

/// Names pfrest takes out of a request's data as its own parameters before the rest is read as
/// query filters (`Endpoint.inc`, each `unset($this->request_data[...])`; `dry_run` from
/// v2.10.0). A filter with one of these names is no filter: it pages, sorts or changes the
/// request instead (a `limit` in `query` overrides the tool's own).
pub const REQUEST_PARAMETERS: &[&str] = &[
    "append",
    "async",
    "dry_run",
    "limit",
    "offset",
    "remove",
    "reverse",
    "sort_by",
    "sort_flags",
    "sort_order",
];

/// Field names that match the rules above but hold no secret: public keys and booleans.
pub const NOT_SENSITIVE_FIELDS: &[&str] = &[
    "publickey",
    // WireGuard's status reads spell it so (`WireGuardPeerStatus`, `WireGuardTunnelStatus`).
    "public_key",
    "reusekey",
    "usetoken",
    // Settings whose words end like secrets: a re-key interval, how interfaces are shown, and
    // which hash stores passwords.
    "rekey_time",
    "represent_interfaces_as",
    "password_encryption",
    // Flags whose words read like secrets (`as`, `passwd`): OpenVPN's common name from the user
    // name, and the console's password protection (`no_flag_or_number_is_a_secret_in_any_spec`).
    "username_as_common_name",
    "passwd_protect_console",
];

/// Field names that are secrets although the word rules above miss them. Each row says why.
pub const SENSITIVE_FIELD_NAMES: &[&str] = &[
    // AuthServer: the LDAP bind password (pfrest marks it sensitive).
    "ldap_bindpw",
    // OpenVPNServer/OpenVPNClient: the TLS static key (pfrest marks it sensitive on the server).
    "tls",
    // ACMECertificate: a pasted private key.
    "keypaste",
    // ACMECertificateDomain: DNS provider credentials (pfrest marks both sensitive).
    "do_pw",
    "infoblox_creds",
    // ACMECertificateDomain: write-only in the spec; a SHA-256 of the Netim password.
    "nm_sha256",
    // ACMECertificateDomain: write-only in the spec; Tencent Cloud's SecretId credential.
    "tencent_secretid",
    // ACMECertificateDomain: the DirectAdmin API URI, documented as
    // `https://remoteUser:remotePassword@host:port`.
    "da_api",
    // FreeRADIUSUser: the mOTP PIN (pfrest marks it sensitive).
    "motp_pin",
    // OpenVPN client export: the proxy password (pfrest marks it sensitive).
    "proxypass",
    // RESTAPIKey: the stored hash of an API key (pfrest marks it sensitive).
    "hash",
    // v2.10.0 marks `User.ipsecpsk`, `WireGuardPeer.presharedkey` and `OpenVPNClient.auth_pass`
    // sensitive; the word rules already cover them (`psk`, `key`, `pass`).
];

/// Write-only fields (the box never returns them) that hold no secret: what they carry
/// belongs in previews and the audit log. Every other write-only field counts as a secret.
pub const WRITE_ONLY_NOT_SECRET: &[&str] = &[
    // CertificateRevocationListRevokedCertificate: which certificate is revoked.
    "caref",
    "crt",
    "descr",
    "type",
    // CommandPrompt: the command run (already DANGEROUS; the audit log must show it).
    "command",
    // Ping: what is pinged, how often, from where.
    "count",
    "host",
    "source_address",
    // RESTAPIVersion: the package version to install.
    "install_version",
    // Service: start, stop or restart.
    "action",
    // SystemHalt, SystemReboot: only check whether the call would work.
    "dry_run",
];

/// Fields pfrest v2.7.1 marks `sensitive: true` (its models' field definitions): a box leaves
/// them out of every response unless `expose_sensitive_fields` is on. This is what a box
/// returns, not what we treat as secret (that is [`is_sensitive_field`], a superset).
pub const PFREST_SENSITIVE: &[(&str, &[&str])] = &[
    ("ACMEAccountKey", &["accountkey"]),
    ("AuthServer", &["ldap_bindpw", "radius_secret"]),
    ("BINDSyncRemoteHost", &["password"]),
    ("Certificate", &["prv"]),
    ("CertificateAuthority", &["prv"]),
    ("CertificateAuthorityGenerate", &["prv"]),
    ("CertificateGenerate", &["prv"]),
    ("CertificateSigningRequest", &["prv"]),
    ("CertificateSigningRequestSign", &["prv"]),
    ("FreeRADIUSClient", &["secret", "naspassword"]),
    ("FreeRADIUSUser", &["password", "motp_secret", "motp_pin"]),
    ("HAProxyBackend", &["stats_password"]),
    ("IPsecPhase1", &["pre_shared_key"]),
    ("NTPSettings", &["serverauthkey"]),
    ("OpenVPNClient", &["proxy_passwd"]),
    // OpenVPNClientExportTraits, used by both client export models.
    ("OpenVPNClientExport", &["pass", "proxypass"]),
    ("OpenVPNClientExportConfig", &["pass", "proxypass"]),
    ("OpenVPNServer", &["tls"]),
    ("RESTAPIKey", &["hash"]),
    ("RESTAPISettings", &["ha_sync_password"]),
    ("User", &["password"]),
    ("VirtualIP", &["password"]),
    ("WireGuardTunnel", &["privatekey"]),
    (
        "ACMECertificateDomain",
        &[
            "webrootftppassword",
            "one984hosting_password",
            "acmeproxy_password",
            "acmedns_password",
            "active24_token",
            "akamai_access_token",
            "akamai_client_token",
            "akamai_client_secret",
            "ali_key",
            "ali_secret",
            "kas_authdata",
            "ad_api_key",
            "anx_token",
            "af_api_password",
            "arvan_token",
            "aurora_key",
            "aurora_secret",
            "autodns_password",
            "aws_secret_access_key",
            "azion_password",
            "azuredns_clientsecret",
            "bookmyname_password",
            "bunny_api_key",
            "clouddns_password",
            "cloudns_auth_password",
            "cf_key",
            "cf_token",
            "conoha_password",
            "constellix_key",
            "constellix_secret",
            "cpanel_apitoken",
            "cn_password",
            "curanet_authsecret",
            "cy_password",
            "ddnss_token",
            "dedyn_token",
            "do_api_key",
            "dnsexit_api_key",
            "dnsexit_auth_pass",
            "dnshome_subdomainpassword",
            "me_key",
            "me_secret",
            "dnsservices_password",
            "do_letoken",
            "do_pw",
            "domeneshop_token",
            "domeneshop_secret",
            "dp_key",
            "dpi_key",
            "dh_api_key",
            "duckdns_token",
            "dd_api_key",
            "dyn_password",
            "df_password",
            "dynu_secret",
            "easydns_key",
            "easydns_token",
            "euserv_password",
            "exoscale_api_key",
            "exoscale_secret_key",
            "fornex_api_key",
            "freedns_password",
            "gandi_livedns_key",
            "gcore_key",
            "geoscaling_password",
            "gd_secret",
            "googledomains_access_token",
            "hetzner_token",
            "hexonet_password",
            "huaweicloud_password",
            "he_password",
            "hostingde_apikey",
            "infoblox_creds",
            "infomaniak_api_token",
            "ionos_secret",
            "ipv64_token",
            "internetbs_api_key",
            "internetbs_api_password",
            "inwx_password",
            "inwx_shared_secret",
            "ispc_password",
        ],
    ),
];

/// Time stamps pfrest answers with the current time when config.xml does not hold them: its
/// `UnixTimeField`s with `auto_add_now` (FirewallRule.inc and PortForward.inc, v2.7.1 to
/// v2.10.0). pfSense's default LAN rules carry no `<created>` or `<updated>`, so every read of
/// them answers a new second: two GETs of rule 0 on the pfrest lab one second apart differed
/// in both fields. A state compared across reads leaves these out. (`tracker` is also
/// `auto_add_now`, but every rule pfSense writes has one, and it is the rules' identity.)
pub const TIMES_READ_AS_NOW: &[(&str, &str)] = &[
    ("FirewallRule", "created_time"),
    ("FirewallRule", "updated_time"),
    ("PortForward", "created_time"),
    ("PortForward", "updated_time"),
];

/// Whether `field` is one of [`TIMES_READ_AS_NOW`] in some model: a state's comparison, which
/// also walks nested objects and collections, goes by the field's name.
pub fn is_time_read_as_now(field: &str) -> bool {
    TIMES_READ_AS_NOW.iter().any(|(_, f)| *f == field)
}

/// Who wrote an object, which pfrest stamps whenever it writes the object anew: `created_by` and
/// `updated_by` are read-only `StringField`s defaulting to "{username}@{ip} (API)"
/// (FirewallRule.inc and PortForward.inc, v2.7.1 to v2.10.0), and a PUT of the list makes every
/// object anew (`Model::replace_all`), so the rules an undo puts back carry the undoing user
/// (seen on the lab: a default rule's `created_by` went from "@127.0.0.1 (API)" to
/// "admin@127.0.0.1 (API)"). A state compared across writes leaves these out, as it does
/// [`TIMES_READ_AS_NOW`].
pub const WRITERS_STAMPED: &[(&str, &str)] = &[
    ("FirewallRule", "created_by"),
    ("FirewallRule", "updated_by"),
    ("PortForward", "created_by"),
    ("PortForward", "updated_by"),
];

/// Whether a state's comparison leaves `field` out: [`TIMES_READ_AS_NOW`] and
/// [`WRITERS_STAMPED`], by the field's name.
pub fn is_left_out_of_comparisons(field: &str) -> bool {
    is_time_read_as_now(field) || WRITERS_STAMPED.iter().any(|(_, f)| *f == field)
}

/// Whether a box running pfrest v2.7.1 leaves `model.field` out of its responses.
pub fn pfrest_hides(model: &str, field: &str) -> bool {
    PFREST_SENSITIVE
        .iter()
        .any(|(m, fields)| *m == model && fields.contains(&field))
}

/// Whether the spec marks a property secret: `format: password`, or write-only and not in
/// [`WRITE_ONLY_NOT_SECRET`].
pub fn spec_marks_secret(name: &str, write_only: bool, password_format: bool) -> bool {
    password_format || (write_only && !WRITE_ONLY_NOT_SECRET.contains(&name))
}

/// The module of an API path (without the `/api/v2/` prefix).
pub fn module_for(rel_path: &str) -> Option<Module> {
    MODULE_PREFIXES
        .iter()
        .filter(|(prefix, _)| prefix_matches(prefix, rel_path))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, m)| *m)
}

/// Whether `prefix` names `path`, a sub-path of it, or its plural form.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => rest.starts_with('/') || rest.starts_with('s'),
        None => false,
    }
}

pub fn danger_for(method: Method, rel_path: &str) -> Option<&'static str> {
    DANGEROUS
        .iter()
        .find(|(m, p, _)| *m == method && *p == rel_path)
        .map(|(_, _, why)| *why)
}

/// The reviewed risk of an action endpoint, with the reason.
pub fn action_risk(method: Method, rel_path: &str) -> Option<(Risk, &'static str)> {
    ACTION_RISKS
        .iter()
        .find(|(m, p, _, _)| *m == method && *p == rel_path)
        .map(|(_, _, risk, why)| (*risk, *why))
}

/// Whether a field name denotes a secret: named in [`SENSITIVE_FIELD_NAMES`], or caught by the
/// word rules. Every field the spec or pfrest marks secret is caught (tested against the spec).
pub fn is_sensitive_field(name: &str) -> bool {
    // Every key of every result passes through here, and API field names are nearly always
    // lower case already: no copy for them.
    let lower: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    };
    // A query filter names its field before an operator (`ldap_bindpw__contains`, pfrest's
    // `field__op`): the value is the field's, so is its secrecy.
    // A byte search: `split_once("__")` builds a substring searcher for every key, 40% of this
    // function's instructions under callgrind.
    let lower = match lower.as_bytes().windows(2).position(|w| w == b"__") {
        Some(at) if at > 0 => &lower[..at],
        _ => lower.as_ref(),
    };
    if SENSITIVE_FIELD_NAMES.contains(&lower) {
        return true;
    }
    if NOT_SENSITIVE_FIELDS.contains(&lower) {
        return false;
    }
    lower.split('_').any(|word| {
        SENSITIVE_WORDS.contains(&word) || SENSITIVE_WORD_ENDINGS.iter().any(|e| word.ends_with(e))
    })
}

/// Where a field of an object pfrest makes along with its owner comes from.
pub enum Made {
    /// The owner's field of that name.
    Field(&'static str),
    /// A one-element list of the owner's field of that name.
    ListOf(&'static str),
    /// This text.
    Text(&'static str),
}

/// An object pfrest keeps by itself along with its owner: made by the owner's create, rewritten
/// by its updates, deleted with it. Read by the emulator (which does the same) and by undo
/// (whose batch preview plays it, and whose re-create of an owner draws a new link).
pub struct LinkedObject {
    /// The owner's model and its field naming the linked object.
    pub owner: &'static str,
    pub field: &'static str,
    /// What a create sends in `field` to have a new link drawn and a new object made.
    pub draw: &'static str,
    /// What a drawn link starts with.
    pub prefix: &'static str,
    /// Values of `field` that name no object and make none.
    pub none: &'static [&'static str],
    /// The value of [`Self::none`] for an owner with no linked object and nothing of the
    /// linked object's effect either (a port forward's `pass` passes its traffic by itself).
    pub unlinked: &'static str,
    /// The linked object's model and its field carrying the owner's link.
    pub model: &'static str,
    pub carries: &'static str,
    /// The linked object's fields as the owner's create and update write them.
    pub fields: &'static [(&'static str, Made)],
    /// The linked object's description, written on create only: this text, then the link.
    pub descr: &'static str,
    /// Response ids of a failed create and update of the linked object (500).
    pub create_failed: &'static str,
    pub update_failed: &'static str,
}

impl LinkedObject {
    /// Whether `value` of the owner's `field` is a link to an object (not a keyword).
    pub fn links(&self, value: &str) -> bool {
        value != self.draw && !self.none.contains(&value)
    }
}

/// pfrest's `Models/PortForward.inc` (the same from v2.7.1 to v2.10.0, seen on the lab):
/// `_create` replaces `associated_rule_id: "new"` with pfSense's `get_unique_id()`
/// (`uniqid("nat_", true)`); `pre_apply_create` then creates a `FirewallRule` from the port
/// forward's fields, with no placement, so `Model::get_next_id` puts it at the end of the whole
/// rule list (no other rule's id moves); `pre_apply_update` writes the same fields on the rule
/// carrying the link (not the description); `pre_apply_delete` deletes every rule carrying it;
/// `replace_all` (a PUT of the list) runs none of these. A rule's own delete leaves the
/// forward's link naming nothing, and a create may not send such a link
/// (`ForeignModelField`: 404 `FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND`), only `""`, `new` or `pass`.
pub const LINKED_OBJECTS: &[LinkedObject] = &[LinkedObject {
    owner: "PortForward",
    field: "associated_rule_id",
    draw: "new",
    prefix: "nat_",
    none: &["", "pass"],
    unlinked: "",
    model: "FirewallRule",
    carries: "associated_rule_id",
    fields: &[
        ("type", Made::Text("pass")),
        ("disabled", Made::Field("disabled")),
        ("interface", Made::ListOf("interface")),
        ("ipprotocol", Made::Field("ipprotocol")),
        ("protocol", Made::Field("protocol")),
        ("source", Made::Field("source")),
        ("source_port", Made::Field("source_port")),
        ("destination", Made::Field("target")),
        ("destination_port", Made::Field("local_port")),
    ],
    descr: "Associated rule for port forward rule ",
    create_failed: "PORT_FORWARD_ASSOCIATED_FIREWALL_RULE_CREATION_FAILED",
    update_failed: "PORT_FORWARD_ASSOCIATED_FIREWALL_RULE_UPDATE_FAILED",
}];
