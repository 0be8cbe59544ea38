//! Tests of the store's write path, lifecycle and history.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::clock::{ClockMode, SimClock};

fn store() -> Store {
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    Store::new(SimClock::new(ClockMode::Manual, start), 7, 50)
}

fn rt(plural: &str) -> &'static ResourceType {
    ResourceType::by_plural(plural).unwrap_or(&RESOURCES[0])
}

fn opts() -> WriteOptions {
    WriteOptions::new("test")
}

fn configmap(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}})
}

fn deployment(image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}
        }
    })
}

fn rv(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn generation(object: &Value) -> i64 {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

#[test]
fn seed_namespaces_exist_and_are_active() {
    let s = store();
    for ns in SEED_NAMESPACES {
        let object = s.get(rt("namespaces"), "", ns);
        let phase = object.as_ref().ok().and_then(|o| o.pointer("/status/phase").cloned());
        assert_eq!(phase, Some(json!("Active")), "{ns}");
    }
}

#[test]
fn create_assigns_uid_timestamp_and_a_fresh_resource_version() {
    let s = store();
    let before = s.current_rv();
    let created = s.create(rt("configmaps"), "default", configmap("a", "1"), &opts(), false);
    let object = created.map(|o| o.object).unwrap_or_default();
    assert_eq!(rv(&object), before + 1);
    assert_eq!(
        object.pointer("/metadata/creationTimestamp"),
        Some(&json!("2025-01-01T00:00:00Z"))
    );
    assert_eq!(
        object.pointer("/metadata/uid").and_then(Value::as_str).map(str::len),
        Some(36)
    );
    assert_eq!(object.pointer("/metadata/generation"), None);
}

#[test]
fn creating_twice_is_already_exists_and_a_missing_namespace_is_not_found() {
    let s = store();
    assert!(
        s.create(rt("configmaps"), "default", configmap("a", "1"), &opts(), false)
            .is_ok()
    );
    let again = s.create(rt("configmaps"), "default", configmap("a", "1"), &opts(), false);
    assert_eq!(
        again.err().map(|e| e.status().message),
        Some("configmaps \"a\" already exists".to_string())
    );
    let elsewhere = s.create(rt("configmaps"), "nope", configmap("a", "1"), &opts(), false);
    assert_eq!(
        elsewhere.err().map(|e| e.status().message),
        Some("namespaces \"nope\" not found".to_string())
    );
}

#[test]
fn generate_name_appends_five_characters() {
    let s = store();
    let body = json!({"metadata": {"generateName": "web-"}, "data": {}});
    let name = s
        .create(rt("configmaps"), "default", body, &opts(), false)
        .ok()
        .and_then(|o| {
            o.object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_default();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
}

#[test]
fn an_update_with_a_stale_resource_version_conflicts() {
    let s = store();
    let first = s
        .create(rt("configmaps"), "default", configmap("a", "1"), &opts(), false)
        .map(|o| o.object);
    let mut stale = first.unwrap_or_default();
    assert!(
        s.update(rt("configmaps"), "default", "a", configmap("a", "2"), None, &opts())
            .is_ok()
    );
    stale["data"]["k"] = json!("3");
    let err = s.update(rt("configmaps"), "default", "a", stale, None, &opts()).err();
    assert_eq!(err.map(|e| e.status().code), Some(409));
}

#[test]
fn a_write_that_changes_nothing_keeps_the_resource_version_and_records_no_event() {
    let s = store();
    let created = s
        .create(rt("configmaps"), "default", configmap("a", "1"), &opts(), false)
        .map(|o| o.object);
    let first_rv = created.as_ref().map(rv).unwrap_or(0);
    let again = s
        .update(rt("configmaps"), "default", "a", configmap("a", "1"), None, &opts())
        .map(|o| o.object);
    assert_eq!(again.as_ref().map(rv).ok(), Some(first_rv));
    assert_eq!(s.current_rv(), first_rv);
    assert_eq!(s.changes_since(first_rv).map(|c| c.len()).ok(), Some(0));
}

#[test]
fn deployment_generation_follows_spec_and_annotations_but_not_status() {
    let s = store();
    let d = rt("deployments");
    let created = s
        .create(d, "default", deployment("nginx:1.25"), &opts(), false)
        .map(|o| o.object);
    assert_eq!(created.as_ref().map(generation).ok(), Some(1));
    let changed = s
        .update(d, "default", "web", deployment("nginx:1.26"), None, &opts())
        .map(|o| o.object);
    assert_eq!(changed.as_ref().map(generation).ok(), Some(2));
    let mut annotated = deployment("nginx:1.26");
    annotated["metadata"]["annotations"] = json!({"note": "x"});
    let annotated = s
        .update(d, "default", "web", annotated, None, &opts())
        .map(|o| o.object);
    assert_eq!(annotated.as_ref().map(generation).ok(), Some(3));
    let mut status = annotated.unwrap_or_default();
    status["status"] = json!({"observedGeneration": 3, "replicas": 2});
    let after_status = s
        .update(d, "default", "web", status, Some(Subresource::Status), &opts())
        .map(|o| o.object);
    assert_eq!(after_status.as_ref().map(generation).ok(), Some(3));
    assert_eq!(
        after_status.ok().and_then(|o| o.pointer("/status/replicas").cloned()),
        Some(json!(2))
    );
}

#[test]
fn main_resource_writes_ignore_status() {
    let s = store();
    let d = rt("deployments");
    assert!(s.create(d, "default", deployment("nginx:1.25"), &opts(), false).is_ok());
    let mut body = deployment("nginx:1.25");
    body["status"] = json!({"replicas": 9});
    let updated = s.update(d, "default", "web", body, None, &opts()).map(|o| o.object);
    assert_eq!(updated.ok().and_then(|o| o.pointer("/status/replicas").cloned()), None);
}

#[test]
fn dry_run_persists_nothing() {
    let s = store();
    let before = s.current_rv();
    let mut dry = opts();
    dry.dry_run = true;
    assert!(
        s.create(rt("configmaps"), "default", configmap("a", "1"), &dry, false)
            .is_ok()
    );
    assert_eq!(s.current_rv(), before);
    assert!(s.get(rt("configmaps"), "default", "a").is_err());
}

#[test]
fn scale_changes_only_replicas_and_bumps_generation() {
    let s = store();
    let d = rt("deployments");
    assert!(s.create(d, "default", deployment("nginx:1.25"), &opts(), false).is_ok());
    let scale = s.write_scale(d, "default", "web", |_| Ok(json!({"spec": {"replicas": 5}})), &opts());
    assert_eq!(
        scale.ok().and_then(|sc| sc.pointer("/spec/replicas").cloned()),
        Some(json!(5))
    );
    let object = s.get(d, "default", "web").unwrap_or_default();
    assert_eq!(generation(&object), 2);
    assert_eq!(
        Store::scale_of(&object).pointer("/status/selector"),
        Some(&json!("app=web"))
    );
}

#[test]
fn pods_are_deleted_gracefully_and_removed_later() {
    let s = store();
    let pods = rt("pods");
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    assert!(s.create(pods, "default", pod, &opts(), false).is_ok());
    let outcome = s.delete(pods, "default", "p", &DeleteOptions::default());
    let pending = match outcome {
        Ok(DeleteOutcome::Pending(o)) => o,
        other => panic!("expected a pending deletion, got {other:?}"),
    };
    assert_eq!(
        pending.pointer("/metadata/deletionGracePeriodSeconds"),
        Some(&json!(30))
    );
    assert_eq!(
        pending.pointer("/metadata/deletionTimestamp"),
        Some(&json!("2025-01-01T00:00:30Z"))
    );
    assert!(s.remove(pods, "default", "p").is_ok());
    assert!(s.get(pods, "default", "p").is_err());
}

#[test]
fn orphan_deletion_strips_owner_references() {
    let s = store();
    let d = rt("deployments");
    let owner = s
        .create(d, "default", deployment("nginx:1.25"), &opts(), false)
        .map(|o| o.object)
        .unwrap_or_default();
    let uid = owner.pointer("/metadata/uid").cloned().unwrap_or_default();
    let mut dependent = configmap("dep", "1");
    dependent["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": uid}]);
    assert!(s.create(rt("configmaps"), "default", dependent, &opts(), false).is_ok());
    let options = DeleteOptions {
        propagation: Some(PropagationPolicy::Orphan),
        ..DeleteOptions::default()
    };
    assert!(matches!(
        s.delete(d, "default", "web", &options),
        Ok(DeleteOutcome::Removed(_))
    ));
    let dep = s.get(rt("configmaps"), "default", "dep").unwrap_or_default();
    assert_eq!(dep.pointer("/metadata/ownerReferences"), None);
}

#[test]
fn a_terminating_namespace_refuses_content_then_disappears_with_it() {
    let s = store();
    let ns = rt("namespaces");
    assert!(
        s.create(ns, "", json!({"metadata": {"name": "team-a"}}), &opts(), false)
            .is_ok()
    );
    assert!(
        s.create(rt("configmaps"), "team-a", configmap("a", "1"), &opts(), false)
            .is_ok()
    );
    assert!(matches!(
        s.delete(ns, "", "team-a", &DeleteOptions::default()),
        Ok(DeleteOutcome::Pending(_))
    ));
    let refused = s
        .create(rt("configmaps"), "team-a", configmap("b", "1"), &opts(), false)
        .err();
    assert_eq!(
        refused.map(|e| (e.status().code, e.status().message)),
        Some((403, "configmaps \"b\" is forbidden: unable to create new content in namespace team-a because it is being terminated".to_string()))
    );
    s.housekeeping();
    assert!(s.get(rt("configmaps"), "team-a", "a").is_err());
    assert!(s.get(ns, "", "team-a").is_ok());
    s.housekeeping();
    assert!(s.get(ns, "", "team-a").is_err());
}

#[test]
fn compaction_expires_old_resource_versions() {
    let s = store();
    let before = s.current_rv();
    assert!(
        s.create(rt("configmaps"), "default", configmap("a", "1"), &opts(), false)
            .is_ok()
    );
    assert_eq!(s.changes_since(before).map(|c| c.len()).ok(), Some(1));
    let floor = s.compact();
    let err = s.changes_since(before).err().map(|e| e.status());
    assert_eq!(
        err.map(|st| (st.code, st.message)),
        Some((410, format!("too old resource version: {before} ({floor})")))
    );
    assert_eq!(s.changes_since(floor).map(|c| c.len()).ok(), Some(0));
}

#[test]
fn the_bounded_history_drops_its_oldest_changes() {
    let s = store();
    let start = s.current_rv();
    for i in 0..60 {
        assert!(
            s.create(
                rt("configmaps"),
                "default",
                configmap(&format!("c{i}"), "1"),
                &opts(),
                false
            )
            .is_ok()
        );
    }
    assert!(s.changes_since(start).is_err());
    assert_eq!(s.changes_since(s.current_rv() - 10).map(|c| c.len()).ok(), Some(10));
}

#[test]
fn lists_page_with_limit_and_continue() {
    let s = store();
    for i in 0..5 {
        assert!(
            s.create(
                rt("configmaps"),
                "default",
                configmap(&format!("c{i}"), "1"),
                &opts(),
                false
            )
            .is_ok()
        );
    }
    let mut options = ListOptions {
        limit: 2,
        ..ListOptions::default()
    };
    let mut names = Vec::new();
    for _ in 0..3 {
        let page = s.list(rt("configmaps"), Some("default"), &options);
        let Ok(page) = page else { panic!("list failed") };
        assert!(page.items.len() <= 2);
        names.extend(
            page.items
                .iter()
                .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str).map(String::from)),
        );
        options.continue_token = page.continue_token;
        if options.continue_token.is_none() {
            break;
        }
    }
    assert_eq!(names, vec!["c0", "c1", "c2", "c3", "c4"]);
}

