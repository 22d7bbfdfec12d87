//! The compiled-in initial state: what a fresh pfSense CE 2.8.1 with the REST API package looks
//! like. Written from our own reading of a default config; objects only name the fields that
//! matter, every other model field is filled from its spec default when the store is built.

use serde_json::{Value, json};

/// Password of the seeded `admin` user (the pfSense install default).
pub const DEFAULT_PASSWORD: &str = "pfsense";

/// Hidden key holding a string id (`wan`, `lan`, `bogons`) for models addressed by name.
pub const STRING_ID_KEY: &str = "__id";

/// The seed's fixed part, read at start: as data it is 9 KB of the binary, where the same
/// `json!` literal compiled to 76 KB of code (the `pfsense-mcp` binary carries the emulator for
/// `--sandbox` and is held to 20 MB). The interfaces and the admin's password are set below.
const SEED: &str = include_str!("seed.json");

/// Seed data: `{"collections": {Model: [objects]}, "singletons": {Model: object}}`.
pub fn default_state(with_opt1: bool) -> Value {
    let mut interfaces = vec![
        // As pfSense's default config.xml stores them: a DHCP interface's `ipaddr` is `dhcp`,
        // its `ipaddrv6` `dhcp6`; a tracking interface's `ipaddrv6` is `track6`.
        json!({"__id": "wan", "if": "em0", "enable": true, "descr": "WAN", "typev4": "dhcp",
               "ipaddr": "dhcp", "typev6": "dhcp6", "ipaddrv6": "dhcp6", "blockpriv": true,
               "blockbogons": true}),
        json!({"__id": "lan", "if": "em1", "enable": true, "descr": "LAN", "typev4": "static",
               "ipaddr": "192.168.1.1", "subnet": 24, "typev6": "track6", "ipaddrv6": "track6",
               "track6_interface": "wan", "track6_prefix_id_hex": "0"}),
    ];
    let mut available = vec![
        json!({"if": "em0", "mac": "00:0c:29:00:00:01", "dmesg": "Intel(R) Legacy PRO/1000 MT", "in_use_by": "wan"}),
        json!({"if": "em1", "mac": "00:0c:29:00:00:02", "dmesg": "Intel(R) Legacy PRO/1000 MT", "in_use_by": "lan"}),
        json!({"if": "em2", "mac": "00:0c:29:00:00:03", "dmesg": "Intel(R) Legacy PRO/1000 MT", "in_use_by": null}),
    ];
    if with_opt1 {
        interfaces.push(json!({"__id": "opt1", "if": "em2", "enable": false, "descr": "OPT1", "typev4": "none", "typev6": "none"}));
        available[2]["in_use_by"] = json!("opt1");
        available.push(json!({"if": "em3", "mac": "00:0c:29:00:00:04", "dmesg": "Intel(R) Legacy PRO/1000 MT", "in_use_by": null}));
    }
    let mut state: Value = serde_json::from_str(SEED).unwrap_or_default();
    state["collections"]["NetworkInterface"] = Value::Array(interfaces);
    state["collections"]["AvailableInterface"] = Value::Array(available);
    state["collections"]["User"][0]["password"] = json!(DEFAULT_PASSWORD);
    state
}

/// Add-on packages the spec knows, with the version the emulator reports when installed.
pub const KNOWN_PACKAGES: &[(&str, &str, &str)] = &[
    (
        "pfSense-pkg-acme",
        "0.9_1",
        "ACME package: automated certificate management",
    ),
    ("pfSense-pkg-bind", "9.20_1", "BIND domain name service"),
    ("pfSense-pkg-Cron", "0.3.8_4", "Cron jobs management"),
    (
        "pfSense-pkg-freeradius3",
        "0.15.12",
        "FreeRADIUS 3.x server",
    ),
    (
        "pfSense-pkg-haproxy",
        "0.63_2",
        "HAProxy load balancer and proxy",
    ),
    (
        "pfSense-pkg-openvpn-client-export",
        "1.9.5",
        "OpenVPN client configuration export",
    ),
    (
        "pfSense-pkg-Service_Watchdog",
        "1.8.7_1",
        "Monitors and restarts services",
    ),
    ("pfSense-pkg-WireGuard", "0.2.9", "WireGuard VPN"),
    ("pfSense-pkg-nmap", "1.4.4_7", "Network scanner"),
    ("pfSense-pkg-iperf", "3.0.3", "Network performance testing"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `default_state` falls back to an empty state if the seed's text does not parse: it must.
    #[test]
    fn the_seed_text_is_json_with_every_part() {
        let seed: Value = serde_json::from_str(SEED).expect("seed.json is JSON");
        for part in [
            "NetworkInterface",
            "AvailableInterface",
            "User",
            "FirewallRule",
        ] {
            assert!(seed["collections"].get(part).is_some(), "{part}");
        }
        assert!(seed["singletons"].is_object());
        assert_eq!(
            default_state(false)["collections"]["User"][0]["password"],
            DEFAULT_PASSWORD
        );
    }
}
