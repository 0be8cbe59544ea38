//! Server-side apply scenarios.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::{ApplyError, applied_fields, record_update, server_side_apply};

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-01T00:01:00Z";
const T2: &str = "2025-01-01T00:02:00Z";

fn manifest(replicas: i64, image: &str) -> Value {
    json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},
        "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":image,"ports":[{"containerPort":80}]}]}}}})
}

/// What the store adds after an apply: defaults for the fields the manifests leave out.
fn defaulted(mut obj: Value) -> Value {
    let spec = obj["spec"].as_object_mut().unwrap();
    spec.entry("progressDeadlineSeconds").or_insert(json!(600));
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    obj
}

fn conflict_message(result: Result<Value, ApplyError>) -> String {
    match result {
        Err(ApplyError::Conflicts(c)) => c.message(),
        other => panic!("expected conflicts, got {other:?}"),
    }
}

#[test]
fn apply_creates_the_object_with_one_apply_entry() {
    let created = server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap();
    assert_eq!(created["spec"]["replicas"], 2);
    let entries = created["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0],
        json!({"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","time":T0,"fieldsType":"FieldsV1",
            "fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},
            "f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}})
    );
}

#[test]
fn reapplying_an_identical_manifest_leaves_the_object_byte_identical() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let again = server_side_apply(Some(&created), &manifest(2, "nginx:1.25"), "kubectl", false, T1).unwrap();
    assert_eq!(again.to_string(), created.to_string());
}

#[test]
fn a_changed_image_updates_the_object_and_the_entry_time() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let updated = server_side_apply(Some(&created), &manifest(2, "nginx:1.26"), "kubectl", false, T1).unwrap();
    assert_eq!(
        updated["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    assert_eq!(updated["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(updated["metadata"]["managedFields"][0]["time"], T1);
}

#[test]
fn another_manager_changing_an_owned_field_gets_one_conflict_with_the_exact_message() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let err = server_side_apply(Some(&created), &manifest(5, "nginx:1.25"), "other", false, T1).unwrap_err();
    let ApplyError::Conflicts(conflicts) = err else {
        panic!("expected conflicts")
    };
    assert_eq!(
        conflicts.message(),
        r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#
    );
    assert_eq!(
        conflicts.causes(),
        vec![json!({"reason":"FieldManagerConflict","message":"conflict with \"kubectl\"","field":".spec.replicas"})]
    );
}

#[test]
fn several_conflicts_are_listed_per_manager_in_sorted_order() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let mut scaled = created.clone();
    scaled["spec"]["paused"] = json!(true);
    record_update(Some(&created), &mut scaled, "mgr", None, T1);
    let mut config = manifest(5, "nginx:1.26");
    config["spec"]["paused"] = json!(false);
    let message = conflict_message(server_side_apply(Some(&scaled), &config, "other", false, T2));
    assert_eq!(
        message,
        "Apply failed with 3 conflicts: conflicts with \"kubectl\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image\nconflicts with \"mgr\" using apps/v1 at 2025-01-01T00:01:00Z:\n- .spec.paused"
    );
}

#[test]
fn an_update_owner_and_a_status_owner_are_described_with_version_time_and_subresource() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let mut scaled = created.clone();
    scaled["spec"]["replicas"] = json!(3);
    record_update(Some(&created), &mut scaled, "kubectl-scale", None, T1);
    let message = conflict_message(server_side_apply(
        Some(&scaled),
        &manifest(4, "nginx:1.25"),
        "kubectl",
        false,
        T2,
    ));
    assert_eq!(
        message,
        r#"Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1 at 2025-01-01T00:01:00Z: .spec.replicas"#
    );

    let mut with_status = created.clone();
    with_status["status"] = json!({"replicas":2});
    record_update(
        Some(&created),
        &mut with_status,
        "kube-controller-manager",
        Some("status"),
        T1,
    );
    let mut config = manifest(2, "nginx:1.25");
    config["metadata"]["annotations"] = json!({"x":"y"});
    let mut annotated = with_status.clone();
    annotated["metadata"]["annotations"] = json!({"x":"z"});
    record_update(
        Some(&with_status),
        &mut annotated,
        "kube-controller-manager",
        Some("status"),
        T1,
    );
    let message = conflict_message(server_side_apply(Some(&annotated), &config, "kubectl", false, T2));
    assert_eq!(
        message,
        r#"Apply failed with 1 conflict: conflict with "kube-controller-manager" with subresource "status" using apps/v1 at 2025-01-01T00:01:00Z: .metadata.annotations.x"#
    );
}

