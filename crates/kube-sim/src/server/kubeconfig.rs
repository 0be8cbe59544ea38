//! Kubeconfig files for one or several simulated clusters.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::cluster::SimCluster;

fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A kubeconfig with one cluster, user and context per simulated cluster (each named after
/// the cluster, namespace `default`); the first cluster's context is current.
pub fn kubeconfig_for(clusters: &[&SimCluster]) -> String {
    let mut out = String::from("apiVersion: v1\nkind: Config\npreferences: {}\nclusters:\n");
    for c in clusters {
        let name = quote(c.name());
        out.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {}\n",
            quote(&c.url())
        ));
        if let Some(ca) = c.ca_pem() {
            out.push_str(&format!("    certificate-authority-data: {}\n", STANDARD.encode(ca)));
        }
    }
    out.push_str("users:\n");
    for c in clusters {
        let name = quote(c.name());
        match c.token() {
            Some(token) => out.push_str(&format!("- name: {name}\n  user:\n    token: {}\n", quote(token))),
            None => out.push_str(&format!("- name: {name}\n  user: {{}}\n")),
        }
    }
    out.push_str("contexts:\n");
    for c in clusters {
        let name = quote(c.name());
        out.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: default\n"
        ));
    }
    if let Some(first) = clusters.first() {
        out.push_str(&format!("current-context: {}\n", quote(first.name())));
    } else {
        out.push_str("current-context: \"\"\n");
    }
    out
}
