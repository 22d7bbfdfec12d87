//! What the spec says, arranged for serving: paths with their operations, where every model lives
//! (top-level collection, singleton, or nested inside a parent's list field), required fields.

use pfsense_spec::{API_PREFIX, Method, ModelField, ModelSchema, Operation, PathKind, Spec};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// One served path and the operations it offers.
#[derive(Debug, Clone)]
pub struct PathEntry {
    pub path: String,
    /// Path after `/api/v2/`, e.g. `firewall/alias`.
    pub rel: String,
    pub kind: PathKind,
    pub model: String,
    pub parent_model: Option<String>,
    /// Index into `Spec::operations` per method.
    pub ops: BTreeMap<Method, usize>,
}

/// Where a child model is stored: the list field of its parent.
#[derive(Debug, Clone)]
pub struct Nesting {
    pub parent_model: String,
    pub field: String,
}

pub struct Catalog {
    pub spec: Arc<Spec>,
    pub paths: HashMap<String, PathEntry>,
    /// Child model → where it lives in its parent.
    pub nested: HashMap<String, Nesting>,
    /// Models with their own top-level list (items addressed by index or string id).
    pub collections: BTreeSet<String>,
    /// Models that are one object (settings, status, read-only singletons).
    pub singletons: BTreeSet<String>,
    /// Fields a create must carry, per model (from the create operation's own `allOf`).
    pub required_on_create: HashMap<String, BTreeSet<String>>,
}

impl Catalog {
    pub fn new(spec: Arc<Spec>) -> Catalog {
        let mut paths: HashMap<String, PathEntry> = HashMap::new();
        for (i, op) in spec.operations.iter().enumerate() {
            let entry = paths.entry(op.path.clone()).or_insert_with(|| PathEntry {
                path: op.path.clone(),
                rel: op
                    .path
                    .strip_prefix(API_PREFIX)
                    .unwrap_or(&op.path)
                    .to_string(),
                kind: op.path_kind,
                model: op.model.clone(),
                parent_model: op.parent_model.clone(),
                ops: BTreeMap::new(),
            });
            entry.ops.insert(op.method, i);
        }

        let mut nested = HashMap::new();
        let mut collections = BTreeSet::new();
        let mut singletons = BTreeSet::new();
        let mut required_on_create: HashMap<String, BTreeSet<String>> = HashMap::new();
        for entry in paths.values() {
            if let Some(parent) = &entry.parent_model {
                if let (Some(child), Some(parent_schema)) =
                    (spec.models.get(&entry.model), spec.models.get(parent))
                    && let Some(field) = nesting_field(parent_schema, child).or_else(|| {
                        NESTING_FALLBACK
                            .iter()
                            .find(|(c, _)| *c == entry.model)
                            .map(|(_, f)| f.to_string())
                    })
                {
                    nested.insert(
                        entry.model.clone(),
                        Nesting {
                            parent_model: parent.clone(),
                            field,
                        },
                    );
                }
            } else {
                match entry.kind {
                    PathKind::Plural | PathKind::Item => {
                        collections.insert(entry.model.clone());
                    }
                    _ => {
                        singletons.insert(entry.model.clone());
                    }
                }
            }
            // Required fields of the create operation (POST on an item path, else PUT items).
            if let Some(&i) = entry.ops.get(&Method::Post)
                && entry.kind == PathKind::Item
            {
                let op = &spec.operations[i];
                let req = required_on_create.entry(entry.model.clone()).or_default();
                for arg in op
                    .args
                    .iter()
                    .filter(|a| a.required || a.required_when_available)
                {
                    if !matches!(arg.name.as_str(), "id" | "parent_id") {
                        req.insert(arg.name.clone());
                    }
                }
            }
        }
        // Some collections are only read (status tables): models of an action path that are
        // also collections stay collections.
        for m in &collections {
            singletons.remove(m);
        }
        Catalog {
            spec,
            paths,
            nested,
            collections,
            singletons,
            required_on_create,
        }
    }

    pub fn op(&self, index: usize) -> &Operation {
        &self.spec.operations[index]
    }

    pub fn model(&self, name: &str) -> Option<&ModelSchema> {
        self.spec.models.get(name)
    }

    pub fn field(&self, model: &str, field: &str) -> Option<&ModelField> {
        self.model(model).and_then(|m| m.field(field))
    }

    /// The item path (singular endpoint) of a model, for privilege and lookups.
    pub fn item_path_of(&self, model: &str) -> Option<&PathEntry> {
        self.paths
            .values()
            .find(|p| p.model == model && p.kind == PathKind::Item)
    }
}

/// Children whose parent field the spec model gives no item properties for (read-only status
/// lists), so `nesting_field` cannot find them: child model → parent field.
pub const NESTING_FALLBACK: &[(&str, &str)] = &[
    ("IPsecChildSAStatus", "child_sas"),
    ("OpenVPNServerConnectionStatus", "conns"),
    ("OpenVPNServerRouteStatus", "routes"),
];

/// The list field of `parent` that holds `child` objects: the array-of-objects field whose item
/// properties share the most names with the child's fields (at least half of them; the spec
/// drops some read-only or conditional fields from item schemas).
fn nesting_field(parent: &ModelSchema, child: &ModelSchema) -> Option<String> {
    let child_fields: BTreeSet<&str> = child.fields.iter().map(|f| f.name.as_str()).collect();
    parent
        .fields
        .iter()
        .filter_map(|f| {
            let props = f.schema.get("items")?.get("properties")?.as_object()?;
            let names: BTreeSet<&str> = props.keys().map(String::as_str).collect();
            let common = names.intersection(&child_fields).count();
            (common > 0 && common * 2 >= child_fields.len()).then(|| (common, f.name.clone()))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nested_model_knows_its_parent_field() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi-spec.json");
        let spec = Arc::new(Spec::load(&path).expect("the spec at the workspace root loads"));
        let catalog = Catalog::new(spec);
        let mut missing: Vec<&str> = catalog
            .paths
            .values()
            .filter(|p| p.parent_model.is_some() && !catalog.nested.contains_key(&p.model))
            .map(|p| p.model.as_str())
            .collect();
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "no parent field for {missing:?}");
        assert_eq!(catalog.paths.len(), 258);
    }
}
