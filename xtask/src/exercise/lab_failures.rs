//! Why tools fail against the pfrest lab (`--target lab`), by pfrest response id: each failure
//! is a gap of the lab's stand-ins, a rule of the real API (same code as a box), or a bug of
//! ours (the exerciser's values or the product). Measured on v2.7.1; see crates/pfrest-lab.

use super::report::{Outcome, ToolRecord};
use super::values::{DEPENDENCIES, Dep, Source, source_of};
use pfsense_spec::{Method, PathKind, Spec};
use std::collections::BTreeMap;

/// Kind of a lab failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The lab cannot answer like a box: an OS reading or an add-on package it lacks.
    LabGap,
    /// pfrest refuses the request on a box too.
    RealApiRule,
    /// Our exerciser (or product) sends what a box refuses: to fix on our side.
    OurBug,
    /// Our safety layer refuses it in the exerciser's setup, on purpose (`REFUSED_BY_DESIGN`).
    ByDesign,
}

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::LabGap => "lab stand-in gap",
            Class::RealApiRule => "real API rule",
            Class::OurBug => "our bug",
            Class::ByDesign => "refused by our safety layer by design",
        }
    }
}

/// (pfrest response id, class, why). The first matching row applies.
pub const LAB_FAILURES: &[(&str, Class, &str)] = &[
    (
        "MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL",
        Class::RealApiRule,
        "HAProxy dns_resolver / email_mailer singular endpoints answer this 500 on real boxes too",
    ),
    (
        "MODEL_OBJECT_NOT_FOUND",
        Class::OurBug,
        "the exerciser could not create this model's object (its create failed, see that tool), so the singular tool ran on an id that does not exist",
    ),
    (
        "MODEL_PARENT_OBJECT_NOT_FOUND",
        Class::OurBug,
        "the exerciser could not create the parent object (or the lab has no status entries to address), so the tool ran on a parent id that does not exist",
    ),
    (
        "MODEL_MANY_MINIMUM_REACHED",
        Class::RealApiRule,
        "pfrest keeps at least one object of this model (a bulk delete of every object is refused)",
    ),
    (
        "INTERFACE_LAGG_MEMBER_DOES_NOT_EXIST",
        Class::OurBug,
        "the exerciser names the emulator's em* NICs; the lab (like the golden VM's virtio NICs) has vtnet0-3",
    ),
    (
        "VLAN_INTERFACE_PARENT_NOT_FOUND",
        Class::OurBug,
        "the exerciser names the emulator's em* NICs; the lab has vtnet0-3",
    ),
    (
        "FIELD_INVALID_CHOICE",
        Class::LabGap,
        "choices pfSense reads from FreeBSD tools the lab has no stand-in for (OpenVPN ciphers and DH lengths from openvpn)",
    ),
    (
        "FIELD_IS_REQUIRED",
        Class::OurBug,
        "the exerciser leaves out a field pfrest requires conditionally (the spec marks it optional); the emulator does not enforce it",
    ),
    (
        "INTERFACE_GRE_HAS_NO_LOCAL_ADDRESS",
        Class::OurBug,
        "pfrest needs tunnel_local_addr or tunnel_local_addr6 for GRE; the exerciser sends neither",
    ),
    (
        "FIELD_MUST_BE_UNIQUE",
        Class::RealApiRule,
        "uniqueness is checked before the old objects are replaced (PUT), or the exerciser's second object reuses a unique value",
    ),
    (
        "DHCP_SERVER_RANGE_FROM_OUTSIDE_OF_SUBNET",
        Class::OurBug,
        "the exerciser's DHCP range is not inside the interface's subnet (192.168.1.0/24 on the lab's LAN)",
    ),
    (
        "CERTIFICATE_AUTHORITY_CRT_NOT_VALID_CA",
        Class::OurBug,
        "the exerciser's PEM is not a CA certificate; the emulator does not parse it",
    ),
    (
        "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
        Class::OurBug,
        "a reference to an object the exerciser could not create (a CA or certificate), or a package name not in the lab's package list",
    ),
    (
        "CERTIFICATE_AUTHORITY_GENERATE_FAILED",
        Class::LabGap,
        "key generation reads FreeBSD's OpenSSL configuration, which the lab does not provide",
    ),
    (
        "CERTIFICATE_SIGNING_REQUEST_GENERATE_FAILED",
        Class::LabGap,
        "CSR generation reads FreeBSD's OpenSSL configuration, which the lab does not provide",
    ),
    (
        "CERTIFICATE_CANNOT_BE_DELETED_WHILE_IN_USE",
        Class::RealApiRule,
        "the webGUI certificate is in use; pfrest refuses to delete it",
    ),
    (
        "WAKE_ON_LAN_SEND_COMMAND_FAILED",
        Class::LabGap,
        "FreeBSD's /usr/local/bin/wol is not stood in",
    ),
    (
        "RESTAPI_SETTINGS_SYNC_SYNC_DATA_COULD_NOT_BE_UNSERIALIZED",
        Class::RealApiRule,
        "the HA sync endpoint takes data serialised by a peer; the exerciser's string is not",
    ),
    (
        "FIELD_EMPTY_NOT_ALLOWED",
        Class::OurBug,
        "the exerciser sends an empty HAProxy action `acl`; pfrest requires one (the spec does not say so)",
    ),
    (
        "IP_ADDRESS_VALIDATOR_FAILED",
        Class::OurBug,
        "the exerciser sends a plain string for an address field the spec types only as string (BIND masterip)",
    ),
    (
        "LOG_FILE_TRAITS_FILE_NOT_FOUND",
        Class::LabGap,
        "a log file syslogd writes on a box",
    ),
    (
        "ENDPOINT_RECEIVED_UNEXPECTED_ERROR",
        Class::LabGap,
        "a PHP error in a path the lab's stand-ins do not cover: add-on package functions called where pfrest did not load the package include (PUT replace-all of FreeRADIUS and watchdog, ACME's namespaced set_cronjob, ACME account key server list); the message names the function",
    ),
];

