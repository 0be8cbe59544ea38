//! ReplicaSet controller, kubelet and garbage collector scenarios.

use std::sync::Arc;

use serde_json::{Value, json};

use super::store::{Store, deployment, t0};
use crate::controllers::Action;
use crate::controllers::json::format_time;
use crate::images::{Behaviour, ImageRules};

/// A bare ReplicaSet `name` (no owner) with `replicas` replicas of `image`.
fn replicaset(name: &str, replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}], "terminationGracePeriodSeconds": 30}
            }
        }
    })
}

fn pod_of<'a>(store: &'a Store, name: &str) -> &'a Value {
    store
        .snapshot
        .pods
        .iter()
        .map(|p| p.as_ref())
        .find(|p| p["metadata"]["name"] == name)
        .unwrap_or(&Value::Null)
}

fn set_rs_replicas(store: &mut Store, replicas: i64) {
    if let Some(rs) = store.snapshot.replicasets.first_mut().map(Arc::make_mut) {
        rs["spec"]["replicas"] = json!(replicas);
        let g = rs["metadata"]["generation"].as_i64().unwrap_or(0);
        rs["metadata"]["generation"] = json!(g + 1);
    }
}

#[test]
fn a_replicaset_keeps_its_replicas_and_reports_its_status() {
    let mut store = Store::new(20);
    let mut rs = replicaset("api", 3, "api:1");
    rs["spec"]["minReadySeconds"] = json!(5);
    store.create("replicasets", rs);
    store.tick();
    assert_eq!(store.snapshot.pods.len(), 3);
    let names: Vec<String> = store
        .snapshot
        .pods
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    for n in &names {
        let suffix = n.strip_prefix("api-").unwrap_or("");
        assert_eq!(suffix.len(), 5, "{n}");
        assert!(suffix.bytes().all(|b| crate::rng::NAME_ALPHABET.contains(&b)), "{n}");
    }
    // Ready after 1 s, available only after 5 more seconds.
    assert!(
        store
            .run_until(30, |s| s.snapshot.replicasets[0]["status"]["readyReplicas"] == 3)
            .is_some()
    );
    let status = store.snapshot.replicasets[0]["status"].clone();
    assert_eq!(status["replicas"], 3);
    assert_eq!(status["fullyLabeledReplicas"], 3);
    assert_eq!(status["observedGeneration"], 1);
    assert!(status.get("availableReplicas").is_none(), "{status}");
    assert!(
        store
            .run_until(80, |s| s.snapshot.replicasets[0]["status"]["availableReplicas"] == 3)
            .is_some()
    );

    // Pod IPs are distinct and in 10.244.0.0/16.
    let mut ips: Vec<&str> = store
        .snapshot
        .pods
        .iter()
        .filter_map(|p| p["status"]["podIP"].as_str())
        .collect();
    ips.sort_unstable();
    ips.dedup();
    assert_eq!(ips.len(), 3);
    assert!(ips.iter().all(|ip| ip.starts_with("10.244.0.")));

    // A deleted pod is replaced (terminating pods do not count).
    store.apply(vec![Action::Delete {
        resource: "pods",
        namespace: "default".into(),
        name: names[0].clone(),
    }]);
    store.tick();
    assert_eq!(store.live_pods().len(), 3);
    assert_eq!(store.snapshot.pods.len(), 4);

    // Scaled to 0, the status still says replicas: 0.
    set_rs_replicas(&mut store, 0);
    store.run_until(30, |s| s.snapshot.pods.is_empty());
    store.tick();
    assert_eq!(
        store.snapshot.replicasets[0]["status"],
        json!({"replicas": 0, "observedGeneration": 2})
    );
}

