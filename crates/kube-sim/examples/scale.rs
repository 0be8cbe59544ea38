//! A scale check of kube-sim on its own: Deployments across namespaces, LISTs of all of them,
//! server-side applies with and without watches attached, and watch delivery latency, the
//! same steps as the `kube-sim` scenario of `deployer-bench`, without building the deployer.
//!
//! `cargo run --release -p kube-sim --example scale -- [deployments] [namespaces] [watchers] [lists]`
//! (defaults 1000 50 100 30). Prints p50 / p95 / p99 / max in milliseconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube_sim::clock::Profile;
use kube_sim::server::{SimCluster, SimOptions};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinSet;

type Failure = Box<dyn std::error::Error + Send + Sync>;

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

async fn apply(
    client: &reqwest::Client,
    base: &str,
    ns: &str,
    name: &str,
    tag: &str,
) -> Result<(Duration, String), Failure> {
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
        return Err(format!("apply of {ns}/{name} answered {status}").into());
    }
    let object: Object = serde_json::from_slice(&body)?;
    Ok((took, object.metadata.resource_version))
}

type Seen = Arc<Mutex<HashMap<(String, String), Vec<Instant>>>>;

async fn watch(client: reqwest::Client, url: String, seen: Seen) -> Result<(), Failure> {
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

fn report(name: &str, samples: &mut [Duration]) {
    if samples.is_empty() {
        println!("{name}: no samples");
        return;
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]);
    println!(
        "{name}: p50 {:.2} / p95 {:.2} / p99 {:.2} / max {:.2} ms ({} samples)",
        at(0.50),
        at(0.95),
        at(0.99),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

async fn run(count: usize, namespaces: usize, watchers: usize, list_count: usize) -> Result<(), Failure> {
    let sim = SimCluster::start(SimOptions {
        profile: Profile::fast(),
        ..SimOptions::named("scale")
    })
    .await?;
    let base = sim.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(512)
        .build()?;
    for n in 0..namespaces {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(n)}});
        client
            .post(format!("{base}/api/v1/namespaces"))
            .json(&body)
            .send()
            .await?;
    }
    let names: Vec<(String, String)> = (0..count)
        .map(|i| (namespace(i % namespaces), format!("d-{i:05}")))
        .collect();
    let created: Vec<Result<(Duration, String), Failure>> = futures::stream::iter(names.iter().map(|(ns, name)| {
        let (client, base) = (client.clone(), base.clone());
        async move { apply(&client, &base, ns, name, "v0").await }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    for c in created {
        c?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut lists = Vec::new();
    for _ in 0..list_count.max(1) {
        let started = Instant::now();
        let r = client.get(format!("{base}/apis/apps/v1/deployments")).send().await?;
        let body = r.bytes().await?;
        lists.push(started.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let items = v.get("items").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
        if items != count {
            return Err(format!("LIST returned {items} Deployments, {count} expected").into());
        }
    }

    let mut alone = Vec::with_capacity(count);
    for (ns, name) in &names {
        alone.push(apply(&client, &base, ns, name, "v1").await?.0);
    }

    let r = client
        .get(format!("{base}/apis/apps/v1/deployments?limit=1"))
        .send()
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await?)?;
    let list_rv = v
        .pointer("/metadata/resourceVersion")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("0")
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
    let mut delivery = Vec::new();
    let mut missing = 0usize;
    if let Ok(seen) = seen.lock() {
        for (n, name, rv, started) in &sent {
            let arrivals = seen.get(&(name.clone(), rv.clone())).map_or(&[][..], Vec::as_slice);
            missing += per_namespace[*n].saturating_sub(arrivals.len());
            delivery.extend(arrivals.iter().map(|t| t.saturating_duration_since(*started)));
        }
    }
    sim.shutdown().await;
    report(&format!("LIST all {count} Deployments"), &mut lists);
    report("apply acknowledged, no watches", &mut alone);
    report(
        &format!("apply acknowledged, {watchers} watches attached"),
        &mut attached,
    );
    report("watch delivery (apply sent -> event read)", &mut delivery);
    if missing > 0 {
        println!("{missing} expected watch events did not arrive");
    }
    Ok(())
}

fn main() -> Result<(), Failure> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(arg(0, 1000), arg(1, 50).max(1), arg(2, 100), arg(3, 30)))
}