/// Tools whose failure has a cause of its own, whatever the response id says (checked before
/// `LAB_FAILURES`): (tool, class, why).
pub const LAB_FAILURES_BY_TOOL: &[(&str, Class, &str)] = &[
    // Status tables read from the OS: the lab's stand-ins list no entries, so the singular
    // tools run on an id that does not exist (a box with traffic has them).
    (
        "pfsense_get_firewall_state",
        Class::LabGap,
        "the pf stand-in reports no states",
    ),
    (
        "pfsense_delete_firewall_state",
        Class::LabGap,
        "the pf stand-in reports no states",
    ),
    (
        "pfsense_get_status_ipsec_child_sa",
        Class::LabGap,
        "the IPsec stand-in reports no security associations",
    ),
    (
        "pfsense_get_status_openvpn_server_connection",
        Class::LabGap,
        "no OpenVPN server runs in the lab, so its status lists no server to address",
    ),
    (
        "pfsense_delete_status_openvpn_server_connection",
        Class::LabGap,
        "no OpenVPN server runs in the lab, so its status lists no server to address",
    ),
    (
        "pfsense_get_status_openvpn_server_route",
        Class::LabGap,
        "no OpenVPN server runs in the lab, so its status lists no server to address",
    ),
    (
        "pfsense_create_system_package",
        Class::LabGap,
        "the lab has no package repository: pfrest's list of available packages (from `pkg search`) is empty",
    ),
    (
        "pfsense_create_vpn_openvpn_server",
        Class::LabGap,
        "the choices of ciphers and DH lengths come from the `openvpn` binary (--show-ciphers and the like), which the lab does not have",
    ),
    (
        "pfsense_create_vpn_openvpn_client",
        Class::LabGap,
        "the choices of data ciphers come from the `openvpn` binary (--show-ciphers), which the lab does not have",
    ),
    (
        "pfsense_create_system_crl",
        Class::LabGap,
        "CRL encoding needs pfSense's ASN.1 library (ASN1_UTF8STRING.php and others); the lab stands in only ASN1_INT",
    ),
    (
        "pfsense_replace_services_ntp_time_servers",
        Class::RealApiRule,
        "pfrest v2.7.1 bug, same code on a box: NTPTimeServer has no config path (it reads through an internal callable), so PUT's Model::set_config(null) throws a TypeError",
    ),
];

/// Response ids that only say an object the call names is missing: the cause is the tool that
/// should have made it (the model's create, its parent's, or a referenced object's), so the
/// failure takes that tool's class.
const FOLLOW_ON: &[&str] = &[
    "MODEL_OBJECT_NOT_FOUND",
    "MODEL_PARENT_OBJECT_NOT_FOUND",
    "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
];