#[test]
fn scale_down_deletes_not_ready_pods_first_then_the_newest() {
    let mut store = Store::new(21);
    store.create("replicasets", replicaset("api", 4, "api:1"));
    let rs_uid = store.snapshot.replicasets[0]["metadata"]["uid"].clone();
    let ready = |since: i64| {
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
               "lastTransitionTime": format_time(t0() + chrono::Duration::seconds(since))}]})
    };
    let not_ready = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]});
    for (name, created, status) in [
        ("api-old", 0, ready(1)),
        ("api-unready", 0, not_ready),
        ("api-mid", 10, ready(11)),
        ("api-new", 20, ready(21)),
    ] {
        store.now = t0() + chrono::Duration::seconds(created);
        store.create(
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": "default", "labels": {"app": "api"},
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api", "uid": rs_uid, "controller": true}]},
                   "spec": {"nodeName": "sim-node", "containers": [{"name": "web", "image": "api:1"}]},
                   "status": status}),
        );
    }
    store.now = t0() + chrono::Duration::seconds(30);
    set_rs_replicas(&mut store, 2);
    let deleted: Vec<String> = store
        .tick()
        .into_iter()
        .filter_map(|a| match a {
            Action::Delete {
                resource: "pods", name, ..
            } => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, vec!["api-unready", "api-new"]);
    let messages: Vec<&str> = store
        .events
        .iter()
        .filter(|e| e["reason"] == "SuccessfulDelete")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages, vec!["Deleted pod: api-unready", "Deleted pod: api-new"]);
}

#[test]
fn terminating_pods_are_removed_after_the_shorter_of_their_grace_period_and_max_grace() {
    let mut store = Store::new(22);
    store.create("replicasets", replicaset("api", 2, "api:1"));
    store.tick();
    let names: Vec<String> = store
        .snapshot
        .pods
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    // One pod with a zero grace period, one with the template's 30 s (capped at 1 s).
    if let Some(p) = store
        .snapshot
        .pods
        .iter_mut()
        .find(|p| p["metadata"]["name"] == names[0].as_str())
        .map(Arc::make_mut)
    {
        p["spec"]["terminationGracePeriodSeconds"] = json!(0);
    }
    set_rs_replicas(&mut store, 0);
    store.tick();
    assert!(pod_of(&store, &names[0])["metadata"]["deletionTimestamp"].is_string());
    store.tick();
    assert!(
        pod_of(&store, &names[0]).is_null(),
        "grace 0: removed on the first tick that sees it terminating"
    );
    assert!(!pod_of(&store, &names[1]).is_null());
    let removed = store.run_until(20, |s| pod_of(s, &names[1]).is_null());
    // First seen terminating at tick 0, removed once 1 s has passed (10 ticks of 100 ms).
    assert_eq!(removed, Some(10));
}

#[test]
fn orphaned_replicasets_and_pods_are_garbage_collected() {
    let mut store = Store::new(23);
    store.create("deployments", deployment("web", 2, "nginx:1.25"));
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    // A pod owned by something the simulation cannot check, and an ownerless pod: kept.
    store.create("pods", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "job-pod", "namespace": "default",
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "job-uid", "controller": true}]},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}));
    store.create(
        "pods",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
    );

    // `kubectl delete deploy web` (Background): the Deployment is gone at once.
    store.snapshot.deployments.clear();
    let actions = store.tick();
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Delete {
            resource: "replicasets",
            ..
        }
    )));
    assert!(store.snapshot.replicasets.is_empty());
    store.tick();
    assert!(
        store
            .snapshot
            .pods
            .iter()
            .filter(|p| p["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("web-")))
            .all(|p| p["metadata"]["deletionTimestamp"].is_string())
    );
    assert!(store.run_until(30, |s| s.snapshot.pods.len() == 2).is_some());
    let left: Vec<&str> = store
        .snapshot
        .pods
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str())
        .collect();
    assert_eq!(left, vec!["job-pod", "bare"]);
    assert_eq!(
        pod_of(&store, "bare")["status"]["phase"],
        "Running",
        "unowned pods are simulated too"
    );
}

#[test]
fn an_owner_recreated_under_the_same_name_does_not_adopt_old_dependents() {
    let mut store = Store::new(24);
    store.create("replicasets", replicaset("api", 1, "api:1"));
    store.tick();
    // Replace the ReplicaSet by another with the same name (a new uid).
    store.snapshot.replicasets.clear();
    store.create("replicasets", replicaset("api", 0, "api:1"));
    let actions = store.tick();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Delete { resource: "pods", .. })),
        "{actions:?}"
    );
}

