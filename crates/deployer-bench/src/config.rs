//! The `deployer.toml` a benchmark world runs the deployer with (the format of
//! `k8s-app-deployer serve --config`).

use std::path::Path;

use crate::layout::ClusterSpec;

/// Queue settings that override the service's defaults; `None` keeps the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueOverrides {
    /// `[queue] concurrency`.
    pub concurrency: Option<usize>,
    /// `[queue] cluster_concurrency`.
    pub cluster_concurrency: Option<usize>,
}

/// Everything the configuration names.
#[derive(Debug, Clone)]
pub struct ConfigInputs<'a> {
    /// `127.0.0.1:<port>`.
    pub listen: String,
    /// The bearer token.
    pub token: &'a str,
    /// The bare remote.
    pub remote: &'a Path,
    /// The deployer's own clone.
    pub clone_dir: &'a Path,
    /// The SQLite file.
    pub database: &'a Path,
    /// The kubeconfig holding every cluster's context.
    pub kubeconfig: &'a Path,
    /// The clusters.
    pub clusters: &'a [ClusterSpec],
    /// Queue overrides.
    pub queue: QueueOverrides,
}

fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn path(p: &Path) -> String {
    quoted(&p.to_string_lossy())
}

/// Renders the configuration file.
pub fn render(inputs: &ConfigInputs<'_>) -> String {
    let mut out = format!(
        "# Written by deployer-bench.\n[server]\nlisten = {listen}\nmax_in_flight = 4096\n\n\
[[auth.tokens]]\nname = \"bench\"\ntoken = {token}\n\n\
[git]\nremote = {remote}\nbranch = \"main\"\nclone_dir = {clone}\n\
author_name = \"k8s-app-deployer\"\nauthor_email = \"deployer@bench.invalid\"\n\n\
[store]\nurl = {store}\n",
        listen = quoted(&inputs.listen),
        token = quoted(inputs.token),
        remote = path(inputs.remote),
        clone = path(inputs.clone_dir),
        store = quoted(&format!("sqlite://{}", inputs.database.to_string_lossy())),
    );
    let q = inputs.queue;
    if q.concurrency.is_some() || q.cluster_concurrency.is_some() {
        out.push_str("\n[queue]\n");
        if let Some(c) = q.concurrency {
            out.push_str(&format!("concurrency = {c}\n"));
        }
        if let Some(c) = q.cluster_concurrency {
            out.push_str(&format!("cluster_concurrency = {c}\n"));
        }
    }
    for c in inputs.clusters {
        out.push_str(&format!(
            "\n[[clusters]]\nregion = {}\ncluster = {}\nkubeconfig = {}\ncontext = {}\nnamespace = \"default\"\n",
            quoted(&c.region),
            quoted(&c.cluster),
            path(inputs.kubeconfig),
            quoted(&c.context()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout;

    #[test]
    fn the_configuration_is_valid_toml_with_one_entry_per_cluster() -> anyhow::Result<()> {
        let clusters = layout::clusters(3);
        let text = render(&ConfigInputs {
            listen: "127.0.0.1:1".to_owned(),
            token: "bench-token-0123456789",
            remote: Path::new("/r.git"),
            clone_dir: Path::new("/clone"),
            database: Path::new("/db"),
            kubeconfig: Path::new("/kube"),
            clusters: &clusters,
            queue: QueueOverrides {
                concurrency: Some(128),
                cluster_concurrency: None,
            },
        });
        let value: toml::Table = text.parse()?;
        let listed = value.get("clusters").and_then(toml::Value::as_array).map(Vec::len);
        assert_eq!(listed, Some(3));
        let concurrency = value
            .get("queue")
            .and_then(|q| q.get("concurrency"))
            .and_then(toml::Value::as_integer);
        assert_eq!(concurrency, Some(128));
        Ok(())
    }
}
