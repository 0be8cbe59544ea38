//! `demo`: the whole deployer on built-in simulated clusters, a local configuration
//! repository and SQLite, with nothing to install or configure.
//!
//! It starts kube-sim clusters in this process, creates a bare "remote" repository seeded with
//! sample applications, writes an ordinary `deployer.toml` into the data directory and then
//! runs exactly what `serve` runs with it. The facts a user needs (URL, token, kubeconfig) are
//! printed and written to `<data-dir>/demo.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use deployer_core::ports::{ApplyOptions, ClusterDirectory, Manifests};
use deployer_server::config::{RawConfig, Settings};
use kube_sim::clock::Profile;
use kube_sim::server::{SimCluster, SimOptions, kubeconfig_for};
use serde_json::json;

use crate::cli::{DemoArgs, DemoProfile};
use crate::console::{errln, outln};
use crate::{exit, service, telemetry};

/// The simulated clusters: `(region, cluster)`.
pub const CLUSTERS: [(&str, &str); 4] = [
    ("us-west-2", "prod-1"),
    ("us-west-2", "staging-1"),
    ("dc1", "prod-1"),
    ("dc1", "dev-1"),
];

/// A sample application: file stem and content (`{tag}` is replaced per cluster).
struct SampleApp {
    file: &'static str,
    content: &'static str,
}

const SAMPLE_APPS: [SampleApp; 4] = [
    SampleApp {
        file: "web",
        content: r#"# The storefront. Managed by k8s-app-deployer: only the image tag is edited.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ghcr.io/example/web:1.4.2 # bumped by CI
          ports:
            - containerPort: 8080
"#,
    },
    SampleApp {
        file: "api",
        content: r#"---
# API server, its Service and its configuration.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 3
  progressDeadlineSeconds: 60
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      initContainers:
        - name: migrate
          image: "ghcr.io/example/api:2.3.0"
          args: ["migrate"]
      containers:
        - name: api
          image: "ghcr.io/example/api:2.3.0"
        - name: proxy  # sidecar, left alone by tag edits
          image: docker.io/envoyproxy/envoy:v1.31.0
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector:
    app: api
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: api-config
data:
  LOG_LEVEL: info
"#,
    },
    SampleApp {
        file: "worker",
        content: r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  replicas: 1
  selector:
    matchLabels:
      app: worker
  template:
    metadata:
      labels:
        app: worker
    spec:
      containers:
        - name: worker
          image: 'ghcr.io/example/worker:0.9.1'
"#,
    },
    SampleApp {
        file: "shop",
        content: r#"# Built on Docker Hub: pushes to example/shop deploy to development and staging.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: shop
  template:
    metadata:
      labels:
        app: shop
    spec:
      containers:
        - name: shop
          image: example/shop:1.0.0
"#,
    },
];

/// The Docker Hub repository whose pushes the demo's hook accepts.
pub const DOCKERHUB_REPOSITORY: &str = "example/shop";

fn context_name(region: &str, cluster: &str) -> String {
    format!("{region}-{cluster}")
}

fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("demo-{hex}")
}

