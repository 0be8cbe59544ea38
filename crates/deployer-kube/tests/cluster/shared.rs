//! Rollouts of one namespace followed over one shared watch: each gets its own verdict, a
//! rollout joining a running watch waits for its own generation, the watch survives dropped
//! connections and expired history, stops when idle, and a refused namespace-wide watch falls
//! back to watching each object.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deployer_core::ports::{ApplyOptions, Cluster, ClusterError, WorkloadRef};
use deployer_core::rollout::RolloutVerdict;
use deployer_kube::KubeCluster;
use deployer_kube::shared_watch::IDLE_GRACE;
use futures::future::join_all;
use kube_sim::server::Faults;
use serde_json::{Value, json};

use crate::support::{Harness, ROLLOUT_LIMIT, Recorder, TestResult, settings, web_app};

/// The Deployment of `web-app.yaml` renamed to `name`, with `image`.
fn app(name: &str, image: &str, progress_deadline_seconds: Option<i64>) -> Value {
    let mut deployment = web_app(image, progress_deadline_seconds)
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap_or_else(|| panic!("web-app.yaml has a Deployment"));
    deployment["metadata"]["name"] = json!(name);
    deployment["metadata"]["labels"] = json!({"app": name});
    deployment["spec"]["selector"] = json!({"matchLabels": {"app": name}});
    deployment["spec"]["template"]["metadata"]["labels"] = json!({"app": name});
    deployment
}

fn workload(name: &str) -> WorkloadRef {
    WorkloadRef {
        kind: "Deployment".to_owned(),
        namespace: "default".to_owned(),
        name: name.to_owned(),
    }
}

async fn watch(cluster: &KubeCluster, name: &str) -> Result<RolloutVerdict, ClusterError> {
    let progress = Recorder::default().callback();
    match tokio::time::timeout(ROLLOUT_LIMIT, cluster.watch_rollout(&workload(name), &*progress)).await {
        Ok(result) => result,
        Err(_) => Err(ClusterError::Internal {
            message: format!("rollout of {name} still going after {ROLLOUT_LIMIT:?}"),
        }),
    }
}

fn succeeded(name: &str) -> RolloutVerdict {
    RolloutVerdict::Succeeded {
        message: format!("deployment \"{name}\" successfully rolled out"),
    }
}

/// A cluster running `app-a` and `app-b` at `nginx:1.25`, both rolled out through the shared
/// watch.
async fn two_apps_rolled_out() -> Result<Harness, Box<dyn std::error::Error>> {
    let h = Harness::start().await?;
    h.cluster
        .apply(
            &[app("app-a", "nginx:1.25", None), app("app-b", "nginx:1.25", None)],
            ApplyOptions::default(),
        )
        .await?;
    let first = join_all([watch(&h.cluster, "app-a"), watch(&h.cluster, "app-b")]).await;
    assert_eq!(first, vec![Ok(succeeded("app-a")), Ok(succeeded("app-b"))]);
    Ok(h)
}

/// The Deployment requests of kube-sim's log: (namespace-wide watches, namespace-wide lists,
/// requests naming one object with a field selector).
fn deployment_requests(h: &Harness) -> (usize, usize, usize) {
    let (mut watches, mut lists, mut single) = (0, 0, 0);
    for request in h.sim.control().requests() {
        if request["path"] != "/apis/apps/v1/namespaces/default/deployments" {
            continue;
        }
        let query = request["query"].as_str().unwrap_or_default();
        if query.contains("fieldSelector") {
            single += 1;
        } else if query.contains("watch=true") {
            watches += 1;
        } else {
            lists += 1;
        }
    }
    (watches, lists, single)
}