#[test]
fn force_takes_ownership_from_the_other_manager() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let forced = server_side_apply(Some(&created), &manifest(5, "nginx:1.25"), "other", true, T1).unwrap();
    assert_eq!(forced["spec"]["replicas"], 5);
    let kubectl = applied_fields(&forced, "kubectl").unwrap();
    assert!(kubectl["f:spec"].get("f:replicas").is_none());
    assert!(kubectl["f:spec"].get("f:selector").is_some());
    let other = applied_fields(&forced, "other").unwrap();
    assert!(other["f:spec"].get("f:replicas").is_some());
    // kubectl no longer owns replicas, so it may now apply 5 as well without conflict.
    assert!(server_side_apply(Some(&forced), &manifest(5, "nginx:1.25"), "kubectl", false, T2).is_ok());
}

#[test]
fn a_field_dropped_from_the_manifest_is_removed_so_defaulting_can_restore_it() {
    let mut with_deadline = manifest(2, "nginx:1.25");
    with_deadline["spec"]["progressDeadlineSeconds"] = json!(5);
    let created = defaulted(server_side_apply(None, &with_deadline, "kubectl", false, T0).unwrap());
    assert_eq!(created["spec"]["progressDeadlineSeconds"], 5);
    let reapplied = server_side_apply(Some(&created), &manifest(2, "nginx:1.25"), "kubectl", false, T1).unwrap();
    assert!(reapplied["spec"].get("progressDeadlineSeconds").is_none());
    assert_eq!(defaulted(reapplied)["spec"]["progressDeadlineSeconds"], 600);
}

#[test]
fn a_dropped_field_that_another_manager_also_owns_is_kept() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let shared = server_side_apply(Some(&created), &manifest(2, "nginx:1.25"), "other", false, T1).unwrap();
    let mut without_replicas = manifest(2, "nginx:1.25");
    without_replicas["spec"].as_object_mut().unwrap().remove("replicas");
    let reapplied = server_side_apply(Some(&shared), &without_replicas, "kubectl", false, T2).unwrap();
    assert_eq!(reapplied["spec"]["replicas"], 2);
}

#[test]
fn equal_values_are_shared_without_conflict() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let shared = server_side_apply(Some(&created), &manifest(2, "nginx:1.25"), "other", false, T1).unwrap();
    assert!(
        applied_fields(&shared, "kubectl").unwrap()["f:spec"]
            .get("f:replicas")
            .is_some()
    );
    assert!(
        applied_fields(&shared, "other").unwrap()["f:spec"]
            .get("f:replicas")
            .is_some()
    );
    assert_eq!(shared["metadata"]["managedFields"].as_array().unwrap().len(), 2);
    let message = conflict_message(server_side_apply(
        Some(&shared),
        &manifest(3, "nginx:1.25"),
        "third",
        false,
        T2,
    ));
    assert_eq!(
        message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .spec.replicas\nconflicts with \"other\":\n- .spec.replicas"
    );
}

