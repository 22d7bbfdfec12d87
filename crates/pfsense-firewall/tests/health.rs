//! Health and diagnose summaries from status answers shaped like the emulator's seed.

use pfsense_firewall::health::{
    CertExpiry, HealthInput, Severity, diagnose_dhcp, diagnose_vpn, health_report,
};
use serde_json::json;

fn healthy() -> HealthInput {
    HealthInput {
        system: json!({"data": {"cpu_usage": 3.5, "mem_usage": 22.0, "disk_usage": 8.0, "swap_usage": 0.0, "mbuf_usage": 1.2, "temp_c": 40.0}}),
        interfaces: json!({"data": [
            {"name": "wan", "descr": "WAN", "enable": true, "status": "up", "inerrs": 0, "outerrs": 0, "collisions": 0},
            {"name": "lan", "descr": "LAN", "enable": true, "status": "up", "inerrs": 0, "outerrs": 0, "collisions": 0}
        ]}),
        gateways: json!({"data": [{"name": "WAN_DHCP", "status": "online", "loss": 0.0, "delay": 0.5}]}),
        services: json!({"data": [{"name": "unbound", "description": "DNS Resolver", "enabled": true, "status": true}]}),
        certificates: vec![CertExpiry {
            name: "webConfigurator default".into(),
            not_after: 1_900_000_000,
        }],
        now: 1_796_274_793,
        pending_applies: vec![],
    }
}

#[test]
fn a_healthy_box_reports_ok() {
    let r = health_report(&healthy());
    assert_eq!(r.status, Severity::Ok, "{:#?}", r.findings);
    assert!(r.findings.is_empty());
    assert!(r.markdown.starts_with("## Health: OK"));
}

#[test]
fn problems_are_found_and_ranked() {
    let mut h = healthy();
    h.system = json!({"cpu_usage": 97.0, "mem_usage": 50.0, "disk_usage": 85.0});
    h.interfaces = json!([{"name": "wan", "descr": "WAN", "enable": true, "status": "no carrier", "inerrs": 3, "outerrs": 0, "collisions": 0}]);
    h.gateways = json!([{"name": "WAN_DHCP", "status": "down", "loss": 100.0}, {"name": "GW2", "status": "online", "loss": 15.0}]);
    h.services = json!([{"name": "dhcpd", "description": "DHCP Service", "enabled": true, "status": false},
                        {"name": "ntpd", "enabled": false, "status": false}]);
    // 5 days left → critical (under 7); expired → critical.
    h.certificates = vec![
        CertExpiry {
            name: "gui".into(),
            not_after: h.now + 5 * 86_400,
        },
        CertExpiry {
            name: "old".into(),
            not_after: h.now - 1,
        },
        CertExpiry {
            name: "soon".into(),
            not_after: h.now + 20 * 86_400,
        },
    ];
    h.pending_applies = vec!["firewall".into()];
    let r = health_report(&h);
    assert_eq!(r.status, Severity::Critical);
    let titles: Vec<&str> = r.findings.iter().map(|f| f.title.as_str()).collect();
    for want in [
        "CPU usage at 97%",
        "disk usage at 85%",
        "interface WAN is no carrier",
        "interface WAN counts 3 errors/collisions",
        "gateway WAN_DHCP is down",
        "gateway GW2 loses 15% of packets",
        "service DHCP Service (dhcpd) is enabled but not running",
        "certificate gui expires in 5 days",
        "certificate old has expired",
        "certificate soon expires in 20 days",
        "changes to firewall are saved but not applied",
    ] {
        assert!(titles.contains(&want), "missing {want:?} in {titles:?}");
    }
    assert_eq!(titles.len(), 11, "{titles:?}");
    // Worst first.
    assert_eq!(r.findings[0].severity, Severity::Critical);
    assert_eq!(r.findings.last().unwrap().severity, Severity::Warning);
    assert!(
        r.markdown
            .contains("**critical** (gateways): gateway WAN_DHCP is down")
    );
}

#[test]
fn dhcp_pool_use() {
    let servers = json!([{"interface": "lan", "enable": true, "range_from": "192.168.1.100", "range_to": "192.168.1.109"}]);
    let leases: Vec<_> = (100..109)
        .map(|i| json!({"ip": format!("192.168.1.{i}"), "active_status": "active"}))
        .collect();
    // 9 of 10 addresses → 90% → warning (80..95).
    let r = diagnose_dhcp(&servers, &json!(leases));
    assert_eq!(r.status, Severity::Warning);
    assert_eq!(
        r.findings[0].title,
        "DHCP pool on lan is 90% used (9 of 10)"
    );
}

#[test]
fn vpn_state() {
    let sas = json!([
        {"con_id": "con1", "state": "ESTABLISHED", "remote_host": "198.51.100.1", "child_sas": [{"name": "con1_1"}]},
        {"con_id": "con2", "state": "CONNECTING", "remote_host": "198.51.100.2", "child_sas": []}
    ]);
    let servers = json!([{"name": "Example server", "conns": [{}, {}]}]);
    let clients = json!([{"name": "to-hq", "status": "down", "state": "RECONNECTING"}]);
    let tunnels =
        json!([{"name": "tun_wg0", "enabled": true}, {"name": "tun_wg1", "enabled": true}]);
    let peers = json!([{"tun": "tun_wg0", "enabled": true}]);
    let r = diagnose_vpn(&sas, &servers, &clients, &tunnels, &peers);
    let titles: Vec<&str> = r.findings.iter().map(|f| f.title.as_str()).collect();
    assert!(
        titles.contains(&"IPsec con2 to 198.51.100.2 is CONNECTING"),
        "{titles:?}"
    );
    assert!(titles.contains(&"IPsec con1 to 198.51.100.1 established, 1 child SA(s)"));
    assert!(titles.contains(&"OpenVPN server Example server: 2 client(s) connected"));
    assert!(titles.contains(&"OpenVPN client to-hq is down"));
    assert!(titles.contains(&"WireGuard tunnel tun_wg1 has no enabled peer"));
    assert_eq!(r.status, Severity::Critical);
}
