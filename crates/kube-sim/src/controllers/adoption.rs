//! Adoption of orphans (`ClaimReplicaSets`, `ClaimPods`): an object without a controller
//! owner whose labels match a controller's selector is given that controller as its owner,
//! as after `kubectl delete --cascade=orphan` and a re-create.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::json::{controller_uid, get, is_deleting, name, namespace, selector_matches, uid};
use super::model::Action;

/// Updates giving `owner` (of `kind`) the orphans among `candidates` that its selector
/// matches; `claimed` holds the uids adopted earlier in this pass and is extended.
pub(crate) fn adopt(
    owner: &Value,
    kind: &str,
    candidates: &[&Value],
    resource: &'static str,
    claimed: &mut BTreeSet<String>,
) -> Vec<Action> {
    if is_deleting(owner) {
        return Vec::new();
    }
    let selector = get(owner, &["spec", "selector"]);
    let mut out = Vec::new();
    for candidate in candidates {
        if namespace(candidate) != namespace(owner)
            || controller_uid(candidate).is_some()
            || is_deleting(candidate)
            || claimed.contains(uid(candidate))
            || !selector_matches(selector, get(candidate, &["metadata", "labels"]))
        {
            continue;
        }
        claimed.insert(uid(candidate).to_owned());
        let mut object = (*candidate).clone();
        let reference = json!({
            "apiVersion": "apps/v1",
            "kind": kind,
            "name": name(owner),
            "uid": uid(owner),
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