#[tokio::test]
async fn many_rollouts_in_one_namespace_share_one_watch_and_each_gets_its_own_verdict() -> TestResult {
    let h = Harness::start().await?;
    let names = ["app-0", "app-1", "app-2", "app-3", "app-4"];
    let mut documents: Vec<Value> = names.iter().map(|n| app(n, "nginx:1.25", None)).collect();
    documents.push(app("app-bad", "nginx:1.27-never-ready", Some(3)));
    h.cluster.apply(&documents, ApplyOptions::default()).await?;

    let watched = join_all(names.iter().chain(&["app-bad"]).map(|name| watch(&h.cluster, name))).await;
    for (name, verdict) in names.iter().zip(&watched) {
        assert_eq!(verdict, &Ok(succeeded(name)), "{name}");
    }
    let Some(Ok(RolloutVerdict::Failed { code, message })) = watched.last() else {
        panic!("app-bad must fail: {watched:?}");
    };
    assert_eq!(code, "progress_deadline_exceeded");
    assert_eq!(message, "deployment \"app-bad\" exceeded its progress deadline");

    let (watches, lists, single) = deployment_requests(&h);
    assert_eq!(watches, 1, "one watch connection for the namespace");
    assert_eq!(lists, 1, "one list for the namespace");
    assert_eq!(single, 0, "no watch of a single object");
    assert_eq!(h.cluster.shared_watches(), 1, "the watch lingers for its grace");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_rollout_joining_a_running_shared_watch_waits_for_its_own_generation() -> TestResult {
    let h = two_apps_rolled_out().await?;

    // The shared watch has seen app-b complete at generation 1. Its new generation must not be
    // judged on that.
    h.sim.control().pause_controllers();
    h.cluster
        .apply(&[app("app-a", "nginx:1.26", None)], ApplyOptions::default())
        .await?;
    let recorder_a = Recorder::default();
    let progress_a = recorder_a.callback();
    let (workload_a, workload_b) = (workload("app-a"), workload("app-b"));
    let watch_a = h.cluster.watch_rollout(&workload_a, &*progress_a);
    tokio::pin!(watch_a);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut watch_a)
            .await
            .is_err()
    );
    let applied = h
        .cluster
        .apply(&[app("app-b", "nginx:1.26", None)], ApplyOptions::default())
        .await?;
    assert_eq!(applied[0].generation, 2);
    let recorder_b = Recorder::default();
    let progress_b = recorder_b.callback();
    let watch_b = h.cluster.watch_rollout(&workload_b, &*progress_b);
    tokio::pin!(watch_b);
    let both = async { tokio::join!(&mut watch_a, &mut watch_b) };
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), both).await.is_err(),
        "both rollouts must still be waiting"
    );
    for recorder in [&recorder_a, &recorder_b] {
        let seen = recorder.seen();
        assert!(!seen.is_empty(), "each rollout reports its progress");
        for (_, verdict) in &seen {
            assert_eq!(
                verdict,
                &RolloutVerdict::Waiting {
                    message: "Waiting for deployment spec update to be observed...".to_owned()
                }
            );
        }
    }
    assert_eq!(h.cluster.shared_watches(), 1);

    h.sim.control().resume_controllers();
    let (a, b) = tokio::time::timeout(ROLLOUT_LIMIT, async { tokio::join!(watch_a, watch_b) }).await?;
    assert_eq!((a?, b?), (succeeded("app-a"), succeeded("app-b")));
    let (watches, lists, single) = deployment_requests(&h);
    assert_eq!((watches, lists, single), (1, 1, 0), "both rounds used the one watch");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_shared_watch_survives_dropped_connections_and_expired_history() -> TestResult {
    let h = two_apps_rolled_out().await?;

    h.sim.control().pause_controllers();
    h.cluster
        .apply(
            &[app("app-a", "nginx:1.26", None), app("app-b", "nginx:1.26", None)],
            ApplyOptions::default(),
        )
        .await?;
    let both = join_all([watch(&h.cluster, "app-a"), watch(&h.cluster, "app-b")]);
    tokio::pin!(both);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut both)
            .await
            .is_err()
    );
    // Cut the connection and forget the history: the shared watch must relist and carry on.
    // Every new watch is told its resource version is too old until the watcher relists.
    h.sim.control().set_faults(Faults {
        expire_watches: true,
        ..Faults::default()
    });
    h.sim.control().compact();
    h.sim.control().drop_watches();
    // The watcher waits out its back-off before it finds the history gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while deployment_requests(&h).1 < 2 && tokio::time::Instant::now() < deadline {
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut both)
                .await
                .is_err()
        );
    }
    let (watches, lists, single) = deployment_requests(&h);
    assert!(
        lists >= 2,
        "the shared watch relisted after the history expired ({lists} lists)"
    );
    assert!(watches >= 2, "the shared watch reconnected ({watches} watches)");
    assert_eq!(single, 0);
    h.sim.control().set_faults(Faults::default());
    h.sim.control().resume_controllers();
    let verdicts = both.await;
    assert_eq!(verdicts, vec![Ok(succeeded("app-a")), Ok(succeeded("app-b"))]);
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_shared_watch_stops_once_idle_for_its_grace() -> TestResult {
    let h = Harness::start().await?;
    h.cluster
        .apply(&[app("app-a", "nginx:1.25", None)], ApplyOptions::default())
        .await?;
    assert_eq!(watch(&h.cluster, "app-a").await, Ok(succeeded("app-a")));
    assert_eq!(h.cluster.shared_watches(), 1);
    tokio::time::sleep(IDLE_GRACE + Duration::from_millis(500)).await;
    assert_eq!(h.cluster.shared_watches(), 0, "stopped after the grace");

    // The next rollout starts a new one.
    h.cluster
        .apply(&[app("app-a", "nginx:1.26", None)], ApplyOptions::default())
        .await?;
    assert_eq!(watch(&h.cluster, "app-a").await, Ok(succeeded("app-a")));
    let (watches, _, _) = deployment_requests(&h);
    assert_eq!(watches, 2);
    h.sim.shutdown().await;
    Ok(())
}

