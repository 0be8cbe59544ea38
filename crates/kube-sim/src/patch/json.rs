//! JSON patch (RFC 6902) with JSON pointers (RFC 6901).

use serde_json::Value;

use super::error::PatchError;

/// Applies an RFC 6902 JSON patch. A body that is not a list of operations is
/// [`PatchError::MalformedPatch`] (400); an operation that does not apply (a missing path for
/// `remove`/`replace`, a failed `test`, …) is [`PatchError::OperationFailed`] (422).
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, PatchError> {
    let Some(list) = ops.as_array() else {
        return Err(PatchError::malformed(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        ));
    };
    let mut doc = target.clone();
    for op in list {
        apply_op(&mut doc, op)?;
    }
    Ok(doc)
}

fn field<'a>(op: &'a Value, name: &str, kind: &str) -> Result<&'a Value, PatchError> {
    op.get(name)
        .ok_or_else(|| PatchError::malformed(format!("{kind} operation is missing the \"{name}\" member")))
}

fn pointer<'a>(op: &'a Value, name: &str, kind: &str) -> Result<&'a str, PatchError> {
    field(op, name, kind)?
        .as_str()
        .ok_or_else(|| PatchError::malformed(format!("{kind} operation has a non-string \"{name}\"")))
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), PatchError> {
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| PatchError::malformed("a JSON patch operation needs a string \"op\""))?;
    match kind {
        "add" => {
            let path = pointer(op, "path", kind)?;
            let value = field(op, "value", kind)?.clone();
            add(doc, path, value, kind)
        }
        "remove" => {
            let path = pointer(op, "path", kind)?;
            remove(doc, path, kind).map(drop)
        }
        "replace" => {
            let path = pointer(op, "path", kind)?;
            let value = field(op, "value", kind)?.clone();
            let tokens = parse_pointer(path)?;
            let Some(slot) = resolve_mut(doc, &tokens) else {
                return Err(missing(kind, path));
            };
            *slot = value;
            Ok(())
        }
        "move" => {
            let from = pointer(op, "from", kind)?;
            let path = pointer(op, "path", kind)?;
            if path.starts_with(from) && path[from.len()..].starts_with('/') {
                return Err(PatchError::failed(format!(
                    "move operation does not apply: \"from\" {from} is a parent of \"path\" {path}"
                )));
            }
            if from == path {
                return resolve(doc, &parse_pointer(from)?)
                    .map(drop)
                    .ok_or_else(|| missing(kind, from));
            }
            let value = remove(doc, from, kind)?;
            add(doc, path, value, kind)
        }
        "copy" => {
            let from = pointer(op, "from", kind)?;
            let path = pointer(op, "path", kind)?;
            let value = resolve(doc, &parse_pointer(from)?)
                .cloned()
                .ok_or_else(|| missing(kind, from))?;
            add(doc, path, value, kind)
        }
        "test" => {
            let path = pointer(op, "path", kind)?;
            let expected = field(op, "value", kind)?;
            match resolve(doc, &parse_pointer(path)?) {
                Some(actual) if actual == expected => Ok(()),
                _ => Err(PatchError::failed(format!("testing value {path} failed: test failed"))),
            }
        }
        other => Err(PatchError::malformed(format!("Unexpected kind: {other}"))),
    }
}

fn missing(kind: &str, path: &str) -> PatchError {
    PatchError::failed(format!(
        "{kind} operation does not apply: doc is missing path: \"{path}\": missing value"
    ))
}

/// Splits a JSON pointer into its unescaped tokens (`~1` → `/`, `~0` → `~`).
fn parse_pointer(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(PatchError::malformed(format!(
            "JSON pointer {path:?} must start with '/'"
        )));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: usize = token.parse().ok()?;
    if index < len || (allow_end && index == len) {
        Some(index)
    } else {
        None
    }
}

fn resolve<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token, items.len(), false)?),
        _ => None,
    })
}

fn resolve_mut<'v>(doc: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    tokens.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            let i = array_index(token, items.len(), false)?;
            items.get_mut(i)
        }
        _ => None,
    })
}

fn add(doc: &mut Value, path: &str, value: Value, kind: &str) -> Result<(), PatchError> {
    let tokens = parse_pointer(path)?;
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let Some(container) = resolve_mut(doc, parent) else {
        return Err(missing(kind, path));
    };
    match container {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" {
                Some(items.len())
            } else {
                array_index(last, items.len(), true)
            };
            let Some(index) = index else {
                return Err(PatchError::failed(format!(
                    "{kind} operation does not apply: index {last} out of bounds at \"{path}\""
                )));
            };
            items.insert(index, value);
            Ok(())
        }
        _ => Err(missing(kind, path)),
    }
}

