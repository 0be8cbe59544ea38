//! The simulated kubelet (spec §8): the status a pod shows at a given time, from the
//! behaviours of its containers' images.
//!
//! Every pod has a start time (when it was created). From it, each container follows the
//! timeline of its [`Behaviour`] (`d` is the profile's `pod_ready_after`):
//! - `ready{after}`: `ContainerCreating` until `start + after` (default `d`), then running and
//!   ready.
//! - `never-ready`: `ContainerCreating` until `start + d`, then running, not ready.
//! - `ready-then-fail{after}`: ready from `start + d` to `start + d + after`, then running but
//!   not ready.
//! - `image-pull-error`: `ContainerCreating` until `start + d`; then pull attempts: each shows
//!   `ErrImagePull` for `max(d, 100 ms)`, then `ImagePullBackOff` for the back-off.
//! - `crash-loop`: `ContainerCreating` until `start + d`; the container then exits with code 1
//!   on every start and waits in `CrashLoopBackOff`; it is restarted after each back-off, which
//!   bumps `restartCount`.
//!
//! Back-offs double from 10 s up to 5 min, as the kubelet's do. The status is a pure function
//! of (pod, start, now, rules, profile, IP), so it is only written when it changes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::json::{add, format_time, get, name, namespace, str_at, uid};
use crate::clock::Profile;
use crate::images::{Behaviour, ImageRules};

/// The node every simulated pod runs on.
pub const NODE_NAME: &str = "sim-node";
/// The IP of that node.
pub const HOST_IP: &str = "172.18.0.2";

/// The IP of the `n`th pod address: 10.244.0.2, 10.244.0.3, ….
pub(crate) fn pod_ip(n: usize) -> String {
    format!("10.244.{}.{}", n / 253, n % 253 + 2)
}

/// The back-off after the `k`th failure: 10 s doubling, at most 5 min.
fn backoff(k: i64) -> Duration {
    let secs = 10i64.saturating_mul(1i64 << k.clamp(0, 10)).min(300);
    Duration::from_secs(secs as u64)
}

/// A Go `time.Duration` string for whole seconds (`10s`, `1m20s`, `5m0s`).
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{}s", s / 60, s % 60)
    }
}

/// The attempt index and start of the attempt in progress at `now`, for attempts that begin
/// at `first` and are separated by `gap + backoff(k)`.
fn attempt_at(first: DateTime<Utc>, gap: Duration, now: DateTime<Utc>) -> (i64, DateTime<Utc>) {
    let mut k = 0i64;
    let mut at = first;
    loop {
        let b = backoff(k);
        if b >= Duration::from_secs(300) {
            let period = (gap + b).as_millis().max(1) as i64;
            let n = (now - at).num_milliseconds().max(0) / period;
            let skipped = Duration::from_millis((n * period) as u64);
            return (k + n, add(at, skipped));
        }
        let next = add(at, gap + b);
        if next > now {
            return (k, at);
        }
        at = next;
        k += 1;
    }
}

/// A deterministic 64-hex-digit digest (FNV-1a 64 over the input and a counter).
pub(crate) fn hex_digest(input: &str) -> String {
    (0u8..4)
        .map(|round| {
            let h = input
                .bytes()
                .chain(std::iter::once(round))
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
                });
            format!("{h:016x}")
        })
        .collect()
}

