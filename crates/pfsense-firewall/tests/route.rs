//! The route back to an address (`route`), and the lockout guard for a server on none of the
//! firewall's subnets. Expected answers reasoned from pfSense's system.inc
//! (`system_staticroutes_configure`), filter.inc (reply-to) and interfaces.inc
//! (`interface_has_gateway`), each in its test's comment.

use pfsense_firewall::guard::{ChangeOp, ObjectKind};
use pfsense_firewall::route::Via;
use pfsense_firewall::{ApiInput, Change, FirewallModel, GuardDecision, ServerPath, check_lockout};
use serde_json::{Value, json};

/// WAN with a static address and gateway WANGW; LAN, and a DMZ router on opt1; a server at
/// 10.99.0.5 behind LANGW (192.168.1.254) and networks behind the DMZ router.
fn input() -> ApiInput {
    ApiInput {
        rules: json!([
            {"id": 0, "type": "pass", "interface": ["wan"], "ipprotocol": "inet", "protocol": "tcp",
             "source": "93.184.216.34", "destination": "wan:ip", "destination_port": "443",
             "descr": "API from the admin"},
            {"id": 1, "type": "pass", "interface": ["opt1"], "ipprotocol": "inet", "protocol": "tcp",
             "source": "any", "destination": "opt1:ip", "destination_port": "443",
             "descr": "API from the DMZ"}
        ]),
        aliases: json!([
            {"id": 0, "name": "branch_nets", "type": "network", "address": ["10.50.0.0/16"]},
            {"id": 1, "name": "partner_hosts", "type": "host", "address": ["partner.example.net"]}
        ]),
        interfaces: json!([
            {"id": "wan", "if": "em0", "enable": true, "descr": "WAN", "typev4": "static",
             "ipaddr": "81.2.69.142", "subnet": 24, "gateway": "WANGW"},
            {"id": "lan", "if": "em1", "enable": true, "descr": "LAN", "typev4": "static",
             "ipaddr": "192.168.1.1", "subnet": 24},
            {"id": "opt1", "if": "em2", "enable": true, "descr": "DMZ", "typev4": "static",
             "ipaddr": "10.0.10.1", "subnet": 24}
        ]),
        gateways: json!([
            {"id": 0, "name": "WANGW", "interface": "wan", "ipprotocol": "inet", "gateway": "81.2.69.1"},
            {"id": 1, "name": "LANGW", "interface": "lan", "ipprotocol": "inet", "gateway": "192.168.1.254"},
            {"id": 2, "name": "DMZGW", "interface": "opt1", "ipprotocol": "inet", "gateway": "10.0.10.254"},
            {"id": 3, "name": "SPAREGW", "interface": "opt1", "ipprotocol": "inet", "gateway": "10.0.10.253",
             "disabled": true}
        ]),
        static_routes: json!([
            {"id": 0, "network": "10.0.0.0/8", "gateway": "DMZGW", "descr": "everything internal"},
            {"id": 1, "network": "10.99.0.0/24", "gateway": "LANGW", "descr": "admin network"},
            {"id": 2, "network": "10.98.0.0/24", "gateway": "LANGW", "disabled": true},
            {"id": 3, "network": "10.97.0.0/24", "gateway": "SPAREGW"},
            {"id": 4, "network": "branch_nets", "gateway": "LANGW"}
        ]),
        default_gateway: json!({"defaultgw4": "", "defaultgw6": ""}),
        webgui: json!({"data": {"protocol": "https", "port": "443"}}),
        ssh: json!({"data": {"enable": false}}),
        ..ApiInput::default()
    }
}

fn model() -> FirewallModel {
    FirewallModel::from_api(&input())
}

fn with(mut input: ApiInput, edit: impl FnOnce(&mut ApiInput)) -> FirewallModel {
    edit(&mut input);
    FirewallModel::from_api(&input)
}

fn back(model: &FirewallModel, to: &str) -> Result<(String, Via), String> {
    model
        .route_back(to.parse().unwrap())
        .map(|r| (r.interface, r.via))
}

fn change(kind: ObjectKind, op: ChangeOp, id: Option<Value>, object: Value) -> Change {
    Change {
        kind,
        op,
        id,
        object,
    }
}

fn from(source: &str) -> ServerPath {
    ServerPath::from_source(source.parse().unwrap())
}

