//! Unknown-field detection for `fieldValidation=Strict|Warn` (spec §4.2).
//!
//! The object is decoded into its k8s-openapi type and encoded again; every non-null path of
//! the input that does not survive the round trip is unknown to the schema.

use k8s_openapi::api::{apps, autoscaling, core};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The paths of `obj` (`.spec.foo`, `.spec.template.spec.containers[0].bar`) that the schema
/// of `kind` does not declare. Kinds without a known schema, and bodies that do not decode at
/// all, report nothing.
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    let Some(Ok(known)) = typed_round_trip(kind, obj) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    missing_paths(obj, &known, &mut String::new(), &mut out);
    out
}

/// Why `obj` does not decode as its typed `kind` (a field of the wrong type, such as
/// `"replicas":"two"`), in serde's words; `None` when it decodes or the kind has no known
/// schema. The API server answers such bodies with 400 BadRequest.
pub fn decode_error(kind: &str, obj: &Value) -> Option<String> {
    typed_round_trip(kind, obj)?.err()
}

/// The object decoded into its k8s-openapi type and encoded again; `None` for unknown kinds.
fn typed_round_trip(kind: &str, obj: &Value) -> Option<Result<Value, String>> {
    Some(match kind {
        "Deployment" => round_trip::<apps::v1::Deployment>(obj),
        "ReplicaSet" => round_trip::<apps::v1::ReplicaSet>(obj),
        "Pod" => round_trip::<core::v1::Pod>(obj),
        "Service" => round_trip::<core::v1::Service>(obj),
        "Namespace" => round_trip::<core::v1::Namespace>(obj),
        "ConfigMap" => round_trip::<core::v1::ConfigMap>(obj),
        "Secret" => round_trip::<core::v1::Secret>(obj),
        "Event" => round_trip::<core::v1::Event>(obj),
        "Scale" => round_trip::<autoscaling::v1::Scale>(obj),
        _ => return None,
    })
}

fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

fn missing_paths(input: &Value, known: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                match b.get(key) {
                    Some(kv) => missing_paths(value, kv, path, out),
                    None if value.is_null() => {}
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (value, kv)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                missing_paths(value, kv, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_reported_with_their_paths() {
        let d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","creationTimestamp":null},"foo":1,
            "spec":{"replicas":2,"foo":"x","selector":{"matchLabels":{"app":"web"}},
                "strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":"25%"}},
                "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
                    {"name":"web","image":"nginx","bar":true,"resources":{"limits":{"cpu":"100m","memory":"1Gi"},"requests":{"cpu":1}},"ports":[{"containerPort":80}]}]}}}});
        assert_eq!(
            unknown_fields("Deployment", &d),
            vec![".foo", ".spec.foo", ".spec.template.spec.containers[0].bar"]
        );
    }

    #[test]
    fn a_fully_known_object_has_no_unknown_fields() {
        let d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"b"},"annotations":{"x":"y"}},
            "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"progressDeadlineSeconds":600,
                "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":0}},
                "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"securityContext":{},"containers":[
                    {"name":"web","image":"nginx","resources":{},"env":[{"name":"A","value":"1"}],"ports":[{"containerPort":80,"protocol":"TCP"}]}]}}},
            "status":{}});
        assert!(unknown_fields("Deployment", &d).is_empty());
        let secret = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"dmFsdWU="},"stringData":{"a":"b"},"type":"Opaque"});
        assert!(unknown_fields("Secret", &secret).is_empty());
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"},"datum":{}});
        assert_eq!(unknown_fields("ConfigMap", &cm), vec![".datum"]);
    }

    #[test]
    fn a_field_of_the_wrong_type_is_a_decode_error() {
        let bad = json!({"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"two"}});
        assert!(decode_error("Deployment", &bad).is_some_and(|m| m.contains("invalid type")));
        let good = json!({"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":2}});
        assert_eq!(decode_error("Deployment", &good), None);
        assert_eq!(decode_error("Widget", &bad), None);
    }

    #[test]
    fn undecodable_bodies_and_unknown_kinds_report_nothing() {
        assert!(unknown_fields("Deployment", &json!({"spec":{"replicas":"two","foo":1}})).is_empty());
        assert!(unknown_fields("Widget", &json!({"foo":1})).is_empty());
    }
}
