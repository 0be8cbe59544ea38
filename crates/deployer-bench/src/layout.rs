//! What a benchmark world holds: clusters, applications, and the manifest of each.
//!
//! Pure: names, paths and file contents, no I/O.

use serde::Serialize;

/// One simulated cluster as the deployer knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSpec {
    /// The region (first directory level of the configuration repository).
    pub region: String,
    /// The cluster (second level).
    pub cluster: String,
}

impl ClusterSpec {
    /// The kubeconfig context (and kube-sim cluster name): `<region>-<cluster>`.
    pub fn context(&self) -> String {
        format!("{}-{}", self.region, self.cluster)
    }
}

/// One application: a Deployment in one cluster, in its own file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    /// Index into the world's clusters.
    pub cluster: usize,
    /// The file stem and the Deployment's name (`app-00042`).
    pub name: String,
}

/// `count` clusters, ten per region: `bench-0/c000` … `bench-1/c010` ….
pub fn clusters(count: usize) -> Vec<ClusterSpec> {
    (0..count)
        .map(|i| ClusterSpec {
            region: format!("bench-{}", i / 10),
            cluster: format!("c{i:03}"),
        })
        .collect()
}

/// `count` applications spread round-robin over `clusters` clusters.
pub fn apps(count: usize, clusters: usize) -> Vec<App> {
    (0..count)
        .map(|i| App {
            cluster: i % clusters.max(1),
            name: format!("app-{i:05}"),
        })
        .collect()
}

/// The repository path of an application's file.
pub fn app_path(cluster: &ClusterSpec, app: &str) -> String {
    format!("{}/{}/apps/{app}.yaml", cluster.region, cluster.cluster)
}

/// The image repository of an application.
pub fn image_repository(app: &str) -> String {
    format!("registry.bench.local/team/{app}")
}

/// The tag of the `n`th deploy of a run (`v1`, `v2`, …); the seeded files carry `v0`.
pub fn tag(n: usize) -> String {
    format!("v{n}")
}

/// The manifest of an application at `tag`: one Deployment with one replica.
pub fn manifest(app: &str, tag: &str) -> String {
    format!(
        "# {app}: managed by k8s-app-deployer; only the image tag is edited.\n\
apiVersion: apps/v1\n\
kind: Deployment\n\
metadata:\n\
\x20 name: {app}\n\
\x20 labels:\n\
\x20   app: {app}\n\
spec:\n\
\x20 replicas: 1\n\
\x20 selector:\n\
\x20   matchLabels:\n\
\x20     app: {app}\n\
\x20 template:\n\
\x20   metadata:\n\
\x20     labels:\n\
\x20       app: {app}\n\
\x20   spec:\n\
\x20     containers:\n\
\x20       - name: app\n\
\x20         image: {repo}:{tag}\n\
\x20         ports:\n\
\x20           - containerPort: 8080\n",
        repo = image_repository(app),
    )
}

/// A manifest of `lines` lines or so with `documents` YAML documents: a Deployment whose image
/// is edited, then Services and ConfigMaps (for the micro-benchmark of tag edits).
pub fn large_manifest(app: &str, tag: &str, documents: usize, lines: usize) -> String {
    let mut out = String::from("---\n");
    out.push_str(&manifest(app, tag));
    let mut doc = 1;
    while doc < documents.max(2) {
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {app}-{doc}\n  labels:\n    app: {app}\nspec:\n  selector:\n    app: {app}\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n"
        ));
        doc += 1;
    }
    let mut key = 0;
    out.push_str(&format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}-config\ndata:\n"
    ));
    while out.lines().count() < lines {
        out.push_str(&format!("  SETTING_{key:04}: \"value {key} for {app}\"\n"));
        key += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_grouped_ten_to_a_region() {
        let c = clusters(12);
        assert_eq!(c[0].context(), "bench-0-c000");
        assert_eq!(c[11].context(), "bench-1-c011");
    }

    #[test]
    fn apps_are_spread_round_robin() {
        let a = apps(5, 2);
        assert_eq!(a.iter().map(|a| a.cluster).collect::<Vec<_>>(), vec![0, 1, 0, 1, 0]);
        assert_eq!(a[4].name, "app-00004");
    }

    #[test]
    fn the_manifest_names_its_image_with_the_tag() {
        let m = manifest("app-00001", "v7");
        assert!(m.contains("image: registry.bench.local/team/app-00001:v7\n"));
    }

    #[test]
    fn a_large_manifest_has_the_lines_and_documents_asked_for() {
        let m = large_manifest("web", "v1", 6, 300);
        assert_eq!(m.lines().count(), 300);
        assert_eq!(m.matches("\n---\n").count() + 1, 7);
    }
}