#[test]
fn the_longest_prefix_through_an_enabled_gateway_carries_the_route_back() {
    let m = model();
    // 10.99.0.0/24 through LANGW is longer than 10.0.0.0/8 through DMZGW.
    assert_eq!(
        back(&m, "10.99.0.5"),
        Ok((
            "lan".into(),
            Via::StaticRoute {
                network: "10.99.0.0/24".into(),
                gateway: "LANGW".into(),
                next_hop: Some("192.168.1.254".into()),
            }
        ))
    );
    // A disabled route is not installed, nor one through a disabled gateway: 10.0.0.0/8 carries.
    for to in ["10.98.0.5", "10.97.0.5", "10.1.2.3"] {
        let (interface, via) = back(&m, to).unwrap();
        assert_eq!(interface, "opt1", "{to}");
        assert!(
            matches!(&via, Via::StaticRoute { gateway, .. } if gateway == "DMZGW"),
            "{to}: {via:?}"
        );
    }
    // An alias as the route's network stands for its subnets.
    assert_eq!(back(&m, "10.50.3.4").unwrap().0, "lan");
    // On a subnet of its own, the address is connected.
    assert_eq!(back(&m, "10.0.10.77"), Ok(("opt1".into(), Via::Connected)));
}

#[test]
fn off_every_route_the_default_gateway_carries_it() {
    // None set, and WAN alone has a gateway: pfSense's automatic choice can only be WANGW.
    assert_eq!(
        back(&model(), "93.184.216.34"),
        Ok(("wan".into(), Via::AutomaticDefault))
    );
    // Set by name, it is that gateway's interface and address.
    let m = with(input(), |i| {
        i.default_gateway = json!({"defaultgw4": "DMZGW", "defaultgw6": ""});
    });
    assert_eq!(
        back(&m, "93.184.216.34"),
        Ok((
            "opt1".into(),
            Via::DefaultGateway {
                gateway: "DMZGW".into(),
                next_hop: Some("10.0.10.254".into()),
            }
        ))
    );
    // `-`: no default route at all.
    let m = with(input(), |i| {
        i.default_gateway = json!({"defaultgw4": "-"});
    });
    let e = back(&m, "93.184.216.34").unwrap_err();
    assert!(e.contains("no default gateway is set (`-`)"), "{e}");
    // Two interfaces with a gateway and none chosen: pfSense decides at run time.
    let m = with(input(), |i| {
        i.interfaces[2]["gateway"] = json!("DMZGW");
    });
    let e = back(&m, "93.184.216.34").unwrap_err();
    assert!(
        e.contains("among the interfaces with a gateway (wan, opt1)"),
        "{e}"
    );
    // A dynamic gateway named as the default: its next hop comes from DHCP, not the configuration.
    let m = with(input(), |i| {
        i.gateways[0]["gateway"] = json!("dynamic");
        i.default_gateway = json!({"defaultgw4": "WANGW"});
    });
    let r = m.route_back("93.184.216.34".parse().unwrap()).unwrap();
    assert_eq!(r.next_hop(), None);
    assert_eq!(r.describe(), "the default gateway WANGW on wan");
    // A DHCP WAN has a gateway from its link (interface_has_gateway).
    let m = with(input(), |i| {
        i.interfaces[0] = json!({"id": "wan", "if": "em0", "enable": true, "typev4": "dhcp"});
    });
    assert_eq!(back(&m, "93.184.216.34").unwrap().0, "wan");
    assert!(m.has_reply_to("wan", false));
    assert!(!m.has_reply_to("lan", false));
}

#[test]
fn what_the_model_cannot_follow_is_not_guessed() {
    // A gateway group chooses its member at run time.
    let m = with(input(), |i| {
        i.static_routes = json!([{"id": 0, "network": "10.99.0.0/24", "gateway": "FAILOVER"}]);
    });
    let e = back(&m, "10.99.0.5").unwrap_err();
    assert!(e.contains("not a gateway the API lists"), "{e}");
    // An alias holding a host name is resolved by the firewall at run time.
    let m = with(input(), |i| {
        i.static_routes = json!([{"id": 0, "network": "partner_hosts", "gateway": "LANGW"}]);
    });
    let e = back(&m, "10.99.0.5").unwrap_err();
    assert!(e.contains("partner.example.net"), "{e}");
}