#[test]
fn foreground_deletion_removes_the_owner_after_its_dependents() {
    let mut store = Store::new(25);
    store.create("deployments", deployment("web", 1, "nginx:1.25"));
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    if let Some(d) = store.snapshot.deployments.first_mut().map(Arc::make_mut) {
        d["metadata"]["deletionTimestamp"] = json!(format_time(store.now));
        d["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
    }
    let actions = store.tick();
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Delete {
            resource: "replicasets",
            ..
        }
    )));
    assert!(!actions.iter().any(|a| matches!(
        a,
        Action::Remove {
            resource: "deployments",
            ..
        }
    )));
    let actions = store.tick();
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Remove {
            resource: "deployments",
            ..
        }
    )));
    assert!(store.snapshot.deployments.is_empty());
    assert!(store.run_until(30, |s| s.snapshot.pods.is_empty()).is_some());
}

#[test]
fn crash_looping_pods_show_back_off_and_count_restarts() {
    let mut store = Store::new(26);
    store.create("deployments", deployment("web", 1, "app:1-crash"));
    let pod_name = |s: &Store| {
        s.snapshot
            .pods
            .first()
            .and_then(|p| p["metadata"]["name"].as_str())
            .map(str::to_owned)
    };
    assert!(store.run_until(5, |s| pod_name(s).is_some()).is_some());
    let created = store.now;
    let restarts = |s: &Store| s.snapshot.pods[0]["status"]["containerStatuses"][0]["restartCount"].as_i64();
    let mut seen: Vec<(Option<i64>, i64)> = Vec::new();
    while store.now - created < chrono::Duration::seconds(45) {
        let at = (store.now - created).num_milliseconds();
        store.tick();
        let r = restarts(&store);
        if seen.last().map(|s| s.0) != Some(r) {
            seen.push((r, at));
        }
    }
    // The pod was created one tick before `created`; its first start (and crash) is 1 s
    // later, the restarts follow after back-offs of 10 s and 20 s.
    let counts: Vec<Option<i64>> = seen.iter().map(|s| s.0).collect();
    assert_eq!(counts, vec![Some(0), Some(1), Some(2)]);
    assert_eq!(seen[1].1, 10_900);
    assert_eq!(seen[2].1, 30_900);
    let c = &store.snapshot.pods[0]["status"]["containerStatuses"][0];
    assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(store.snapshot.pods[0]["status"]["phase"], "Running");
    let d = store.deployment("web");
    assert_eq!(d["status"]["conditions"][0]["reason"], "MinimumReplicasUnavailable");
    assert_eq!(
        d["status"]["conditions"][0]["message"],
        "Deployment does not have minimum availability."
    );
}

#[test]
fn image_pull_errors_show_err_image_pull_then_image_pull_back_off() {
    let mut rules = ImageRules::new();
    rules.set("registry.example.com/*", Behaviour::ImagePullError);
    let mut store = Store::with_rules(27, rules);
    store.create("replicasets", replicaset("api", 1, "registry.example.com/api:2"));
    let mut reasons = Vec::new();
    for _ in 0..60 {
        store.tick();
        let reason = store
            .snapshot
            .pods
            .first()
            .and_then(|p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str())
            .map(str::to_owned);
        if let Some(r) = reason
            && reasons.last() != Some(&r)
        {
            reasons.push(r);
        }
    }
    assert_eq!(reasons, vec!["ContainerCreating", "ErrImagePull", "ImagePullBackOff"]);
    let pod = &store.snapshot.pods[0];
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "Back-off pulling image \"registry.example.com/api:2\""
    );
    assert_eq!(
        store.snapshot.replicasets[0]["status"],
        json!({"replicas": 1, "fullyLabeledReplicas": 1, "observedGeneration": 1})
    );
}

