//! Accounts, management access (webGUI, SSH, console) and the REST API's own settings.

use super::refs::*;
use super::util::*;
use super::{Check, CheckResult, Outcome};
use crate::model::{Area, Fix, Severity};
use crate::snapshot::*;
use serde_json::{Value, json};

/// The privilege that grants every page and endpoint ("WebCfg - All pages").
const ADMIN_PRIV: &str = "page-all";
/// The privilege that allows a shell over SSH and the console.
const SHELL_PRIV: &str = "user-shell-access";
/// More full administrators than this is a finding (NET.3.2.A5/A6: few, named administrators).
pub const MAX_ADMINS: usize = 3;
/// A JWT lifetime above this (seconds) is a finding.
pub const MAX_JWT_LIFETIME: i64 = 24 * 3600;
/// Certificates expiring within this many days are a finding.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

pub const DEFAULT_PASSWORD: Check = Check {
    id: "PFS-AUTH-001",
    title: "The admin account still accepts the default password",
    area: Area::Accounts,
    severity: Severity::Critical,
    fix: Fix {
        summary: "Set a strong password for admin (or disable the account after creating a named administrator).",
        tool: Some("pfsense_update_user"),
        arguments: Some("{\"id\": <admin's id>, \"password\": \"…\"}"),
        gui: "System > User Manager > Users > admin",
    },
    references: &[NIST_521, BSI_A6, NG_USERS],
    run: |s| {
        let evidence = vec![ev(
            "BasicAuth admin:pfsense",
            "user admin",
            "default_password_probe",
            json!(s.default_password_probe),
        )];
        match s.default_password_probe {
            PasswordProbe::Accepted => Ok(Outcome::fail(
                "the REST API authenticated admin with the install default password \"pfsense\"",
                evidence,
            )),
            PasswordProbe::Refused => Ok(Outcome::pass(
                "the REST API refused admin with the install default password",
                evidence,
            )),
            PasswordProbe::BasicAuthDisabled => Err(Unknown(
                "the REST API does not accept BasicAuth, so the default password could not be tried; \
                 try logging in to the webGUI as admin/pfsense"
                    .into(),
            )),
            PasswordProbe::NotRun => Err(Unknown(
                "the default password was not tried (password hashes are never shown by the API); \
                 allow one BasicAuth attempt as admin:pfsense to check it"
                    .into(),
            )),
        }
    },
};

/// Users that are not disabled.
fn enabled_users(s: &Snapshot) -> Result<Vec<&Value>, Unknown> {
    Ok(s.list(USERS)?
        .iter()
        .filter(|u| !flag(u, "disabled"))
        .collect())
}

/// Whether a user has a privilege directly or through a group.
fn has_priv(user: &Value, groups: &[Value], privilege: &str) -> Option<String> {
    if strings(user, "priv").iter().any(|p| p == privilege) {
        return Some("user privilege".into());
    }
    let name = text(user, "name");
    groups
        .iter()
        .find(|g| {
            strings(g, "member").iter().any(|m| m == name)
                && strings(g, "priv").iter().any(|p| p == privilege)
        })
        .map(|g| format!("group {}", text(g, "name")))
}

/// The built-in administrator: uid 0 in pfSense.
fn is_builtin_admin(user: &Value) -> bool {
    user.get("uid").and_then(Value::as_i64) == Some(0)
}

pub const BUILTIN_ADMIN_ENABLED: Check = Check {
    id: "PFS-AUTH-002",
    title: "The built-in admin account is enabled",
    area: Area::Accounts,
    severity: Severity::Low,
    fix: Fix {
        summary: "Create a named administrator, then disable the built-in admin account.",
        tool: Some("pfsense_update_user"),
        arguments: Some("{\"id\": <admin's id>, \"disabled\": true}"),
        gui: "System > User Manager > Users > admin",
    },
    references: &[BSI_A6, NG_USERS],
    run: |s| {
        let users = s.list(USERS)?;
        let Some(admin) = users.iter().find(|u| is_builtin_admin(u)) else {
            return Err(Unknown(format!(
                "GET {USERS} lists no user with uid 0 (the built-in admin)"
            )));
        };
        let e = vec![ev(
            USERS,
            format!("user {}", text(admin, "name")),
            "disabled",
            admin.get("disabled").cloned().unwrap_or(Value::Null),
        )];
        if flag(admin, "disabled") {
            Ok(Outcome::pass("the built-in admin account is disabled", e))
        } else {
            Ok(Outcome::fail(
                "the built-in admin account (uid 0), the first target of password guessing, is enabled",
                e,
            ))
        }
    },
};

