//! [`KubeClusters`](crate::KubeClusters): every configured cluster, behind the
//! [`ClusterDirectory`](deployer_core::ports::ClusterDirectory) port.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use deployer_core::model::ClusterKey;
use deployer_core::ports::{Cluster, ClusterDirectory};

use crate::cluster::KubeCluster;
use crate::settings::ClusterSettings;
use crate::startup::{Shared, StartupError};

/// The configured clusters, each with its client built at start-up.
#[derive(Debug, Default)]
pub struct KubeClusters {
    clusters: BTreeMap<ClusterKey, Arc<KubeCluster>>,
}

impl KubeClusters {
    /// Builds a client for every entry of the `clusters` list. `~` in kubeconfig paths is the
    /// `HOME` directory, read once here.
    ///
    /// # Errors
    /// The first entry's [`StartupError`], naming its key (`clusters[1].kubeconfig`), or
    /// [`StartupError::DuplicateCluster`] when two entries name the same pair.
    pub async fn connect(settings: &[ClusterSettings]) -> Result<Self, StartupError> {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let mut clusters = BTreeMap::new();
        let mut positions: BTreeMap<ClusterKey, usize> = BTreeMap::new();
        let mut shared = Shared::default();
        for (index, entry) in settings.iter().enumerate() {
            if let Some(first) = positions.get(&entry.key()) {
                return Err(StartupError::DuplicateCluster {
                    index,
                    first: *first,
                    key: entry.key(),
                });
            }
            positions.insert(entry.key(), index);
            let cluster = KubeCluster::connect_shared(entry, index, home.as_deref(), &mut shared).await?;
            clusters.insert(entry.key(), Arc::new(cluster));
        }
        Ok(Self { clusters })
    }

    /// A directory of clusters built elsewhere.
    pub fn from_clusters(clusters: impl IntoIterator<Item = KubeCluster>) -> Self {
        Self {
            clusters: clusters.into_iter().map(|c| (c.key().clone(), Arc::new(c))).collect(),
        }
    }
}

impl ClusterDirectory for KubeClusters {
    fn cluster(&self, key: &ClusterKey) -> Option<Arc<dyn Cluster>> {
        self.clusters.get(key).map(|c| Arc::clone(c) as Arc<dyn Cluster>)
    }

    fn keys(&self) -> Vec<ClusterKey> {
        self.clusters.keys().cloned().collect()
    }
}
