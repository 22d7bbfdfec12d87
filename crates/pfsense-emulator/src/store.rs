//! The emulated configuration: collections, singletons, pending apply marks, config history.

use crate::catalog::Catalog;
use crate::seed::{self, STRING_ID_KEY};
use crate::validate::{Obj, fill_missing};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Revisions pfSense keeps by default.
pub const MAX_REVISIONS: usize = 30;

#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Top-level collections by model; each item is a JSON object. Nested models live inside
    /// their parent's list field.
    pub collections: BTreeMap<String, Vec<Value>>,
    pub singletons: BTreeMap<String, Obj>,
    /// Pending changes per apply path (`/api/v2/firewall/apply`) → dirty marks.
    pub pending: BTreeMap<String, BTreeSet<String>>,
    /// Installed add-on packages (`pfSense-pkg-…`).
    pub installed_packages: BTreeSet<String>,
    /// Source of unique numbers (trackers, refids, uids).
    pub counter: u64,
    /// pfSense's `system/nextuid` and `nextgid` by model (`User`, `UserGroup`): the next one
    /// handed out, set to one past each created (a freed uid is not handed out again).
    pub next_ids: BTreeMap<String, i64>,
}

/// Options that shape the seed.
#[derive(Debug, Clone, Default)]
pub struct SeedOptions {
    pub with_opt1: bool,
    pub installed_packages: Vec<String>,
    /// A JSON state file's contents: `{"collections": {…}, "singletons": {…}}`, replacing the
    /// compiled-in objects model by model.
    pub overlay: Option<Value>,
}

impl Store {
    pub fn seeded(catalog: &Catalog, options: &SeedOptions) -> anyhow::Result<Store> {
        let mut store = Store {
            counter: 1,
            ..Store::default()
        };
        let mut data = seed::default_state(options.with_opt1);
        // The REST API version the box reports is the one of the spec it serves (a state file
        // can still say otherwise).
        let (major, minor, patch) = crate::rules::version(catalog);
        let served = format!("v{major}.{minor}.{patch}");
        data["singletons"]["RESTAPIVersion"]["current_version"] = Value::String(served.clone());
        data["singletons"]["RESTAPIVersion"]["latest_version"] = Value::String(served);
        if let Some(overlay) = &options.overlay {
            for section in ["collections", "singletons"] {
                if let Some(Value::Object(models)) = overlay.get(section) {
                    for (model, value) in models {
                        data[section][model] = value.clone();
                    }
                } else if overlay.get(section).is_some() {
                    anyhow::bail!("state file: `{section}` must be an object keyed by model name");
                }
            }
        }
        store.installed_packages = options.installed_packages.iter().cloned().collect();
        for model in &catalog.collections {
            let mut items = match data["collections"].get(model) {
                Some(Value::Array(items)) => items.clone(),
                Some(_) => anyhow::bail!("state: collection `{model}` must be a list"),
                None => Vec::new(),
            };
            for item in items.iter_mut() {
                if let Value::Object(obj) = item {
                    fill_missing(catalog, model, obj);
                } else {
                    anyhow::bail!("state: every `{model}` item must be an object");
                }
            }
            store.collections.insert(model.clone(), items);
        }
        for model in &catalog.singletons {
            let mut obj = match data["singletons"].get(model) {
                Some(Value::Object(obj)) => obj.clone(),
                Some(_) => anyhow::bail!("state: singleton `{model}` must be an object"),
                None => Map::new(),
            };
            fill_missing(catalog, model, &mut obj);
            store.singletons.insert(model.clone(), obj);
        }
        store.seed_certificate(catalog);
        store.refresh_packages();
        let now = now_unix();
        for (i, text) in [
            "pfSense initial configuration",
            "admin@192.168.1.100 (Local Database): Installed package pfSense-pkg-RESTAPI",
        ]
        .iter()
        .enumerate()
        {
            store.revisions().insert(
                0,
                json!({"time": now - 3600 + i as i64 * 60, "description": text, "version": "24.0", "filesize": 32768 + i * 512}),
            );
        }
        Ok(store)
    }

    /// The web GUI's default certificate, made fresh (what `WebGUISettings.sslcertref` names).
    fn seed_certificate(&mut self, catalog: &Catalog) {
        let Some(list) = self.collections.get_mut("Certificate") else {
            return;
        };
        if !list.is_empty() {
            return;
        }
        let (crt, prv) = crate::special::make_pem("pfSense-65a1b2c3d4e5f");
        let mut obj = json!({"descr": "webConfigurator default (65a1b2c3d4e5f)", "refid": "65a1b2c3d4e5f",
                             "type": "server", "crt": crt, "prv": prv});
        if let Value::Object(m) = &mut obj {
            fill_missing(catalog, "Certificate", m);
        }
        list.push(obj);
    }

    /// `Package` mirrors the installed add-ons; `AvailablePackage` lists what can be installed.
    pub fn refresh_packages(&mut self) {
        let installed: Vec<Value> = self
            .installed_packages
            .iter()
            .map(|name| {
                let (version, descr) = seed::KNOWN_PACKAGES
                    .iter()
                    .find(|(n, _, _)| n == name)
                    .map(|(_, v, d)| (*v, *d))
                    .unwrap_or(("1.0", "Add-on package"));
                json!({"name": name, "shortname": name.trim_start_matches("pfSense-pkg-"),
                       "descr": descr, "installed_version": version, "latest_version": version,
                       "update_available": false})
            })
            .collect();
        self.collections.insert("Package".into(), installed);
        let available: Vec<Value> = seed::KNOWN_PACKAGES
            .iter()
            .map(|(name, version, descr)| {
                json!({"name": name, "shortname": name.trim_start_matches("pfSense-pkg-"),
                       "descr": descr, "version": version,
                       "installed": self.installed_packages.contains(*name), "deps": []})
            })
            .collect();
        self.collections
            .insert("AvailablePackage".into(), available);
    }

    pub fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A pfSense `uniqid()`-like 13 hex digit id.
    pub fn uniqid(&mut self) -> String {
        let n = self.next_number();
        format!("{:08x}{:05x}", now_unix() as u32, n & 0xfffff)
    }

    /// Record a config change ("Added|Modified|Deleted <name> via API"), newest first.
    pub fn add_revision(&mut self, user: &str, description: &str) {
        let filesize = 40000 + self.revisions().len() * 97;
        self.revisions().insert(
            0,
            json!({"time": now_unix(), "description": format!("{user}@127.0.0.1 (API): {description}"),
                   "version": "24.0", "filesize": filesize}),
        );
        self.revisions().truncate(MAX_REVISIONS);
    }

    /// Config history (the `ConfigHistoryRevision` collection), newest first: id 0 is newest.
    pub fn revisions(&mut self) -> &mut Vec<Value> {
        self.collections
            .entry("ConfigHistoryRevision".to_string())
            .or_default()
    }

    pub fn mark_pending(&mut self, apply_path: &str, mark: &str) {
        self.pending
            .entry(apply_path.to_string())
            .or_default()
            .insert(mark.to_string());
    }

    /// Index of a string-addressed object (`wan`, `lan`, `bogons`).
    pub fn string_id_index(items: &[Value], id: &str) -> Option<usize> {
        items
            .iter()
            .position(|o| o.get(STRING_ID_KEY).and_then(Value::as_str) == Some(id))
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
