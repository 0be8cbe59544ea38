//! With a manual clock and a fixed seed, the simulation is a pure function of its inputs: the
//! same requests and the same clock advances produce the same observed states, byte for byte.

use std::time::Duration;

use kube_sim::clock::ClockMode;
use kube_sim::server::{SimCluster, SimOptions};
use kube_sim::store::{PatchKind, ResourceType, WriteOptions};
use serde_json::{Value, json};

fn web(image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}
        }
    })
}

/// Runs a rollout and an image change, recording the deployment status and pod names after
/// every advance.
async fn observe(seed: u64) -> Vec<Value> {
    let options = SimOptions {
        seed,
        clock: ClockMode::Manual,
        ..SimOptions::named("determinism")
    };
    let cluster = SimCluster::start(options).await.expect("the simulated cluster starts");
    let control = cluster.control();
    let deployments = ResourceType::by_plural("deployments").expect("deployments are served");
    let pods = ResourceType::by_plural("pods").expect("pods are served");
    let apply = |image: &str| {
        control
            .store()
            .patch(
                deployments,
                "default",
                "web",
                PatchKind::Apply { force: false },
                &web(image),
                None,
                &WriteOptions::new("test"),
            )
            .expect("apply succeeds");
    };
    let mut observed = Vec::new();
    apply("nginx:1.25");
    for step in 0..36 {
        if step == 18 {
            apply("nginx:1.26");
        }
        control.advance(Duration::from_millis(250));
        let deployment = control
            .store()
            .get(deployments, "default", "web")
            .expect("the deployment exists");
        let (pod_objects, _) = control.store().all(pods, Some("default"));
        let pod_names: Vec<Value> = pod_objects.iter().map(|p| p["metadata"]["name"].clone()).collect();
        observed.push(
            json!({"status": deployment["status"], "rv": deployment["metadata"]["resourceVersion"], "pods": pod_names}),
        );
    }
    cluster.shutdown().await;
    observed
}

#[tokio::test]
async fn the_same_seed_and_inputs_give_the_same_observed_statuses() {
    let first = observe(42).await;
    let second = observe(42).await;
    assert_eq!(first, second);
    let last = first.last().cloned().unwrap_or_default();
    assert_eq!(last["status"]["updatedReplicas"], 3, "{last}");
    assert_eq!(last["status"]["availableReplicas"], 3, "{last}");
    let distinct: std::collections::BTreeSet<String> = first.iter().map(|o| o["status"].to_string()).collect();
    assert!(distinct.len() > 5, "the rollout should pass through several states");
}

#[tokio::test]
async fn a_different_seed_names_pods_differently() {
    let a = observe(1).await;
    let b = observe(2).await;
    assert_ne!(a.last().map(|o| o["pods"].clone()), b.last().map(|o| o["pods"].clone()));
}

#[tokio::test]
async fn paused_or_frozen_controllers_hold_the_unobserved_window() {
    let options = SimOptions {
        clock: ClockMode::Manual,
        ..SimOptions::named("frozen")
    };
    let cluster = SimCluster::start(options).await.expect("the simulated cluster starts");
    let control = cluster.control();
    let deployments = ResourceType::by_plural("deployments").expect("deployments are served");
    control
        .store()
        .patch(
            deployments,
            "default",
            "web",
            PatchKind::Apply { force: false },
            &web("nginx:1.25"),
            None,
            &WriteOptions::new("test"),
        )
        .expect("apply succeeds");
    let observed = || {
        control
            .store()
            .get(deployments, "default", "web")
            .ok()
            .and_then(|d| d.pointer("/status/observedGeneration").cloned())
    };
    control.pause_controllers();
    control.advance(Duration::from_secs(5));
    assert_eq!(observed(), None);
    control.resume_controllers();
    control.set_faults(kube_sim::server::Faults {
        freeze_controllers: true,
        ..Default::default()
    });
    control.advance(Duration::from_secs(5));
    assert_eq!(observed(), None);
    control.set_faults(kube_sim::server::Faults::default());
    control.advance(Duration::from_secs(1));
    assert_eq!(observed(), Some(json!(1)));
    cluster.shutdown().await;
}