pub const ADMIN_PRIV_DIRECT: Check = Check {
    id: "PFS-AUTH-003",
    title: "Administrator privilege granted to a user directly instead of through a group",
    area: Area::Accounts,
    severity: Severity::Low,
    fix: Fix {
        summary: "Remove page-all from the user and add the user to the admins group instead.",
        tool: Some("pfsense_update_user"),
        arguments: Some("{\"id\": <user id>, \"priv\": [...without page-all]}"),
        gui: "System > User Manager > Users > (user) > Effective Privileges",
    },
    references: &[BSI_A4, NG_USERS],
    run: |s| {
        let mut e = Vec::new();
        for u in s.list(USERS)? {
            if strings(u, "priv").iter().any(|p| p == ADMIN_PRIV) {
                e.push(ev(
                    USERS,
                    format!("user {}", text(u, "name")),
                    "priv",
                    u.get("priv").cloned().unwrap_or(Value::Null),
                ));
            }
        }
        if e.is_empty() {
            Ok(Outcome::pass(
                "no user holds page-all directly; administrators come from groups",
                e,
            ))
        } else {
            Ok(Outcome::fail(
                format!("{} user(s) hold page-all directly", e.len()),
                e,
            ))
        }
    },
};

pub const TOO_MANY_ADMINS: Check = Check {
    id: "PFS-AUTH-004",
    title: "More full administrators than needed",
    area: Area::Accounts,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Give operators only the privileges they need; keep page-all for a few named administrators.",
        tool: Some("pfsense_update_user_group"),
        arguments: Some("{\"id\": <admins group id>, \"member\": [...]}"),
        gui: "System > User Manager > Groups > admins",
    },
    references: &[BSI_A6, NIST_521, NG_USERS],
    run: |s| {
        let groups = s.list(GROUPS)?;
        let mut e = Vec::new();
        for u in enabled_users(s)? {
            if let Some(how) = has_priv(u, groups, ADMIN_PRIV) {
                e.push(ev(
                    USERS,
                    format!("user {}", text(u, "name")),
                    "page-all via",
                    json!(how),
                ));
            }
        }
        let detail = format!(
            "{} enabled user(s) hold page-all (limit {MAX_ADMINS})",
            e.len()
        );
        if e.len() > MAX_ADMINS {
            Ok(Outcome::fail(detail, e))
        } else {
            Ok(Outcome::pass(detail, e))
        }
    },
};

pub const USERS_WITHOUT_EXPIRY: Check = Check {
    id: "PFS-AUTH-005",
    title: "Local users without an expiry date",
    area: Area::Accounts,
    severity: Severity::Low,
    fix: Fix {
        summary: "Set an expiry date on accounts of people and contractors (the built-in admin is exempt).",
        tool: Some("pfsense_update_user"),
        arguments: Some("{\"id\": <user id>, \"expires\": \"mm/dd/YYYY\"}"),
        gui: "System > User Manager > Users > (user) > Expiration date",
    },
    references: &[BSI_A4, NG_USERS],
    run: |s| {
        let mut e = Vec::new();
        for u in enabled_users(s)? {
            if !is_builtin_admin(u) && text(u, "expires").is_empty() {
                e.push(ev(
                    USERS,
                    format!("user {}", text(u, "name")),
                    "expires",
                    u.get("expires").cloned().unwrap_or(Value::Null),
                ));
            }
        }
        if e.is_empty() {
            Ok(Outcome::pass(
                "every enabled user besides the built-in admin has an expiry date",
                e,
            ))
        } else {
            Ok(Outcome::fail(
                format!("{} enabled user(s) never expire", e.len()),
                e,
            ))
        }
    },
};

