//! Deployment controller scenarios (spec §7.1, §7.3, §7.5).

use serde_json::json;

use super::store::{Seen, Store, deployment, revision, rollout_status};
use crate::clock::{ClockMode, Profile, SimClock};
use crate::controllers::Action;
use crate::controllers::json::parse_time;
use crate::controllers::template::pod_template_hash;
use crate::images::ImageRules;

fn set_image(store: &mut Store, image: &str) {
    store.update_deployment("web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image)
    });
}

/// A store with `web` (2 × nginx:1.25) fully rolled out.
fn rolled_out_web(seed: u64) -> Store {
    let mut store = Store::new(seed);
    store.create("deployments", deployment("web", 2, "nginx:1.25"));
    let ticks = store.run_until(200, |s| s.rolled_out("web"));
    assert!(
        ticks.is_some(),
        "initial rollout did not finish: {:?}",
        store.seen("web")
    );
    store
}

/// Ticks until `done`, recording every distinct watcher view and rollout-status line.
fn watch(store: &mut Store, max: usize, done: impl Fn(&Store) -> bool) -> (Vec<Seen>, Vec<String>) {
    let mut seen = vec![store.seen("web")];
    let mut lines = vec![rollout_status(store.deployment("web"))];
    for _ in 0..max {
        store.tick();
        let s = store.seen("web");
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        let line = rollout_status(store.deployment("web"));
        if lines.last() != Some(&line) {
            lines.push(line);
        }
        if done(store) {
            return (seen, lines);
        }
    }
    panic!("did not finish: {:?}", store.seen("web"));
}

fn row(g: i64, o: i64, replicas: i64, updated: i64, ready: i64, available: i64, reason: &str) -> Seen {
    Seen {
        generation: g,
        observed: o,
        replicas,
        updated,
        ready,
        available,
        progressing: reason.to_owned(),
    }
}

#[test]
fn a_new_deployment_creates_revision_one_and_becomes_available() {
    let store = rolled_out_web(1);
    let rss = store.replicasets();
    assert_eq!(rss.len(), 1);
    let rs = rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().unwrap_or("");
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"],
        json!({"app": "web", "pod-template-hash": hash})
    );
    assert_eq!(rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"], hash);
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
    let ann = &rs["metadata"]["annotations"];
    assert_eq!(ann["deployment.kubernetes.io/revision"], "1");
    assert_eq!(ann["deployment.kubernetes.io/desired-replicas"], "2");
    assert_eq!(ann["deployment.kubernetes.io/max-replicas"], "3");

    let d = store.deployment("web");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(
        d["metadata"]["generation"], 1,
        "status writes never bump the generation"
    );
    let conditions = d["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<_> = conditions
        .iter()
        .map(|c| (c["type"].clone(), c["status"].clone(), c["reason"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (json!("Available"), json!("True"), json!("MinimumReplicasAvailable")),
            (json!("Progressing"), json!("True"), json!("NewReplicaSetAvailable")),
        ]
    );
    assert_eq!(conditions[0]["message"], "Deployment has minimum availability.");
    assert_eq!(
        conditions[1]["message"],
        format!(
            "ReplicaSet \"{}\" has successfully progressed.",
            rs["metadata"]["name"].as_str().unwrap_or("")
        )
    );
    assert_eq!(
        store.scaling_events(),
        vec![format!(
            "Scaled up replica set {} from 0 to 2",
            rs["metadata"]["name"].as_str().unwrap_or("")
        )]
    );

    let pods = store.live_pods();
    assert_eq!(pods.len(), 2);
    for p in pods {
        assert!(p["metadata"]["name"].as_str().is_some_and(|n| {
            n.starts_with(&format!("{}-", rs["metadata"]["name"].as_str().unwrap_or("")))
                && n.len() == rs["metadata"]["name"].as_str().unwrap_or("").len() + 6
        }));
        assert_eq!(p["spec"]["nodeName"], "sim-node");
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash);
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], rs["metadata"]["uid"]);
        assert_eq!(p["status"]["phase"], "Running");
    }
    let created: Vec<_> = store
        .events
        .iter()
        .filter(|e| e["reason"] == "SuccessfulCreate")
        .collect();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["source"]["component"], "replicaset-controller");
    assert_eq!(created[0]["involvedObject"]["kind"], "ReplicaSet");
    assert!(
        created[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Created pod: web-"))
    );
}

