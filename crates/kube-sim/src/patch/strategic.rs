//! Strategic merge patch: merge patch, except that lists with merge keys (spec §3.3) merge per
//! element, plus the directives `$patch`, `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>`. Any other `$`-key is dropped.

use serde_json::{Map, Value};

use super::error::PatchError;
use super::shape::{ListShape, list_shape};

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch to `target`. The object's `kind` (from the target, else the
/// patch) decides the few shapes that depend on it.
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Some(patch_map) = patch.as_object() else {
        return Err(PatchError::malformed("the strategic merge patch must be a JSON object"));
    };
    let kind = target
        .get("kind")
        .or_else(|| patch.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let engine = Engine { kind: &kind };
    let merged = engine.merge_object(target.as_object(), patch_map, &mut Vec::new())?;
    Ok(merged.map(Value::Object).unwrap_or_else(|| Value::Object(Map::new())))
}

struct Engine<'a> {
    kind: &'a str,
}

impl Engine<'_> {
    /// Merges `patch` into `original`. `None` means the object is deleted (`$patch: delete`).
    fn merge_object(
        &self,
        original: Option<&Map<String, Value>>,
        patch: &Map<String, Value>,
        fields: &mut Vec<String>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        match patch.get("$patch") {
            None => {}
            Some(Value::String(d)) if d == "merge" => {}
            Some(Value::String(d)) if d == "delete" => return Ok(None),
            Some(Value::String(d)) if d == "replace" => {
                let mut without = patch.clone();
                without.remove("$patch");
                return self.merge_object(None, &without, fields);
            }
            Some(other) => {
                return Err(PatchError::UnknownDirective {
                    directive: other.to_string(),
                });
            }
        }
        let mut out = original.cloned().unwrap_or_default();
        for (key, values) in patch {
            let Some(list) = key.strip_prefix(DELETE_PRIMITIVE) else {
                continue;
            };
            let Some(values) = values.as_array() else {
                return Err(PatchError::malformed(format!("{key} must be a list")));
            };
            if let Some(Value::Array(items)) = out.get_mut(list) {
                items.retain(|i| !values.contains(i));
            }
        }
        for (key, value) in patch {
            if key.starts_with('$') {
                continue;
            }
            if value.is_null() {
                out.remove(key);
                continue;
            }
            fields.push(key.clone());
            let merged = match value {
                Value::Object(p) => {
                    let orig = out.get(key).and_then(Value::as_object);
                    self.merge_object(orig, p, fields)?.map(Value::Object)
                }
                Value::Array(p) => Some(self.merge_list(out.get(key).and_then(Value::as_array), p, fields)?),
                scalar => Some(scalar.clone()),
            };
            fields.pop();
            match merged {
                Some(v) => {
                    out.insert(key.clone(), v);
                }
                None => {
                    out.remove(key);
                }
            }
        }
        for (key, order) in patch {
            let Some(list) = key.strip_prefix(SET_ORDER) else {
                continue;
            };
            let Some(order) = order.as_array() else {
                return Err(PatchError::malformed(format!("{key} must be a list")));
            };
            fields.push(list.to_owned());
            let shape = list_shape(self.kind, fields);
            fields.pop();
            if let Some(Value::Array(items)) = out.get_mut(list) {
                *items = reorder(std::mem::take(items), order, shape);
            }
        }
        if let Some(retain) = patch.get("$retainKeys") {
            let Some(retain) = retain.as_array() else {
                return Err(PatchError::malformed("$retainKeys must be a list"));
            };
            out.retain(|k, _| retain.iter().any(|r| r.as_str() == Some(k)));
        }
        Ok(Some(out))
    }

    fn merge_list(
        &self,
        original: Option<&Vec<Value>>,
        patch: &[Value],
        fields: &mut Vec<String>,
    ) -> Result<Value, PatchError> {
        match list_shape(self.kind, fields) {
            ListShape::Atomic => Ok(Value::Array(self.clean_all(patch, fields)?)),
            ListShape::Set => {
                let mut out = original.cloned().unwrap_or_default();
                for item in patch {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Ok(Value::Array(out))
            }
            ListShape::Keyed(keys) => {
                let key = keys[0];
                let replace = patch
                    .iter()
                    .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
                if replace {
                    let rest: Vec<Value> = patch
                        .iter()
                        .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("replace"))
                        .cloned()
                        .collect();
                    return Ok(Value::Array(self.clean_all(&rest, fields)?));
                }
                let mut out = original.cloned().unwrap_or_default();
                for item in patch {
                    let Some(element) = item.as_object() else {
                        return Err(PatchError::malformed(format!(
                            "a {} list element must be an object",
                            fields.last().map_or("", String::as_str)
                        )));
                    };
                    let Some(id) = element.get(key) else {
                        return Err(PatchError::MissingMergeKey {
                            key: key.to_owned(),
                            element: item.to_string(),
                        });
                    };
                    let pos = out.iter().position(|o| o.get(key) == Some(id));
                    if element.get("$patch").and_then(Value::as_str) == Some("delete") {
                        out.retain(|o| o.get(key) != Some(id));
                        continue;
                    }
                    let orig = pos.and_then(|p| out[p].as_object());
                    let merged = self.merge_object(orig, element, fields)?;
                    match (pos, merged) {
                        (Some(p), Some(m)) => out[p] = Value::Object(m),
                        (Some(p), None) => {
                            out.remove(p);
                        }
                        (None, Some(m)) => out.push(Value::Object(m)),
                        (None, None) => {}
                    }
                }
                Ok(Value::Array(out))
            }
        }
    }

    /// Strips directives from patch values that replace rather than merge.
    fn clean_all(&self, items: &[Value], fields: &mut Vec<String>) -> Result<Vec<Value>, PatchError> {
        let mut out = Vec::new();
        for item in items {
            match item {
                Value::Object(m) => {
                    if let Some(clean) = self.merge_object(None, m, fields)? {
                        out.push(Value::Object(clean));
                    }
                }
                other => out.push(other.clone()),
            }
        }
        Ok(out)
    }
}

