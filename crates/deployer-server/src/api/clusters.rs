//! `GET /api/v1/clusters`: the configured clusters, whether they answer, their applications
//! and the images those run.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use deployer_core::model::ClusterKey;
use deployer_core::ports::RepoError;
use futures_util::StreamExt;
use serde::Serialize;

use super::error::ApiError;
use super::state::AppState;

/// How many application files of one cluster are read at once.
const READS_AT_ONCE: usize = 8;

/// How long a cluster gets to answer the reachability probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The listing.
#[derive(Debug, Serialize)]
pub struct ClusterList {
    /// Every configured cluster, by region then name.
    pub clusters: Vec<ClusterView>,
}

/// One cluster.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    /// The region.
    pub region: String,
    /// The cluster.
    pub cluster: String,
    /// Whether credentials for it are configured (`[[clusters]]`). A cluster found only in the
    /// repository layout is listed with `false`: `commit-only` deploys still work for it (a
    /// GitOps tool syncs it), the other methods need credentials.
    pub configured: bool,
    /// Whether its API server answered (always `false` when not configured).
    pub reachable: bool,
    /// The application files of `<region>/<cluster>/apps/`.
    pub apps: Vec<AppView>,
}

/// One application file.
#[derive(Debug, Serialize)]
pub struct AppView {
    /// The file's stem, as used in deploy requests.
    pub file: String,
    /// The repository path.
    pub path: String,
    /// The images of its workloads.
    pub images: Vec<String>,
    /// Why the images could not be read, if they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AppError>,
    /// The pin that holds the application, if any (automatic triggers leave it alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<super::pins::PinView>,
}

/// Why an application's images are missing.
#[derive(Debug, Serialize)]
pub struct AppError {
    /// A stable code.
    pub code: String,
    /// What happened.
    pub message: String,
}

/// Splits `<region>/<cluster>/apps/<stem>.yaml` into its cluster and stem.
pub fn app_path(path: &str) -> Option<(String, String, String)> {
    let mut parts = path.split('/');
    let (region, cluster, apps, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if apps != "apps" || parts.next().is_some() {
        return None;
    }
    let stem = file.strip_suffix(".yaml").or_else(|| file.strip_suffix(".yml"))?;
    Some((region.to_owned(), cluster.to_owned(), stem.to_owned()))
}

fn repo_error(e: RepoError) -> ApiError {
    if e.retryable() {
        ApiError::unavailable(
            "repo_unavailable",
            "the configuration repository is unavailable",
            Some(e.to_string()),
            Duration::from_secs(10),
        )
    } else {
        ApiError::internal(e.to_string())
    }
}

async fn app(state: &AppState, path: String, file: String) -> AppView {
    let (images, error) = match state.repo.read_file(&path, false).await {
        Ok(Some(f)) => match state.manifests.images(&f.content) {
            Ok(images) => (images, None),
            Err(e) => (
                Vec::new(),
                Some(AppError {
                    code: e.code,
                    message: e.message,
                }),
            ),
        },
        Ok(None) => (
            Vec::new(),
            Some(AppError {
                code: "file_not_found".to_owned(),
                message: "the file is gone".to_owned(),
            }),
        ),
        Err(e) => {
            tracing::warn!(message = "Application file unreadable.", path = %path, error = %e);
            (
                Vec::new(),
                Some(AppError {
                    code: e.kind().to_owned(),
                    message: "the file could not be read".to_owned(),
                }),
            )
        }
    };
    AppView {
        file,
        path,
        images,
        error,
        pin: None,
    }
}

async fn cluster(state: &AppState, key: ClusterKey, files: Vec<(String, String)>) -> ClusterView {
    let configured = state.clusters.cluster(&key);
    let reachable = match &configured {
        Some(c) => tokio::time::timeout(PROBE_TIMEOUT, c.reachable())
            .await
            .unwrap_or(false),
        None => false,
    };
    let apps = futures_util::stream::iter(files)
        .map(|(path, file)| app(state, path, file))
        .buffered(READS_AT_ONCE)
        .collect()
        .await;
    ClusterView {
        region: key.region.to_string(),
        cluster: key.cluster.to_string(),
        configured: configured.is_some(),
        reachable,
        apps,
    }
}

/// Lists the clusters.
pub async fn clusters(State(state): State<AppState>) -> Result<Json<ClusterList>, ApiError> {
    let paths = state.repo.list_app_files().await.map_err(repo_error)?;
    let mut keys = state.clusters.keys();
    keys.sort();
    let mut by_cluster: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for path in paths {
        if let Some((region, cluster, stem)) = app_path(&path) {
            by_cluster.entry((region, cluster)).or_default().push((path, stem));
        }
    }
    // Clusters found only in the repository layout are listed too, after the configured ones.
    let mut discovered: Vec<ClusterKey> = by_cluster
        .keys()
        .filter_map(|(region, cluster)| format!("{region}/{cluster}").parse::<ClusterKey>().ok())
        .filter(|k| !keys.contains(k))
        .collect();
    discovered.sort();
    keys.extend(discovered);
    let views = keys.into_iter().map(|key| {
        let mut files = by_cluster
            .remove(&(key.region.to_string(), key.cluster.to_string()))
            .unwrap_or_default();
        files.sort();
        cluster(&state, key, files)
    });
    let mut clusters = futures_util::future::join_all(views).await;
    let pins = state.pins.list_pins().await?;
    for pin in &pins {
        let app = clusters
            .iter_mut()
            .filter(|c| c.region == pin.target.region.as_str() && c.cluster == pin.target.cluster.as_str())
            .flat_map(|c| c.apps.iter_mut())
            .find(|a| a.file == pin.target.file.as_str());
        if let Some(app) = app {
            app.pin = Some(super::pins::PinView::from(pin));
        }
    }
    Ok(Json(ClusterList { clusters }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_paths_are_split_into_cluster_and_stem() {
        assert_eq!(
            app_path("us-west-2/prod-1/apps/api.yaml"),
            Some(("us-west-2".to_owned(), "prod-1".to_owned(), "api".to_owned()))
        );
        assert_eq!(app_path("us-west-2/prod-1/apps/nested/api.yaml"), None);
        assert_eq!(app_path("us-west-2/prod-1/other/api.yaml"), None);
        assert_eq!(app_path("us-west-2/prod-1/apps/README.md"), None);
    }
}
