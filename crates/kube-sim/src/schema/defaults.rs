//! Defaulting (spec §4.1): the fields the API server fills in on create and update.
//!
//! The same subset is applied everywhere a pod template appears (Deployment, ReplicaSet, Pod),
//! because template equality is compared after defaulting.

use serde_json::{Map, Value, json};

/// Fills in the defaults of `kind` in `obj` (an object in its stored JSON form). Fields that
/// are already set are left alone; unknown kinds are left unchanged.
pub fn apply_defaults(kind: &str, obj: &mut Value) {
    match kind {
        "Deployment" => default_deployment(obj),
        "ReplicaSet" => default_replica_set(obj),
        "Pod" => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
            }
        }
        "Service" => default_service(obj),
        "Namespace" => default_namespace(obj),
        "Secret" => {
            if let Some(map) = obj.as_object_mut() {
                map.entry("type").or_insert_with(|| json!("Opaque"));
            }
        }
        _ => {}
    }
}

fn object_at<'v>(parent: &'v mut Value, key: &str) -> Option<&'v mut Map<String, Value>> {
    let map = parent.as_object_mut()?;
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get(key) {
        None | Some(Value::Null) => {
            map.insert(key.to_owned(), value);
        }
        Some(_) => {}
    }
}

fn default_deployment(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else { return };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if let Some(strategy) = strategy.as_object_mut() {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
            if rolling.is_null() {
                *rolling = json!({});
            }
            if let Some(rolling) = rolling.as_object_mut() {
                set_default(rolling, "maxUnavailable", json!("25%"));
                set_default(rolling, "maxSurge", json!("25%"));
            }
        }
    }
    if let Some(template) = spec.get_mut("template") {
        default_template(template);
    }
}

fn default_replica_set(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else { return };
    set_default(spec, "replicas", json!(1));
    if let Some(template) = spec.get_mut("template") {
        default_template(template);
    }
}

/// Defaults of a PodTemplateSpec (its pod spec).
pub(crate) fn default_template(template: &mut Value) {
    if let Some(spec) = template.get_mut("spec") {
        default_pod_spec(spec);
    }
}

fn default_pod_spec(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else { return };
    set_default(map, "restartPolicy", json!("Always"));
    set_default(map, "terminationGracePeriodSeconds", json!(30));
    set_default(map, "dnsPolicy", json!("ClusterFirst"));
    set_default(map, "schedulerName", json!("default-scheduler"));
    set_default(map, "securityContext", json!({}));
    for list in ["initContainers", "containers"] {
        if let Some(Value::Array(containers)) = map.get_mut(list) {
            containers.iter_mut().for_each(default_container);
        }
    }
}

fn default_container(container: &mut Value) {
    let Some(map) = container.as_object_mut() else { return };
    set_default(map, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(map, "terminationMessagePolicy", json!("File"));
    let policy = map.get("image").and_then(Value::as_str).map(pull_policy);
    if let Some(policy) = policy {
        set_default(map, "imagePullPolicy", json!(policy));
    }
    set_default(map, "resources", json!({}));
    if let Some(Value::Array(ports)) = map.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(port, "protocol", json!("TCP"));
        }
    }
}

/// `Always` for a `:latest` or untagged image, `IfNotPresent` otherwise (digests count as tags).
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_service(obj: &mut Value) {
    let Some(spec) = object_at(obj, "spec") else { return };
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(port, "protocol", json!("TCP"));
            if let Some(number) = port.get("port").cloned() {
                set_default(port, "targetPort", number);
            }
        }
    }
}

fn default_namespace(obj: &mut Value) {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned);
    if let (Some(name), Some(meta)) = (name, object_at(obj, "metadata"))
        && let Some(labels) = object_at_map(meta, "labels")
    {
        labels.insert("kubernetes.io/metadata.name".to_owned(), json!(name));
    }
    if let Some(spec) = object_at(obj, "spec") {
        set_default(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = object_at(obj, "status") {
        set_default(status, "phase", json!("Active"));
    }
}

fn object_at_map<'v>(map: &'v mut Map<String, Value>, key: &str) -> Option<&'v mut Map<String, Value>> {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_deployment_gets_the_documented_defaults() {
        let mut d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
            "spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"web","image":"nginx:1.25","ports":[{"containerPort":80}]}]}}}});
        apply_defaults("Deployment", &mut d);
        assert_eq!(
            d["spec"],
            json!({"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
                "spec":{"containers":[{"name":"web","image":"nginx:1.25","ports":[{"containerPort":80,"protocol":"TCP"}],
                    "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","resources":{}}],
                    "restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","schedulerName":"default-scheduler","securityContext":{}}},
                "replicas":1,"revisionHistoryLimit":10,"progressDeadlineSeconds":600,
                "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}}})
        );
    }

    #[test]
    fn defaulting_twice_changes_nothing_and_keeps_set_values() {
        let mut d = json!({"kind":"Deployment","spec":{"replicas":0,"progressDeadlineSeconds":5,"strategy":{"type":"Recreate"},
            "template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}});
        apply_defaults("Deployment", &mut d);
        let once = d.clone();
        apply_defaults("Deployment", &mut d);
        assert_eq!(d, once);
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 5);
        assert_eq!(d["spec"]["strategy"], json!({"type":"Recreate"}));
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("registry:5000/team/app", "Always"),
            ("registry:5000/team/app:v2", "IfNotPresent"),
            ("nginx@sha256:abc", "IfNotPresent"),
        ] {
            assert_eq!(pull_policy(image), policy, "{image}");
        }
    }

    #[test]
    fn pods_replica_sets_services_namespaces_and_secrets_are_defaulted() {
        let mut pod = json!({"spec":{"containers":[{"name":"a","image":"x:1"}]}});
        apply_defaults("Pod", &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["containers"][0]["terminationMessagePolicy"], "File");
        let mut rs = json!({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}});
        apply_defaults("ReplicaSet", &mut rs);
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(
            rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        let mut svc = json!({"spec":{"ports":[{"port":80}]}});
        apply_defaults("Service", &mut svc);
        assert_eq!(
            svc["spec"],
            json!({"ports":[{"port":80,"protocol":"TCP","targetPort":80}],"type":"ClusterIP","sessionAffinity":"None"})
        );
        let mut ns = json!({"metadata":{"name":"team-a"}});
        apply_defaults("Namespace", &mut ns);
        assert_eq!(
            ns,
            json!({"metadata":{"name":"team-a","labels":{"kubernetes.io/metadata.name":"team-a"}},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}})
        );
        let mut secret = json!({"metadata":{"name":"s"}});
        apply_defaults("Secret", &mut secret);
        assert_eq!(secret["type"], "Opaque");
        let mut cm = json!({"data":{"a":"b"}});
        apply_defaults("ConfigMap", &mut cm);
        assert_eq!(cm, json!({"data":{"a":"b"}}));
    }
}
