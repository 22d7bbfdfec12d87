//! Confirmed changes run one at a time per firewall and collection: the target is read again,
//! its fingerprint checked and the request sent under one lock, so two confirmations of one
//! preview cannot both pass the check. The lock covers a whole collection (model), not one
//! id, because pfSense ids are positions that shift when an object before them is deleted
//! (pfsense-rest-api.md, "Objects and ids").

use crate::catalog::ToolDef;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The last change sent under a lock: named in the refusal of a confirmation it overtook.
#[derive(Debug, Clone)]
pub struct Winner {
    pub change_id: i64,
    pub tool: &'static str,
    pub caller: String,
    /// Fingerprint of the state it changed: a later confirmation expecting this state lost
    /// to it.
    pub changed_from: Option<String>,
}

/// One lock per key, made on first use (keys are firewall × model: a few hundred at most).
#[derive(Default)]
pub struct Serialiser {
    slots: Mutex<HashMap<String, Arc<AsyncMutex<Option<Winner>>>>>,
}

/// Held while a confirmed change is checked and sent; holds the last winner of its key.
pub type Turn = OwnedMutexGuard<Option<Winner>>;

impl Serialiser {
    /// Wait for the turn of the collection `def` changes on `firewall`.
    pub async fn turn(&self, firewall: &str, def: &ToolDef) -> Turn {
        let key = format!(
            "{firewall}\u{0}{}\u{0}{}",
            def.model,
            def.parent_model.unwrap_or_default()
        );
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        slot.lock_owned().await
    }
}
