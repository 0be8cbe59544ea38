//! Pod template canonicalisation, semantic equality and the `pod-template-hash`.
//!
//! Templates are compared and hashed in a canonical form: the template is round-tripped through
//! `k8s_openapi`'s `PodTemplateSpec` (dropping unknown fields), then nulls, empty strings, empty
//! objects and empty lists are pruned and object keys sorted. So `null`, absent, `{}` (e.g.
//! `resources: {}`) and `creationTimestamp: null` all compare equal (spec §4.1), as Go's
//! semantic equality does.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{Value, json};

use super::json::{pruned, remove, sorted_keys};
use crate::rng::NAME_ALPHABET;

/// The label a Deployment adds to the template of each of its ReplicaSets.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// The canonical form of a pod template (see the module documentation).
pub fn canonical_template(template: &Value) -> Value {
    let typed = serde_json::from_value::<PodTemplateSpec>(template.clone())
        .ok()
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or_else(|| template.clone());
    sorted_keys(&pruned(&typed).unwrap_or_else(|| json!({})))
}

/// The template without the `pod-template-hash` label.
fn without_hash_label(template: &Value) -> Value {
    let mut t = template.clone();
    remove(&mut t, &["metadata", "labels", POD_TEMPLATE_HASH_LABEL]);
    t
}

/// The canonical form of a pod template without its `pod-template-hash` label: two templates
/// are equal ignoring the hash (`EqualIgnoreHash`) when these are equal.
pub fn canonical_ignoring_hash(template: &Value) -> Value {
    canonical_template(&without_hash_label(template))
}

/// Whether two pod templates are semantically equal once the `pod-template-hash` label is
/// removed from both (`EqualIgnoreHash`).
pub fn equal_ignoring_hash(a: &Value, b: &Value) -> bool {
    canonical_ignoring_hash(a) == canonical_ignoring_hash(b)
}

/// FNV-1a, 32 bits.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Kubernetes' `rand.SafeEncodeString`: every byte mapped into the name alphabet.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(NAME_ALPHABET[usize::from(b) % NAME_ALPHABET.len()]))
        .collect()
}

/// The `pod-template-hash` of a template: FNV-32a of its canonical JSON (plus the collision
/// count as 8 little-endian bytes, as `controller.ComputeHash` does), its decimal digits
/// encoded with the name alphabet (up to 10 characters).
pub fn pod_template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let canonical = canonical_template(template);
    let mut bytes = canonical.to_string().into_bytes();
    if let Some(count) = collision_count {
        let mut extra = [0u8; 8];
        extra[..4].copy_from_slice(&(count as u32).to_le_bytes());
        bytes.extend_from_slice(&extra);
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}]}
        })
    }

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_into_the_name_alphabet() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn hashes_are_short_safe_and_deterministic() {
        let h = pod_template_hash(&template("nginx:1.25"), None);
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(h.bytes().all(|b| b"456789bcdf".contains(&b)), "{h}");
        assert_eq!(h, pod_template_hash(&template("nginx:1.25"), None));
        assert_ne!(h, pod_template_hash(&template("nginx:1.26"), None));
        assert_ne!(h, pod_template_hash(&template("nginx:1.25"), Some(1)));
    }

    #[test]
    fn semantically_equal_templates_hash_alike() {
        let plain = template("nginx:1.25");
        let noisy = json!({
            "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
            "spec": {"containers": [{"image": "nginx:1.25", "name": "web", "resources": {}}], "volumes": []}
        });
        assert!(equal_ignoring_hash(&plain, &noisy));
        assert_eq!(pod_template_hash(&plain, None), pod_template_hash(&noisy, None));
    }

    #[test]
    fn equality_ignores_only_the_hash_label() {
        let mut hashed = template("nginx:1.25");
        hashed["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = json!("5d8f9c7b4");
        assert!(equal_ignoring_hash(&hashed, &template("nginx:1.25")));
        let mut relabelled = template("nginx:1.25");
        relabelled["metadata"]["labels"]["tier"] = json!("front");
        assert!(!equal_ignoring_hash(&relabelled, &template("nginx:1.25")));
        assert!(!equal_ignoring_hash(&template("nginx:1.26"), &template("nginx:1.25")));
    }
}
