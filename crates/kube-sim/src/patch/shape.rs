//! What the patch engines know about the shape of objects: which lists are associative (and by
//! which keys), which are sets, which maps are granular and which structs are atomic.
//!
//! Only the merge keys of the specification (§3.3) are known; every other list is atomic.

use serde_json::{Map, Value};

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListShape {
    /// An associative list whose elements are identified by these key fields.
    Keyed(&'static [&'static str]),
    /// A list of scalars with set semantics (for example `metadata.finalizers`).
    Set,
    /// A list that is replaced as a whole.
    Atomic,
}

/// How an object-valued field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjectShape {
    /// A struct: its fields are tracked one by one, the struct itself is not.
    Struct,
    /// A granular map (labels, annotations, data, …): the map node and its entries are tracked.
    Map,
    /// Replaced as a whole and owned as a single leaf (label selectors).
    Atomic,
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// The shape of the list reached through `fields` (field names only, list elements add nothing).
pub(crate) fn list_shape(kind: &str, fields: &[String]) -> ListShape {
    let Some(last) = fields.last() else {
        return ListShape::Atomic;
    };
    let parent = fields.len().checked_sub(2).and_then(|i| fields.get(i));
    match last.as_str() {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            ListShape::Keyed(&["name"])
        }
        "volumeMounts" => ListShape::Keyed(&["mountPath"]),
        "ports" if parent.is_some_and(|p| CONTAINER_LISTS.contains(&p.as_str())) => {
            ListShape::Keyed(&["containerPort", "protocol"])
        }
        "ports" if kind == "Service" && fields.len() == 2 && fields[0] == "spec" => {
            ListShape::Keyed(&["port", "protocol"])
        }
        "ownerReferences" => ListShape::Keyed(&["uid"]),
        "conditions" => ListShape::Keyed(&["type"]),
        "finalizers" => ListShape::Set,
        _ => ListShape::Atomic,
    }
}

/// The shape of the object reached through `fields`. List elements are always structs.
pub(crate) fn object_shape(kind: &str, fields: &[String]) -> ObjectShape {
    let Some(last) = fields.last() else {
        return ObjectShape::Struct;
    };
    match last.as_str() {
        "labels" | "annotations" | "data" | "binaryData" | "stringData" | "nodeSelector" | "matchLabels" | "limits"
        | "requests" => ObjectShape::Map,
        "selector" if kind == "Service" => ObjectShape::Map,
        "selector" | "labelSelector" => ObjectShape::Atomic,
        _ => ObjectShape::Struct,
    }
}

/// Structs and lists that Go always serialises (non-pointer struct fields, `containers`): they
/// exist in every object, so a write that fills them in does not own the node itself.
pub(crate) fn is_embedded_struct(fields: &[String]) -> bool {
    fields.last().is_some_and(|f| {
        matches!(
            f.as_str(),
            "metadata" | "spec" | "status" | "template" | "strategy" | "containers"
        )
    })
}

/// The value of key field `name` in a list element, with the defaults the API server applies
/// to keys (`protocol` defaults to `TCP`).
pub(crate) fn key_value(element: &Map<String, Value>, name: &str) -> Option<Value> {
    match element.get(name) {
        Some(Value::Null) | None if name == "protocol" => Some(Value::String("TCP".to_owned())),
        Some(Value::Null) | None => None,
        Some(v) => Some(v.clone()),
    }
}

/// The canonical JSON text of an element's key (`{"name":"web"}`), fields in key order.
/// `None` if the element is not an object or lacks a key field.
pub(crate) fn element_key(element: &Value, keys: &[&str]) -> Option<String> {
    let obj = element.as_object()?;
    let mut map = Map::new();
    for k in keys {
        map.insert((*k).to_owned(), key_value(obj, k)?);
    }
    Some(Value::Object(map).to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn container_ports_are_keyed_by_port_and_protocol_but_service_ports_by_port() {
        assert_eq!(
            list_shape(
                "Deployment",
                &path(&["spec", "template", "spec", "containers", "ports"])
            ),
            ListShape::Keyed(&["containerPort", "protocol"])
        );
        assert_eq!(
            list_shape("Service", &path(&["spec", "ports"])),
            ListShape::Keyed(&["port", "protocol"])
        );
        assert_eq!(
            list_shape("Pod", &path(&["spec", "containers", "args"])),
            ListShape::Atomic
        );
    }

    #[test]
    fn deployment_selector_is_atomic_and_service_selector_is_a_map() {
        assert_eq!(
            object_shape("Deployment", &path(&["spec", "selector"])),
            ObjectShape::Atomic
        );
        assert_eq!(object_shape("Service", &path(&["spec", "selector"])), ObjectShape::Map);
    }

    #[test]
    fn a_port_key_without_protocol_defaults_to_tcp() {
        let element = serde_json::json!({"containerPort": 80});
        assert_eq!(
            element_key(&element, &["containerPort", "protocol"]).as_deref(),
            Some(r#"{"containerPort":80,"protocol":"TCP"}"#)
        );
    }
}
