//! `pfsense_find_tools`: rank tools for a request written the way an administrator talks
//! ("block an IP on WAN", "static DHCP lease", "port forward 443 to a web server").
//!
//! A small BM25-style ranking over each tool's name, summary, model, fields and module, with
//! a synonym table from administrator words to the API's words and a preference for the verb
//! the request asks for. Deterministic: ties break by name.

use crate::catalog::ToolDef;
use crate::spec::{Module, Verb};
use std::collections::HashMap;

/// Administrator phrases → the words the API uses for the same thing. Matched on the
/// lower-cased request (as substrings); every expansion is added to the query.
const SYNONYMS: &[(&str, &str)] = &[
    ("port forward", "nat port_forward port forwards"),
    ("forward a port", "nat port_forward"),
    ("forwarding", "nat port_forward"),
    ("open a port", "nat port_forward rule"),
    ("open port", "nat port_forward rule"),
    ("block", "firewall rule rules alias"),
    ("allow", "firewall rule rules"),
    ("permit", "firewall rule rules"),
    ("ip list", "alias aliases"),
    ("address list", "alias aliases"),
    ("blocklist", "alias aliases"),
    ("whitelist", "alias aliases"),
    ("group of ips", "alias aliases"),
    ("static lease", "dhcp static_mapping static mappings"),
    ("reservation", "dhcp static_mapping"),
    ("reserve an ip", "dhcp static_mapping"),
    ("fixed ip", "dhcp static_mapping"),
    ("lease", "dhcp leases"),
    ("who is connected", "status openvpn server connection"),
    ("connected", "status connection"),
    ("interfaces", "network interface"),
    ("assign", "network interface"),
    ("dhcp range", "dhcp server range"),
    ("vpn peer", "wireguard peer"),
    ("wg", "wireguard"),
    ("tunnel", "wireguard tunnel ipsec openvpn"),
    ("site to site", "ipsec phase1 phase2"),
    ("road warrior", "openvpn server"),
    ("dns override", "dns_resolver host_override"),
    ("host override", "dns_resolver host_override"),
    ("local dns", "dns_resolver host_override"),
    ("dns record", "dns_resolver host_override bind zone record"),
    ("unbound", "dns_resolver"),
    ("dnsmasq", "dns_forwarder"),
    ("domain override", "dns_resolver domain_override"),
    ("name server", "system dns"),
    ("nameserver", "system dns"),
    ("vlan", "interface vlan vlans"),
    ("default route", "routing gateway default"),
    ("static route", "routing static_route"),
    ("route", "routing static_route gateway"),
    ("gateway", "routing gateway gateways"),
    ("certificate", "system certificate"),
    ("cert", "system certificate"),
    ("ca", "certificate_authority"),
    ("let's encrypt", "acme certificate"),
    ("letsencrypt", "acme certificate"),
    ("reverse proxy", "haproxy frontend backend"),
    ("load balancer", "haproxy backend frontend"),
    ("user", "user users"),
    ("account", "user users"),
    ("password", "user"),
    ("group", "user group groups"),
    ("log", "status logs"),
    ("logs", "status logs"),
    ("what is blocking", "status logs firewall rules"),
    ("blocked", "status logs firewall"),
    ("service", "status service services"),
    ("restart", "status service"),
    ("start", "status service"),
    ("stop", "status service"),
    ("down", "status services gateways interfaces"),
    ("running", "status services"),
    ("uptime", "status system"),
    ("cpu", "status system"),
    ("memory", "status system"),
    ("temperature", "status system"),
    ("version", "system version"),
    ("hostname", "system hostname"),
    ("timezone", "system timezone"),
    ("time zone", "system timezone"),
    ("ntp", "ntp time_server"),
    ("ssh", "services ssh"),
    ("cron", "cron job"),
    ("schedule", "firewall schedule"),
    ("time window", "firewall schedule"),
    ("traffic shaping", "traffic_shaper limiter queue"),
    ("bandwidth", "traffic_shaper limiter"),
    ("limiter", "traffic_shaper limiter"),
    ("states", "firewall states"),
    ("connections", "firewall states"),
    ("arp", "diagnostics arp_table"),
    ("ping", "diagnostics ping"),
    ("reboot", "diagnostics reboot"),
    ("backup", "config_history revisions"),
    ("config history", "config_history revisions"),
    ("package", "system package packages"),
    ("install", "system package"),
    ("interface status", "status interfaces"),
    ("link", "status interfaces"),
    ("wan", "interface"),
    ("virtual ip", "virtual_ip"),
    ("vip", "virtual_ip"),
    ("carp", "status carp virtual_ip"),
    ("outbound nat", "nat outbound mapping"),
    ("1:1", "nat one_to_one mapping"),
    ("one to one", "nat one_to_one mapping"),
    ("api key", "auth key"),
    ("radius", "freeradius"),
    ("wake on lan", "wake_on_lan send"),
    ("wol", "wake_on_lan send"),
    ("gui", "webgui"),
    ("web interface", "webgui"),
    ("commit", "apply"),
    ("activate", "apply"),
    ("pending", "apply"),
];