/// A client in front of the simulated cluster that refuses listing and watching Deployments
/// namespace-wide, as a role limited to some names does; counts the refusals.
async fn names_only_client(
    h: &Harness,
    refusals: Arc<AtomicUsize>,
) -> Result<kube::Client, Box<dyn std::error::Error>> {
    let inner = h.kube_client().await?;
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let inner = inner.clone();
        let refusals = Arc::clone(&refusals);
        async move {
            let uri = request.uri();
            let namespace_wide = request.method() == http::Method::GET
                && uri.path().ends_with("/deployments")
                && !uri.query().unwrap_or_default().contains("fieldSelector");
            if namespace_wide {
                refusals.fetch_add(1, Ordering::SeqCst);
                let status = json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "deployments.apps is forbidden: User \"deployer\" cannot watch resource \"deployments\" in API group \"apps\" in the namespace \"default\"",
                    "reason": "Forbidden", "code": 403
                });
                let mut response = http::Response::new(kube::client::Body::from(status.to_string().into_bytes()));
                *response.status_mut() = http::StatusCode::FORBIDDEN;
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                return Ok::<_, kube::Error>(response);
            }
            inner.send(request).await
        }
    });
    Ok(kube::Client::new(service, "default"))
}

#[tokio::test]
async fn a_refused_namespace_wide_watch_falls_back_to_watching_each_object() -> TestResult {
    let h = Harness::start().await?;
    let refusals = Arc::new(AtomicUsize::new(0));
    let client = names_only_client(&h, Arc::clone(&refusals)).await?;
    let cluster = KubeCluster::with_client(&settings(h.kubeconfig.clone()), client, "sim-a");
    cluster
        .apply(
            &[app("app-a", "nginx:1.25", None), app("app-b", "nginx:1.25", None)],
            ApplyOptions::default(),
        )
        .await?;
    let verdicts = join_all([watch(&cluster, "app-a"), watch(&cluster, "app-b")]).await;
    assert_eq!(verdicts, vec![Ok(succeeded("app-a")), Ok(succeeded("app-b"))]);
    let refused = refusals.load(Ordering::SeqCst);
    assert!(refused >= 1, "the namespace-wide watch was tried");
    let (watches, lists, single) = deployment_requests(&h);
    assert_eq!((watches, lists), (0, 0), "nothing namespace-wide reached the server");
    assert!(single >= 4, "each object was listed and watched alone ({single})");

    // The refusal is remembered: the next rollout watches its object at once.
    cluster
        .apply(&[app("app-a", "nginx:1.26", None)], ApplyOptions::default())
        .await?;
    assert_eq!(watch(&cluster, "app-a").await, Ok(succeeded("app-a")));
    assert_eq!(refusals.load(Ordering::SeqCst), refused);
    assert_eq!(cluster.shared_watches(), 0);
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_workload_deleted_during_a_shared_watch_ends_only_its_own_rollout() -> TestResult {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Api, DeleteParams};

    let h = Harness::start().await?;
    h.sim.control().pause_controllers();
    h.cluster
        .apply(
            &[app("app-a", "nginx:1.25", None), app("app-b", "nginx:1.25", None)],
            ApplyOptions::default(),
        )
        .await?;
    let both = async { tokio::join!(watch(&h.cluster, "app-a"), watch(&h.cluster, "app-b")) };
    tokio::pin!(both);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut both)
            .await
            .is_err()
    );
    let deployments: Api<Deployment> = Api::namespaced(h.kube_client().await?, "default");
    deployments.delete("app-a", &DeleteParams::default()).await?;
    h.sim.control().resume_controllers();
    let (a, b) = both.await;
    assert_eq!(
        a,
        Err(ClusterError::Deleted {
            object: "Deployment/app-a".to_owned()
        })
    );
    assert_eq!(b, Ok(succeeded("app-b")));
    h.sim.shutdown().await;
    Ok(())
}
