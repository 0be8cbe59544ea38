//! kube-rs against an in-process [`SimCluster`]: typed and dynamic APIs, server-side apply,
//! discovery, and a watcher/reflector that must survive a forced 410 and dropped connections.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Config, Discovery, ResourceExt};
use kube_sim::server::{FaultCode, Faults, SimCluster, SimOptions, Verb, VerbFault};
use serde_json::json;

async fn start() -> SimCluster {
    SimCluster::start(SimOptions::named("kube-rs-test"))
        .await
        .expect("the simulated cluster starts")
}

async fn client(cluster: &SimCluster) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&cluster.kubeconfig()).expect("the kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("the kubeconfig is usable");
    Client::try_from(config).expect("a client can be built")
}

fn web() -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
        }
    })
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn typed_deployments_can_be_applied_read_listed_and_deleted() {
    let cluster = start().await;
    let api: Api<Deployment> = Api::namespaced(client(&cluster).await, "default");
    let applied = api
        .patch("web", &PatchParams::apply("deployer"), &Patch::Apply(web()))
        .await
        .expect("server-side apply succeeds");
    assert_eq!(applied.metadata.generation, Some(1));
    let fetched = api.get("web").await.expect("the deployment can be read");
    let fetched = serde_json::to_value(&fetched).expect("a deployment serialises");
    assert_eq!(fetched.pointer("/spec/replicas"), Some(&json!(2)));
    assert_eq!(fetched.pointer("/spec/progressDeadlineSeconds"), Some(&json!(600)));
    let listed = api
        .list(&ListParams::default())
        .await
        .expect("deployments can be listed");
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());

    eventually("two available replicas", || async {
        let status = api.get("web").await.ok().and_then(|d| serde_json::to_value(d).ok());
        status.and_then(|d| d.pointer("/status/availableReplicas").cloned()) == Some(json!(2))
    })
    .await;

    let missing = api.get("nope").await.err();
    match missing {
        Some(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
            assert_eq!(status.message, "deployments.apps \"nope\" not found");
        }
        other => panic!("expected a NotFound status, got {other:?}"),
    }

    let deleted = api
        .delete("web", &DeleteParams::default())
        .await
        .expect("the deployment can be deleted");
    assert!(deleted.is_right(), "deleting a deployment answers with a Status");
    assert!(api.get_opt("web").await.expect("a get can be made").is_none());
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_reflector_survives_a_forced_expiry_and_dropped_connections() {
    let cluster = start().await;
    let client = client(&cluster).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    let driver = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {}
    });
    let names = || reader.state().iter().map(|c| c.name_any()).collect::<BTreeSet<_>>();
    let create = |name: &'static str| {
        let api = api.clone();
        async move {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}});
            api.patch(name, &PatchParams::apply("test"), &Patch::Apply(cm))
                .await
                .expect("apply succeeds");
        }
    };

    create("first").await;
    eventually("the reflector to see the first config map", || async {
        names().contains("first")
    })
    .await;

    // Keep the watcher away (503 on watch), move on and compact, then let it back in: its
    // resourceVersion is now too old, so it gets 410 Expired and must list again.
    let mut faults = Faults::default();
    faults.verbs.insert(
        Verb::Watch,
        VerbFault {
            rate: 1.0,
            code: FaultCode::Unavailable,
            retry_after_seconds: None,
        },
    );
    cluster.control().set_faults(faults);
    cluster.control().drop_watches();
    create("second").await;
    cluster.control().compact();
    tokio::time::sleep(Duration::from_millis(100)).await;
    cluster.control().set_faults(Faults::default());
    eventually("the reflector to relist after 410", || async {
        names().contains("second")
    })
    .await;

    cluster.control().drop_watches();
    create("third").await;
    eventually("the reflector to re-watch after a dropped connection", || async {
        names().contains("third")
    })
    .await;

    let lists = cluster
        .control()
        .requests()
        .iter()
        .filter(|r| {
            r["path"] == "/api/v1/namespaces/default/configmaps"
                && !r["query"].as_str().unwrap_or("").contains("watch=true")
        })
        .count();
    assert!(
        lists >= 2,
        "the watcher should have listed again after the 410 (lists: {lists})"
    );
    driver.abort();
    cluster.shutdown().await;
}