#[test]
fn image_rules_changed_at_runtime_apply_to_running_pods() {
    let mut store = Store::new(28);
    store.create("replicasets", replicaset("api", 1, "api:1"));
    assert!(
        store
            .run_until(30, |s| s.snapshot.replicasets[0]["status"]["readyReplicas"] == 1)
            .is_some()
    );
    store.controllers.rules_mut().set("api:1", Behaviour::NeverReady);
    store.tick();
    store.tick();
    assert!(store.snapshot.replicasets[0]["status"].get("readyReplicas").is_none());
    assert_eq!(store.controllers.rules().behaviour_for("api:1"), Behaviour::NeverReady);
}

#[test]
fn unchanged_pods_get_no_status_writes() {
    let mut store = Store::new(29);
    store.create("replicasets", replicaset("api", 2, "api:1"));
    assert!(
        store
            .run_until(30, |s| s.snapshot.replicasets[0]["status"]["readyReplicas"] == 2)
            .is_some()
    );
    store.tick();
    for _ in 0..10 {
        assert_eq!(store.tick(), vec![], "a steady state writes nothing");
    }
}

/// Removes the owner references to `owner_uid` from every object (`propagationPolicy: Orphan`).
fn orphan_dependents(store: &mut Store, owner_uid: &Value) {
    let lists = [&mut store.snapshot.replicasets, &mut store.snapshot.pods];
    for list in lists {
        for obj in list.iter_mut().map(Arc::make_mut) {
            if let Some(refs) = obj["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"] != *owner_uid);
            }
        }
    }
}

#[test]
fn a_recreated_deployment_adopts_the_replicaset_orphaned_by_its_predecessor() {
    let mut store = Store::new(30);
    store.create("deployments", deployment("web", 2, "nginx:1.25"));
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    let rs_name = store.snapshot.replicasets[0]["metadata"]["name"].clone();
    let pods: Vec<Value> = store
        .snapshot
        .pods
        .iter()
        .map(|p| p["metadata"]["name"].clone())
        .collect();
    // `kubectl delete deploy web --cascade=orphan`, then apply it again.
    let old_uid = store.snapshot.deployments[0]["metadata"]["uid"].clone();
    store.snapshot.deployments.clear();
    orphan_dependents(&mut store, &old_uid);
    store.tick();
    assert_eq!(store.snapshot.replicasets.len(), 1, "an ownerless RS is not garbage");
    store.create("deployments", deployment("web", 2, "nginx:1.25"));
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    let new_uid = store.snapshot.deployments[0]["metadata"]["uid"].clone();
    assert_eq!(store.snapshot.replicasets.len(), 1);
    assert_eq!(store.snapshot.replicasets[0]["metadata"]["name"], rs_name);
    assert_eq!(
        store.snapshot.replicasets[0]["metadata"]["ownerReferences"][0]["uid"],
        new_uid
    );
    let now: Vec<Value> = store
        .snapshot
        .pods
        .iter()
        .map(|p| p["metadata"]["name"].clone())
        .collect();
    assert_eq!(now, pods, "no pod was replaced");
}

#[test]
fn a_replicaset_adopts_matching_orphan_pods_instead_of_creating_new_ones() {
    let mut store = Store::new(31);
    store.create("replicasets", replicaset("api", 2, "api:1"));
    store.tick();
    let pods: Vec<Value> = store
        .snapshot
        .pods
        .iter()
        .map(|p| p["metadata"]["name"].clone())
        .collect();
    let old_uid = store.snapshot.replicasets[0]["metadata"]["uid"].clone();
    store.snapshot.replicasets.clear();
    orphan_dependents(&mut store, &old_uid);
    store.create("replicasets", replicaset("api", 2, "api:1"));
    let new_uid = store.snapshot.replicasets[0]["metadata"]["uid"].clone();
    store.run_until(5, |_| false);
    let now: Vec<Value> = store
        .snapshot
        .pods
        .iter()
        .map(|p| p["metadata"]["name"].clone())
        .collect();
    assert_eq!(now, pods);
    assert!(
        store
            .snapshot
            .pods
            .iter()
            .all(|p| p["metadata"]["ownerReferences"][0]["uid"] == new_uid)
    );
}
