//! Semantic equality of pod templates (spec §4.1): `null`, absent, `""`, `{}` and `[]` are the
//! same, and so is anything the typed PodTemplateSpec does not carry.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The canonical form of a pod template: round-tripped through k8s-openapi's
/// `PodTemplateSpec` (when it decodes), then with nulls, empty strings, empty objects and empty
/// lists removed.
pub fn canonical_template(template: &Value) -> Value {
    let typed = serde_json::from_value::<PodTemplateSpec>(template.clone())
        .ok()
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or_else(|| template.clone());
    prune(&typed).unwrap_or(Value::Object(serde_json::Map::new()))
}

fn prune(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Object(map) => {
            let kept: serde_json::Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .map(|v| prune(v).unwrap_or_else(|| Value::Object(serde_json::Map::new())))
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => Some(other.clone()),
    }
}

/// True if two pod templates are semantically equal.
pub fn semantically_equal_templates(a: &Value, b: &Value) -> bool {
    canonical_template(a) == canonical_template(b)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rollout_undo_template_equals_the_stored_one() {
        let stored =
            json!({"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}});
        let undo = json!({"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.25","resources":{},"env":[]}],"securityContext":{}}});
        assert!(semantically_equal_templates(&stored, &undo));
    }

    #[test]
    fn a_different_image_or_label_is_not_equal() {
        let a =
            json!({"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}});
        let mut b = a.clone();
        b["spec"]["containers"][0]["image"] = json!("nginx:1.26");
        assert!(!semantically_equal_templates(&a, &b));
        let mut c = a.clone();
        c["metadata"]["labels"]["tier"] = json!("x");
        assert!(!semantically_equal_templates(&a, &c));
        let mut d = a.clone();
        d["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"});
        assert!(!semantically_equal_templates(&a, &d));
    }

    #[test]
    fn key_order_does_not_matter() {
        let a = json!({"spec":{"containers":[{"name":"web","image":"x"}]},"metadata":{"labels":{"b":"2","a":"1"}}});
        let b = json!({"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"containers":[{"image":"x","name":"web"}]}});
        assert!(semantically_equal_templates(&a, &b));
    }
}