fn remove(doc: &mut Value, path: &str, kind: &str) -> Result<Value, PatchError> {
    let tokens = parse_pointer(path)?;
    let Some((last, parent)) = tokens.split_last() else {
        return Ok(std::mem::take(doc));
    };
    let removed = match resolve_mut(doc, parent) {
        Some(Value::Object(map)) => map.shift_remove(last),
        Some(Value::Array(items)) => array_index(last, items.len(), false).map(|i| items.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| missing(kind, path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rfc_6902_appendix_examples_succeed() {
        let cases = [
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux"}]),
                json!({"foo":"bar","baz":"qux"}),
            ),
            (
                json!({"foo":["bar","baz"]}),
                json!([{"op":"add","path":"/foo/1","value":"qux"}]),
                json!({"foo":["bar","qux","baz"]}),
            ),
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"remove","path":"/baz"}]),
                json!({"foo":"bar"}),
            ),
            (
                json!({"foo":["bar","qux","baz"]}),
                json!([{"op":"remove","path":"/foo/1"}]),
                json!({"foo":["bar","baz"]}),
            ),
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"replace","path":"/baz","value":"boo"}]),
                json!({"baz":"boo","foo":"bar"}),
            ),
            (
                json!({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}),
                json!([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]),
                json!({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}),
            ),
            (
                json!({"foo":["all","grass","cows","eat"]}),
                json!([{"op":"move","from":"/foo/1","path":"/foo/3"}]),
                json!({"foo":["all","cows","eat","grass"]}),
            ),
            (
                json!({"baz":"qux","foo":["a",2,"c"]}),
                json!([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]),
                json!({"baz":"qux","foo":["a",2,"c"]}),
            ),
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/child","value":{"grandchild":{}}}]),
                json!({"foo":"bar","child":{"grandchild":{}}}),
            ),
            (
                json!({"foo":["bar"]}),
                json!([{"op":"add","path":"/foo/-","value":["abc","def"]}]),
                json!({"foo":["bar",["abc","def"]]}),
            ),
            (
                json!({"/":9,"~1":10}),
                json!([{"op":"test","path":"/~01","value":10}]),
                json!({"/":9,"~1":10}),
            ),
            (
                json!({"foo":1}),
                json!([{"op":"copy","from":"/foo","path":"/bar"}]),
                json!({"foo":1,"bar":1}),
            ),
            (
                json!({"a/b":{"c~d":1}}),
                json!([{"op":"replace","path":"/a~1b/c~0d","value":2}]),
                json!({"a/b":{"c~d":2}}),
            ),
        ];
        for (doc, patch, expected) in cases {
            assert_eq!(json_patch(&doc, &patch).unwrap(), expected, "patch {patch}");
        }
    }

    #[test]
    fn failing_operations_are_invalid_and_bad_bodies_are_bad_requests() {
        let doc = json!({"foo":"bar","list":[1]});
        let failing = [
            json!([{"op":"replace","path":"/missing","value":1}]),
            json!([{"op":"remove","path":"/missing"}]),
            json!([{"op":"test","path":"/foo","value":"baz"}]),
            json!([{"op":"add","path":"/baz/bat","value":"qux"}]),
            json!([{"op":"add","path":"/list/5","value":2}]),
            json!([{"op":"remove","path":"/list/01"}]),
            json!([{"op":"move","from":"/foo","path":"/foo/x"}]),
        ];
        for patch in failing {
            let err = json_patch(&doc, &patch).unwrap_err();
            assert_eq!(err.code(), 422, "patch {patch} gave {err}");
        }
        let replace = json_patch(&doc, &json!([{"op":"replace","path":"/missing","value":1}])).unwrap_err();
        assert_eq!(
            replace.to_string(),
            "replace operation does not apply: doc is missing path: \"/missing\": missing value"
        );
        for patch in [
            json!({"op":"add"}),
            json!([{"op":"frobnicate","path":"/a"}]),
            json!([{"path":"/a"}]),
            json!([{"op":"add","path":"a","value":1}]),
        ] {
            assert_eq!(json_patch(&doc, &patch).unwrap_err().code(), 400, "patch {patch}");
        }
    }

    #[test]
    fn the_rollout_undo_body_replaces_the_template_and_annotations() {
        let deploy = json!({"metadata":{"name":"web","annotations":{"deployment.kubernetes.io/revision":"2"}},
            "spec":{"replicas":2,"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}});
        let patch = json!([
            {"op":"replace","path":"/spec/template","value":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.25","resources":{}}]}}},
            {"op":"replace","path":"/metadata/annotations","value":{"deployment.kubernetes.io/revision":"2"}}
        ]);
        let out = json_patch(&deploy, &patch).unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.25");
        assert_eq!(out["spec"]["replicas"], 2);
    }
}