pub const SHELL_ACCESS: Check = Check {
    id: "PFS-AUTH-006",
    title: "Users besides the built-in admin have shell access",
    area: Area::Accounts,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Remove user-shell-access from users who do not administer the box at the shell.",
        tool: Some("pfsense_update_user"),
        arguments: Some("{\"id\": <user id>, \"priv\": [...without user-shell-access]}"),
        gui: "System > User Manager > Users > (user) > Effective Privileges",
    },
    references: &[BSI_A6, NIST_521],
    run: |s| {
        let groups = s.list(GROUPS)?;
        let mut e = Vec::new();
        for u in enabled_users(s)? {
            if is_builtin_admin(u) {
                continue;
            }
            if let Some(how) = has_priv(u, groups, SHELL_PRIV) {
                e.push(ev(
                    USERS,
                    format!("user {}", text(u, "name")),
                    "user-shell-access via",
                    json!(how),
                ));
            }
        }
        if e.is_empty() {
            Ok(Outcome::pass("no other user has shell access", e))
        } else {
            Ok(Outcome::fail(
                format!("{} user(s) have shell access", e.len()),
                e,
            ))
        }
    },
};

pub const CONSOLE_UNPROTECTED: Check = Check {
    id: "PFS-AUTH-007",
    title: "The console menu is not password protected",
    area: Area::Accounts,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Require a password on the console menu.",
        tool: Some("pfsense_update_system_console"),
        arguments: Some("{\"passwd_protect_console\": true}"),
        gui: "System > Advanced > Admin Access > Console Options",
    },
    references: &[BSI_A6, NG_ADMIN],
    run: |s| {
        let on = required_flag(s, CONSOLE, "passwd_protect_console")?;
        let e = vec![ev(CONSOLE, "console", "passwd_protect_console", json!(on))];
        if on {
            Ok(Outcome::pass("the console asks for a password", e))
        } else {
            Ok(Outcome::fail(
                "anyone at the console (or serial port) gets the menu and a root shell without a password",
                e,
            ))
        }
    },
};

pub const WEBGUI_HTTP: Check = Check {
    id: "PFS-MGMT-001",
    title: "The webGUI is served over plain HTTP",
    area: Area::Management,
    severity: Severity::High,
    fix: Fix {
        summary: "Serve the webGUI (and with it the REST API) over HTTPS only.",
        tool: Some("pfsense_update_system_webgui_settings"),
        arguments: Some("{\"protocol\": \"https\", \"sslcertref\": <certificate refid>}"),
        gui: "System > Advanced > Admin Access > webConfigurator",
    },
    references: &[BSI_A6, NIST_521, NG_REMOTE_GUI, PFREST_SECURING],
    run: |s| {
        let protocol = field_value(s, WEBGUI_SETTINGS, "protocol")?;
        let e = vec![ev(WEBGUI_SETTINGS, "webGUI", "protocol", protocol.clone())];
        match protocol.as_str() {
            Some("https") => Ok(Outcome::pass("the webGUI uses HTTPS", e)),
            Some("http") => Ok(Outcome::fail(
                "the webGUI and the REST API send passwords and API keys unencrypted",
                e,
            )),
            _ => Err(Unknown(format!(
                "GET {WEBGUI_SETTINGS} `protocol` is {protocol}"
            ))),
        }
    },
};

/// The webGUI's certificate, parsed, or why not.
fn webgui_cert(s: &Snapshot) -> Result<(String, super::certs::CertInfo), Unknown> {
    if s.field(WEBGUI_SETTINGS, "protocol")?.as_str() == Some("http") {
        return Err(Unknown(
            "the webGUI uses plain HTTP (see PFS-MGMT-001): no certificate".into(),
        ));
    }
    let refid = text(s.data(WEBGUI_SETTINGS)?, "sslcertref").to_string();
    if refid.is_empty() {
        return Err(Unknown(format!(
            "GET {WEBGUI_SETTINGS} names no sslcertref"
        )));
    }
    let cert = s
        .list(CERTIFICATES)?
        .iter()
        .find(|c| text(c, "refid") == refid)
        .ok_or_else(|| {
            Unknown(format!(
                "the webGUI's certificate {refid} is not among GET {CERTIFICATES}"
            ))
        })?;
    Ok((refid, super::certs::inspect(cert)?))
}

