//! Tool names: `pfsense_<verb>_<noun>` from the operationId, in snake_case that keeps product
//! names whole (`WireGuard` → `wireguard`, not `wire_guard`) and plural acronyms together
//! (`VLANs` → `vlans`).
//!
//! A name longer than [`MAX_TOOL_NAME_LEN`] is shortened by [`ABBREVIATIONS`]: entries are
//! applied in table order, each to every occurrence, until the name fits. The result depends on
//! the name alone, so a tool keeps its name across spec versions, and names that fit are never
//! touched.

use crate::model::Verb;

/// Product and protocol names that are one word in a tool name, longest first where one is a
/// prefix of another. Each lower-cases as a single token.
const WHOLE_WORDS: &[&str] = &[
    "FreeRADIUS",
    "WireGuard",
    "OpenVPN",
    "RESTAPI",
    "GraphQL",
    "HAProxy",
    "PKCS12",
    "WebGUI",
    "IPsec",
];

/// Maximum tool name length. Claude Code calls a tool `mcp__<server>__<tool>` and that must fit
/// 64 characters; with the recommended server name `pfsense` the prefix takes 14 of them.
pub const MAX_TOOL_NAME_LEN: usize = 64 - "mcp__pfsense__".len();

/// Abbreviations for names over [`MAX_TOOL_NAME_LEN`], in the order they are tried: the
/// words on the left (snake_case, matched whole, a plural `s` carried over) become the word on
/// the right. Ordered so that the first entry alone fits most long names.
pub const ABBREVIATIONS: &[(&str, &str)] = &[
    ("services", "svc"),
    ("override", "ovr"),
    ("traffic_shaper", "shaper"),
    ("certificate", "cert"),
    ("diagnostics", "diag"),
    ("network", "net"),
];

fn starts_whole_word(chars: &[char]) -> bool {
    WHOLE_WORDS
        .iter()
        .any(|w| chars.iter().take(w.len()).copied().eq(w.chars()))
}

/// Split a CamelCase identifier into words, keeping [`WHOLE_WORDS`] and plural acronyms intact.
pub fn split_words(ident: &str) -> Vec<String> {
    let chars: Vec<char> = ident.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    'outer: while i < chars.len() {
        for whole in WHOLE_WORDS {
            let w: Vec<char> = whole.chars().collect();
            if chars[i..].starts_with(&w) {
                words.push(whole.to_string());
                i += w.len();
                continue 'outer;
            }
        }
        let start = i;
        let c = chars[i];
        if c.is_ascii_digit() {
            // Digits stick to the word before them (`Phase1`, `PKCS12`).
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            match words.last_mut() {
                Some(last) => last.push_str(&digits),
                None => words.push(digits),
            }
            // A plural `s` right after digits belongs to them too (`Phase1s`).
            if i < chars.len()
                && chars[i] == 's'
                && (i + 1 == chars.len() || chars[i + 1].is_ascii_uppercase())
            {
                words.last_mut().expect("just pushed").push('s');
                i += 1;
            }
            continue;
        }
        if c.is_ascii_uppercase() {
            // Run of capitals.
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_uppercase() {
                // A product name ends an acronym run: `VPNIPsec` → `VPN`, `IPsec`.
                if j > i && starts_whole_word(&chars[j..]) {
                    break;
                }
                j += 1;
            }
            if j < chars.len() && starts_whole_word(&chars[j..]) && j - i > 1 {
                words.push(chars[i..j].iter().collect());
                i = j;
                continue;
            }
            let run = j - i;
            if run == 1 {
                // Ordinary capitalised word.
                i = j;
                while i < chars.len() && chars[i].is_ascii_lowercase() {
                    i += 1;
                }
            } else if j < chars.len()
                && chars[j] == 's'
                && (j + 1 == chars.len() || !chars[j + 1].is_ascii_lowercase())
            {
                // Plural acronym: `VLANs`, `IPs`, `CRLs`.
                i = j + 1;
            } else if j < chars.len() && chars[j].is_ascii_lowercase() {
                // Acronym followed by a word: `DNSResolver` → `DNS`, `Resolver`.
                i = j - 1;
            } else {
                i = j;
            }
        } else {
            while i < chars.len() && (chars[i].is_ascii_lowercase()) {
                i += 1;
            }
            if i == start {
                // Anything else (should not occur in operationIds): keep it alone.
                i += 1;
            }
        }
        words.push(chars[start..i].iter().collect());
    }
    words
}

