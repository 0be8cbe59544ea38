//! The executor over a real clone: a deploy prepares its commit from the local view instead of
//! fetching first, still lands exactly once with the right images when another writer moved
//! the branch, and never concludes "already current" from a view that may be stale.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::Utc;
use common::{Entry, TestResult, World};
use deployer_core::execute::{ExecSettings, Executor, NoNotifier, Ports};
use deployer_core::image::ImageRef;
use deployer_core::model::{
    ClusterKey, DeployRequest, DeploymentEvent, DeploymentId, DeploymentRecord, ImageChange, Method, Source, Status,
    Target,
};
use deployer_core::ports::{
    Cluster, ClusterDirectory, ConfigRepo, DeploymentFilter, Inserted, PageRequest, Store, StoreError, SystemClock,
};
use deployer_git::GitConfigRepo;
use deployer_manifest::ManifestEditor;

const WEB: &str = "eu/prod-a/apps/web.yaml";
const API: &str = "eu/prod-a/apps/api.yaml";

fn manifest(app: &str, tag: &str) -> Vec<u8> {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  template:\n    spec:\n      \
         containers:\n        - name: {app}\n          image: registry.example.com/{app}:{tag}\n"
    )
    .into_bytes()
}

/// Deployment records in memory.
#[derive(Default)]
struct Records(Mutex<HashMap<DeploymentId, DeploymentRecord>>);

impl Records {
    fn put(&self, record: &DeploymentRecord) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record.id, record.clone());
    }
}

#[async_trait]
impl Store for Records {
    async fn insert_deployment(
        &self,
        record: &DeploymentRecord,
        _: &[DeploymentEvent],
    ) -> Result<Inserted, StoreError> {
        self.put(record);
        Ok(Inserted::New)
    }
    async fn update_deployment(&self, record: &DeploymentRecord, _: &[DeploymentEvent]) -> Result<(), StoreError> {
        self.put(record);
        Ok(())
    }
    async fn get_deployment(&self, id: DeploymentId) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned())
    }
    async fn list_deployments(
        &self,
        _: &DeploymentFilter,
        _: &PageRequest,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn unfinished_deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn last_deployment(&self, _: &Target, _: Option<Status>) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(None)
    }
    async fn events(&self, _: DeploymentId, _: i64) -> Result<Vec<DeploymentEvent>, StoreError> {
        Ok(Vec::new())
    }
}

/// No clusters: the deploys here are commit-only.
struct NoClusters;

impl ClusterDirectory for NoClusters {
    fn cluster(&self, _: &ClusterKey) -> Option<Arc<dyn Cluster>> {
        None
    }
    fn keys(&self) -> Vec<ClusterKey> {
        Vec::new()
    }
}

struct Harness {
    world: World,
    repo: Arc<GitConfigRepo>,
    store: Arc<Records>,
    executor: Executor,
}

impl Harness {
    async fn new() -> TestResult<Harness> {
        let web = manifest("web", "v1");
        let api = manifest("api", "v1");
        let world = World::new(&[(WEB, Entry::File(&web)), (API, Entry::File(&api))])?;
        let repo = Arc::new(GitConfigRepo::open(world.settings("clone")?).await?);
        let store = Arc::new(Records::default());
        let ports = Ports {
            repo: repo.clone(),
            clusters: Arc::new(NoClusters),
            store: store.clone(),
            manifests: Arc::new(ManifestEditor::default()),
            clock: Arc::new(SystemClock),
            notifier: Arc::new(NoNotifier),
        };
        let executor = Executor::new(ports, ExecSettings::default());
        Ok(Harness {
            world,
            repo,
            store,
            executor,
        })
    }

    /// Runs a commit-only deploy of `image` to `eu/prod-a/<app>` and returns its final record.
    async fn deploy(&self, app: &str, image: &str) -> TestResult<DeploymentRecord> {
        let image = ImageRef::parse(image)?;
        let request = DeployRequest {
            target: format!("eu/prod-a/{app}").parse()?,
            change: ImageChange::from_ref(&image).ok_or("no tag")?,
            image: Some(image),
            container: None,
            method: Method::CommitOnly,
            reason: None,
            timeout: None,
            source: Source::default(),
            requested_by: "ci".to_owned(),
            idempotency_key: None,
            environment: None,
            force: false,
            rollback_of: None,
        };
        let now = Utc::now();
        let record = DeploymentRecord::accepted(DeploymentId::generate(now), request, now);
        self.store.put(&record);
        Ok(self.executor.run(record.id).await?)
    }