/// The fully qualified reference containerd reports (`nginx:1.25` ->
/// `docker.io/library/nginx:1.25`), and the repository part without tag or digest.
pub(crate) fn normalize_image(image: &str) -> (String, String) {
    let (name_tag, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match name_tag[slash..].rfind(':') {
        Some(i) => (&name_tag[..slash + i], Some(&name_tag[slash + i + 1..])),
        None => (name_tag, None),
    };
    let first = repo.split('/').next().unwrap_or("");
    let has_domain = repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let repo = if has_domain {
        repo.to_owned()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    let full = match (tag, digest) {
        (_, Some(d)) => format!("{repo}@{d}"),
        (Some(t), None) => format!("{repo}:{t}"),
        (None, None) => format!("{repo}:latest"),
    };
    (full, repo)
}

/// What a container is doing at a moment.
enum ContainerState {
    Creating,
    Running { started_at: DateTime<Utc> },
    PullFailed { backing_off: bool },
    CrashLooping { restarts: i64, last_start: DateTime<Utc> },
}

struct ContainerSim {
    behaviour: Behaviour,
    start: DateTime<Utc>,
    startup: Duration,
}

impl ContainerSim {
    fn ready_after(&self) -> Duration {
        match &self.behaviour {
            Behaviour::Ready { after } => after.unwrap_or(self.startup),
            _ => self.startup,
        }
    }

    /// The times at which the container's readiness flips.
    fn flips(&self) -> Vec<DateTime<Utc>> {
        let up = add(self.start, self.ready_after());
        match &self.behaviour {
            Behaviour::Ready { .. } => vec![up],
            Behaviour::ReadyThenFail { after } => vec![up, add(up, *after)],
            _ => Vec::new(),
        }
    }

    fn ready(&self, t: DateTime<Utc>) -> bool {
        let up = add(self.start, self.ready_after());
        match &self.behaviour {
            Behaviour::Ready { .. } => t >= up,
            Behaviour::ReadyThenFail { after } => t >= up && t < add(up, *after),
            _ => false,
        }
    }

    /// The first moment after `now` at which [`ContainerSim::state`] or
    /// [`ContainerSim::ready`] gives something else, if it ever does.
    fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let up = add(self.start, self.ready_after());
        if now < up {
            return Some(up);
        }
        match &self.behaviour {
            Behaviour::Ready { .. } | Behaviour::NeverReady => None,
            Behaviour::ReadyThenFail { after } => {
                let down = add(up, *after);
                (now < down).then_some(down)
            }
            Behaviour::ImagePullError => {
                let window = self.startup.max(Duration::from_millis(100));
                let (k, at) = attempt_at(up, window, now);
                let backing_off = add(at, window);
                if now < backing_off {
                    Some(backing_off)
                } else {
                    Some(add(backing_off, backoff(k)))
                }
            }
            Behaviour::CrashLoop => {
                let (k, at) = attempt_at(up, Duration::ZERO, now);
                Some(add(at, backoff(k)))
            }
        }
    }

    fn state(&self, now: DateTime<Utc>) -> ContainerState {
        let up = add(self.start, self.ready_after());
        if now < up {
            return ContainerState::Creating;
        }
        match &self.behaviour {
            Behaviour::Ready { .. } | Behaviour::NeverReady | Behaviour::ReadyThenFail { .. } => {
                ContainerState::Running { started_at: up }
            }
            Behaviour::ImagePullError => {
                let window = self.startup.max(Duration::from_millis(100));
                let (_, at) = attempt_at(up, window, now);
                ContainerState::PullFailed {
                    backing_off: now >= add(at, window),
                }
            }
            Behaviour::CrashLoop => {
                let (restarts, last_start) = attempt_at(up, Duration::ZERO, now);
                ContainerState::CrashLooping { restarts, last_start }
            }
        }
    }
}

fn container_sims(pod: &Value, start: DateTime<Utc>, rules: &ImageRules, profile: &Profile) -> Vec<ContainerSim> {
    get(pod, &["spec", "containers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| ContainerSim {
            behaviour: rules.behaviour_for(c.get("image").and_then(Value::as_str).unwrap_or("")),
            start,
            startup: profile.pod_ready_after,
        })
        .collect()
}

/// The first moment after `now` at which [`pod_status`] of `pod` changes, the other inputs
/// staying the same; `None` when it never does.
pub(crate) fn next_status_change(
    pod: &Value,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    rules: &ImageRules,
    profile: &Profile,
) -> Option<DateTime<Utc>> {
    container_sims(pod, start, rules, profile)
        .iter()
        .filter_map(|sim| sim.next_change(now))
        .min()
}

/// The status of `pod` at `now`, given when it started and its IP.
pub(crate) fn pod_status(
    pod: &Value,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    rules: &ImageRules,
    profile: &Profile,
    ip: &str,
) -> Value {
    let containers: Vec<&Value> = get(pod, &["spec", "containers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let sims = container_sims(pod, start, rules, profile);

    // Readiness of the pod and the last time it changed.
    let pod_ready = |t: DateTime<Utc>| !sims.is_empty() && sims.iter().all(|s| s.ready(t));
    let mut flips: Vec<DateTime<Utc>> = sims
        .iter()
        .flat_map(ContainerSim::flips)
        .filter(|t| *t <= now)
        .collect();
    flips.sort();
    let (mut ready, mut changed_at) = (false, start);
    for t in flips {
        let r = pod_ready(t);
        if r != ready {
            ready = r;
            changed_at = t;
        }
    }

    let pod_label = format!("{}_{}({})", name(pod), namespace(pod), uid(pod));
    let mut pending = false;
    let mut unready = Vec::new();
    let statuses: Vec<Value> = containers
        .iter()
        .zip(&sims)
        .map(|(c, sim)| {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let (full_image, repo) = normalize_image(image);
            let container_ready = sim.ready(now);
            if !container_ready {
                unready.push(cname.to_owned());
            }
            let container_id = |restarts: i64| {
                format!(
                    "containerd://{}",
                    hex_digest(&format!("{}/{cname}/{restarts}", uid(pod)))
                )
            };
            let image_id = format!("{repo}@sha256:{}", hex_digest(&full_image));
            let waiting = |reason: &str, message: Option<String>| {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({"waiting": w})
            };
            let (state, last_state, started, restarts, pulled, id) = match sim.state(now) {
                ContainerState::Creating => {
                    pending = true;
                    (waiting("ContainerCreating", None), json!({}), false, 0, false, None)
                }
                ContainerState::Running { started_at } => (
                    json!({"running": {"startedAt": format_time(started_at)}}),
                    json!({}),
                    true,
                    0,
                    true,
                    Some(container_id(0)),
                ),
                ContainerState::PullFailed { backing_off } => {
                    pending = true;
                    let state = if backing_off {
                        waiting("ImagePullBackOff", Some(format!("Back-off pulling image \"{image}\"")))
                    } else {
                        waiting(
                            "ErrImagePull",
                            Some(format!("failed to pull and unpack image \"{image}\": not found")),
                        )
                    };
                    (state, json!({}), false, 0, false, None)
                }
                ContainerState::CrashLooping { restarts, last_start } => {
                    let message = format!(
                        "back-off {} restarting failed container={cname} pod={pod_label}",
                        go_duration(backoff(restarts))
                    );
                    let at = format_time(last_start);
                    let last = json!({"terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": at,
                        "finishedAt": at,
                        "containerID": container_id(restarts),
                    }});
                    (
                        waiting("CrashLoopBackOff", Some(message)),
                        last,
                        false,
                        restarts,
                        true,
                        Some(container_id(restarts)),
                    )
                }
            };
            let mut status = json!({
                "name": cname,
                "state": state,
                "lastState": last_state,
                "ready": container_ready,
                "restartCount": restarts,
                "image": if pulled { full_image.clone() } else { image.to_owned() },
                "imageID": if pulled { image_id } else { String::new() },
            });
            if let Some(id) = id {
                status["containerID"] = json!(id);
            }
            status["started"] = json!(started);
            status
        })
        .collect();

    let start_text = format_time(start);
    let plain =
        |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": start_text});
    let readiness = |kind: &str| {
        let mut c = json!({
            "type": kind,
            "status": if ready { "True" } else { "False" },
            "lastProbeTime": null,
            "lastTransitionTime": format_time(changed_at),
        });
        if !ready {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!("containers with unready status: [{}]", unready.join(" ")));
        }
        c
    };
    let has_resources = containers.iter().any(|c| {
        c.get("resources")
            .and_then(Value::as_object)
            .is_some_and(|r| r.values().any(|v| v.as_object().is_some_and(|m| !m.is_empty())))
    });
    json!({
        "phase": if pending { "Pending" } else { "Running" },
        "conditions": [
            plain("PodReadyToStartContainers"),
            plain("Initialized"),
            readiness("Ready"),
            readiness("ContainersReady"),
            plain("PodScheduled"),
        ],
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": start_text,
        "containerStatuses": statuses,
        "qosClass": if has_resources { "Burstable" } else { "BestEffort" },
    })
}

/// Whether a stored pod is Ready.
pub(crate) fn is_ready(pod: &Value) -> bool {
    ready_condition(pod).is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

fn ready_condition(pod: &Value) -> Option<&Value> {
    get(pod, &["status", "conditions"])
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
}

/// When a Ready pod became ready.
pub(crate) fn ready_since(pod: &Value) -> Option<DateTime<Utc>> {
    ready_condition(pod)
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .and_then(super::json::parse_time)
}

/// `IsPodAvailable`: Ready for at least `min_ready_seconds`.
pub(crate) fn is_available(pod: &Value, min_ready_seconds: i64, now: DateTime<Utc>) -> bool {
    if !is_ready(pod) {
        return false;
    }
    min_ready_seconds == 0 || ready_since(pod).is_some_and(|t| t + chrono::Duration::seconds(min_ready_seconds) < now)
}

/// `status.phase`.
pub(crate) fn phase(pod: &Value) -> &str {
    str_at(pod, &["status", "phase"]).unwrap_or("")
}

/// The total restart count of a pod's containers.
pub(crate) fn restarts(pod: &Value) -> i64 {
    get(pod, &["status", "containerStatuses"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_735_689_600, 0).unwrap_or_default()
    }

    fn at(ms: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::milliseconds(ms)
    }

    fn pod(image: &str) -> Value {
        json!({"metadata": {"name": "web-abc-xyz12", "namespace": "default", "uid": "u1"},
               "spec": {"containers": [{"name": "web", "image": image}]}})
    }

    fn profile() -> Profile {
        Profile {
            pod_ready_after: Duration::from_secs(1),
            ..Profile::fast()
        }
    }

    fn status(image: &str, ms: i64) -> Value {
        pod_status(&pod(image), t0(), at(ms), &ImageRules::new(), &profile(), "10.244.0.2")
    }

    fn cond<'a>(s: &'a Value, kind: &str) -> &'a Value {
        s["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn a_ready_pod_is_created_then_runs_and_becomes_ready() {
        let s = status("nginx:1.25", 500);
        assert_eq!(s["phase"], "Pending");
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert_eq!(cond(&s, "Ready")["status"], "False");
        assert_eq!(cond(&s, "Ready")["message"], "containers with unready status: [web]");
        assert_eq!(s["containerStatuses"][0]["image"], "nginx:1.25");

        let s = status("nginx:1.25", 1000);
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["containerStatuses"][0]["ready"], true);
        assert_eq!(s["containerStatuses"][0]["started"], true);
        assert_eq!(s["containerStatuses"][0]["image"], "docker.io/library/nginx:1.25");
        assert!(
            s["containerStatuses"][0]["imageID"]
                .as_str()
                .is_some_and(|i| i.starts_with("docker.io/library/nginx@sha256:"))
        );
        assert_eq!(cond(&s, "Ready")["status"], "True");
        assert_eq!(cond(&s, "Ready")["lastTransitionTime"], "2025-01-01T00:00:01Z");
        assert_eq!(cond(&s, "PodScheduled")["lastTransitionTime"], "2025-01-01T00:00:00Z");
        assert_eq!(s["podIP"], "10.244.0.2");
        assert_eq!(s["startTime"], "2025-01-01T00:00:00Z");
    }

    #[test]
    fn a_never_ready_pod_runs_without_becoming_ready() {
        let s = status("nginx:1.27-never-ready", 60_000);
        assert_eq!(s["phase"], "Running");
        assert!(s["containerStatuses"][0]["state"]["running"].is_object());
        assert_eq!(s["containerStatuses"][0]["ready"], false);
        assert_eq!(cond(&s, "Ready")["reason"], "ContainersNotReady");
        assert_eq!(cond(&s, "ContainersReady")["status"], "False");
    }

    #[test]
    fn image_pull_errors_alternate_between_err_image_pull_and_back_off() {
        let waiting = |ms| status("nginx:1.27-bad-pull", ms)["containerStatuses"][0]["state"]["waiting"].clone();
        assert_eq!(waiting(500)["reason"], "ContainerCreating");
        assert_eq!(waiting(1_500)["reason"], "ErrImagePull");
        assert_eq!(
            waiting(1_500)["message"],
            "failed to pull and unpack image \"nginx:1.27-bad-pull\": not found"
        );
        assert_eq!(waiting(2_500)["reason"], "ImagePullBackOff");
        assert_eq!(
            waiting(2_500)["message"],
            "Back-off pulling image \"nginx:1.27-bad-pull\""
        );
        // Second attempt at 1 s + 1 s + 10 s.
        assert_eq!(waiting(11_900)["reason"], "ImagePullBackOff");
        assert_eq!(waiting(12_100)["reason"], "ErrImagePull");
        assert_eq!(status("nginx:1.27-bad-pull", 2_500)["phase"], "Pending");
    }

    #[test]
    fn crash_loops_restart_after_doubling_back_offs() {
        let restarts = |ms| status("nginx:1-crash", ms)["containerStatuses"][0]["restartCount"].clone();
        // First start (and crash) at 1 s, restarts at 11 s, 31 s, 71 s.
        assert_eq!(restarts(1_000), 0);
        assert_eq!(restarts(10_900), 0);
        assert_eq!(restarts(11_000), 1);
        assert_eq!(restarts(30_900), 1);
        assert_eq!(restarts(31_000), 2);
        assert_eq!(restarts(71_000), 3);
        let s = status("nginx:1-crash", 31_000);
        assert_eq!(s["phase"], "Running");
        let c = &s["containerStatuses"][0];
        assert_eq!(c["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(
            c["state"]["waiting"]["message"],
            "back-off 40s restarting failed container=web pod=web-abc-xyz12_default(u1)"
        );
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(c["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(c["lastState"]["terminated"]["startedAt"], "2025-01-01T00:00:31Z");
        assert_eq!(c["ready"], false);
    }

    #[test]
    fn crash_loop_back_off_is_capped_at_five_minutes() {
        assert_eq!(go_duration(backoff(3)), "1m20s");
        assert_eq!(go_duration(backoff(5)), "5m0s");
        assert_eq!(go_duration(backoff(60)), "5m0s");
        // Starts: 1, 11, 31, 71, 151, 311, then every 300 s.
        let restarts = |s: i64| status("x:y-crash", s * 1000)["containerStatuses"][0]["restartCount"].clone();
        assert_eq!(restarts(310), 4);
        assert_eq!(restarts(311), 5);
        assert_eq!(restarts(611), 6);
        assert_eq!(restarts(3_611), 16);
    }

    #[test]
    fn ready_then_fail_pods_lose_readiness_after_the_delay() {
        let mut rules = ImageRules::new();
        rules.set(
            "flaky:*",
            Behaviour::ReadyThenFail {
                after: Duration::from_secs(3),
            },
        );
        let s = |ms| pod_status(&pod("flaky:1"), t0(), at(ms), &rules, &profile(), "10.244.0.2");
        assert_eq!(cond(&s(2_000), "Ready")["status"], "True");
        let failed = s(4_000);
        assert_eq!(cond(&failed, "Ready")["status"], "False");
        assert_eq!(cond(&failed, "Ready")["lastTransitionTime"], "2025-01-01T00:00:04Z");
        assert_eq!(failed["phase"], "Running");
    }

    #[test]
    fn a_pod_is_ready_only_when_every_container_is() {
        let mut p = pod("nginx:1.25");
        p["spec"]["containers"] =
            json!([{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "side:1-never-ready"}]);
        let s = pod_status(&p, t0(), at(5_000), &ImageRules::new(), &profile(), "10.244.0.9");
        assert_eq!(cond(&s, "Ready")["status"], "False");
        assert_eq!(cond(&s, "Ready")["message"], "containers with unready status: [b]");
        assert_eq!(s["containerStatuses"][0]["ready"], true);
    }

    #[test]
    fn images_are_normalised_like_containerd_reports_them() {
        assert_eq!(normalize_image("nginx").0, "docker.io/library/nginx:latest");
        assert_eq!(normalize_image("bitnami/redis:7").0, "docker.io/bitnami/redis:7");
        assert_eq!(normalize_image("ghcr.io/a/b:1").0, "ghcr.io/a/b:1");
        assert_eq!(normalize_image("localhost:5000/web").0, "localhost:5000/web:latest");
        assert_eq!(
            normalize_image("nginx@sha256:ab").0,
            "docker.io/library/nginx@sha256:ab"
        );
        assert_eq!(hex_digest("x").len(), 64);
    }

    /// Checks that `next_status_change` names exactly the moments at which the status
    /// changes, sampling every 50 ms over `span_ms`.
    fn assert_next_change_is_exact(image: &str, rules: &ImageRules, span_ms: i64) {
        let status_at = |ms: i64| pod_status(&pod(image), t0(), at(ms), rules, &profile(), "10.244.0.2");
        let mut ms = 0;
        while ms < span_ms {
            let now = at(ms);
            let next = next_status_change(&pod(image), t0(), now, rules, &profile());
            let current = status_at(ms);
            match next {
                Some(next) => {
                    assert!(next > now, "{image}: next change {next} is not after {now}");
                    let before = (next - t0()).num_milliseconds() - 1;
                    assert_eq!(status_at(before.max(ms)), current, "{image}: changed before {next}");
                    let after = (next - t0()).num_milliseconds();
                    assert_ne!(status_at(after), current, "{image}: nothing changed at {next}");
                }
                None => assert_eq!(
                    status_at(ms + 3_600_000),
                    current,
                    "{image}: changed after none was due"
                ),
            }
            ms += 50;
        }
    }

    #[test]
    fn the_next_status_change_is_exactly_when_the_status_changes() {
        let mut rules = ImageRules::new();
        rules.set(
            "flaky:*",
            Behaviour::ReadyThenFail {
                after: Duration::from_secs(3),
            },
        );
        assert_next_change_is_exact("nginx:1.25", &rules, 3_000);
        assert_next_change_is_exact("nginx:1.27-never-ready", &rules, 3_000);
        assert_next_change_is_exact("flaky:1", &rules, 6_000);
        assert_next_change_is_exact("nginx:1.27-bad-pull", &rules, 40_000);
        assert_next_change_is_exact("nginx:1-crash", &rules, 80_000);
    }

    #[test]
    fn a_settled_pod_has_no_next_status_change() {
        let rules = ImageRules::new();
        assert_eq!(
            next_status_change(&pod("nginx:1.25"), t0(), at(500), &rules, &profile()),
            Some(at(1_000))
        );
        assert_eq!(
            next_status_change(&pod("nginx:1.25"), t0(), at(1_000), &rules, &profile()),
            None
        );
        let crash = next_status_change(&pod("x:1-crash"), t0(), at(3_611_000), &rules, &profile());
        assert_eq!(crash, Some(at(3_911_000)));
    }

    #[test]
    fn pod_ips_count_up_from_ten_two_four_four_zero_two() {
        assert_eq!(pod_ip(0), "10.244.0.2");
        assert_eq!(pod_ip(252), "10.244.0.254");
        assert_eq!(pod_ip(253), "10.244.1.2");
    }
}