#[test]
fn the_worked_trace_rolls_two_replicas_through_the_documented_states() {
    let mut store = rolled_out_web(2);
    let old_name = store.replicasets()[0]["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    set_image(&mut store, "nginx:1.26");

    // The window: generation 2 is persisted, the status still says 1, for at least one tick.
    assert_eq!(
        rollout_status(store.deployment("web")),
        "Waiting for deployment spec update to be observed..."
    );
    let first = store.tick();
    assert!(
        first
            .iter()
            .all(|a| a.resource() != "deployments" && a.resource() != "replicasets"),
        "{first:?}"
    );
    assert_eq!(store.seen("web").observed, 1);

    // Tick 1 of the trace: the new RS (revision 2, 1 replica), observedGeneration 2.
    store.tick();
    let s = store.seen("web");
    assert_eq!(s, row(2, 2, 2, 0, 2, 2, "NewReplicaSetCreated"));
    let rss = store.replicasets();
    assert_eq!(rss.len(), 2);
    let new_name = rss[1]["metadata"]["name"].as_str().unwrap_or("").to_owned();
    assert_eq!(revision(rss[1]), 2);
    assert_eq!(rss[1]["spec"]["replicas"], 1);
    assert_eq!(
        store.deployment("web")["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let progressing = store.deployment("web")["status"]["conditions"][1].clone();
    assert_eq!(
        progressing["message"],
        format!("Created new replica set \"{new_name}\"")
    );

    let (seen, lines) = watch(&mut store, 300, |s| s.rolled_out("web"));
    assert_eq!(
        seen,
        vec![
            row(2, 2, 2, 0, 2, 2, "NewReplicaSetCreated"),
            row(2, 2, 3, 1, 2, 2, "ReplicaSetUpdated"),
            row(2, 2, 3, 1, 3, 3, "ReplicaSetUpdated"),
            row(2, 2, 2, 1, 2, 2, "ReplicaSetUpdated"),
            row(2, 2, 3, 2, 2, 2, "ReplicaSetUpdated"),
            row(2, 2, 3, 2, 3, 3, "ReplicaSetUpdated"),
            row(2, 2, 2, 2, 2, 2, "NewReplicaSetAvailable"),
        ]
    );
    assert_eq!(
        lines,
        vec![
            "Waiting for deployment \"web\" rollout to finish: 0 out of 2 new replicas have been updated...",
            "Waiting for deployment \"web\" rollout to finish: 1 out of 2 new replicas have been updated...",
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...",
            "deployment \"web\" successfully rolled out",
        ]
    );
    assert_eq!(
        store.scaling_events()[1..],
        [
            format!("Scaled up replica set {new_name} from 0 to 1"),
            format!("Scaled down replica set {old_name} from 2 to 1"),
            format!("Scaled up replica set {new_name} from 1 to 2"),
            format!("Scaled down replica set {old_name} from 1 to 0"),
        ]
    );
    let rss = store.replicasets();
    assert_eq!(
        (rss[0]["spec"]["replicas"].clone(), rss[1]["spec"]["replicas"].clone()),
        (json!(0), json!(2))
    );
    let event = store
        .events
        .iter()
        .find(|e| e["reason"] == "ScalingReplicaSet")
        .cloned()
        .unwrap_or_default();
    assert_eq!(event["source"]["component"], "deployment-controller");
    assert_eq!(event["involvedObject"]["kind"], "Deployment");
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["count"], 1);
}

fn progressing(store: &Store) -> serde_json::Value {
    store.deployment("web")["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing").cloned())
        .unwrap_or_default()
}

fn rs_names_and_revisions(store: &Store) -> Vec<(String, i64, i64)> {
    store
        .replicasets()
        .iter()
        .map(|rs| {
            (
                rs["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                revision(rs),
                rs["spec"]["replicas"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[test]
fn a_never_ready_rollout_exceeds_its_progress_deadline_with_the_old_replicaset_still_available() {
    let mut store = rolled_out_web(3);
    store.update_deployment("web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27-never-ready");
        d["spec"]["progressDeadlineSeconds"] = json!(5);
    });
    let mut last_progress = None;
    let ticks = store.run_until(200, |s| {
        let c = progressing(s);
        if c["reason"] == "ReplicaSetUpdated" {
            last_progress = c["lastUpdateTime"].as_str().and_then(parse_time);
        }
        c["reason"] == "ProgressDeadlineExceeded"
    });
    assert!(ticks.is_some(), "{:?}", store.seen("web"));
    assert_eq!(store.seen("web"), row(2, 2, 3, 1, 2, 2, "ProgressDeadlineExceeded"));
    let cond = progressing(&store);
    let rss = store.replicasets();
    assert_eq!(cond["status"], "False");
    assert_eq!(
        cond["message"],
        format!(
            "ReplicaSet \"{}\" has timed out progressing.",
            rss[1]["metadata"]["name"].as_str().unwrap_or("")
        )
    );
    // The deadline counts from the last progress (the new pod being reported), strictly after.
    let timed_out = parse_time(cond["lastTransitionTime"].as_str().unwrap_or("")).unwrap_or_default();
    let last_progress = last_progress.unwrap_or_default();
    assert_eq!(cond["lastUpdateTime"], cond["lastTransitionTime"]);
    assert!(
        timed_out - last_progress >= chrono::Duration::seconds(5),
        "{last_progress} -> {timed_out}"
    );
    assert!(
        timed_out - last_progress <= chrono::Duration::seconds(6),
        "{last_progress} -> {timed_out}"
    );
    // Old RS still 2/2, new RS 1 unready; Available still True.
    assert_eq!(
        (
            rss[0]["spec"]["replicas"].clone(),
            rss[0]["status"]["availableReplicas"].clone()
        ),
        (json!(2), json!(2))
    );
    assert_eq!(
        (rss[1]["spec"]["replicas"].clone(), rss[1]["status"]["replicas"].clone()),
        (json!(1), json!(1))
    );
    assert!(rss[1]["status"].get("readyReplicas").is_none());
    let available = &store.deployment("web")["status"]["conditions"][0];
    assert_eq!(
        (available["type"].clone(), available["status"].clone()),
        (json!("Available"), json!("True"))
    );
    assert_eq!(
        rollout_status(store.deployment("web")),
        "error: deployment \"web\" exceeded its progress deadline"
    );

    // Nothing changes afterwards: no flapping of the condition.
    let before = store.deployment("web")["metadata"]["resourceVersion"].clone();
    for _ in 0..30 {
        store.tick();
    }
    assert_eq!(store.deployment("web")["metadata"]["resourceVersion"], before);

    // Re-applying the old template re-uses the old RS and recovers.
    set_image(&mut store, "nginx:1.25");
    assert!(
        store.run_until(300, |s| s.rolled_out("web")).is_some(),
        "{:?}",
        store.seen("web")
    );
    let rss = rs_names_and_revisions(&store);
    assert_eq!(rss.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(), vec![(2, 0), (3, 2)]);
    assert_eq!(
        store.replicasets()[1]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(progressing(&store)["reason"], "NewReplicaSetAvailable");
}

#[test]
fn a_rollback_reuses_the_old_replicaset_and_records_its_revision_history() {
    let mut store = rolled_out_web(4);
    set_image(&mut store, "nginx:1.26");
    assert!(store.run_until(300, |s| s.rolled_out("web")).is_some());
    let before = rs_names_and_revisions(&store);
    assert_eq!(
        before.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
        vec![(1, 0), (2, 2)]
    );

    // `kubectl rollout undo`: the old RS template (minus the hash, with creationTimestamp: null
    // and resources: {}), and the annotations replaced.
    let mut template = store.replicasets()[0]["spec"]["template"].clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove("pod-template-hash");
    }
    template["metadata"]["creationTimestamp"] = serde_json::Value::Null;
    store.update_deployment("web", |d| {
        d["spec"]["template"] = template;
        d["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "2"});
    });
    let mut first_update = None;
    for _ in 0..300 {
        let actions = store.tick();
        if first_update.is_none() {
            first_update = actions.into_iter().find(|a| {
                matches!(
                    a,
                    Action::Update {
                        resource: "replicasets",
                        ..
                    }
                )
            });
        }
        if store.rolled_out("web") {
            break;
        }
    }
    assert!(store.rolled_out("web"), "{:?}", store.seen("web"));
    // The first write re-numbers the old RS (3, history 1); no new RS is created.
    let Some(Action::Update { object, .. }) = first_update else {
        panic!("no RS update")
    };
    assert_eq!(object["metadata"]["name"].as_str(), Some(before[0].0.as_str()));
    assert_eq!(
        object["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(
        object["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(object["spec"]["replicas"], 0);
    let after = rs_names_and_revisions(&store);
    assert_eq!(after, vec![(before[1].0.clone(), 2, 0), (before[0].0.clone(), 3, 2)]);
    assert_eq!(
        store.deployment("web")["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert!(
        store
            .live_pods()
            .iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.25")
    );
    assert_eq!(store.live_pods().len(), 2);
}

#[test]
fn recreate_scales_every_old_pod_away_before_creating_the_new_replicaset() {
    let mut store = Store::new(5);
    let mut d = deployment("web", 3, "nginx:1.25");
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    store.create("deployments", d);
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    let old = store.replicasets()[0]["metadata"]["uid"].clone();
    set_image(&mut store, "nginx:1.26");
    let mut saw_unavailable = false;
    for _ in 0..300 {
        store.tick();
        let old_pods = store
            .snapshot
            .pods
            .iter()
            .any(|p| p["metadata"]["ownerReferences"][0]["uid"] == old);
        if old_pods {
            assert_eq!(store.replicasets().len(), 1, "a new RS appeared while old pods exist");
        }
        let available = &store.deployment("web")["status"]["conditions"][0];
        saw_unavailable |= available["type"] == "Available" && available["status"] == "False";
        if store.rolled_out("web") {
            break;
        }
    }
    assert!(store.rolled_out("web"));
    assert!(
        saw_unavailable,
        "Recreate allows no unavailability, so Available went False"
    );
    let names: Vec<String> = rs_names_and_revisions(&store).into_iter().map(|r| r.0).collect();
    assert_eq!(
        store.scaling_events()[1..],
        [
            format!("Scaled down replica set {} from 3 to 0", names[0]),
            format!("Scaled up replica set {} from 0 to 3", names[1])
        ]
    );
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_out_until_resumed() {
    let mut store = rolled_out_web(6);
    store.update_deployment("web", |d| d["spec"]["paused"] = json!(true));
    store.run_until(5, |_| false);
    let cond = progressing(&store);
    assert_eq!(
        (cond["status"].clone(), cond["reason"].clone()),
        (json!("Unknown"), json!("DeploymentPaused"))
    );
    assert_eq!(cond["message"], "Deployment is paused");
    assert_eq!(store.seen("web").observed, 2);

    set_image(&mut store, "nginx:1.28");
    store.update_deployment("web", |d| d["spec"]["replicas"] = json!(3));
    store.run_until(60, |_| false);
    assert_eq!(store.replicasets().len(), 1, "no new RS while paused");
    assert_eq!(store.replicasets()[0]["spec"]["replicas"], 3, "scaling still happens");
    assert_eq!(
        store.replicasets()[0]["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
        "3"
    );
    let seen = store.seen("web");
    assert_eq!((seen.observed, seen.updated, seen.available), (4, 0, 3));
    assert_eq!(progressing(&store)["reason"], "DeploymentPaused");

    store.update_deployment("web", |d| {
        if let Some(spec) = d["spec"].as_object_mut() {
            spec.remove("paused");
        }
    });
    let mut reasons = Vec::new();
    for _ in 0..400 {
        store.tick();
        let r = progressing(&store)["reason"].as_str().unwrap_or("").to_owned();
        if reasons.last() != Some(&r) {
            reasons.push(r);
        }
        if store.rolled_out("web") {
            break;
        }
    }
    assert!(store.rolled_out("web"));
    assert_eq!(
        reasons[..3],
        ["DeploymentPaused", "DeploymentResumed", "NewReplicaSetCreated"]
    );
    assert_eq!(reasons.last().map(String::as_str), Some("NewReplicaSetAvailable"));
    assert_eq!(store.replicasets().len(), 2);
    assert_eq!(store.live_pods().len(), 3);
}

#[test]
fn scaling_during_a_rollout_is_proportional_across_replicasets() {
    let mut store = Store::new(7);
    store.create("deployments", deployment("web", 4, "nginx:1.25"));
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    set_image(&mut store, "nginx:1.27-never-ready");
    store.run_until(100, |_| false);
    let sizes = |s: &Store| rs_names_and_revisions(s).into_iter().map(|r| r.2).collect::<Vec<_>>();
    assert_eq!(
        sizes(&store),
        vec![3, 2],
        "surge 1, unavailable 1 and an unready new RS"
    );
    store.update_deployment("web", |d| d["spec"]["replicas"] = json!(8));
    store.run_until(3, |_| false);
    assert_eq!(sizes(&store), vec![6, 4]);
    let names: Vec<String> = rs_names_and_revisions(&store).into_iter().map(|r| r.0).collect();
    let events = store.scaling_events();
    assert_eq!(
        events[events.len() - 2..],
        [
            format!("Scaled up replica set {} from 3 to 6", names[0]),
            format!("Scaled up replica set {} from 2 to 4", names[1])
        ]
    );
    for rs in store.replicasets() {
        assert_eq!(
            rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"],
            "8"
        );
        assert_eq!(
            rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
            "10"
        );
    }
}

#[test]
fn old_replicasets_beyond_the_revision_history_limit_are_deleted() {
    let mut store = Store::new(8);
    let mut d = deployment("web", 1, "nginx:1.25");
    d["spec"]["revisionHistoryLimit"] = json!(1);
    store.create("deployments", d);
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    for image in ["nginx:1.26", "nginx:1.27"] {
        set_image(&mut store, image);
        assert!(store.run_until(300, |s| s.rolled_out("web")).is_some());
    }
    store.run_until(20, |_| false);
    let revisions: Vec<i64> = rs_names_and_revisions(&store).into_iter().map(|r| r.1).collect();
    assert_eq!(revisions, vec![2, 3]);
    assert!(
        store
            .snapshot
            .pods
            .iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.27")
    );
}

#[test]
fn a_hash_collision_bumps_the_collision_count_and_uses_a_new_name() {
    let mut store = Store::new(9);
    let d = deployment("web", 1, "nginx:1.25");
    let hash = pod_template_hash(&d["spec"]["template"], None);
    // A foreign ReplicaSet already holds the name the Deployment would use.
    store.create(
        "replicasets",
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": format!("web-{hash}"), "namespace": "default"},
               "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                        "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
    );
    store.create("deployments", d.clone());
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    assert_eq!(store.deployment("web")["status"]["collisionCount"], 1);
    let owned: Vec<String> = store
        .snapshot
        .replicasets
        .iter()
        .filter(|rs| rs["metadata"].get("ownerReferences").is_some())
        .filter_map(|rs| rs["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        owned,
        vec![format!("web-{}", pod_template_hash(&d["spec"]["template"], Some(1)))]
    );
}

#[test]
fn a_deployment_without_a_progress_deadline_has_no_progressing_condition() {
    let mut store = Store::new(10);
    let mut d = deployment("web", 1, "nginx:1.25");
    if let Some(spec) = d["spec"].as_object_mut() {
        spec.remove("progressDeadlineSeconds");
    }
    store.create("deployments", d);
    assert!(store.run_until(200, |s| s.rolled_out("web")).is_some());
    assert_eq!(store.seen("web").progressing, "");
    assert_eq!(store.deployment("web")["status"]["conditions"][0]["type"], "Available");
}

fn scripted_rollout(seed: u64) -> Vec<Vec<Action>> {
    let mut store = Store::new(seed);
    store.create("deployments", deployment("web", 3, "nginx:1.25"));
    let mut log = Vec::new();
    for n in 0..120 {
        if n == 60 {
            set_image(&mut store, "nginx:1.26");
        }
        log.push(store.tick());
    }
    log
}

#[test]
fn the_same_seed_and_snapshots_give_the_same_actions() {
    let a = scripted_rollout(42);
    assert_eq!(a, scripted_rollout(42));
    assert_ne!(a, scripted_rollout(43), "pod names come from the seed");
    assert!(a.iter().flatten().count() > 20);
}

#[test]
fn the_fast_profile_rolls_three_replicas_out_in_well_under_two_seconds() {
    let mut store = Store::with_profile(11, ImageRules::new(), Profile::fast());
    store.create("deployments", deployment("web", 3, "nginx:1.25"));
    let ticks = store.run_until(400, |s| s.rolled_out("web")).unwrap_or(usize::MAX);
    let tick = Profile::fast().tick;
    assert!(
        tick * ticks as u32 <= std::time::Duration::from_secs(1),
        "initial rollout took {ticks} ticks"
    );
    set_image(&mut store, "nginx:1.26");
    let start = store.now;
    assert!(store.run_until(400, |s| s.rolled_out("web")).is_some());
    let took = store.now - start;
    eprintln!("fast profile: initial rollout {ticks} ticks, rolling update of 3 replicas {took}");
    assert!(
        took < chrono::Duration::milliseconds(1500),
        "rolling update took {took}"
    );
}

#[test]
fn a_rolled_out_deployment_makes_no_further_writes() {
    let mut store = rolled_out_web(12);
    store.run_until(5, |_| false);
    for _ in 0..20 {
        assert_eq!(store.tick(), vec![], "{:?}", store.seen("web"));
    }
    assert_eq!(store.dropped, 0, "no write of a settled rollout was refused");
}

#[test]
fn scaling_to_zero_and_back_keeps_one_replicaset() {
    let mut store = rolled_out_web(13);
    store.update_deployment("web", |d| d["spec"]["replicas"] = json!(0));
    assert!(
        store
            .run_until(100, |s| s.snapshot.pods.is_empty() && s.rolled_out("web"))
            .is_some()
    );
    assert_eq!(store.seen("web"), row(2, 2, 0, 0, 0, 0, "NewReplicaSetAvailable"));
    store.update_deployment("web", |d| d["spec"]["replicas"] = json!(3));
    assert!(store.run_until(100, |s| s.rolled_out("web")).is_some());
    assert_eq!(store.replicasets().len(), 1);
    assert_eq!(store.live_pods().len(), 3);
    let events = store.scaling_events();
    assert!(events[1].contains("from 2 to 0"), "{events:?}");
    assert!(events[2].contains("from 0 to 3"), "{events:?}");
}

#[test]
fn the_fast_profile_rolls_three_replicas_out_in_realtime_well_under_two_seconds() {
    let profile = Profile::fast();
    let clock = SimClock::new(ClockMode::Realtime, super::store::t0());
    let mut store = Store::with_profile(14, ImageRules::new(), profile.clone());
    let run = |store: &mut Store| {
        let started = std::time::Instant::now();
        while !store.rolled_out("web") && started.elapsed() < std::time::Duration::from_secs(5) {
            store.tick_at(clock.now());
            std::thread::sleep(profile.tick);
        }
        started.elapsed()
    };
    store.now = clock.now();
    store.create("deployments", deployment("web", 3, "nginx:1.25"));
    let initial = run(&mut store);
    set_image(&mut store, "nginx:1.26");
    let update = run(&mut store);
    eprintln!("fast profile in realtime: initial rollout {initial:?}, rolling update {update:?}");
    assert!(store.rolled_out("web"));
    assert_eq!(store.replicasets().len(), 2);
    assert!(
        update < std::time::Duration::from_secs(2),
        "rolling update took {update:?}"
    );
}