/// Words that ask for a verb; the tool whose verb matches gets a bonus.
const VERB_WORDS: &[(&str, &[Verb])] = &[
    ("add", &[Verb::Create]),
    ("create", &[Verb::Create]),
    ("new", &[Verb::Create]),
    ("make", &[Verb::Create]),
    ("set up", &[Verb::Create, Verb::Update]),
    ("setup", &[Verb::Create, Verb::Update]),
    ("block", &[Verb::Create]),
    ("allow", &[Verb::Create]),
    ("open", &[Verb::Create]),
    ("reserve", &[Verb::Create]),
    ("forward", &[Verb::Create]),
    ("delete", &[Verb::Delete]),
    ("remove", &[Verb::Delete]),
    ("drop", &[Verb::Delete]),
    ("unblock", &[Verb::Delete]),
    ("clear", &[Verb::Delete]),
    ("list", &[Verb::List]),
    ("show", &[Verb::List, Verb::Get]),
    ("all", &[Verb::List]),
    ("which", &[Verb::List, Verb::Get]),
    ("what", &[Verb::List, Verb::Get]),
    ("find", &[Verb::List]),
    ("logs", &[Verb::List]),
    ("leases", &[Verb::List]),
    ("status", &[Verb::Get, Verb::List]),
    ("get", &[Verb::Get]),
    ("read", &[Verb::Get]),
    ("current", &[Verb::Get]),
    ("check", &[Verb::Get, Verb::List]),
    ("change", &[Verb::Update]),
    ("update", &[Verb::Update]),
    ("edit", &[Verb::Update]),
    ("modify", &[Verb::Update]),
    ("rename", &[Verb::Update]),
    ("enable", &[Verb::Update]),
    ("disable", &[Verb::Update]),
    ("set", &[Verb::Update]),
    ("replace", &[Verb::Replace]),
    ("apply", &[Verb::Apply]),
    ("commit", &[Verb::Apply]),
    ("activate", &[Verb::Apply]),
    ("restart", &[Verb::Action]),
    ("start", &[Verb::Action]),
    ("stop", &[Verb::Action]),
    ("ping", &[Verb::Action]),
    ("reboot", &[Verb::Action]),
    ("generate", &[Verb::Action]),
    ("renew", &[Verb::Action]),
    ("send", &[Verb::Action]),
];

/// Words that carry no meaning for ranking.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "to", "of", "on", "in", "for", "from", "and", "or", "with", "my", "me", "i",
    "is", "are", "be", "it", "this", "that", "there", "please", "how", "do", "can", "we", "our",
    "by", "at", "as", "up", "into", "any", "some", "which", "what", "want", "need",
];

fn words(text: &str) -> Vec<String> {
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(stem)
        .collect()
}

/// A crude stem so that `aliases`/`alias`, `rules`/`rule`, `mappings`/`mapping` meet.
fn stem(w: &str) -> String {
    let w = w.to_string();
    for suffix in ["ies", "es", "s"] {
        if w.len() > 4
            && let Some(base) = w.strip_suffix(suffix)
        {
            return match suffix {
                "ies" => format!("{base}y"),
                "es" if base.ends_with('s')
                    || base.ends_with('x')
                    || base.ends_with("ch")
                    || base.ends_with("sh") =>
                {
                    base.to_string()
                }
                "es" => format!("{base}e"),
                _ => base.to_string(),
            };
        }
    }
    w
}

/// One tool's searchable text, by field with a weight.
struct Doc {
    fields: Vec<(f64, Vec<String>)>,
    /// The words of the tool name after the verb, for the coverage bonus.
    name_words: Vec<String>,
    len: f64,
}

/// A ranking index over a set of tools.
pub struct Index {
    tools: Vec<&'static ToolDef>,
    docs: Vec<Doc>,
    /// Documents containing each word.
    df: HashMap<String, usize>,
    avg_len: f64,
}

