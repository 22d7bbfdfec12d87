//! The firewall's route back to an address, read from the model. pfSense answers an address
//! off its own subnets by its routing table: the static route with the longest prefix holding
//! it (`system.inc` `system_staticroutes_configure` installs a route only while its gateway is
//! enabled), else the default gateway (`defaultgw4`/`defaultgw6`; empty: pfSense picks one).
//! A pass rule on an interface that has a gateway answers by `reply-to` instead (`filter.inc`,
//! `interface_has_gateway`), whatever the routing table says. The lockout guard reads both: where
//! a server off the firewall's subnets comes in, and whether a change sends its replies elsewhere.

use crate::model::{FirewallModel, Gateway, Interface};
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;
use std::str::FromStr;

/// Which way the firewall sends packets to an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteBack {
    /// The interface they leave by (`lan`, `opt1`).
    pub interface: String,
    pub via: Via,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Via {
    /// The address is on the interface's own subnet.
    Connected,
    /// A static route (`network` as configured: a subnet or an alias) through a gateway.
    StaticRoute {
        network: String,
        gateway: String,
        next_hop: Option<String>,
    },
    /// The default gateway, set by name.
    DefaultGateway {
        gateway: String,
        next_hop: Option<String>,
    },
    /// No default gateway is set, and one interface alone has a gateway: pfSense's automatic
    /// choice can only be that interface's.
    AutomaticDefault,
}

impl RouteBack {
    /// The route in words, for a refusal.
    pub fn describe(&self) -> String {
        let hop = |h: &Option<String>| match h {
            Some(h) => format!(" ({h})"),
            None => String::new(),
        };
        match &self.via {
            Via::Connected => format!("{}'s own subnet", self.interface),
            Via::StaticRoute {
                network,
                gateway,
                next_hop,
            } => format!(
                "the static route to {network} through gateway {gateway}{} on {}",
                hop(next_hop),
                self.interface
            ),
            Via::DefaultGateway { gateway, next_hop } => format!(
                "the default gateway {gateway}{} on {}",
                hop(next_hop),
                self.interface
            ),
            Via::AutomaticDefault => format!(
                "the default route, on {}, the only interface with a gateway (no default gateway is set)",
                self.interface
            ),
        }
    }

    /// The next hop's address, when the route names one.
    pub fn next_hop(&self) -> Option<&str> {
        match &self.via {
            Via::StaticRoute { next_hop, .. } | Via::DefaultGateway { next_hop, .. } => {
                next_hop.as_deref()
            }
            _ => None,
        }
    }
}

/// Interface types whose gateway comes from the link (DHCP, PPP): `interface_has_gateway`.
const DYNAMIC_GATEWAY_TYPES: &[&str] = &["dhcp", "pppoe", "pptp", "l2tp", "ppp"];
const DYNAMIC_GATEWAY_TYPES_V6: &[&str] = &["dhcp6", "slaac", "6rd", "6to4"];

impl FirewallModel {
    /// Which way the firewall sends packets to `to`.
    pub fn route_back(&self, to: IpAddr) -> Result<RouteBack, String> {
        if let Some(i) = self
            .interfaces
            .iter()
            .find(|i| i.enabled && i.networks().iter().any(|n| n.contains(&to)))
        {
            return Ok(RouteBack {
                interface: i.id.clone(),
                via: Via::Connected,
            });
        }
        if let Some(route) = self.static_route_to(to)? {
            return Ok(route);
        }
        self.default_route(to.is_ipv6())
    }

    /// Whether pass rules on `interface` answer by `reply-to` its gateway (`filter.inc`): the
    /// interface has a gateway, configured or from the link.
    pub fn has_reply_to(&self, interface: &str, v6: bool) -> bool {
        self.interface(interface)
            .is_some_and(|i| i.enabled && has_gateway(i, v6))
    }

