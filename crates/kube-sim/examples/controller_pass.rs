//! Measures what controller passes cost over a cluster shaped like one cluster of the fleet
//! benchmark: Deployments of one replica in `default`, all redeployed at once, on the fast
//! profile with a manual clock (so every run does exactly the same passes).
//!
//! ```text
//! cargo run -p kube-sim --example controller_pass -- [deployments] [rounds] [per-pass]
//! ```
//!
//! Prints, for the first rollout, for each redeploy of every Deployment at once, and for each
//! redeploy of every Deployment `per-pass` at a time (as the fleet benchmark's deploys arrive):
//! the passes until the cluster is quiet, the time spent in `Controllers::tick` (mean per
//! pass) and the CPU time of the whole round (snapshots, passes and the store writes).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use kube_sim::clock::{ClockMode, Profile, SimClock};
use kube_sim::controllers::{Action, Controllers, NextPass};
use kube_sim::images::ImageRules;
use kube_sim::store::{
    CONTROLLER_MANAGER, DEFAULT_HISTORY, DeleteOptions, FieldValidation, PatchKind, ResourceType, Store, StoreError,
    Subresource, WriteOptions,
};
use serde_json::{Value, json};

/// The most passes one round may take before it is reported as not settling.
const MAX_PASSES: usize = 20_000;

/// CPU time of this thread so far (`/proc/thread-self/schedstat`), when readable.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn resource(plural: &str) -> Result<&'static ResourceType, StoreError> {
    ResourceType::by_plural(plural).ok_or_else(|| StoreError::BadRequest(format!("unknown resource {plural}")))
}

fn text_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// Writes one controller action as the controller loop of the server does.
fn apply(store: &Store, action: Action) -> Result<(), StoreError> {
    let options = WriteOptions {
        validation: FieldValidation::Skip,
        ..WriteOptions::new(CONTROLLER_MANAGER)
    };
    let key = |object: &Value| {
        (
            text_at(object, "/metadata/namespace").to_owned(),
            text_at(object, "/metadata/name").to_owned(),
        )
    };
    match action {
        Action::Create { resource: r, object } => {
            let (ns, _) = key(&object);
            store.create(resource(r)?, &ns, object, &options, true)?;
        }
        Action::Update { resource: r, object } => {
            let (ns, name) = key(&object);
            store.update(resource(r)?, &ns, &name, object, None, &options)?;
        }
        Action::UpdateStatus { resource: r, object } => {
            let (ns, name) = key(&object);
            store.update(resource(r)?, &ns, &name, object, Some(Subresource::Status), &options)?;
        }
        Action::Delete {
            resource: r,
            namespace,
            name,
        } => {
            store.delete(resource(r)?, &namespace, &name, &DeleteOptions::default())?;
        }
        Action::Remove {
            resource: r,
            namespace,
            name,
        } => {
            store.remove(resource(r)?, &namespace, &name)?;
        }
    }
    Ok(())
}

fn deployment(i: usize, tag: &str) -> Value {
    let name = format!("app-{i:04}");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": format!("registry.example/{name}:{tag}"),
                    "ports": [{"containerPort": 8080}]
                }]}
            }
        }
    })
}

/// What one round cost.
struct Round {
    passes: usize,
    writes: usize,
    in_tick: Duration,
    cpu: Option<Duration>,
}

/// Runs passes a tick apart until the controllers have nothing left to do and `before_pass`
/// (called before each pass with the pass number) has nothing left to change.
fn settle(
    store: &Store,
    clock: &SimClock,
    controllers: &mut Controllers,
    tick: Duration,
    mut before_pass: impl FnMut(usize) -> Result<bool, StoreError>,
) -> Result<Round, StoreError> {
    let cpu_before = thread_cpu();
    let mut round = Round {
        passes: 0,
        writes: 0,
        in_tick: Duration::ZERO,
        cpu: None,
    };
    let mut changing = true;
    while round.passes < MAX_PASSES {
        changing = changing && before_pass(round.passes)?;
        clock.advance(tick);
        let snapshot = store.snapshot();
        let started = Instant::now();
        let actions = controllers.tick(&snapshot, clock.now());
        round.in_tick += started.elapsed();
        round.passes += 1;
        round.writes += actions.len();
        drop(snapshot);
        for action in actions {
            // Stale writes are dropped, as by the server: the next pass retries.
            let _ = apply(store, action);
        }
        store.housekeeping();
        if !changing && controllers.next_pass() == NextPass::OnChange {
            break;
        }
    }
    round.cpu = thread_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok(round)
}

fn report(label: &str, round: &Round) {
    let per_pass = round.in_tick.as_secs_f64() * 1e6 / round.passes.max(1) as f64;
    let cpu = round
        .cpu
        .map_or_else(|| "n/a".to_owned(), |c| format!("{:.1} ms", c.as_secs_f64() * 1e3));
    println!(
        "{label:>12}: {:>5} passes, {:>6} writes, {:>9.1} ms in passes ({per_pass:>8.1} µs/pass), round CPU {cpu}",
        round.passes,
        round.writes,
        round.in_tick.as_secs_f64() * 1e3,
    );
}

/// Sets the image tag of the `i`th Deployment.
fn redeploy(store: &Store, i: usize, tag: &str) -> Result<(), StoreError> {
    let name = format!("app-{i:04}");
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": format!("registry.example/{name}:{tag}")}
    ]}}}});
    store.patch(
        resource("deployments")?,
        "default",
        &name,
        PatchKind::Strategic,
        &patch,
        None,
        &WriteOptions::new("bench"),
    )?;
    Ok(())
}

fn run(deployments: usize, rounds: usize, per_pass: usize) -> Result<(), StoreError> {
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let clock = SimClock::new(ClockMode::Manual, start);
    let store = Store::new(clock.clone(), 7, DEFAULT_HISTORY);
    let profile = Profile::fast();
    let tick = profile.tick;
    let mut controllers = Controllers::new(7000, ImageRules::new(), profile);
    for i in 0..deployments {
        store.create(
            resource("deployments")?,
            "default",
            deployment(i, "v0"),
            &WriteOptions::new("bench"),
            false,
        )?;
    }
    let first = settle(&store, &clock, &mut controllers, tick, |_| Ok(false))?;
    report("first", &first);
    for r in 1..=rounds {
        for i in 0..deployments {
            redeploy(&store, i, &format!("v{r}"))?;
        }
        let round = settle(&store, &clock, &mut controllers, tick, |_| Ok(false))?;
        report(&format!("at once {r}"), &round);
    }
    // As in the fleet benchmark: the redeploys arrive a few at a time while the other
    // Deployments stay settled.
    for r in 1..=rounds {
        let tag = format!("t{r}");
        let round = settle(&store, &clock, &mut controllers, tick, |pass| {
            let from = pass * per_pass;
            for i in from..(from + per_pass).min(deployments) {
                redeploy(&store, i, &tag)?;
            }
            Ok(from + per_pass < deployments)
        })?;
        report(&format!("trickle {r}"), &round);
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let deployments = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let rounds = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let per_pass = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    match run(deployments, rounds, per_pass.max(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
