//! kube-sim at scale: Deployments across namespaces, a LIST of all of them, server-side
//! apply acknowledged with and without watches attached, and watch delivery latency.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use kube_sim::clock::Profile;
use kube_sim::server::{SimCluster, SimOptions};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinSet;

use crate::cells::{pct, triple};
use crate::report::{ScenarioReport, Table};
use crate::stats::Percentiles;

use super::Ctx;

fn namespace(i: usize) -> String {
    format!("ns-{i:02}")
}

fn deployment(name: &str, tag: &str) -> String {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": format!("registry.bench.local/team/{name}:{tag}")}]}
            }
        }
    })
    .to_string()
}

#[derive(Deserialize)]
struct Meta {
    name: String,
    #[serde(rename = "resourceVersion")]
    resource_version: String,
}

#[derive(Deserialize)]
struct Object {
    metadata: Meta,
}

#[derive(Deserialize)]
struct Event {
    object: Object,
}

/// Applies one Deployment; returns the time to the acknowledgement and the new resourceVersion.
async fn apply(
    client: &reqwest::Client,
    base: &str,
    ns: &str,
    name: &str,
    tag: &str,
) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    let response = client
        .patch(format!(
            "{base}/apis/apps/v1/namespaces/{ns}/deployments/{name}?fieldManager=bench"
        ))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(deployment(name, tag))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let took = started.elapsed();
    if !status.is_success() {
        bail!(
            "apply of {ns}/{name} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let object: Object = serde_json::from_slice(&body).context("unexpected apply answer")?;
    Ok((took, object.metadata.resource_version))
}

type Seen = Arc<Mutex<HashMap<(String, String), Vec<Instant>>>>;

/// Watches Deployments of `ns` from `rv`, recording when each (name, resourceVersion) arrives.
async fn watch(client: reqwest::Client, url: String, seen: Seen) -> anyhow::Result<()> {
    let response = client.get(url).send().await?;
    let mut body = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let now = Instant::now();
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            if let Ok(event) = serde_json::from_slice::<Event>(&line)
                && let Ok(mut seen) = seen.lock()
            {
                let key = (event.object.metadata.name, event.object.metadata.resource_version);
                seen.entry(key).or_default().push(now);
            }
        }
    }
    Ok(())
}