/// `FirewallNATPortForwards` → `firewall_nat_port_forwards`.
pub fn snake(ident: &str) -> String {
    split_words(ident)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// The noun part of an operationId: `getFirewallAliasEndpoint` → `FirewallAlias`.
pub fn operation_noun(operation_id: &str) -> &str {
    let without_suffix = operation_id
        .strip_suffix("Endpoint")
        .unwrap_or(operation_id);
    for prefix in ["get", "post", "put", "patch", "delete"] {
        if let Some(rest) = without_suffix.strip_prefix(prefix)
            && rest.starts_with(|c: char| c.is_ascii_uppercase())
        {
            return rest;
        }
    }
    without_suffix
}

/// The tool name for an operation with this noun and verb.
pub fn tool_name(noun: &str, verb: Verb) -> String {
    fit_length(&full_tool_name(noun, verb))
}

/// The name before [`fit_length`]: what [`unabbreviated`] gives back.
pub fn full_tool_name(noun: &str, verb: Verb) -> String {
    let noun = snake(noun);
    match verb {
        Verb::Apply => format!("pfsense_{}", noun),
        Verb::ApplyStatus => format!("pfsense_get_{}_status", noun),
        Verb::Action => format!("pfsense_post_{}", noun),
        other => format!("pfsense_{}_{}", other.as_str(), noun),
    }
}

/// A tool name with its abbreviations written out again (`svc` → `services`), for search:
/// requests say "services" and "override".
pub fn unabbreviated(name: &str) -> String {
    let words: Vec<&str> = name.split('_').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for word in words {
        let expansion = ABBREVIATIONS.iter().find_map(|(phrase, short)| {
            let plural = word.strip_suffix('s') == Some(*short);
            (word == *short || plural).then_some((*phrase, plural))
        });
        match expansion {
            // `traffic_shaper` written in full stays as it is.
            Some((phrase, plural))
                if phrase
                    .rsplit_once('_')
                    .is_none_or(|(head, _)| out.last().map(String::as_str) != Some(head)) =>
            {
                out.push(format!("{phrase}{}", if plural { "s" } else { "" }));
            }
            _ => out.push(word.to_string()),
        }
    }
    out.join("_")
}

/// `name` itself when it fits [`MAX_TOOL_NAME_LEN`], else shortened by [`ABBREVIATIONS`] in
/// order until it fits (or the table is exhausted: the caller's name check then reports it).
pub fn fit_length(name: &str) -> String {
    let mut words: Vec<String> = name.split('_').map(str::to_string).collect();
    for (phrase, short) in ABBREVIATIONS {
        if words.join("_").len() <= MAX_TOOL_NAME_LEN {
            break;
        }
        words = abbreviate(&words, phrase, short);
    }
    words.join("_")
}

/// Replace every whole-word occurrence of `phrase` (its last word optionally plural) by `short`.
fn abbreviate(words: &[String], phrase: &str, short: &str) -> Vec<String> {
    let phrase: Vec<&str> = phrase.split('_').collect();
    let (head, last) = phrase.split_at(phrase.len() - 1);
    let last = last[0];
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let end = i + phrase.len();
        let head_matches =
            end <= words.len() && words[i..end - 1].iter().zip(head).all(|(w, h)| w == h);
        if head_matches {
            let tail = &words[end - 1];
            if tail == last {
                out.push(short.to_string());
                i = end;
                continue;
            }
            if tail.strip_suffix('s') == Some(last) {
                out.push(format!("{short}s"));
                i = end;
                continue;
            }
        }
        out.push(words[i].clone());
        i += 1;
    }
    out
}