pub const WEBGUI_SELF_SIGNED: Check = Check {
    id: "PFS-MGMT-002",
    title: "The webGUI uses a self-signed certificate",
    area: Area::Management,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Issue the webGUI certificate from a CA the administrators trust (internal CA or ACME), then select it.",
        tool: Some("pfsense_update_system_webgui_settings"),
        arguments: Some("{\"sslcertref\": <refid of a CA-issued certificate>}"),
        gui: "System > Advanced > Admin Access > SSL/TLS Certificate",
    },
    references: &[BSI_A6, NG_CERTS],
    run: |s| {
        let (refid, info) = webgui_cert(s)?;
        let e = vec![
            ev(
                CERTIFICATES,
                format!("certificate {refid}"),
                "crt.subject",
                json!(info.subject),
            ),
            ev(
                CERTIFICATES,
                format!("certificate {refid}"),
                "crt.issuer",
                json!(info.issuer),
            ),
        ];
        if info.self_signed {
            Ok(Outcome::fail(
                "browsers cannot verify the webGUI, so users learn to click through warnings",
                e,
            ))
        } else {
            Ok(Outcome::pass("the webGUI certificate is issued by a CA", e))
        }
    },
};

pub const WEBGUI_CERT_EXPIRING: Check = Check {
    id: "PFS-MGMT-003",
    title: "The webGUI certificate is expired or expires within 30 days",
    area: Area::Management,
    severity: Severity::High,
    fix: Fix {
        summary: "Renew the webGUI certificate (or issue a new one and select it).",
        tool: Some("pfsense_update_system_webgui_settings"),
        arguments: Some("{\"sslcertref\": <refid of the renewed certificate>}"),
        gui: "System > Certificates > Certificates",
    },
    references: &[BSI_A6, NG_CERTS],
    run: |s| {
        let (refid, info) = webgui_cert(s)?;
        let days = (info.not_after - s.taken_at_unix).div_euclid(86_400);
        let e = vec![ev(
            CERTIFICATES,
            format!("certificate {refid}"),
            "valid_until",
            json!(format_date(info.not_after)),
        )];
        if days < 0 {
            Ok(Outcome::fail(
                format!("the webGUI certificate expired {} day(s) ago", -days),
                e,
            ))
        } else if days < EXPIRY_WARNING_DAYS {
            Ok(Outcome::fail(
                format!("the webGUI certificate expires in {days} day(s)"),
                e,
            ))
        } else {
            Ok(Outcome::pass(
                format!("the webGUI certificate is valid for {days} more days"),
                e,
            ))
        }
    },
};

pub const WEBGUI_FROM_WAN: Check = Check {
    id: "PFS-MGMT-004",
    title: "The webGUI is reachable from the Internet",
    area: Area::Management,
    severity: Severity::Critical,
    fix: Fix {
        summary: "Remove or restrict WAN pass rules to the firewall's own webGUI port; administer over a VPN.",
        tool: Some("pfsense_delete_firewall_rule"),
        arguments: Some("{\"id\": <rule id>} then pfsense_firewall_apply"),
        gui: "Firewall > Rules > WAN",
    },
    references: &[V206703, BSI_A6, BSI_A18, NG_REMOTE_GUI, PFREST_SECURING],
    run: |s| super::reach::from_internet(s, super::reach::Service::WebGui),
};

pub const SSH_FROM_WAN: Check = Check {
    id: "PFS-MGMT-005",
    title: "SSH is reachable from the Internet",
    area: Area::Management,
    severity: Severity::High,
    fix: Fix {
        summary: "Remove or restrict WAN pass rules to the firewall's SSH port; administer over a VPN.",
        tool: Some("pfsense_delete_firewall_rule"),
        arguments: Some("{\"id\": <rule id>} then pfsense_firewall_apply"),
        gui: "Firewall > Rules > WAN",
    },
    references: &[V206703, BSI_A6, BSI_A18],
    run: |s| {
        // With SSH off nothing listens, whatever the rules say.
        if !required_flag(s, SSH, "enable")? {
            return Ok(Outcome::pass(
                "SSH is disabled",
                vec![ev(SSH, "sshd", "enable", json!(false))],
            ));
        }
        super::reach::from_internet(s, super::reach::Service::Ssh)
    },
};