#[test]
fn a_manual_clock_stamps_later_objects_later() {
    let s = store();
    s.clock().advance(Duration::from_secs(90));
    let object = s
        .create(rt("configmaps"), "default", configmap("a", "1"), &opts(), false)
        .map(|o| o.object);
    assert_eq!(
        object
            .ok()
            .and_then(|o| o.pointer("/metadata/creationTimestamp").cloned()),
        Some(json!("2025-01-01T00:01:30Z"))
    );
}

#[test]
fn foreground_deletion_removes_dependents_before_the_owner() {
    let s = store();
    let d = rt("deployments");
    let owner = s
        .create(d, "default", deployment("nginx:1.25"), &opts(), false)
        .map(|o| o.object)
        .unwrap_or_default();
    let uid = owner.pointer("/metadata/uid").cloned().unwrap_or_default();
    let mut dependent = configmap("dep", "1");
    dependent["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": uid, "controller": true}]);
    assert!(s.create(rt("configmaps"), "default", dependent, &opts(), false).is_ok());
    let options = DeleteOptions {
        propagation: Some(PropagationPolicy::Foreground),
        ..DeleteOptions::default()
    };
    let pending = match s.delete(d, "default", "web", &options) {
        Ok(DeleteOutcome::Pending(o)) => o,
        other => panic!("expected a pending deletion, got {other:?}"),
    };
    assert_eq!(
        pending.pointer("/metadata/finalizers"),
        Some(&json!(["foregroundDeletion"]))
    );
    s.housekeeping();
    assert!(
        s.get(rt("configmaps"), "default", "dep").is_err(),
        "the dependent goes first"
    );
    assert!(s.get(d, "default", "web").is_ok(), "the owner waits for its dependents");
    s.housekeeping();
    assert!(s.get(d, "default", "web").is_err());
}