/// One hit.
pub struct Hit {
    pub tool: &'static ToolDef,
    pub score: f64,
}

impl Index {
    pub fn new(tools: Vec<&'static ToolDef>) -> Index {
        let docs: Vec<Doc> = tools
            .iter()
            .map(|t| {
                // Abbreviated names (`svc`, `ovr`) are searched by their words in full.
                let name = pfsense_spec::naming::unabbreviated(t.name);
                let name = name.strip_prefix("pfsense_").unwrap_or(&name);
                let fields: Vec<&str> = t.args.iter().map(|a| a.name).collect();
                let model_words: String = pfsense_spec::naming::snake(t.model).replace('_', " ");
                let fields = vec![
                    (3.0, words(&name.replace('_', " "))),
                    (2.0, words(t.summary)),
                    (1.5, words(&model_words)),
                    (0.5, words(&fields.join(" "))),
                    (1.0, words(&t.module.as_str().replace('_', " "))),
                ];
                let len = fields.iter().map(|(_, w)| w.len() as f64).sum();
                let mut name_words = words(&name.replace('_', " "));
                if !name_words.is_empty() {
                    name_words.remove(0);
                }
                Doc {
                    fields,
                    name_words,
                    len,
                }
            })
            .collect();
        let mut df: HashMap<String, usize> = HashMap::new();
        for d in &docs {
            let mut seen: Vec<&String> = d.fields.iter().flat_map(|(_, w)| w).collect();
            seen.sort();
            seen.dedup();
            for w in seen {
                *df.entry(w.clone()).or_default() += 1;
            }
        }
        let avg_len = docs.iter().map(|d| d.len).sum::<f64>() / docs.len().max(1) as f64;
        Index {
            tools,
            docs,
            df,
            avg_len,
        }
    }

    /// The best `limit` tools for a request, optionally within one module.
    pub fn find(&self, request: &str, module: Option<Module>, limit: usize) -> Vec<Hit> {
        let lower = request.to_ascii_lowercase();
        let mut query = words(&lower);
        for (phrase, expansion) in SYNONYMS {
            if contains_phrase(&lower, phrase) {
                query.extend(words(expansion));
            }
        }
        query.retain(|w| !STOP_WORDS.contains(&w.as_str()));
        let wanted_verbs: Vec<Verb> = VERB_WORDS
            .iter()
            .filter(|(w, _)| contains_phrase(&lower, w))
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        let n = self.docs.len() as f64;
        let mut hits: Vec<Hit> = self
            .tools
            .iter()
            .zip(&self.docs)
            .filter(|(t, _)| module.is_none_or(|m| t.module == m))
            .map(|(tool, doc)| {
                let mut score = 0.0;
                for q in &query {
                    let df = *self.df.get(q).unwrap_or(&0) as f64;
                    if df == 0.0 {
                        continue;
                    }
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    let tf: f64 = doc
                        .fields
                        .iter()
                        .map(|(weight, ws)| weight * ws.iter().filter(|w| *w == q).count() as f64)
                        .sum();
                    if tf > 0.0 {
                        let k1 = 1.2;
                        let b = 0.5;
                        score += idf * tf * (k1 + 1.0)
                            / (tf + k1 * (1.0 - b + b * doc.len / self.avg_len));
                    }
                }
                if score > 0.0 && wanted_verbs.contains(&tool.verb) {
                    score *= 1.35;
                }
                // Prefer the tool whose name the request covers: "haproxy backend" means the
                // backend, not the backend's ACLs.
                if !doc.name_words.is_empty() {
                    let covered = doc.name_words.iter().filter(|w| query.contains(w)).count();
                    score *= 1.0 + 0.6 * covered as f64 / doc.name_words.len() as f64;
                }
                Hit { tool, score }
            })
            .filter(|h| h.score > 0.0)
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .partial_cmp(&a.score)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.tool.name.cmp(b.tool.name))
        });
        hits.truncate(limit);
        hits
    }
}

/// Whether `phrase` occurs in `text` on word boundaries.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(phrase).any(|(i, _)| {
        let before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let end = i + phrase.len();
        let after = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        before && after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_phrases() {
        assert_eq!(stem("aliases"), "alias");
        assert_eq!(stem("rules"), "rule");
        assert_eq!(stem("entries"), "entry");
        assert_eq!(stem("mappings"), "mapping");
        assert!(contains_phrase("add a port forward", "port forward"));
        assert!(!contains_phrase("passport forwarding", "port forward"));
    }
}