pub const SSH_PASSWORD_LOGIN: Check = Check {
    id: "PFS-MGMT-006",
    title: "SSH accepts password logins",
    area: Area::Management,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Allow public-key logins only (add authorized keys to the administrators first).",
        tool: Some("pfsense_update_services_ssh"),
        arguments: Some("{\"sshdkeyonly\": \"enabled\"}"),
        gui: "System > Advanced > Admin Access > Secure Shell",
    },
    references: &[BSI_A6, NIST_521, NG_ADMIN],
    run: |s| {
        let enabled = required_flag(s, SSH, "enable")?;
        let mut e = vec![ev(SSH, "sshd", "enable", json!(enabled))];
        if !enabled {
            return Ok(Outcome::pass("SSH is disabled", e));
        }
        let mode = s.field(SSH, "sshdkeyonly")?.clone();
        e.push(ev(SSH, "sshd", "sshdkeyonly", mode.clone()));
        match mode.as_str() {
            Some("enabled") => Ok(Outcome::pass("SSH accepts public keys only", e)),
            _ => Ok(Outcome::fail(
                "SSH accepts passwords, which can be guessed",
                e,
            )),
        }
    },
};

pub const SSH_AGENT_FORWARDING: Check = Check {
    id: "PFS-MGMT-007",
    title: "SSH allows agent forwarding",
    area: Area::Management,
    severity: Severity::Low,
    fix: Fix {
        summary: "Turn off SSH agent forwarding.",
        tool: Some("pfsense_update_services_ssh"),
        arguments: Some("{\"sshdagentforwarding\": false}"),
        gui: "System > Advanced > Admin Access > Secure Shell",
    },
    references: &[BSI_A6],
    run: |s| {
        let enabled = required_flag(s, SSH, "enable")?;
        let fwd = flag(s.data(SSH)?, "sshdagentforwarding");
        let e = vec![
            ev(SSH, "sshd", "enable", json!(enabled)),
            ev(SSH, "sshd", "sshdagentforwarding", json!(fwd)),
        ];
        if enabled && fwd {
            Ok(Outcome::fail(
                "a compromised firewall could use administrators' forwarded SSH agents",
                e,
            ))
        } else {
            Ok(Outcome::pass("no SSH agent forwarding", e))
        }
    },
};

pub const API_BASIC_AUTH: Check = Check {
    id: "PFS-API-001",
    title: "The REST API accepts passwords (not KeyAuth only)",
    area: Area::RestApi,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Create API keys for the clients, then allow KeyAuth only.",
        tool: Some("pfsense_update_system_restapi_settings"),
        arguments: Some("{\"auth_methods\": [\"KeyAuth\"]}"),
        gui: "System > REST API > Settings > Authentication Methods",
    },
    references: &[PFREST_SECURING, BSI_A6],
    run: |s| {
        let methods = field_value(s, REST_API_SETTINGS, "auth_methods")?;
        let list: Vec<&str> = methods
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let e = vec![ev(
            REST_API_SETTINGS,
            "REST API",
            "auth_methods",
            methods.clone(),
        )];
        if list == ["KeyAuth"] {
            Ok(Outcome::pass("the REST API accepts API keys only", e))
        } else if list.is_empty() {
            Err(Unknown(format!(
                "GET {REST_API_SETTINGS} `auth_methods` is {methods}"
            )))
        } else {
            Ok(Outcome::fail(
                format!(
                    "the REST API accepts {}: user passwords open the API",
                    list.join(", ")
                ),
                e,
            ))
        }
    },
};

pub const API_ALL_INTERFACES: Check = Check {
    id: "PFS-API-002",
    title: "The REST API answers on every interface, including WAN",
    area: Area::RestApi,
    severity: Severity::High,
    fix: Fix {
        summary: "Limit the REST API to the management interfaces (never WAN).",
        tool: Some("pfsense_update_system_restapi_settings"),
        arguments: Some("{\"allowed_interfaces\": [\"lan\"]}"),
        gui: "System > REST API > Settings > Allowed Interfaces",
    },
    references: &[V206703, BSI_A6, BSI_A18, PFREST_SECURING],
    run: |s| {
        let allowed = field_value(s, REST_API_SETTINGS, "allowed_interfaces")?;
        let list: Vec<String> = allowed
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut e = vec![ev(
            REST_API_SETTINGS,
            "REST API",
            "allowed_interfaces",
            allowed.clone(),
        )];
        if list.is_empty() {
            return Ok(Outcome::fail(
                "no interface restriction: the REST API answers on every interface",
                e,
            ));
        }
        let wan = internet_facing(s)?;
        let exposed: Vec<String> = list
            .iter()
            .filter(|n| wan.iter().any(|w| w.named_by(n)))
            .cloned()
            .collect();
        if exposed.is_empty() {
            Ok(Outcome::pass(
                format!("the REST API answers on {} only", list.join(", ")),
                e,
            ))
        } else {
            e.extend(
                wan.iter()
                    .map(|w| ev(INTERFACES, w.label(), "faces the Internet", json!(true))),
            );
            Ok(Outcome::fail(
                format!(
                    "the REST API answers on Internet-facing {}",
                    exposed.join(", ")
                ),
                e,
            ))
        }
    },
};

