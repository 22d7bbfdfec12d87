//! Why tools fail against the pfrest lab (`--target lab`), by pfrest response id: each failure
//! is a gap of the lab's stand-ins, a rule of the real API (same code as a box), or a bug of
//! ours (the exerciser's values or the product). Measured on v2.7.1; see crates/pfrest-lab.

/// Kind of a lab failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The lab cannot answer like a box: an OS reading or an add-on package it lacks.
    LabGap,
    /// pfrest refuses the request on a box too.
    RealApiRule,
    /// Our exerciser (or product) sends what a box refuses: to fix on our side.
    OurBug,
}

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::LabGap => "lab stand-in gap",
            Class::RealApiRule => "real API rule",
            Class::OurBug => "our bug",
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
        "the choices of assignable NICs come from FreeBSD's netstat output, which the lab reads from Debian's",
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
        "a PHP error in a path the lab's stand-ins do not cover: add-on package functions called where pfrest did not load the package include (PUT replace-all of FreeRADIUS and watchdog, ACME's namespaced set_cronjob, ACME account key defaults) and NTP time servers PUT (set_config with a null path); the message names the function",
    ),
];

/// The class and reason of one failure, by its response id.
pub fn classify(response_id: Option<&str>) -> Option<(Class, &'static str)> {
    let id = response_id?;
    LAB_FAILURES
        .iter()
        .find(|(rid, _, _)| *rid == id)
        .map(|(_, class, why)| (*class, *why))
}