    /// The installed static route with the longest prefix holding `to`, if any.
    fn static_route_to(&self, to: IpAddr) -> Result<Option<RouteBack>, String> {
        if let Some(e) = self.read_failure(crate::model::ModelPart::StaticRoutes) {
            return Err(format!("the static routes could not be read ({e})"));
        }
        let mut best: Option<(u8, RouteBack)> = None;
        for route in self.static_routes.iter().filter(|r| !r.disabled) {
            let nets = match IpNet::from_str(&route.network) {
                Ok(net) => vec![net.trunc()],
                Err(_) => {
                    let resolved = self.resolve_alias(&route.network);
                    if let Some(why) = resolved.unknown.first() {
                        return Err(format!(
                            "the static route to {} cannot be read: {why}",
                            route.network
                        ));
                    }
                    resolved.nets
                }
            };
            let Some(prefix) = nets
                .iter()
                .filter(|n| n.contains(&to))
                .map(|n| n.prefix_len())
                .max()
            else {
                continue;
            };
            if best.as_ref().is_some_and(|(p, _)| *p >= prefix) {
                continue;
            }
            let Some(gateway) = self.gateways.iter().find(|g| g.name == route.gateway) else {
                return Err(format!(
                    "the static route to {} goes through `{}`, not a gateway the API lists (a gateway group chooses its member at run time)",
                    route.network, route.gateway
                ));
            };
            if gateway.disabled {
                // system_staticroutes_configure skips a route whose gateway is disabled.
                continue;
            }
            best = Some((
                prefix,
                RouteBack {
                    interface: gateway.interface.clone(),
                    via: Via::StaticRoute {
                        network: route.network.clone(),
                        gateway: gateway.name.clone(),
                        next_hop: next_hop(gateway),
                    },
                },
            ));
        }
        Ok(best.map(|(_, r)| r))
    }

    fn default_route(&self, v6: bool) -> Result<RouteBack, String> {
        if let Some(e) = self.read_failure(crate::model::ModelPart::DefaultGateway) {
            return Err(format!("the default gateway could not be read ({e})"));
        }
        let setting = if v6 {
            &self.settings.default_gateway_v6
        } else {
            &self.settings.default_gateway_v4
        };
        match setting.as_deref() {
            Some("-") => Err("no default gateway is set (`-`) and no static route holds it".into()),
            Some(name) if !name.is_empty() => {
                let Some(gateway) = self.gateways.iter().find(|g| g.name == name) else {
                    return Err(format!(
                        "the default gateway `{name}` is not a gateway the API lists (a gateway group chooses its member at run time)"
                    ));
                };
                if gateway.disabled {
                    return Err(format!("the default gateway `{name}` is disabled"));
                }
                Ok(RouteBack {
                    interface: gateway.interface.clone(),
                    via: Via::DefaultGateway {
                        gateway: gateway.name.clone(),
                        next_hop: next_hop(gateway),
                    },
                })
            }
            _ => {
                let with_gateway: Vec<&Interface> = self
                    .interfaces
                    .iter()
                    .filter(|i| i.enabled && has_gateway(i, v6))
                    .collect();
                match with_gateway.as_slice() {
                    [only] => Ok(RouteBack {
                        interface: only.id.clone(),
                        via: Via::AutomaticDefault,
                    }),
                    [] => Err("no interface has a gateway and no static route holds it".into()),
                    several => Err(format!(
                        "no default gateway is set, and pfSense picks one at run time among the interfaces with a gateway ({})",
                        several
                            .iter()
                            .map(|i| i.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
        }
    }
}

/// A gateway's address; none for a dynamic one (`gateway` `dynamic`: the address DHCP or PPP
/// gives the interface), whose next hop the configuration does not hold.
fn next_hop(gateway: &Gateway) -> Option<String> {
    gateway
        .address
        .clone()
        .filter(|a| !a.eq_ignore_ascii_case("dynamic"))
}

/// `interface_has_gateway` / `interface_has_gatewayv6`: a gateway configured on the interface,
/// one its link type brings, a tunnel device (OpenVPN, IPsec VTI), or a GIF or GRE tunnel with
/// an address of the family.
fn has_gateway(i: &Interface, v6: bool) -> bool {
    let (typ, gateway, address, dynamic) = if v6 {
        (&i.typev6, &i.gatewayv6, i.ipv6, DYNAMIC_GATEWAY_TYPES_V6)
    } else {
        (&i.typev4, &i.gateway, i.ipv4, DYNAMIC_GATEWAY_TYPES)
    };
    gateway.as_deref().is_some_and(|g| !g.is_empty())
        || typ.as_deref().is_some_and(|t| dynamic.contains(&t))
        || i.device.starts_with("ovpn")
        || i.device.starts_with("ipsec")
        || ((i.device.starts_with("gif") || i.device.starts_with("gre")) && address.is_some())
}