#[test]
fn two_managers_own_different_containers_of_the_same_list() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let sidecar = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy:1"}]}}}});
    let both = server_side_apply(Some(&created), &sidecar, "mesh", false, T1).unwrap();
    let containers = both["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    // kubectl re-applies its own container with a new image: no conflict, sidecar kept.
    let updated = server_side_apply(Some(&both), &manifest(2, "nginx:1.26"), "kubectl", false, T2).unwrap();
    let containers = updated["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["image"], "nginx:1.26");
    // The mesh manager drops its container: only the sidecar goes.
    let mut none = sidecar.clone();
    none["spec"]["template"]["spec"]["containers"] = json!([]);
    let dropped = server_side_apply(Some(&updated), &none, "mesh", false, T2).unwrap();
    let containers = dropped["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["name"], "web");
}

#[test]
fn status_in_an_applied_manifest_is_ignored_on_the_main_resource() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let mut with_status = created.clone();
    with_status["status"] = json!({"replicas":2});
    let mut config = manifest(2, "nginx:1.25");
    config["status"] = json!({"replicas":9});
    let out = server_side_apply(Some(&with_status), &config, "kubectl", false, T1).unwrap();
    assert_eq!(out["status"]["replicas"], 2);
}

#[test]
fn an_apply_without_kind_or_api_version_is_refused() {
    let mut config = manifest(2, "nginx:1.25");
    config.as_object_mut().unwrap().remove("kind");
    assert_eq!(
        server_side_apply(None, &config, "kubectl", false, T0)
            .unwrap_err()
            .code(),
        400
    );
    assert_eq!(
        server_side_apply(None, &json!([1]), "kubectl", false, T0)
            .unwrap_err()
            .code(),
        400
    );
}

#[test]
fn an_update_after_an_apply_keeps_one_entry_per_manager_and_operation() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let mut patched = created.clone();
    patched["metadata"]["annotations"] = json!({"a":"1"});
    record_update(Some(&created), &mut patched, "kubectl", None, T1);
    let mut again = patched.clone();
    again["metadata"]["annotations"]["b"] = json!("2");
    record_update(Some(&patched), &mut again, "kubectl", None, T2);
    let entries = again["metadata"]["managedFields"].as_array().unwrap();
    let ops: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap(),
                e["operation"].as_str().unwrap(),
                e["time"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ops, vec![("kubectl", "Apply", T0), ("kubectl", "Update", T2)]);
}

#[test]
fn config_map_keys_are_owned_one_by_one() {
    let cm = |data: Value| json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":data});
    let created = server_side_apply(None, &cm(json!({"a":"1","b":"2"})), "team-a", false, T0).unwrap();
    assert_eq!(
        applied_fields(&created, "team-a").unwrap(),
        json!({"f:data":{".":{},"f:a":{},"f:b":{}}})
    );
    let both = server_side_apply(Some(&created), &cm(json!({"c":"3"})), "team-b", false, T1).unwrap();
    assert_eq!(both["data"], json!({"a":"1","b":"2","c":"3"}));
    let message = conflict_message(server_side_apply(
        Some(&both),
        &cm(json!({"a":"9"})),
        "team-b",
        false,
        T2,
    ));
    assert_eq!(
        message,
        r#"Apply failed with 1 conflict: conflict with "team-a": .data.a"#
    );
    // team-a stops applying "b": it goes, "a" stays, team-b's "c" is untouched.
    let dropped = server_side_apply(Some(&both), &cm(json!({"a":"1"})), "team-a", false, T2).unwrap();
    assert_eq!(dropped["data"], json!({"a":"1","c":"3"}));
    // Dropping every key of a manager leaves the others' keys.
    let mut none = cm(json!({}));
    none.as_object_mut().unwrap().remove("data");
    let emptied = server_side_apply(Some(&dropped), &none, "team-b", false, T2).unwrap();
    assert_eq!(emptied["data"], json!({"a":"1"}));
}

