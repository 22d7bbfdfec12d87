//! Verify checks: the target's final state read over REST, the audit log, the answer.

use super::audit::Line;
use super::target::Access;
use super::task::Check;
use serde_json::{Map, Value};

/// How long an `applied` check waits for a background apply to finish (the lab takes about 2 s).
const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Run one check; Err is the reason it failed, for the report.
pub async fn run(
    check: &Check,
    access: &Access,
    audit: &[Line],
    answer: Option<&str>,
    spec: &pfsense_spec::Spec,
) -> Result<(), String> {
    match check {
        Check::Exists {
            path,
            matching,
            prefix,
            fields,
            count,
            ..
        } => {
            let (found, listed) = matching_objects(access, path, matching, prefix).await?;
            if found.is_empty() {
                return Err(format!("no object matches (the list has {listed})"));
            }
            if let Some(want) = count
                && found.len() != *want
            {
                return Err(format!("{} objects match, expected {want}", found.len()));
            }
            let mut first_difference = None;
            for object in &found {
                match differences(object, fields) {
                    None => return Ok(()),
                    Some(d) => {
                        first_difference.get_or_insert(d);
                    }
                }
            }
            Err(first_difference.unwrap_or_default())
        }
        Check::Absent {
            path,
            matching,
            prefix,
        } => {
            let (left, _) = matching_objects(access, path, matching, prefix).await?;
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} object(s) left behind: {}",
                    left.len(),
                    left.iter().map(short).collect::<Vec<_>>().join("; ")
                ))
            }
        }
        Check::Settings { path, fields } => {
            let answer = access
                .call("GET", path, None, None)
                .await
                .map_err(|e| format!("{e:#}"))?;
            if !answer.ok() {
                return Err(format!("GET {path}: {}", answer.summary()));
            }
            match differences(answer.data(), fields) {
                None => Ok(()),
                Some(d) => Err(d),
            }
        }
        Check::Applied { path } => {
            // pfrest's apply status cannot show every change left unapplied: its firewall rules
            // mark no subsystem (lab, every release: a rule create leaves `applied: true`), so a
            // rule saved and never applied reads as applied. The audit log says whether the
            // apply was called after each change that needed it.
            if let Some((tool, apply_tool)) =
                super::audit::unapplied(audit, spec)
                    .into_iter()
                    .find(|(_, apply_tool)| {
                        spec.operation(apply_tool)
                            .is_some_and(|op| path.ends_with(op.path.as_str()))
                    })
            {
                return Err(format!(
                    "changes are saved but not applied: {apply_tool} was never called after {tool}"
                ));
            }
            // pfrest applies in the background (its apply dispatchers are asynchronous): a box,
            // like the lab, answers `applied: false` for a second or two after the apply call.
            // Ask again until it is applied or APPLY_WAIT has passed.
            let deadline = std::time::Instant::now() + APPLY_WAIT;
            loop {
                let answer = access
                    .call("GET", path, None, None)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                if !answer.ok() {
                    return Err(format!("GET {path}: {}", answer.summary()));
                }
                let data = answer.data();
                if data["applied"] == Value::Bool(true) {
                    return Ok(());
                }
                if std::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            let answer = access
                .call("GET", path, None, None)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let data = answer.data();
            if data["applied"] == Value::Bool(true) {
                Ok(())
            } else {
                Err(format!(
                    "changes are saved but not applied (pending: {})",
                    data.get("pending_subsystems")
                        .map(Value::to_string)
                        .unwrap_or_else(|| data.to_string())
                ))
            }
        }
        Check::Audit {
            tool,
            outcome,
            response_id,
            message_contains,
        } => {
            let candidates: Vec<&Line> = audit
                .iter()
                .filter(|l| &l.tool == tool)
                .filter(|l| outcome.as_ref().is_none_or(|o| &l.outcome == o))
                .filter(|l| {
                    response_id
                        .as_ref()
                        .is_none_or(|r| l.response_id.as_ref() == Some(r))
                })
                .collect();
            if candidates.is_empty() {
                let seen: Vec<String> = audit
                    .iter()
                    .filter(|l| &l.tool == tool)
                    .map(|l| l.outcome.clone())
                    .collect();
                return Err(format!(
                    "no audit line for {tool}{}{} (its lines: {seen:?})",
                    outcome
                        .as_ref()
                        .map(|o| format!(" with outcome {o}"))
                        .unwrap_or_default(),
                    response_id
                        .as_ref()
                        .map(|r| format!(" and response_id {r}"))
                        .unwrap_or_default(),
                ));
            }
            let missing = |l: &Line| -> Vec<String> {
                let message = l.message.to_lowercase();
                message_contains
                    .iter()
                    .filter(|p| !message.contains(&p.to_lowercase()))
                    .cloned()
                    .collect()
            };
            if candidates.iter().any(|l| missing(l).is_empty()) {
                return Ok(());
            }
            Err(format!(
                "the error the agent saw does not say {:?}: {}",
                missing(candidates[0]),
                candidates[0].message.chars().take(300).collect::<String>()
            ))
        }
        Check::NoChanges => {
            let changed: Vec<&str> = audit
                .iter()
                .filter(|l| l.outcome == "executed")
                .filter(|l| spec.operation(&l.tool).is_some_and(|op| op.is_mutation()))
                .map(|l| l.tool.as_str())
                .collect();
            if changed.is_empty() {
                Ok(())
            } else {
                Err(format!("changes were made: {}", changed.join(", ")))
            }
        }
        Check::Answer { contains } => {
            let Some(answer) = answer else {
                return Err("the agent gave no answer".into());
            };
            let lower = answer.to_lowercase();
            let missing: Vec<&String> = contains
                .iter()
                .filter(|p| !lower.contains(&p.to_lowercase()))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "the answer does not mention {missing:?}: {}",
                    answer.chars().take(300).collect::<String>()
                ))
            }
        }
    }
}

