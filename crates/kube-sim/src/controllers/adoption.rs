//! Adoption of orphans (`ClaimReplicaSets`, `ClaimPods`): an object without a controller
//! owner whose labels match a controller's selector is given that controller as its owner,
//! as after `kubectl delete --cascade=orphan` and a re-create.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::json::{get, selector_matches};
use super::meta::Object;
use super::model::Action;

/// Updates giving `owner` (of `kind`) the orphans among `candidates` that its selector
/// matches; `claimed` holds the uids adopted earlier in this pass and is extended.
pub(crate) fn adopt(
    owner: &Object,
    kind: &str,
    candidates: &[&Object],
    resource: &'static str,
    claimed: &mut BTreeSet<String>,
) -> Vec<Action> {
    if owner.meta.deleting || candidates.is_empty() {
        return Vec::new();
    }
    let selector = get(owner.value(), &["spec", "selector"]);
    let mut out = Vec::new();
    for candidate in candidates {
        let meta = &candidate.meta;
        if meta.namespace != owner.meta.namespace
            || meta.controller_uid.is_some()
            || meta.deleting
            || claimed.contains(&meta.uid)
            || !selector_matches(selector, get(candidate.value(), &["metadata", "labels"]))
        {
            continue;
        }
        claimed.insert(meta.uid.clone());
        let mut object = candidate.value().clone();
        let reference = json!({
            "apiVersion": "apps/v1",
            "kind": kind,
            "name": owner.meta.name,
            "uid": owner.meta.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        });
        match object
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            Some(refs) => refs.push(reference),
            None => super::json::set(&mut object, &["metadata", "ownerReferences"], json!([reference])),
        }
        out.push(Action::Update { resource, object });
    }
    out
}