/// Whether a name follows the rules every generated tool name must follow.
pub fn is_valid_tool_name(name: &str) -> bool {
    name.len() <= MAX_TOOL_NAME_LEN
        && name.starts_with("pfsense_")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// The privilege pfrest gives each endpoint and method besides `page-all`: the path without its
/// leading `/`, `/` and `_` turned into `-`, then the method (`GET /api/v2/firewall/alias` →
/// `api-v2-firewall-alias-get`, the spec's "Allowed privileges").
pub fn endpoint_privilege(path: &str, method: &str) -> String {
    format!(
        "{}-{}",
        path.trim_start_matches('/').replace(['/', '_'], "-"),
        method.to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_products_and_plural_acronyms() {
        assert_eq!(
            snake("VPNWireGuardPeerAllowedIPs"),
            "vpn_wireguard_peer_allowed_ips"
        );
        assert_eq!(snake("InterfaceVLANs"), "interface_vlans");
        assert_eq!(
            snake("ServicesDNSResolverHostOverride"),
            "services_dns_resolver_host_override"
        );
        assert_eq!(snake("VPNIPsecPhase1s"), "vpn_ipsec_phase1s");
        assert_eq!(
            snake("SystemCertificatePKCS12Export"),
            "system_certificate_pkcs12_export"
        );
        assert_eq!(
            snake("ServicesFreeRADIUSUsers"),
            "services_freeradius_users"
        );
        assert_eq!(snake("StatusIPsecChildSAs"), "status_ipsec_child_sas");
        assert_eq!(snake("GraphQL"), "graphql");
        assert_eq!(
            snake("ServicesHAProxyBackendACLs"),
            "services_haproxy_backend_acls"
        );
        assert_eq!(snake("SystemWebGUISettings"), "system_webgui_settings");
        assert_eq!(
            snake("StatusLogsPackagesRESTAPI"),
            "status_logs_packages_restapi"
        );
        assert_eq!(snake("ServicesWakeOnLANSend"), "services_wake_on_lan_send");
        assert_eq!(snake("VPNOpenVPNCSOs"), "vpn_openvpn_csos");
    }

    #[test]
    fn noun_strips_verb_and_suffix() {
        assert_eq!(operation_noun("getFirewallAliasEndpoint"), "FirewallAlias");
        assert_eq!(operation_noun("deleteUsersEndpoint"), "Users");
        assert_eq!(operation_noun("postGraphQLEndpoint"), "GraphQL");
    }

    #[test]
    fn name_rules() {
        assert!(is_valid_tool_name("pfsense_list_firewall_aliases"));
        assert!(!is_valid_tool_name("pfsense_List"));
        assert!(!is_valid_tool_name("list_firewall_aliases"));
        assert!(!is_valid_tool_name(&format!("pfsense_{}", "a".repeat(60))));
        assert!(is_valid_tool_name(&format!("pfsense_{}", "a".repeat(42))));
        assert!(!is_valid_tool_name(&format!("pfsense_{}", "a".repeat(43))));
    }

    #[test]
    fn long_names_are_abbreviated_in_table_order_until_they_fit() {
        // Fits already: untouched, even though it holds table words.
        assert_eq!(
            fit_length("pfsense_list_services_dns_resolver_host_overrides"),
            "pfsense_list_services_dns_resolver_host_overrides"
        );
        // The first entry is enough.
        assert_eq!(
            tool_name("ServicesDNSForwarderHostOverride", Verb::Create),
            "pfsense_create_svc_dns_forwarder_host_override"
        );
        // Two entries, the second one plural.
        assert_eq!(
            tool_name("ServicesDNSForwarderHostOverrideAliases", Verb::Delete),
            "pfsense_delete_svc_dns_forwarder_host_ovr_aliases"
        );
        // A two-word phrase, plural.
        assert_eq!(
            tool_name("FirewallTrafficShaperLimiterBandwidths", Verb::Delete),
            "pfsense_delete_firewall_shaper_limiter_bandwidths"
        );
        assert_eq!(
            unabbreviated("pfsense_delete_svc_dns_forwarder_host_ovr_aliases"),
            "pfsense_delete_services_dns_forwarder_host_override_aliases"
        );
        assert_eq!(
            unabbreviated("pfsense_list_firewall_shaper_limiter_queues"),
            "pfsense_list_firewall_traffic_shaper_limiter_queues"
        );
        assert_eq!(
            unabbreviated("pfsense_list_firewall_traffic_shaper_limiters"),
            "pfsense_list_firewall_traffic_shaper_limiters"
        );
        // Whole words only: `servicesx` is not `services`.
        assert_eq!(
            abbreviate(&["a".into(), "servicesx".into()], "services", "svc"),
            ["a", "servicesx"]
        );
    }
}