/// The class and reason of one failure, by its tool and response id.
pub fn classify(tool: &str, response_id: Option<&str>) -> Option<(Class, &'static str)> {
    if let Some((_, class, why)) = LAB_FAILURES_BY_TOOL.iter().find(|(t, _, _)| *t == tool) {
        return Some((*class, *why));
    }
    let id = response_id?;
    LAB_FAILURES
        .iter()
        .find(|(rid, _, _)| *rid == id)
        .map(|(_, class, why)| (*class, *why))
}

/// The tools that make the objects `tool` needs: its model's create (or the action that makes
/// one), its parent's, and those of the objects its model references.
fn makers(spec: &Spec, tool: &str) -> Vec<String> {
    let Some(op) = spec.operation(tool) else {
        return Vec::new();
    };
    let mut models = vec![op.model.clone()];
    models.extend(op.parent_model.clone());
    for (m, _, dep) in DEPENDENCIES {
        if *m == op.model {
            let (Dep::Field(target, _) | Dep::FreshField(target, _) | Dep::Id(target)) = dep;
            models.push(target.to_string());
        }
    }
    let mut out = Vec::new();
    for model in models {
        if let Some(Source::Action(action)) = source_of(&model) {
            out.push(action.to_string());
        }
        out.extend(
            spec.operations
                .iter()
                .filter(|o| o.model == model && o.path_kind == PathKind::Item)
                .filter(|o| o.method == Method::Post)
                .map(|o| o.tool_name.clone()),
        );
    }
    out.retain(|t| t != tool);
    out
}

/// Classify every failed record of a lab run (known real-box failures keep their reason) and
/// count them by class label.
pub fn classify_all(
    records: &mut BTreeMap<String, ToolRecord>,
    spec: &Spec,
) -> BTreeMap<&'static str, usize> {
    let verdicts: BTreeMap<String, (String, String)> = records
        .iter()
        .filter(|(_, r)| r.outcome != Outcome::Ok)
        .map(|(name, _)| (name.clone(), verdict(records, spec, name, 0)))
        .collect();
    let mut counts = BTreeMap::new();
    for (name, (label, why)) in verdicts {
        if let Some(rec) = records.get_mut(&name) {
            rec.reason = Some(format!("{label}: {why}"));
        }
        let label: &'static str = match label.as_str() {
            l if l == Class::LabGap.label() => Class::LabGap.label(),
            l if l == Class::RealApiRule.label() => Class::RealApiRule.label(),
            l if l == Class::OurBug.label() => Class::OurBug.label(),
            l if l == Class::ByDesign.label() => Class::ByDesign.label(),
            "not invoked" => "not invoked",
            _ => "unclassified",
        };
        *counts.entry(label).or_insert(0usize) += 1;
    }
    counts
}

/// (class label, why) of one failed tool; a follow-on failure takes the class of the failed
/// tool that should have made its object.
fn verdict(
    records: &BTreeMap<String, ToolRecord>,
    spec: &Spec,
    tool: &str,
    depth: u32,
) -> (String, String) {
    let Some(rec) = records.get(tool) else {
        return ("unclassified".into(), "no record".into());
    };
    if rec.outcome == Outcome::Refused
        && let Some((_, why)) = super::driver::REFUSED_BY_DESIGN
            .iter()
            .find(|(t, _)| *t == tool)
    {
        return (Class::ByDesign.label().into(), (*why).into());
    }
    // Failures every real box shows (driver::KNOWN_FAILURES) keep their reason.
    if let Some(known) = &rec.reason {
        return ("real API rule".into(), known.clone());
    }
    let id = rec.response_id.as_deref();
    let by_tool = LAB_FAILURES_BY_TOOL.iter().any(|(t, _, _)| *t == tool);
    if !by_tool && id.is_some_and(|id| FOLLOW_ON.contains(&id)) && depth < 4 {
        for maker in makers(spec, tool) {
            let failed = records
                .get(&maker)
                .is_some_and(|r| r.outcome != Outcome::Ok && r.invoked);
            if failed {
                let (label, why) = verdict(records, spec, &maker, depth + 1);
                if label != "unclassified" {
                    return (label, format!("follows from {maker} ({why})"));
                }
            }
        }
    }
    match classify(tool, id) {
        Some((class, why)) => (class.label().into(), why.into()),
        None if !rec.invoked => ("not invoked".into(), "its object could not be made".into()),
        None => (
            "unclassified".into(),
            "no row in exercise/lab_failures.rs".into(),
        ),
    }
}