    /// Commits of the remote branch carrying `Deployment-Id: <id>`.
    fn commits_of(&self, id: DeploymentId) -> TestResult<usize> {
        let repo = self.world.remote_repo()?;
        let trailer = format!("Deployment-Id: {id}");
        let mut count = 0;
        for oid in self.world.linear_history()? {
            let commit = repo.find_commit(oid)?;
            if String::from_utf8_lossy(commit.message_bytes()).contains(&trailer) {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Another writer replaces the file at `path` on the remote.
    fn other_writer_sets(&self, path: &str, content: &[u8]) -> TestResult {
        self.world
            .commit_on_remote(&[(path, Entry::File(content))], "other writer\n", &[])?;
        Ok(())
    }
}

#[tokio::test]
async fn deploys_prepare_their_commits_from_the_local_view_without_fetching() -> TestResult {
    let h = Harness::new().await?;
    let opened = h.repo.fetches_run();
    let mut ids = Vec::new();
    for (app, tag) in [("web", "v2"), ("api", "v2"), ("web", "v3"), ("api", "v3")] {
        let record = h.deploy(app, &format!("registry.example.com/{app}:{tag}")).await?;
        assert_eq!(record.status, Status::Succeeded, "{:?}", record.failure);
        ids.push(record.id);
    }
    assert_eq!(h.repo.fetches_run(), opened, "no deploy should have fetched");
    for id in ids {
        assert_eq!(h.commits_of(id)?, 1);
    }
    assert_eq!(h.world.remote_file(WEB)?, manifest("web", "v3"));
    assert_eq!(h.world.linear_history()?.len(), 5);
    Ok(())
}

#[tokio::test]
async fn a_deploy_that_raced_another_writer_lands_once_with_the_images_it_really_replaced() -> TestResult {
    let h = Harness::new().await?;
    // The remote moves after our last fetch: our view still has web:v1.
    h.other_writer_sets(WEB, &manifest("web", "v7"))?;
    let record = h.deploy("web", "registry.example.com/web:v8").await?;
    assert_eq!(record.status, Status::Succeeded, "{:?}", record.failure);
    assert_eq!(record.old_images, vec!["registry.example.com/web:v7".to_owned()]);
    assert_eq!(record.new_images, vec!["registry.example.com/web:v8".to_owned()]);
    assert_eq!(h.commits_of(record.id)?, 1);
    let history = h.world.linear_history()?;
    assert_eq!(history.len(), 3, "seed, the other writer, ours");
    assert_eq!(record.commit_sha.as_deref(), Some(history[0].to_string().as_str()));
    assert_eq!(h.world.remote_file(WEB)?, manifest("web", "v8"));
    Ok(())
}

#[tokio::test]
async fn a_stale_view_that_already_has_the_image_is_checked_with_a_fetch_before_unchanged() -> TestResult {
    let h = Harness::new().await?;
    let first = h.deploy("web", "registry.example.com/web:v2").await?;
    assert_eq!(first.status, Status::Succeeded, "{:?}", first.failure);
    // Someone puts v1 back behind our back: our view still says v2.
    h.other_writer_sets(WEB, &manifest("web", "v1"))?;
    let before = h.repo.fetches_run();
    let again = h.deploy("web", "registry.example.com/web:v2").await?;
    assert_eq!(again.status, Status::Succeeded, "{:?}", again.failure);
    assert!(h.repo.fetches_run() > before, "the no-op verdict must be re-checked");
    assert_eq!(h.commits_of(again.id)?, 1);
    assert_eq!(again.old_images, vec!["registry.example.com/web:v1".to_owned()]);
    assert_eq!(h.world.remote_file(WEB)?, manifest("web", "v2"));

    // Nothing moved now: the same deploy is unchanged, after one fetch, with no commit.
    let before = h.repo.fetches_run();
    let tip = h.world.main()?;
    let same = h.deploy("web", "registry.example.com/web:v2").await?;
    assert_eq!(same.status, Status::Unchanged, "{:?}", same.failure);
    assert_eq!(same.commit_sha, None);
    assert_eq!(h.repo.fetches_run(), before + 1);
    assert_eq!(h.world.main()?, tip);
    Ok(())
}

#[tokio::test]
async fn concurrent_refreshes_share_fetches_and_see_the_remote_as_of_their_call() -> TestResult {
    let h = Harness::new().await?;
    h.other_writer_sets(API, &manifest("api", "v5"))?;
    let moved = h.world.main()?.to_string();
    let before = h.repo.fetches_run();
    // Sixteen callers arrive together: the first starts a fetch at once, the fifteen that
    // arrived while it ran share the next one.
    let results = futures_util::future::join_all((0..16).map(|_| h.repo.refresh())).await;
    for result in results {
        result?;
    }
    assert_eq!(h.repo.fetches_run() - before, 2);
    let file = h.repo.read_file(API, false).await?.ok_or("api is gone")?;
    assert_eq!(file.commit, moved);
    assert_eq!(file.content, manifest("api", "v5"));

    // A call that starts after the last fetch finished gets a fetch of its own.
    h.repo.refresh().await?;
    h.repo.refresh().await?;
    assert_eq!(h.repo.fetches_run() - before, 4);
    Ok(())
}
