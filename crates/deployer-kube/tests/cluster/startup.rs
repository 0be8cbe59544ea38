//! Start-up: every cluster entry is checked and its problems name the setting at fault.

use deployer_core::model::ClusterName;
use deployer_core::ports::ClusterDirectory;
use deployer_kube::{ClusterSettings, KubeClusters, StartupError};

use crate::support::{Harness, TestResult, cluster_name, region, settings};

fn error_text<T: std::fmt::Debug>(result: Result<T, StartupError>) -> String {
    match result {
        Ok(v) => panic!("expected a start-up error, got {v:?}"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn every_configured_cluster_is_in_the_directory() -> TestResult {
    let h = Harness::start().await?;
    let mut second = settings(h.kubeconfig.clone());
    second.cluster = ClusterName::new("sim-b")?;
    let directory = KubeClusters::connect(&[settings(h.kubeconfig.clone()), second.clone()]).await?;
    assert_eq!(
        directory.keys(),
        vec![settings(h.kubeconfig.clone()).key(), second.key()]
    );
    let cluster = directory
        .cluster(&second.key())
        .unwrap_or_else(|| panic!("sim-b is configured"));
    assert!(cluster.reachable().await);
    assert_eq!(cluster.default_namespace(), "default");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_broken_kubeconfig_names_its_key_and_hides_its_token() -> TestResult {
    let h = Harness::start().await?;
    let dir = tempfile::tempdir()?;
    let broken = dir.path().join("broken");
    std::fs::write(
        &broken,
        "apiVersion: v1\nkind: Config\nusers:\n- name: x\n  user:\n    token: [\"tok-abcdef-123456\"\nclusters: {",
    )?;
    let mut second = settings(broken);
    second.cluster = ClusterName::new("sim-b")?;
    let text = error_text(KubeClusters::connect(&[settings(h.kubeconfig.clone()), second]).await);
    assert!(text.contains("clusters[1].kubeconfig"), "{text}");
    assert!(!text.contains("tok-abcdef-123456"), "{text}");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_missing_kubeconfig_file_names_its_key() {
    let text = error_text(KubeClusters::connect(&[settings("/nonexistent/kubeconfig".into())]).await);
    assert!(text.contains("clusters[0].kubeconfig"), "{text}");
    assert!(text.contains("/nonexistent/kubeconfig"), "{text}");
}

#[tokio::test]
async fn a_context_that_does_not_exist_names_the_context_key() -> TestResult {
    let h = Harness::start().await?;
    let mut s = settings(h.kubeconfig.clone());
    s.context = Some("nope".to_owned());
    let text = error_text(KubeClusters::connect(&[s]).await);
    assert!(text.contains("clusters[0].context"), "{text}");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_kubeconfig_that_skips_tls_verification_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("insecure");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\n\
         users:\n- name: u\n  user:\n    token: abcdefgh12345678\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
    )?;
    let text = error_text(KubeClusters::connect(&[settings(path)]).await);
    assert!(
        text.contains("clusters[0].kubeconfig") && text.contains("insecure-skip-tls-verify"),
        "{text}"
    );
    assert!(!text.contains("abcdefgh12345678"), "{text}");
    Ok(())
}

#[tokio::test]
async fn the_same_cluster_twice_is_refused() -> TestResult {
    let h = Harness::start().await?;
    let text =
        error_text(KubeClusters::connect(&[settings(h.kubeconfig.clone()), settings(h.kubeconfig.clone())]).await);
    assert!(text.contains("clusters[1]") && text.contains("clusters[0]"), "{text}");
    h.sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_tilde_in_the_kubeconfig_path_is_the_home_directory() -> TestResult {
    let s: ClusterSettings = serde_json::from_value(serde_json::json!({
        "region": region().as_str(), "cluster": cluster_name().as_str(), "kubeconfig": "~/.kube/config", "namespace": "team-a"
    }))?;
    let source = s.source(0, Some(std::path::Path::new("/home/ops")))?;
    assert_eq!(
        source,
        deployer_kube::settings::Source::Kubeconfig {
            path: "/home/ops/.kube/config".into(),
            context: None
        }
    );
    Ok(())
}