pub const API_ACCESS_LIST_OPEN: Check = Check {
    id: "PFS-API-003",
    title: "The REST API access list allows every address",
    area: Area::RestApi,
    severity: Severity::High,
    fix: Fix {
        summary: "Replace the allow-all entries with the management networks that need the API.",
        tool: Some("pfsense_update_system_restapi_access_list_entry"),
        arguments: Some("{\"id\": <entry id>, \"network\": \"192.168.1.0/24\"}"),
        gui: "System > REST API > Access List",
    },
    references: &[V206703, BSI_A6, PFREST_SECURING],
    run: |s| {
        let mut e = Vec::new();
        for (i, entry) in s.list(REST_API_ACCESS_LIST)?.iter().enumerate() {
            let net = text(entry, "network");
            if text(entry, "type") == "allow"
                // Any prefix of length 0: pfrest's own default IPv6 entry is `0::/0`.
                && (net == "any" || net.ends_with("/0"))
                && strings(entry, "users").is_empty()
            {
                e.push(ev(
                    REST_API_ACCESS_LIST,
                    format!("entry #{i} \"{}\"", text(entry, "descr")),
                    "network",
                    json!(net),
                ));
            }
        }
        if e.is_empty() {
            Ok(Outcome::pass(
                "no access list entry allows every address to every user",
                e,
            ))
        } else {
            Ok(Outcome::fail(
                format!("{} entry(ies) allow any address", e.len()),
                e,
            ))
        }
    },
};

fn settings_flag_check(
    s: &Snapshot,
    field: &str,
    want: bool,
    good: &str,
    bad: &str,
) -> CheckResult {
    let v = required_flag(s, REST_API_SETTINGS, field)?;
    let e = vec![ev(REST_API_SETTINGS, "REST API", field, json!(v))];
    if v == want {
        Ok(Outcome::pass(good, e))
    } else {
        Ok(Outcome::fail(bad, e))
    }
}

pub const API_LOGIN_PROTECTION: Check = Check {
    id: "PFS-API-004",
    title: "REST API login protection is off",
    area: Area::RestApi,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Turn on login protection so repeated failed API logins block the source like webGUI logins do.",
        tool: Some("pfsense_update_system_restapi_settings"),
        arguments: Some("{\"login_protection\": true}"),
        gui: "System > REST API > Settings > Login Protection",
    },
    references: &[PFREST_SECURING, BSI_A6],
    run: |s| {
        settings_flag_check(
            s,
            "login_protection",
            true,
            "failed API logins count towards the login protection",
            "API passwords and keys can be guessed without lockout",
        )
    },
};

pub const API_SENSITIVE_FIELDS: Check = Check {
    id: "PFS-API-005",
    title: "The REST API exposes sensitive fields",
    area: Area::RestApi,
    severity: Severity::High,
    fix: Fix {
        summary: "Stop exposing password hashes, keys and secrets in API answers.",
        tool: Some("pfsense_update_system_restapi_settings"),
        arguments: Some("{\"expose_sensitive_fields\": false, \"override_sensitive_fields\": []}"),
        gui: "System > REST API > Settings > Expose Sensitive Fields",
    },
    references: &[PFREST_SECURING, BSI_A4],
    run: |s| {
        let expose = required_flag(s, REST_API_SETTINGS, "expose_sensitive_fields")?;
        let overrides = s
            .data(REST_API_SETTINGS)?
            .get("override_sensitive_fields")
            .cloned()
            .unwrap_or(Value::Null);
        let n = overrides.as_array().map(Vec::len).unwrap_or(0);
        let e = vec![
            ev(
                REST_API_SETTINGS,
                "REST API",
                "expose_sensitive_fields",
                json!(expose),
            ),
            ev(
                REST_API_SETTINGS,
                "REST API",
                "override_sensitive_fields",
                overrides,
            ),
        ];
        if expose || n > 0 {
            Ok(Outcome::fail(
                "API answers carry secrets (password hashes, private keys, pre-shared keys) to every reader",
                e,
            ))
        } else {
            Ok(Outcome::pass("sensitive fields stay hidden", e))
        }
    },
};