#[tokio::test]
async fn discovery_finds_every_served_kind_both_ways() {
    let cluster = start().await;
    let client = client(&cluster).await;
    let expected: BTreeSet<&str> = [
        "ConfigMap",
        "Deployment",
        "Event",
        "Namespace",
        "Pod",
        "ReplicaSet",
        "Secret",
        "Service",
    ]
    .into();
    let kinds = |discovery: &Discovery| {
        discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .map(|(ar, _)| ar.kind)
            .collect::<BTreeSet<_>>()
    };
    let legacy = Discovery::new(client.clone())
        .run()
        .await
        .expect("legacy discovery succeeds");
    let found = kinds(&legacy);
    assert!(expected.iter().all(|k| found.contains(*k)), "{found:?}");
    let aggregated = Discovery::new(client)
        .run_aggregated()
        .await
        .expect("aggregated discovery succeeds");
    let found = kinds(&aggregated);
    assert!(expected.iter().all(|k| found.contains(*k)), "{found:?}");
    let (deployments, caps) = aggregated
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .expect("deployments are discoverable");
    assert_eq!(deployments.plural, "deployments");
    assert!(
        caps.subresources
            .iter()
            .any(|(sub, _)| sub.plural == "deployments/scale" || sub.plural == "scale")
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn dynamic_objects_are_applied_and_conflicts_are_reported() {
    let cluster = start().await;
    let client = client(&cluster).await;
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"));
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let object = DynamicObject::new("dyn", &resource).data(json!({"data": {"a": "1"}}));
    let applied = api
        .patch("dyn", &PatchParams::apply("owner"), &Patch::Apply(&object))
        .await
        .expect("a dynamic apply succeeds");
    assert_eq!(applied.data["data"]["a"], "1");

    let rival = DynamicObject::new("dyn", &resource).data(json!({"data": {"a": "2"}}));
    match api
        .patch("dyn", &PatchParams::apply("rival"), &Patch::Apply(&rival))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
            assert_eq!(
                status.message,
                "Apply failed with 1 conflict: conflict with \"owner\": .data.a"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = api
        .patch("dyn", &PatchParams::apply("rival").force(), &Patch::Apply(&rival))
        .await
        .expect("a forced apply succeeds");
    assert_eq!(forced.data["data"]["a"], "2");
    cluster.shutdown().await;
}

#[tokio::test]
async fn one_kubeconfig_reaches_several_clusters_by_context() {
    let a = SimCluster::start(SimOptions::named("eu-west-1a"))
        .await
        .expect("cluster a starts");
    let b = SimCluster::start(SimOptions::named("eu-west-1b"))
        .await
        .expect("cluster b starts");
    let text = kube_sim::server::kubeconfig_for(&[&a, &b]);
    let kubeconfig = Kubeconfig::from_yaml(&text).expect("the kubeconfig parses");
    assert_eq!(kubeconfig.current_context.as_deref(), Some("eu-west-1a"));
    let options = KubeConfigOptions {
        context: Some("eu-west-1b".to_string()),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("context b is usable");
    assert_eq!(config.cluster_url.to_string().trim_end_matches('/'), b.url());
    let client = Client::try_from(config).expect("a client can be built");
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "only-in-b"}});
    api.patch("only-in-b", &PatchParams::apply("test"), &Patch::Apply(cm))
        .await
        .expect("apply succeeds");
    let in_a = a.control().store().dump().get("configmaps").map(Vec::len).unwrap_or(0);
    let in_b = b.control().store().dump().get("configmaps").map(Vec::len).unwrap_or(0);
    assert_eq!((in_a, in_b), (0, 1));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn the_secured_mode_works_with_kube_rs_and_rejects_other_tokens() {
    let options = SimOptions {
        tls: true,
        token: Some("s3cret".to_string()),
        ..SimOptions::named("secure")
    };
    let cluster = SimCluster::start(options).await.expect("the secured cluster starts");
    assert!(cluster.url().starts_with("https://127.0.0.1:"));
    let api: Api<ConfigMap> = Api::namespaced(client(&cluster).await, "default");
    assert!(
        api.list(&ListParams::default()).await.is_ok(),
        "TLS and the token are accepted"
    );

    let wrong = cluster.kubeconfig().replace("s3cret", "wrong");
    let config = Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(&wrong).expect("parses"),
        &KubeConfigOptions::default(),
    )
    .await
    .expect("the kubeconfig is usable");
    let api: Api<ConfigMap> = Api::namespaced(Client::try_from(config).expect("a client can be built"), "default");
    match api.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized")),
        other => panic!("expected 401, got {other:?}"),
    }
    cluster.shutdown().await;
}