/// The objects of the list at `path` that match, and how many the list has.
async fn matching_objects(
    access: &Access,
    path: &str,
    matching: &Map<String, Value>,
    prefix: &Map<String, Value>,
) -> Result<(Vec<Value>, usize), String> {
    let items = access.list(path).await.map_err(|e| format!("{e:#}"))?;
    let listed = items.len();
    let found = items
        .into_iter()
        .filter(|o| matches(o, matching, prefix))
        .collect();
    Ok((found, listed))
}

/// Every `matching` field equal and every `prefix` field starting with its text.
fn matches(object: &Value, matching: &Map<String, Value>, prefix: &Map<String, Value>) -> bool {
    matching
        .iter()
        .all(|(k, v)| object.get(k).is_some_and(|actual| same(actual, v)))
        && prefix.iter().all(|(k, p)| {
            let p = p.as_str().unwrap_or_default();
            object
                .get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with(p))
        })
}

/// The first field of `expected` the object does not have, as a message.
fn differences(object: &Value, expected: &Map<String, Value>) -> Option<String> {
    for (field, want) in expected {
        let actual = object.get(field).unwrap_or(&Value::Null);
        if !same(actual, want) {
            return Some(format!(
                "`{field}` is {actual}, expected {want} (object: {})",
                short(object)
            ));
        }
    }
    None
}

/// Equal values; numbers by value; lists as sets (same length, every item found);
/// objects by the expected keys only.
fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && b.iter().all(|want| a.iter().any(|got| same(got, want)))
        }
        (Value::Object(a), Value::Object(b)) => b
            .iter()
            .all(|(k, want)| a.get(k).is_some_and(|got| same(got, want))),
        (a, b) => a == b,
    }
}

fn short(object: &Value) -> String {
    let text = object.to_string();
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_compare_as_sets_and_objects_by_expected_keys() {
        assert!(same(&json!(["b", "a"]), &json!(["a", "b"])));
        assert!(!same(&json!(["a"]), &json!(["a", "b"])));
        assert!(same(&json!({"x": 1, "y": 2}), &json!({"x": 1.0})));
        assert!(!same(&json!("1"), &json!(1)));
        let o = json!({"name": "bt_a", "type": "host"});
        let m: Map<String, Value> = json!({"type": "host"}).as_object().unwrap().clone();
        let p: Map<String, Value> = json!({"name": "bt_"}).as_object().unwrap().clone();
        assert!(matches(&o, &m, &p));
        assert!(differences(&o, &m).is_none());
        let wrong: Map<String, Value> = json!({"type": "network"}).as_object().unwrap().clone();
        assert!(
            differences(&o, &wrong)
                .unwrap()
                .contains("`type` is \"host\"")
        );
    }
}
