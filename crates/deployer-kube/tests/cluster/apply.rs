//! Server-side apply: namespaces, dry runs, refusals and conflicts.

use deployer_core::ports::{ApplyOptions, Cluster, ClusterError};
use deployer_kube::KubeCluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::support::{Harness, TestResult, deploy, fixture, settings, web, web_app};

#[tokio::test]
async fn applying_a_file_creates_every_object_in_the_default_namespace() -> TestResult {
    let h = Harness::start().await?;
    let applied = h
        .cluster
        .apply(&fixture("web-app.yaml"), ApplyOptions::default())
        .await?;
    let names: Vec<(String, String, String)> = applied
        .iter()
        .map(|o| (o.kind.clone(), o.namespace.clone(), o.name.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("ConfigMap".to_owned(), "default".to_owned(), "web-config".to_owned()),
            ("Deployment".to_owned(), "default".to_owned(), "web".to_owned()),
            ("Service".to_owned(), "default".to_owned(), "web".to_owned()),
        ]
    );
    assert_eq!(applied[1].generation, 1);
    let requests = h.sim.control().requests();
    let patches: Vec<&serde_json::Value> = requests.iter().filter(|r| r["method"] == "PATCH").collect();
    assert_eq!(patches.len(), 3, "one apply per document: {requests:?}");
    for p in patches {
        let query = p["query"].as_str().unwrap_or_default();
        assert!(query.contains("fieldManager=k8s-app-deployer"), "{p}");
        assert!(!query.contains("force=true") && !query.contains("dryRun"), "{p}");
    }
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn applying_the_same_file_again_changes_nothing() -> TestResult {
    let h = Harness::start().await?;
    let first = h
        .cluster
        .apply(&fixture("web-app.yaml"), ApplyOptions::default())
        .await?;
    let second = h
        .cluster
        .apply(&fixture("web-app.yaml"), ApplyOptions::default())
        .await?;
    assert_eq!(first, second, "a repeated apply keeps the generation");
    let requests = h.sim.control().requests();
    let fetched = |path: &str| {
        requests
            .iter()
            .filter(|r| r["method"] == "GET" && r["path"] == path)
            .count()
    };
    assert_eq!(
        (fetched("/api/v1"), fetched("/apis/apps/v1")),
        (1, 1),
        "discovery is cached: {requests:?}"
    );
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_dry_run_persists_nothing() -> TestResult {
    let h = Harness::start().await?;
    let dry = ApplyOptions {
        dry_run: true,
        force: false,
    };
    let applied = h.cluster.apply(&fixture("web-app.yaml"), dry).await?;
    assert_eq!(applied.len(), 3);
    assert_eq!(
        h.cluster.workload_status(&web()).await?,
        None,
        "a dry run must not create the Deployment"
    );

    deploy(&h, &web_app("nginx:1.25", None)).await?;
    h.cluster.apply(&web_app("nginx:1.26", None), dry).await?;
    let deployments: Api<Deployment> = Api::namespaced(h.kube_client().await?, "default");
    let stored = deployments.get("web").await?;
    let image = stored
        .spec
        .template
        .spec
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()));
    assert_eq!(
        image.as_deref(),
        Some("nginx:1.25"),
        "a dry run must not change the image"
    );
    assert_eq!(stored.metadata.generation, Some(1));
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_invalid_manifest_is_rejected_with_the_api_servers_message() -> TestResult {
    let h = Harness::start().await?;
    let err = h
        .cluster
        .apply(&fixture("web-selector-mismatch.yaml"), ApplyOptions::default())
        .await;
    let Err(ClusterError::Rejected { object, code, message }) = err else {
        panic!("expected a rejection, got {err:?}");
    };
    assert_eq!((object.as_str(), code), ("Deployment/web", 422));
    assert!(message.starts_with("Deployment.apps \"web\" is invalid"), "{message}");
    assert!(
        message.contains("`selector` does not match template `labels`"),
        "{message}"
    );
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_field_owned_by_another_manager_conflicts_unless_forced() -> TestResult {
    let h = Harness::start().await?;
    deploy(&h, &web_app("nginx:1.25", None)).await?;
    let deployments: Api<Deployment> = Api::namespaced(h.kube_client().await?, "default");
    let scale =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    deployments
        .patch("web", &PatchParams::apply("autoscaler").force(), &Patch::Apply(&scale))
        .await?;

    let err = h
        .cluster
        .apply(&web_app("nginx:1.25", None), ApplyOptions::default())
        .await;
    let Err(ClusterError::Rejected { object, code, message }) = err else {
        panic!("expected a conflict, got {err:?}");
    };
    assert_eq!((object.as_str(), code), ("Deployment/web", 409));
    assert!(message.contains("conflict with \"autoscaler\""), "{message}");
    assert!(message.contains(".spec.replicas"), "{message}");

    let forced = ApplyOptions {
        dry_run: false,
        force: true,
    };
    h.cluster.apply(&web_app("nginx:1.25", None), forced).await?;
    assert_eq!(deployments.get("web").await?.spec.replicas, Some(2));
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_kind_the_cluster_does_not_serve_is_an_unknown_kind() -> TestResult {
    let h = Harness::start().await?;
    let err = h
        .cluster
        .apply(&fixture("widget-unknown-kind.yaml"), ApplyOptions::default())
        .await;
    assert_eq!(
        err,
        Err(ClusterError::UnknownKind {
            api_version: "example.com/v1".to_owned(),
            kind: "Widget".to_owned()
        })
    );
    let core_widget = json!({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}});
    let err = h.cluster.apply(&[core_widget], ApplyOptions::default()).await;
    assert_eq!(
        err,
        Err(ClusterError::UnknownKind {
            api_version: "v1".to_owned(),
            kind: "Widget".to_owned()
        })
    );
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_namespace_named_by_the_manifest_is_kept() -> TestResult {
    let h = Harness::start().await?;
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}});
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"}, "data": {"k": "v"}});
    let applied = h.cluster.apply(&[namespace, config], ApplyOptions::default()).await?;
    assert_eq!(applied[0].namespace, "", "a Namespace is cluster-scoped");
    assert_eq!(applied[1].namespace, "team-a");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn objects_without_a_namespace_go_to_the_clusters_configured_namespace() -> TestResult {
    let h = Harness::start().await?;
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}});
    h.cluster.apply(&[namespace], ApplyOptions::default()).await?;
    let mut team_b = settings(h.kubeconfig.clone());
    team_b.namespace = "team-b".to_owned();
    let cluster = KubeCluster::connect(&team_b, 0, None).await?;
    assert_eq!(cluster.default_namespace(), "team-b");
    let applied = cluster.apply(&fixture("web-app.yaml"), ApplyOptions::default()).await?;
    assert!(applied.iter().all(|o| o.namespace == "team-b"), "{applied:?}");
    let configs: Api<ConfigMap> = Api::namespaced(h.kube_client().await?, "team-b");
    assert!(configs.get_opt("web-config").await?.is_some());
    let in_default: Api<ConfigMap> = Api::namespaced(h.kube_client().await?, "default");
    assert!(in_default.get_opt("web-config").await?.is_none());
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn answers_far_bigger_than_a_connections_read_buffer_are_read_whole() -> TestResult {
    // The connections to a cluster read through a fixed 8 KiB buffer: the apply's answer, a
    // 600 KB ConfigMap, takes many reads and must still come back whole (and be stored whole).
    let h = Harness::start().await?;
    let value: String = (0..600_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let documents = vec![json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big"},
        "data": {"blob": value},
    })];
    let applied = h.cluster.apply(&documents, ApplyOptions::default()).await?;
    assert_eq!(applied.len(), 1);
    assert_eq!(
        (applied[0].kind.as_str(), applied[0].name.as_str()),
        ("ConfigMap", "big")
    );
    let again = h.cluster.apply(&documents, ApplyOptions::default()).await?;
    assert_eq!(applied, again, "the same bytes applied again change nothing");
    let stored: Api<ConfigMap> = Api::namespaced(h.kube_client().await?, "default");
    let blob = stored.get("big").await?.data.and_then(|mut d| d.remove("blob"));
    assert_eq!(blob.as_deref(), Some(value.as_str()));
    h.sim.shutdown().await;
    Ok(())
}