pub const API_READ_ONLY: Check = Check {
    id: "PFS-API-006",
    title: "The REST API accepts changes",
    area: Area::RestApi,
    severity: Severity::Info,
    fix: Fix {
        summary: "If the API is used for monitoring only, make it read-only.",
        tool: Some("pfsense_update_system_restapi_settings"),
        arguments: Some("{\"read_only\": true}"),
        gui: "System > REST API > Settings > Read Only",
    },
    references: &[PFREST_SECURING],
    run: |s| {
        settings_flag_check(
            s,
            "read_only",
            true,
            "the REST API is read-only",
            "the REST API accepts changes (expected if it is used to manage the firewall)",
        )
    },
};

pub const API_LOG_AUTH: Check = Check {
    id: "PFS-API-007",
    title: "Successful REST API logins are not logged",
    area: Area::RestApi,
    severity: Severity::Low,
    fix: Fix {
        summary: "Log successful API authentication so use of stolen keys shows up.",
        tool: Some("pfsense_update_system_restapi_settings"),
        arguments: Some("{\"log_successful_auth\": true}"),
        gui: "System > REST API > Settings > Log Successful Authentication",
    },
    references: &[BSI_A9, NIST_523],
    run: |s| {
        settings_flag_check(
            s,
            "log_successful_auth",
            true,
            "successful API logins are logged",
            "who used the API, and when, is not recorded",
        )
    },
};

pub const API_JWT_LIFETIME: Check = Check {
    id: "PFS-API-008",
    title: "REST API tokens (JWT) live longer than a day",
    area: Area::RestApi,
    severity: Severity::Low,
    fix: Fix {
        summary: "Shorten the JWT lifetime (default one hour).",
        tool: Some("pfsense_update_system_restapi_settings"),
        arguments: Some("{\"jwt_exp\": 3600}"),
        gui: "System > REST API > Settings > JWT Expiration",
    },
    references: &[PFREST_SECURING],
    run: |s| {
        let exp = field_value(s, REST_API_SETTINGS, "jwt_exp")?;
        let e = vec![ev(REST_API_SETTINGS, "REST API", "jwt_exp", exp.clone())];
        let methods = strings(s.data(REST_API_SETTINGS)?, "auth_methods");
        if !methods.iter().any(|m| m == "JWTAuth") {
            return Ok(Outcome::pass("JWT authentication is not enabled", e));
        }
        match exp.as_i64() {
            Some(n) if n > MAX_JWT_LIFETIME => Ok(Outcome::fail(
                format!("a leaked token stays valid for {n} s"),
                e,
            )),
            Some(n) => Ok(Outcome::pass(format!("tokens expire after {n} s"), e)),
            None => Err(Unknown(format!(
                "GET {REST_API_SETTINGS} `jwt_exp` is {exp}"
            ))),
        }
    },
};

pub const API_HA_SYNC_CERTS: Check = Check {
    id: "PFS-API-009",
    title: "REST API HA sync does not verify the peers' certificates",
    area: Area::RestApi,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Verify the HA peers' certificates when syncing REST API settings.",
        tool: Some("pfsense_update_system_restapi_settings"),
        arguments: Some("{\"ha_sync_validate_certs\": true}"),
        gui: "System > REST API > Settings > HA Sync",
    },
    references: &[PFREST_SECURING, BSI_A4],
    run: |s| {
        let sync = required_flag(s, REST_API_SETTINGS, "ha_sync")?;
        let mut e = vec![ev(REST_API_SETTINGS, "REST API", "ha_sync", json!(sync))];
        if !sync {
            return Ok(Outcome::pass("HA sync is off", e));
        }
        let validate = required_flag(s, REST_API_SETTINGS, "ha_sync_validate_certs")?;
        e.push(ev(
            REST_API_SETTINGS,
            "REST API",
            "ha_sync_validate_certs",
            json!(validate),
        ));
        if validate {
            Ok(Outcome::pass("HA sync verifies the peers", e))
        } else {
            Ok(Outcome::fail(
                "the sync sends the API settings and credentials to an unverified peer",
                e,
            ))
        }
    },
};
