//! A cluster reached over TLS with a bearer token, as real clusters are.

use std::time::Duration;

use deployer_core::ports::{ApplyOptions, Cluster, ClusterError};
use deployer_core::rollout::RolloutVerdict;
use deployer_kube::{KubeCluster, RetryPolicy};
use kube_sim::server::SimOptions;

use crate::support::{Harness, Recorder, TestResult, fixture, settings, web};

const TOKEN: &str = "sim-token-3f9a7c51e2";

fn secured() -> SimOptions {
    SimOptions {
        tls: true,
        token: Some(TOKEN.to_owned()),
        ..SimOptions::named("secure-a")
    }
}

#[tokio::test]
async fn a_tls_and_token_secured_cluster_works_with_its_kubeconfig() -> TestResult {
    let h = Harness::start_with(secured()).await?;
    assert!(h.cluster.server().starts_with("https://"), "{}", h.cluster.server());
    assert!(h.cluster.reachable().await);
    h.cluster
        .apply(&fixture("web-app.yaml"), ApplyOptions::default())
        .await?;
    let verdict = h.watch(&web(), &Recorder::default()).await?;
    assert!(matches!(verdict, RolloutVerdict::Succeeded { .. }), "{verdict:?}");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_wrong_token_is_refused_without_showing_any_token() -> TestResult {
    let h = Harness::start_with(secured()).await?;
    let wrong = "wrong-token-aa11bb22cc33";
    let kubeconfig = h.kubeconfig.with_file_name("wrong-token");
    std::fs::write(&kubeconfig, h.sim.kubeconfig().replace(TOKEN, wrong))?;
    let cluster = KubeCluster::connect(&settings(kubeconfig), 0, None).await?;
    let err = cluster.apply(&fixture("web-app.yaml"), ApplyOptions::default()).await;
    let Err(ClusterError::Rejected { code, message, .. }) = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(*code, 401);
    let shown = format!("{err:?}");
    assert!(!shown.contains(wrong) && !shown.contains(TOKEN), "{shown}");
    assert!(!message.is_empty());
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_unreachable_at_once_and_never_retried() -> TestResult {
    let h = Harness::start_with(secured()).await?;
    // The kubeconfig of another TLS cluster: its CA did not sign this server's certificate.
    let other = kube_sim::server::SimCluster::start(SimOptions {
        tls: true,
        ..SimOptions::named("other")
    })
    .await?;
    let ca_line = |text: &str| {
        text.lines()
            .find(|l| l.contains("certificate-authority-data"))
            .map(str::to_owned)
    };
    let kubeconfig_text = h.sim.kubeconfig();
    let (Some(ours), Some(theirs)) = (ca_line(&kubeconfig_text), ca_line(&other.kubeconfig())) else {
        panic!("both kubeconfigs carry a CA");
    };
    let kubeconfig = h.kubeconfig.with_file_name("wrong-ca");
    std::fs::write(&kubeconfig, kubeconfig_text.replace(&ours, &theirs))?;
    // A long first back-off: a retried handshake would show in the elapsed time.
    let patient = RetryPolicy {
        initial_delay: Duration::from_secs(5),
        max_delay: Duration::from_secs(5),
        ..RetryPolicy::default()
    };
    let cluster = KubeCluster::connect(&settings(kubeconfig), 0, None)
        .await?
        .with_retry_policy(patient);
    let started = std::time::Instant::now();
    let err = cluster.apply(&fixture("web-app.yaml"), ApplyOptions::default()).await;
    let Err(ClusterError::Unreachable { message }) = &err else {
        panic!("expected unreachable, got {err:?}");
    };
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "TLS failures are not retried: {message} after {:?}",
        started.elapsed()
    );

    // The watch gives up as well, instead of retrying a handshake that cannot succeed.
    let started = std::time::Instant::now();
    let progress = Recorder::default().callback();
    let watched = tokio::time::timeout(Duration::from_secs(10), cluster.watch_rollout(&web(), &*progress)).await?;
    assert!(matches!(watched, Err(ClusterError::Unreachable { .. })), "{watched:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    other.shutdown().await;
    h.sim.shutdown().await;
    Ok(())
}
