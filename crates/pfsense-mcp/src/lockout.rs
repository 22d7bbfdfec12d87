//! The lockout guard on the call path: before a confirmed change to firewall rules, port
//! forwards, aliases, interfaces, interface groups or the webGUI settings is sent, the traffic
//! evaluator of `pfsense-firewall` checks that this server's path to the API stays allowed
//! (`--lockout-source`). pfSense has no restore API: a change that cuts the API off cannot be
//! undone through it, not even by auto-revert.

use crate::catalog::ToolDef;
use crate::client::Client;
use crate::safety::SafetyOptions;
use crate::spec::Method;
use pfsense_firewall::guard::{ChangeOp, ObjectKind};
use pfsense_firewall::{Change, GuardDecision, ServerPath};
use serde_json::Value;

/// The API objects whose changes can cut the server's path, and their kind in the model.
const GUARDED: &[(&str, ObjectKind)] = &[
    ("/api/v2/firewall/rule", ObjectKind::Rule),
    ("/api/v2/firewall/nat/port_forward", ObjectKind::PortForward),
    ("/api/v2/firewall/alias", ObjectKind::Alias),
    ("/api/v2/interface", ObjectKind::Interface),
    ("/api/v2/interface/group", ObjectKind::InterfaceGroup),
    ("/api/v2/system/webgui/settings", ObjectKind::WebGui),
];

/// The change a call of `def` with `args` would make, when the guard covers it.
pub fn change_of(def: &ToolDef, args: &Value) -> Option<Change> {
    let kind = GUARDED
        .iter()
        .find(|(path, _)| *path == def.path)
        .map(|(_, k)| *k)?;
    let op = match def.method {
        Method::Post => ChangeOp::Create,
        Method::Patch | Method::Put => ChangeOp::Update,
        Method::Delete => ChangeOp::Delete,
        _ => return None,
    };
    // Settings singletons are always an update of the one object.
    let op = if kind == ObjectKind::WebGui {
        ChangeOp::Update
    } else {
        op
    };
    let mut object = args.clone();
    let id = object.as_object_mut().and_then(|m| m.remove("id"));
    Some(Change {
        kind,
        op,
        id,
        object,
    })
}

/// Why a confirmed call must not be sent, if the guard finds it would lock this server out.
/// `None` when the guard is off (no `--lockout-source`), the call is a preview or not a guarded
/// change, or the evaluator finds the path stays allowed or cannot decide (the cannot-decide
/// case is logged on stderr: refusing what the model cannot see would block every change on
/// firewalls with URL tables or schedules).
pub async fn refusal(
    client: &Client,
    def: &ToolDef,
    args: &Value,
    confirmed: bool,
    options: &SafetyOptions,
) -> Option<String> {
    let source = options.lockout_source?;
    if !confirmed {
        return None;
    }
    let change = change_of(def, args)?;
    let (model, _notes) = match crate::operator::read_model(client).await {
        Ok(m) => m,
        Err(e) => {
            return Some(format!(
                "{} was not called: the lockout guard (--lockout-source {source}) could not read the firewall's rules to check the change: {e}",
                def.name
            ));
        }
    };
    let path = ServerPath {
        source,
        interface: None,
        api_address: None,
        api_ports: Vec::new(),
    };
    let report = pfsense_firewall::check_lockout(&model, &change, &path);
    match report.decision {
        GuardDecision::Refused => Some(format!(
            "{} was not called: the lockout guard refuses it: {}. This server reaches the API from {source} (--lockout-source); pfSense has no restore API, so a change that cuts that path cannot be undone through it. Change the rule so it does not match this path, or make the change from the console or webGUI.",
            def.name, report.reason
        )),
        GuardDecision::Unknown => {
            tracing::warn!(tool = def.name, reason = %report.reason, "lockout guard cannot decide; the change is sent");
            None
        }
        GuardDecision::Allowed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(method: Method, path: &str) -> &'static ToolDef {
        crate::catalog::TOOLS
            .iter()
            .find(|d| d.method == method && d.path == path)
            .unwrap_or_else(|| panic!("no tool for {method:?} {path}"))
    }

    #[test]
    fn every_guarded_path_has_tools_and_reads_map_to_no_change() {
        for (path, _) in GUARDED {
            let method = if *path == "/api/v2/system/webgui/settings" {
                Method::Patch
            } else {
                Method::Post
            };
            assert!(change_of(def(method, path), &json!({})).is_some(), "{path}");
        }
        assert!(change_of(def(Method::Get, "/api/v2/firewall/rule"), &json!({"id": 1})).is_none());
        assert!(change_of(def(Method::Post, "/api/v2/firewall/apply"), &json!({})).is_none());
        let c = change_of(
            def(Method::Patch, "/api/v2/firewall/rule"),
            &json!({"id": 3, "type": "block"}),
        )
        .unwrap();
        assert_eq!(
            (c.op, c.id, c.object),
            (ChangeOp::Update, Some(json!(3)), json!({"type": "block"}))
        );
    }
}