/// Runs `git` with arguments (never through a shell).
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .context("cannot run `git`; install it (`apt-get install git`)")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Creates the bare remote, seeded with the sample applications, unless it exists.
fn seed_repository(remote: &Path, scratch: &Path) -> anyhow::Result<()> {
    if remote.join("HEAD").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(remote)?;
    git(remote, &["init", "--quiet", "--bare", "--initial-branch=main"])?;
    if scratch.exists() {
        std::fs::remove_dir_all(scratch)?;
    }
    std::fs::create_dir_all(scratch)?;
    git(scratch, &["init", "--quiet", "--initial-branch=main"])?;
    std::fs::write(
        scratch.join("README.md"),
        "# Configuration repository\n\nOne directory per region and cluster: `<region>/<cluster>/apps/<app>.yaml`.\n\
         k8s-app-deployer edits image tags here, commits and pushes; git is the record of truth.\n",
    )?;
    for (region, cluster) in CLUSTERS {
        let dir = scratch.join(region).join(cluster).join("apps");
        std::fs::create_dir_all(&dir)?;
        for app in &SAMPLE_APPS {
            std::fs::write(dir.join(format!("{}.yaml", app.file)), app.content)?;
        }
    }
    git(scratch, &["add", "--all"])?;
    git(
        scratch,
        &[
            "-c",
            "user.name=k8s-app-deployer demo",
            "-c",
            "user.email=demo@k8s-app-deployer.invalid",
            "commit",
            "--quiet",
            "-m",
            "Sample applications",
        ],
    )?;
    let remote_url = remote.to_string_lossy().into_owned();
    git(scratch, &["push", "--quiet", &remote_url, "main"])?;
    std::fs::remove_dir_all(scratch)?;
    Ok(())
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn demo_config(listen: &str, token: &str, hook_token: &str, dir: &Path, kubeconfig: &Path) -> String {
    let path = |p: PathBuf| toml_string(&p.to_string_lossy());
    let mut cfg = format!(
        r#"# Written by `k8s-app-deployer demo`: an ordinary configuration, usable with `serve`.
[server]
listen = {listen}

[[auth.tokens]]
name = "demo"
token = {token}
act_for_users = true

[git]
remote = {remote}
branch = "main"
clone_dir = {clone}
author_name = "k8s-app-deployer"
author_email = "deployer@k8s-app-deployer.invalid"

[store]
url = {store}
"#,
        listen = toml_string(listen),
        token = toml_string(token),
        remote = path(dir.join("config-repo.git")),
        clone = path(dir.join("clone")),
        store = toml_string(&format!("sqlite://{}", dir.join("deployer.db").to_string_lossy())),
    );
    for (region, cluster) in CLUSTERS {
        cfg.push_str(&format!(
            "\n[[clusters]]\nregion = {}\ncluster = {}\nkubeconfig = {}\ncontext = {}\nnamespace = \"default\"\n",
            toml_string(region),
            toml_string(cluster),
            path(kubeconfig.to_path_buf()),
            toml_string(&context_name(region, cluster)),
        ));
    }
    cfg.push_str(DEMO_TRIGGERS);
    cfg.push_str(&format!(
        r#"
[[triggers.rules]]
name = "shop-from-docker-hub"
repositories = ["docker.io/{DOCKERHUB_REPOSITORY}"]
files = ["shop"]
environments = ["development", "staging"]
triggers = ["registry", "ci", "api"]
tags = {{ semver = ">=0.1.0" }}

[[triggers.hooks]]
name = "docker-hub"
provider = "dockerhub"
secret = {hook}
repositories = [{repo}]
"#,
        hook = toml_string(hook_token),
        repo = toml_string(DOCKERHUB_REPOSITORY),
    ));
    cfg
}

/// The demo's `[triggers]`: `dev` releases go to `dc1/dev-1`, `stage` to `us-west-2/staging-1`,
/// `main` to both production clusters once the tag succeeded in staging
/// (`k8s-app-deployer release --image ghcr.io/example/web --tag 1.4.3 --branch stage --wait`).
const DEMO_TRIGGERS: &str = r#"
[triggers.environments.development]
targets = ["dc1/dev-1"]

[triggers.environments.staging]
targets = ["us-west-2/staging-1"]

[triggers.environments.production]
targets = ["us-west-2/prod-1", "dc1/prod-1"]
promotion_from = "staging"

[[triggers.rules]]
name = "example-apps"
repositories = ["ghcr.io/example/*"]
files = ["web", "api", "worker"]
environments = ["development", "staging", "production"]
triggers = ["ci", "api"]
tags = { semver = ">=0.1.0" }
"#;

/// Starts the simulated clusters.
async fn start_clusters(profile: DemoProfile) -> anyhow::Result<Vec<SimCluster>> {
    let mut clusters = Vec::new();
    for (i, (region, cluster)) in CLUSTERS.into_iter().enumerate() {
        let mut options = SimOptions::named(context_name(region, cluster));
        options.seed = 1000 + i as u64;
        options.profile = match profile {
            DemoProfile::Fast => Profile::fast(),
            DemoProfile::Realistic => Profile::realistic(),
        };
        let sim = SimCluster::start(options)
            .await
            .with_context(|| format!("cannot start the simulated cluster {region}/{cluster}"))?;
        clusters.push(sim);
    }
    Ok(clusters)
}

/// Applies every application file to its cluster, so the clusters run what git says.
async fn converge(adapters: &service::AdapterSettings, remote: &Path) -> anyhow::Result<()> {
    let clusters = deployer_kube::KubeClusters::connect(&adapters.clusters).await?;
    let editor = deployer_manifest::ManifestEditor::default();
    for (region, cluster) in CLUSTERS {
        let key = deployer_core::model::ClusterKey {
            region: region.parse()?,
            cluster: cluster.parse()?,
        };
        let Some(target) = clusters.cluster(&key) else { continue };
        for app in &SAMPLE_APPS {
            let path = format!("{region}/{cluster}/apps/{}.yaml", app.file);
            let out = Command::new("git")
                .args(["--git-dir", &remote.to_string_lossy(), "show", &format!("main:{path}")])
                .output()?;
            if !out.status.success() {
                continue;
            }
            let documents = editor
                .documents(&out.stdout)
                .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
            target
                .apply(&documents, ApplyOptions::default())
                .await
                .with_context(|| format!("cannot apply {path}"))?;
        }
    }
    Ok(())
}

/// Runs `demo`.
pub async fn run(args: DemoArgs) -> ExitCode {
    telemetry::init(args.log_format);
    match demo(args).await {
        Ok(code) => code,
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::from(exit::FAILED)
        }
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("k8s-app-deployer-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the data directory `{}`", dir.display()))?;
    let dir = dir.canonicalize()?;

    let sims = start_clusters(args.profile).await?;
    let kubeconfig = dir.join("kubeconfig");
    let refs: Vec<&SimCluster> = sims.iter().collect();
    std::fs::write(&kubeconfig, kubeconfig_for(&refs))?;

    let remote = dir.join("config-repo.git");
    seed_repository(&remote, &dir.join("seed"))?;

    // Reuse the secrets of an earlier run with the same data directory.
    let earlier = std::fs::read_to_string(dir.join("demo.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .unwrap_or_default();
    let token = earlier["token"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(random_token);
    let hook_token = earlier["webhooks"]["dockerhub"]["token"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| random_token().replacen("demo-", "hook-", 1));
    let config_path = dir.join("deployer.toml");
    std::fs::write(
        &config_path,
        demo_config(&args.listen, &token, &hook_token, &dir, &kubeconfig),
    )?;

    let raw = RawConfig::collect(Some(&config_path)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = Settings::from_raw(&raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let adapters = service::adapter_settings(&settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    converge(&adapters, &remote).await?;

    let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; choose another address with `--listen`",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let server = service::start(settings, adapters).await?;

    let clusters: Vec<serde_json::Value> = CLUSTERS
        .iter()
        .zip(sims.iter())
        .map(|((region, cluster), sim)| {
            json!({"region": region, "cluster": cluster, "context": context_name(region, cluster), "server": sim.url()})
        })
        .collect();
    let hook_url = format!("{url}/webhooks/dockerhub/{hook_token}");
    let facts = json!({
        "url": url,
        "token": token,
        "webhooks": {"dockerhub": {"url": hook_url, "token": hook_token, "repositories": [DOCKERHUB_REPOSITORY]}},
        "kubeconfig": kubeconfig,
        "config_repo_remote": remote,
        "data_dir": dir,
        "clusters": clusters,
    });
    std::fs::write(dir.join("demo.json"), serde_json::to_vec_pretty(&facts)?)?;
    print_welcome(&url, &token, &hook_url, &kubeconfig, &remote, &dir);

    let served = server.serve(listener, deployer_server::shutdown_signal()).await;
    for sim in sims {
        sim.shutdown().await;
    }
    served.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(ExitCode::from(exit::SUCCEEDED))
}

fn print_welcome(url: &str, token: &str, hook_url: &str, kubeconfig: &Path, remote: &Path, dir: &Path) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "k8s-app-deployer".to_owned());
    let clusters: Vec<String> = CLUSTERS.iter().map(|(r, c)| format!("{r}/{c}")).collect();
    outln!(
        r#"k8s-app-deployer demo is running.

  API:            {url}
  web UI:         {url}/ (sign in with the token)
  metrics:        {url}/metrics
  token:          {token}
  clusters:       {clusters} (simulated; kubectl contexts {contexts})
  kubeconfig:     {kubeconfig}
  config repo:    {remote}
  data directory: {dir} (facts in demo.json)

Deploy with the CLI:
  export K8S_APP_DEPLOYER_URL={url} K8S_APP_DEPLOYER_TOKEN={token}
  {exe} deploy --region us-west-2 --cluster staging-1 --file web --tag 1.5.0 --wait

Or with curl:
  curl -sS -H "Authorization: Bearer {token}" -H 'Content-Type: application/json' \
    -d '{{"region":"us-west-2","cluster":"staging-1","file":"web","tag":"1.5.0"}}' \
    '{url}/api/v1/deployments?wait=true'

See the failure path (pods never become ready):
  {exe} deploy --region dc1 --cluster dev-1 --file worker --tag 1.0.0-never-ready --timeout 30s --wait

Simulate a Docker Hub push of {repo}:1.1.0 (deploys `shop` to dc1/dev-1 and us-west-2/staging-1):
  curl -sS -H 'Content-Type: application/json' \
    -d '{{"push_data":{{"tag":"1.1.0","pusher":"you"}},"repository":{{"repo_name":"{repo}","namespace":"example","name":"shop"}}}}' \
    '{hook_url}'

Look at the clusters and the repository:
  KUBECONFIG={kubeconfig} kubectl --context us-west-2-staging-1 get deploy,rs,pods
  git --git-dir {remote} log --stat -3

Press Ctrl-C to stop."#,
        clusters = clusters.join(", "),
        repo = DOCKERHUB_REPOSITORY,
        contexts = CLUSTERS
            .iter()
            .map(|(r, c)| context_name(r, c))
            .collect::<Vec<_>>()
            .join(", "),
        kubeconfig = kubeconfig.display(),
        remote = remote.display(),
        dir = dir.display(),
    );
}