#[test]
fn service_ports_merge_by_port_and_protocol() {
    let svc = |ports: Value| json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"ports":ports}});
    let created = server_side_apply(None, &svc(json!([{"port":80}])), "a", false, T0).unwrap();
    assert_eq!(
        applied_fields(&created, "a").unwrap(),
        json!({"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}}},"f:selector":{".":{},"f:app":{}}}})
    );
    let both = server_side_apply(
        Some(&created),
        &svc(json!([{"port":53,"protocol":"UDP"}])),
        "b",
        false,
        T1,
    )
    .unwrap();
    assert_eq!(both["spec"]["ports"], json!([{"port":80},{"port":53,"protocol":"UDP"}]));
}

#[test]
fn an_update_owner_loses_fields_the_apply_forcibly_takes_and_keeps_the_rest() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let mut edited = created.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.30");
    edited["spec"]["paused"] = json!(true);
    record_update(Some(&created), &mut edited, "kubectl-edit", None, T1);
    let forced = server_side_apply(Some(&edited), &manifest(2, "nginx:1.25"), "kubectl", true, T2).unwrap();
    assert_eq!(
        forced["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    let edit_entry = forced["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "kubectl-edit")
        .cloned()
        .unwrap();
    assert_eq!(edit_entry["fieldsV1"], json!({"f:spec":{"f:paused":{}}}));
    assert_eq!(edit_entry["time"], T1);
}

#[test]
fn an_empty_struct_that_gains_fields_is_kept() {
    let mut first = manifest(2, "nginx:1.25");
    first["spec"]["template"]["spec"]["securityContext"] = json!({});
    let created = defaulted(server_side_apply(None, &first, "kubectl", false, T0).unwrap());
    let mut second = manifest(2, "nginx:1.25");
    second["spec"]["template"]["spec"]["securityContext"] = json!({"runAsUser":1000});
    let updated = server_side_apply(Some(&created), &second, "kubectl", false, T1).unwrap();
    assert_eq!(
        updated["spec"]["template"]["spec"]["securityContext"],
        json!({"runAsUser":1000})
    );
}

#[test]
fn a_status_apply_owns_status_fields_under_the_status_subresource() {
    let created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let mut config = manifest(7, "ignored:1");
    config["status"] = json!({"replicas":2});
    let out = super::server_side_apply_to(Some(&created), &config, "probe", false, T1, Some("status")).unwrap();
    assert_eq!(out["status"]["replicas"], 2);
    assert_eq!(out["spec"]["replicas"], 2);
    let entry = out["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "probe")
        .cloned()
        .unwrap();
    assert_eq!(entry["subresource"], "status");
    assert_eq!(entry["fieldsV1"]["f:status"], json!({"f:replicas":{}}));
}

#[test]
fn system_metadata_in_a_manifest_does_not_override_the_stored_values() {
    let mut created = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    created["metadata"]["uid"] = json!("u-1");
    created["metadata"]["creationTimestamp"] = json!(T0);
    let mut config = manifest(2, "nginx:1.25");
    config["metadata"]["creationTimestamp"] = json!(null);
    config["metadata"]["uid"] = json!("u-2");
    let again = server_side_apply(Some(&created), &config, "kubectl", false, T1).unwrap();
    assert_eq!(again.to_string(), created.to_string());
}

#[test]
fn keyed_lists_merge_in_the_api_server_order() {
    let env = |items: Value| json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","env":items}]}});
    let created = server_side_apply(
        None,
        &env(json!([{"name":"a","value":"1"},{"name":"b","value":"2"}])),
        "one",
        false,
        T0,
    )
    .unwrap();
    let merged = server_side_apply(
        Some(&created),
        &env(json!([{"name":"c","value":"3"},{"name":"a","value":"1"}])),
        "two",
        false,
        T1,
    )
    .unwrap();
    let names: Vec<&str> = merged["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c", "a", "b"]);
}

#[test]
fn an_apply_after_rollout_undo_conflicts_with_the_undo_update_unless_forced() {
    // `kubectl rollout undo` patches without a fieldManager, so its changes belong to
    // ("kubectl", Update), a different manager from ("kubectl", Apply).
    let v1 = defaulted(server_side_apply(None, &manifest(2, "nginx:1.25"), "kubectl", false, T0).unwrap());
    let v2 = server_side_apply(Some(&v1), &manifest(2, "nginx:1.26"), "kubectl", false, T1).unwrap();
    let mut undone = super::json_patch(
        &v2,
        &json!([{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.25"}]),
    )
    .unwrap();
    record_update(Some(&v2), &mut undone, "kubectl", None, T1);
    let message = conflict_message(server_side_apply(
        Some(&undone),
        &manifest(2, "nginx:1.27"),
        "kubectl",
        false,
        T2,
    ));
    assert_eq!(
        message,
        r#"Apply failed with 1 conflict: conflict with "kubectl" using apps/v1 at 2025-01-01T00:01:00Z: .spec.template.spec.containers[name="web"].image"#
    );
    assert!(server_side_apply(Some(&undone), &manifest(2, "nginx:1.27"), "kubectl", true, T2).is_ok());
}