#[test]
fn changes_of_one_type_and_namespace_skip_the_others_but_report_the_newest_version() {
    let s = store();
    let start = s.current_rv();
    let cm = rt("configmaps");
    let ns = rt("namespaces");
    let created = s.create(
        ns,
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
        &opts(),
        false,
    );
    assert!(created.is_ok());
    assert!(s.create(cm, "default", configmap("a", "1"), &opts(), false).is_ok());
    assert!(s.create(cm, "other", configmap("b", "1"), &opts(), false).is_ok());
    let newest = s.current_rv();
    let names = |changes: &[Change]| -> Vec<String> {
        changes
            .iter()
            .filter_map(|c| {
                c.object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .collect()
    };
    let (all, top) = s.changes_of_since(start, cm, None).unwrap_or_default();
    assert_eq!(names(&all), ["a", "b"]);
    assert_eq!(top, Some(newest));
    let (in_default, top) = s.changes_of_since(start, cm, Some("default")).unwrap_or_default();
    assert_eq!(names(&in_default), ["a"]);
    assert_eq!(top, Some(newest));
    let (namespaces, _) = s
        .changes_of_since(start, ns, Some("ignored for cluster-scoped types"))
        .unwrap_or_default();
    assert_eq!(names(&namespaces), ["other"]);
    let (none, top) = s.changes_of_since(newest, cm, None).unwrap_or_default();
    assert!(none.is_empty());
    assert_eq!(top, None);
}

fn create_namespace(s: &Store, name: &str) {
    let created = s.create(
        rt("namespaces"),
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        &opts(),
        false,
    );
    assert!(created.is_ok(), "{created:?}");
}

#[test]
fn a_write_wakes_the_watchers_of_its_type_and_namespace_only() {
    let s = store();
    create_namespace(&s, "other");
    let deployments = rt("deployments");
    let mut in_default = s.subscribe(deployments, Some("default"));
    let in_other = s.subscribe(deployments, Some("other"));
    let mut everywhere = s.subscribe(deployments, None);
    let configmaps = s.subscribe(rt("configmaps"), None);
    let namespaces = s.subscribe(rt("namespaces"), Some("ignored for cluster-scoped types"));

    assert!(
        s.create(deployments, "default", deployment("nginx:1"), &opts(), false)
            .is_ok()
    );
    assert_eq!(in_default.has_changed().ok(), Some(true));
    assert_eq!(everywhere.has_changed().ok(), Some(true));
    assert_eq!(in_other.has_changed().ok(), Some(false));
    assert_eq!(configmaps.has_changed().ok(), Some(false));
    assert_eq!(*in_default.borrow_and_update(), s.current_rv());
    let _ = everywhere.borrow_and_update();

    assert!(
        s.create(rt("configmaps"), "other", configmap("a", "1"), &opts(), false)
            .is_ok()
    );
    assert_eq!(configmaps.has_changed().ok(), Some(true));
    assert_eq!(in_default.has_changed().ok(), Some(false));
    assert_eq!(in_other.has_changed().ok(), Some(false));
    assert_eq!(everywhere.has_changed().ok(), Some(false));

    create_namespace(&s, "third");
    assert_eq!(namespaces.has_changed().ok(), Some(true));
}

#[test]
fn churn_of_other_types_does_not_expire_a_quiet_watch() {
    let s = store();
    let deployments = rt("deployments");
    assert!(
        s.create(deployments, "default", deployment("nginx:1"), &opts(), false)
            .is_ok()
    );
    let quiet_since = s.current_rv();
    // The history keeps 50 changes: 60 ConfigMaps push every older change out of it.
    for i in 0..60 {
        let created = s.create(
            rt("configmaps"),
            "default",
            configmap(&format!("c{i}"), "1"),
            &opts(),
            false,
        );
        assert!(created.is_ok());
    }
    assert!(s.changes_since(quiet_since).is_err());
    let (changes, newest) = s.changes_of_since(quiet_since, deployments, None).unwrap_or_default();
    assert!(changes.is_empty());
    assert_eq!(newest, Some(s.current_rv()));
    // The Deployment's own change was pushed out too: a watch from before it has lost it.
    let err = s
        .changes_of_since(quiet_since - 1, deployments, None)
        .err()
        .map(|e| e.status().code);
    assert_eq!(err, Some(410));
    let cm = s
        .changes_of_since(quiet_since, rt("configmaps"), None)
        .err()
        .map(|e| e.status().code);
    assert_eq!(cm, Some(410));
}

#[test]
fn churn_in_another_namespace_does_not_expire_a_quiet_namespace_watch() {
    let s = store();
    create_namespace(&s, "quiet");
    let deployments = rt("deployments");
    assert!(
        s.create(deployments, "quiet", deployment("nginx:1"), &opts(), false)
            .is_ok()
    );
    let quiet_since = s.current_rv();
    for i in 0..60 {
        let mut d = deployment("nginx:1");
        d["metadata"]["name"] = json!(format!("web-{i}"));
        assert!(s.create(deployments, "default", d, &opts(), false).is_ok());
    }
    let (changes, newest) = s
        .changes_of_since(quiet_since, deployments, Some("quiet"))
        .unwrap_or_default();
    assert!(changes.is_empty());
    assert_eq!(newest, Some(s.current_rv()));
    let everywhere = s
        .changes_of_since(quiet_since, deployments, None)
        .err()
        .map(|e| e.status().code);
    assert_eq!(
        everywhere,
        Some(410),
        "Deployment changes after {quiet_since} were dropped"
    );
}

#[test]
fn concurrent_patches_of_one_object_lose_no_change() {
    let s = store();
    let created = s.create(rt("configmaps"), "default", configmap("shared", "0"), &opts(), false);
    assert!(created.is_ok(), "{created:?}");
    let start_rv = s.current_rv();
    let (threads, writes) = (4, 50);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let s = &s;
            scope.spawn(move || {
                for i in 0..writes {
                    let patch = json!({"data": {format!("t{t}-{i}"): "x"}});
                    let result = s.patch(
                        rt("configmaps"),
                        "default",
                        "shared",
                        PatchKind::Merge,
                        &patch,
                        None,
                        &opts(),
                    );
                    assert!(result.is_ok(), "{result:?}");
                }
            });
        }
    });
    let stored = s.get(rt("configmaps"), "default", "shared").unwrap_or_default();
    let data = stored.get("data").and_then(Value::as_object).map_or(0, |d| d.len());
    assert_eq!(data, 1 + threads * writes, "a concurrent write was lost");
    assert_eq!(s.current_rv(), start_rv + (threads * writes) as u64);
    assert_eq!(rv(&stored), s.current_rv());
}
