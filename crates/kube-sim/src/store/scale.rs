//! The `/scale` subresource: an `autoscaling/v1` Scale view of `spec.replicas` (spec §3.4).

use serde_json::{Map, Value, json};

use super::fields::obj_mut;
use super::resources::ResourceType;
use super::selector::LabelSelector;
use super::write::Commit;
use super::{Store, StoreError, WriteOptions};

impl Store {
    /// The `autoscaling/v1` Scale view of a Deployment or ReplicaSet.
    pub fn scale_of(object: &Value) -> Value {
        let selector = object
            .pointer("/spec/selector")
            .map(|s| LabelSelector::from_label_selector_object(s).to_text())
            .unwrap_or_default();
        let mut metadata = Map::new();
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let Some(v) = object.get("metadata").and_then(|m| m.get(field)) {
                metadata.insert(field.into(), v.clone());
            }
        }
        let mut spec = Map::new();
        if let Some(r) = object
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .filter(|r| *r != 0)
        {
            spec.insert("replicas".into(), json!(r));
        }
        let mut status = Map::new();
        status.insert(
            "replicas".into(),
            json!(object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0)),
        );
        if !selector.is_empty() {
            status.insert("selector".into(), Value::String(selector));
        }
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata, "spec": spec, "status": status})
    }

    /// Changes `spec.replicas` through the scale subresource. `change` maps the current Scale
    /// to the requested one (a PUT body, or the result of patching the current Scale).
    pub fn write_scale(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&Value) -> Result<Value, StoreError>,
        options: &WriteOptions,
    ) -> Result<Value, StoreError> {
        let mut state = self.lock();
        let old = Self::existing(&state, resource, namespace, name)?;
        let current = Self::scale_of(&old);
        let requested = change(&current)?;
        Self::check_rv_precondition(resource, name, &requested, &old)?;
        let replicas = match requested.pointer("/spec/replicas") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| StoreError::BadRequest("spec.replicas: expected an integer".to_string()))?,
        };
        let mut new = (*old).clone();
        let spec = obj_mut(&mut new).entry("spec").or_insert_with(|| json!({}));
        if let Value::Object(s) = spec {
            s.insert("replicas".into(), json!(replicas));
        }
        let written = self.commit(
            &mut state,
            Commit::change(resource, namespace, name, old, new, Some("scale"), options),
        )?;
        Ok(Self::scale_of(&written))
    }
}