#[test]
fn a_server_across_wan_is_judged_on_wan_without_being_told() {
    // 93.184.216.34 is on no subnet; the default route leads out of WAN, which answers by
    // reply-to. Deleting the rule that lets it in is refused as it is with `interface: wan`.
    let delete_admin_rule = change(
        ObjectKind::Rule,
        ChangeOp::Delete,
        Some(json!(0)),
        json!({}),
    );
    let r = check_lockout(&model(), &delete_admin_rule, &from("93.184.216.34"));
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
    assert!(r.reason.contains("on wan is blocked"), "{}", r.reason);
    assert!(
        r.cannot_know.iter().any(|c| c.contains("reply-to")),
        "{:?}",
        r.cannot_know
    );
    // A route for its network through LAN moves no reply of WAN's: allowed.
    let route = change(
        ObjectKind::StaticRoute,
        ChangeOp::Create,
        None,
        json!({"network": "93.184.216.0/24", "gateway": "LANGW"}),
    );
    let r = check_lockout(&model(), &route, &from("93.184.216.34"));
    assert_eq!(r.decision, GuardDecision::Allowed, "{r:#?}");
    // Taking WAN's gateway away ends the reply-to: the replies follow the routing table,
    // which then has no default route.
    let no_gateway = change(
        ObjectKind::Interface,
        ChangeOp::Update,
        Some(json!("wan")),
        json!({"gateway": ""}),
    );
    let r = check_lockout(&model(), &no_gateway, &from("93.184.216.34"));
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
    assert!(r.reason.contains("would have no route"), "{}", r.reason);
}

#[test]
fn a_server_behind_a_router_keeps_its_route_back() {
    // 10.99.0.5 comes in on LAN (no gateway: no reply-to), by the route through LANGW.
    let admin = from("10.99.0.5");
    let refused = [
        // The route deleted: 10.0.0.0/8 through DMZGW takes over.
        change(
            ObjectKind::StaticRoute,
            ChangeOp::Delete,
            Some(json!(1)),
            json!({}),
        ),
        // Its gateway's address changed: the next hop moves.
        change(
            ObjectKind::Gateway,
            ChangeOp::Update,
            Some(json!(1)),
            json!({"gateway": "192.168.1.253"}),
        ),
        // Its gateway disabled: the route is no longer installed.
        change(
            ObjectKind::Gateway,
            ChangeOp::Update,
            Some(json!(1)),
            json!({"disabled": true}),
        ),
        // A longer route through the DMZ router.
        change(
            ObjectKind::StaticRoute,
            ChangeOp::Create,
            None,
            json!({"network": "10.99.0.0/28", "gateway": "DMZGW"}),
        ),
        // The whole list taken out.
        change(
            ObjectKind::StaticRoute,
            ChangeOp::DeleteMany,
            Some(json!([0, 1, 2, 3, 4])),
            Value::Null,
        ),
    ];
    for c in refused {
        let r = check_lockout(&model(), &c, &admin);
        assert_eq!(r.decision, GuardDecision::Refused, "{c:?}: {r:#?}");
        assert!(
            r.reason.contains("route back to 10.99.0.5 moves from the static route to 10.99.0.0/24 through gateway LANGW (192.168.1.254) on lan"),
            "{}",
            r.reason
        );
    }
    // Another network's route, and the default gateway, leave its route alone.
    for c in [
        change(
            ObjectKind::StaticRoute,
            ChangeOp::Delete,
            Some(json!(2)),
            json!({}),
        ),
        change(
            ObjectKind::DefaultGateway,
            ChangeOp::Update,
            None,
            json!({"defaultgw4": "DMZGW"}),
        ),
    ] {
        let r = check_lockout(&model(), &c, &admin);
        assert_eq!(r.decision, GuardDecision::Allowed, "{c:?}: {r:#?}");
    }
}

#[test]
fn a_server_on_the_default_route_keeps_it() {
    // LANGW set as the default gateway: 172.16.5.5, on no route, is answered through it out of
    // LAN, which has no gateway of its own and so no reply-to. Another default gateway moves
    // its replies.
    let m = with(input(), |i| {
        i.default_gateway = json!({"defaultgw4": "LANGW"});
    });
    let to_dmz = change(
        ObjectKind::DefaultGateway,
        ChangeOp::Update,
        None,
        json!({"defaultgw4": "DMZGW"}),
    );
    let r = check_lockout(&m, &to_dmz, &from("172.16.5.5"));
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
    assert!(
        r.reason.contains("moves from the default gateway LANGW (192.168.1.254) on lan to the default gateway DMZGW (10.0.10.254) on opt1"),
        "{}",
        r.reason
    );
}