/// The simulated API server on a runtime (and threads) of its own, as a real API server runs
/// in a process of its own: its request handling never queues behind the harness's watch
/// readers and JSON parsing. The two still share the machine's cores.
struct SeparateSim {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SeparateSim {
    fn start() -> anyhow::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kube-sim".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("kube-sim-worker")
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let options = SimOptions {
                        profile: Profile::fast(),
                        ..SimOptions::named("scale")
                    };
                    match SimCluster::start(options).await {
                        Ok(sim) => {
                            let _ = ready_tx.send(Ok(sim.url()));
                            let _ = stop_rx.await;
                            sim.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                        }
                    }
                });
            })
            .context("starting the kube-sim thread")?;
        let url = ready_rx
            .recv()
            .context("the kube-sim thread ended before it started")??;
        Ok(Self {
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs the scenario.
///
/// # Errors
/// When the simulated cluster refuses a request.
pub async fn run(ctx: &Ctx) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.sizes;
    let (count, namespaces, watchers) = (s.sim_deployments, s.sim_namespaces.max(1), s.sim_watchers);
    let mut report = ScenarioReport::new(
        "kube-sim",
        format!(
            "{count} Deployments (1 replica) across {namespaces} namespaces; {watchers} watches, spread over the namespaces; fast profile, on its own runtime in the harness process"
        ),
    );
    let sim = SeparateSim::start()?;
    let base = sim.url.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(512)
        .build()?;
    for n in 0..namespaces {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(n)}});
        let r = client
            .post(format!("{base}/api/v1/namespaces"))
            .json(&body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("creating namespace {} answered {}", namespace(n), r.status());
        }
    }
    let names: Vec<(String, String)> = (0..count)
        .map(|i| (namespace(i % namespaces), format!("d-{i:05}")))
        .collect();
    let created: Vec<anyhow::Result<(Duration, String)>> = futures::stream::iter(names.iter().map(|(ns, name)| {
        let (client, base) = (client.clone(), base.clone());
        async move { apply(&client, &base, ns, name, "v0").await }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    for c in created {
        c?;
    }
    // Let the controllers bring the first pods up.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut lists = Vec::new();
    let mut list_rv = String::new();
    for _ in 0..s.sim_lists.max(1) {
        let started = Instant::now();
        let r = client.get(format!("{base}/apis/apps/v1/deployments")).send().await?;
        let body = r.bytes().await?;
        lists.push(started.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let items = v.get("items").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
        if items != count {
            bail!("LIST returned {items} Deployments, {count} expected");
        }
        list_rv = v
            .pointer("/metadata/resourceVersion")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("0")
            .to_owned();
    }
    let list = Percentiles::of(&lists);

    // Applies with no watch attached.
    let mut alone = Vec::with_capacity(count);
    for (ns, name) in &names {
        alone.push(apply(&client, &base, ns, name, "v1").await?.0);
    }
    let alone = Percentiles::of(&alone);

    // Attach the watches from the current resourceVersion, then apply again.
    let r = client
        .get(format!("{base}/apis/apps/v1/deployments?limit=1"))
        .send()
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await?)?;
    let list_rv = v
        .pointer("/metadata/resourceVersion")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(&list_rv)
        .to_owned();
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let mut watches = JoinSet::new();
    let watch_client = reqwest::Client::builder().pool_max_idle_per_host(1024).build()?;
    let mut per_namespace = vec![0usize; namespaces];
    for w in 0..watchers {
        let ns = namespace(w % namespaces);
        per_namespace[w % namespaces] += 1;
        let url = format!(
            "{base}/apis/apps/v1/namespaces/{ns}/deployments?watch=true&resourceVersion={list_rv}&timeoutSeconds=600"
        );
        watches.spawn(watch(watch_client.clone(), url, Arc::clone(&seen)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut attached = Vec::with_capacity(count);
    let mut sent = Vec::with_capacity(count);
    for (i, (ns, name)) in names.iter().enumerate() {
        let started = Instant::now();
        let (took, rv) = apply(&client, &base, ns, name, "v2").await?;
        attached.push(took);
        sent.push((i % namespaces, name.clone(), rv, started));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    watches.abort_all();
    let attached = Percentiles::of(&attached);
    let mut delivery = Vec::new();
    let mut missing = 0usize;
    if let Ok(seen) = seen.lock() {
        for (n, name, rv, started) in &sent {
            let arrivals = seen.get(&(name.clone(), rv.clone())).map_or(&[][..], Vec::as_slice);
            missing += per_namespace[*n].saturating_sub(arrivals.len());
            delivery.extend(arrivals.iter().map(|t| t.saturating_duration_since(*started)));
        }
    }
    let delivery = Percentiles::of(&delivery);
    sim.stop();

    let mut t = Table::new("kube-sim, ms", &["measure", "p50 / p95 / p99", "max", "samples"]);
    let row = |t: &mut Table, name: &str, p: Option<&Percentiles>| {
        t.row(vec![
            name.into(),
            triple(p),
            pct(p, |p| p.max),
            p.map_or(0, |p| p.count).to_string(),
        ]);
    };
    row(&mut t, &format!("LIST all {count} Deployments"), list.as_ref());
    row(&mut t, "apply acknowledged, no watches", alone.as_ref());
    row(
        &mut t,
        &format!("apply acknowledged, {watchers} watches attached"),
        attached.as_ref(),
    );
    row(
        &mut t,
        "watch delivery (apply sent → event read by a watcher)",
        delivery.as_ref(),
    );
    report.tables.push(t);
    if missing > 0 {
        report
            .problems
            .push(format!("{missing} expected watch events did not arrive"));
    }
    let list_p50 = list.map_or(f64::INFINITY, |p| p.p50);
    report.check(
        format!("LIST of {count} < 50 ms (p50)"),
        format!("{list_p50:.1} ms"),
        list_p50 < 50.0,
    );
    let apply_p99 = attached.map_or(f64::INFINITY, |p| p.p99);
    report.check(
        format!("apply p99 < 2 ms with {watchers} watchers"),
        format!("{apply_p99:.2} ms"),
        apply_p99 < 2.0,
    );
    Ok(report)
}