/// Orders a merged list by a `$setElementOrder` list: the listed elements come in that order;
/// elements the patch did not mention keep their place relative to them.
fn reorder(items: Vec<Value>, order: &[Value], shape: ListShape) -> Vec<Value> {
    let rank = |item: &Value| -> Option<usize> {
        match shape {
            ListShape::Keyed(keys) => order.iter().position(|o| {
                o.as_object().is_some_and(|o| {
                    !o.is_empty() && o.iter().all(|(k, v)| item.get(k) == Some(v)) && o.contains_key(keys[0])
                })
            }),
            _ => order.iter().position(|o| o == item),
        }
    };
    let original: Vec<(usize, Value)> = items.into_iter().enumerate().collect();
    let mut listed: Vec<(usize, usize, Value)> = Vec::new();
    let mut unlisted: Vec<(usize, Value)> = Vec::new();
    for (index, item) in original {
        match rank(&item) {
            Some(r) => listed.push((r, index, item)),
            None => unlisted.push((index, item)),
        }
    }
    listed.sort_by_key(|(r, _, _)| *r);
    let mut out = Vec::new();
    let mut unlisted = unlisted.into_iter().peekable();
    for (_, index, item) in listed {
        while let Some((u, _)) = unlisted.peek() {
            if *u < index {
                if let Some((_, v)) = unlisted.next() {
                    out.push(v);
                }
            } else {
                break;
            }
        }
        out.push(item);
    }
    out.extend(unlisted.map(|(_, v)| v));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","finalizers":["a"]},
            "spec":{"replicas":2,"paused":true,"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
                {"name":"web","image":"nginx:1.25","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"args":["x","y"]},
                {"name":"sidecar","image":"envoy:1"}]}}}})
    }

    fn containers(v: &Value) -> &Vec<Value> {
        v["spec"]["template"]["spec"]["containers"].as_array().unwrap()
    }

    #[test]
    fn kubectl_set_image_changes_one_container_and_keeps_the_others() {
        let patch = json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],"containers":[{"image":"nginx:1.28","name":"web"}]}}}});
        let out = strategic_merge_patch(&deployment(), &patch).unwrap();
        let c = containers(&out);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["image"], "nginx:1.28");
        assert_eq!(c[0]["ports"][0]["containerPort"], 80);
        assert_eq!(c[1]["name"], "sidecar");
        assert!(!out.to_string().contains('$'));
    }

    #[test]
    fn kubectl_rollout_bodies_restart_pause_and_resume() {
        let restart = json!({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}});
        let out = strategic_merge_patch(&deployment(), &restart).unwrap();
        assert_eq!(
            out["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(out["spec"]["template"]["metadata"]["labels"]["app"], "web");
        let resumed = strategic_merge_patch(&deployment(), &json!({"spec":{"paused":null}})).unwrap();
        assert!(resumed["spec"].get("paused").is_none());
        let paused = strategic_merge_patch(&resumed, &json!({"spec":{"paused":true}})).unwrap();
        assert_eq!(paused["spec"]["paused"], true);
    }

    #[test]
    fn keyed_lists_merge_by_key_and_other_lists_replace() {
        let patch = json!({"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"3"},{"name":"C","value":"4"}],"args":["z"],"ports":[{"containerPort":8080}]}]}}}});
        let out = strategic_merge_patch(&deployment(), &patch).unwrap();
        let web = &containers(&out)[0];
        assert_eq!(
            web["env"],
            json!([{"name":"A","value":"1"},{"name":"B","value":"3"},{"name":"C","value":"4"}])
        );
        assert_eq!(web["args"], json!(["z"]));
        assert_eq!(web["ports"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn patch_directives_delete_replace_and_retain() {
        let delete = json!({"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}});
        assert_eq!(
            containers(&strategic_merge_patch(&deployment(), &delete).unwrap()).len(),
            1
        );
        let replace =
            json!({"spec":{"template":{"spec":{"containers":[{"$patch":"replace"},{"name":"only","image":"x"}]}}}});
        assert_eq!(
            containers(&strategic_merge_patch(&deployment(), &replace).unwrap()),
            &vec![json!({"name":"only","image":"x"})]
        );
        let replace_map = json!({"spec":{"template":{"metadata":{"$patch":"replace","labels":{"tier":"x"}}}}});
        assert_eq!(
            strategic_merge_patch(&deployment(), &replace_map).unwrap()["spec"]["template"]["metadata"],
            json!({"labels":{"tier":"x"}})
        );
        let delete_map = json!({"spec":{"template":{"metadata":{"$patch":"delete"}}}});
        assert!(
            strategic_merge_patch(&deployment(), &delete_map).unwrap()["spec"]["template"]
                .get("metadata")
                .is_none()
        );
        let retain = json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}});
        let with_strategy = strategic_merge_patch(
            &deployment(),
            &json!({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}),
        )
        .unwrap();
        assert_eq!(
            strategic_merge_patch(&with_strategy, &retain).unwrap()["spec"]["strategy"],
            json!({"type":"Recreate"})
        );
    }

    #[test]
    fn primitive_lists_merge_and_delete_values() {
        let out = strategic_merge_patch(&deployment(), &json!({"metadata":{"finalizers":["b"]}})).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let out =
            strategic_merge_patch(&out, &json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn unknown_dollar_keys_are_never_stored() {
        let out = strategic_merge_patch(&deployment(), &json!({"$foo":1,"spec":{"$bar":{"x":1},"replicas":4,"template":{"spec":{"containers":[{"name":"new","image":"i","$baz":2}]}}}})).unwrap();
        assert!(!out.to_string().contains('$'));
        assert_eq!(out["spec"]["replicas"], 4);
        assert_eq!(containers(&out).len(), 3);
    }

    #[test]
    fn malformed_patches_are_bad_requests() {
        for patch in [
            json!([1]),
            json!({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}),
            json!({"spec":{"$patch":"frobnicate"}}),
        ] {
            assert_eq!(
                strategic_merge_patch(&deployment(), &patch).unwrap_err().code(),
                400,
                "patch {patch}"
            );
        }
    }

    #[test]
    fn set_element_order_reorders_listed_elements() {
        let patch =
            json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"web"}]}}}});
        let out = strategic_merge_patch(&deployment(), &patch).unwrap();
        assert_eq!(containers(&out)[0]["name"], "sidecar");
    }
}
