//! The controller loop: each tick takes a snapshot of the store, asks the controllers what to
//! write, and writes it through the normal store write path as `kube-controller-manager`.
//!
//! A tick is skipped when it could not do anything: the last pass wrote nothing, learnt
//! nothing and left nothing for housekeeping, the store's resourceVersion has not moved since
//! its snapshot, and no timer the controllers reported ([`crate::controllers::NextPass`]) is
//! due. A skipped tick is exactly a tick that would have changed nothing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::clock::{Profile, SimClock};
use crate::controllers::{Action, Controllers, NextPass};
use crate::images::Behaviour;
use crate::store::{
    CONTROLLER_MANAGER, DeleteOptions, FieldValidation, ResourceType, Store, StoreError, Subresource, WriteOptions,
};

/// How long the controller loop writes before it offers its CPU to other threads. Its writes
/// take the store's lock for a few microseconds each; a thread preempted inside that section
/// (its time slice used up) stalls every request until it runs again. Yielding between
/// writes, outside the lock, well within a time slice, lets it give way there instead.
const YIELD_EVERY: Duration = Duration::from_micros(200);

/// At most this many ticks run for one manual `advance`; longer advances take larger steps.
const MAX_TICKS_PER_ADVANCE: u64 = 20_000;

/// The simulated controllers and whether they are paused.
pub(crate) struct Engine {
    /// The controllers, and what the last pass left behind when it changed nothing. Held for
    /// a whole pass, so passes never interleave.
    controllers: Mutex<(Controllers, Option<Quiet>)>,
    paused: AtomicBool,
    profile: Profile,
}

/// A pass that changed nothing: the resourceVersion it saw, and the first time at which a
/// pass over the same objects could do something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quiet {
    rv: u64,
    due: Option<DateTime<Utc>>,
}

/// Whether a pass at `now`, with the store at `current_rv`, would repeat a quiet pass.
pub(crate) fn can_skip(quiet: Option<Quiet>, current_rv: u64, now: DateTime<Utc>) -> bool {
    quiet.is_some_and(|q| q.rv == current_rv && q.due.is_none_or(|due| now < due))
}

/// What a pass over the objects at `rv` leaves for the next one.
pub(crate) fn quiet_after(next: NextPass, rv: u64, housekeeping_changed: bool) -> Option<Quiet> {
    if housekeeping_changed {
        return None;
    }
    match next {
        NextPass::Now => None,
        NextPass::At(due) => Some(Quiet { rv, due: Some(due) }),
        NextPass::OnChange => Some(Quiet { rv, due: None }),
    }
}

fn resource(plural: &str) -> Option<&'static ResourceType> {
    ResourceType::by_plural(plural)
}

fn namespace_of(object: &Value) -> String {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn name_of(object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Writes one controller action. Stale or otherwise refused writes are dropped: the next tick
/// sees the newer state and tries again.
fn apply_action(store: &Store, action: Action) -> Result<(), StoreError> {
    // The controllers build their objects from stored ones and write only schema fields
    // (see `the_controllers_write_only_fields_the_schema_knows`): skip that check.
    let options = WriteOptions {
        validation: FieldValidation::Skip,
        ..WriteOptions::new(CONTROLLER_MANAGER)
    };
    let unknown = |plural: &str| StoreError::BadRequest(format!("unknown resource {plural}"));
    match action {
        Action::Create {
            resource: plural,
            object,
        } => {
            let rt = resource(plural).ok_or_else(|| unknown(plural))?;
            store.create_shared(rt, &namespace_of(&object), object, &options, true)?;
        }
        Action::Update {
            resource: plural,
            object,
        } => {
            let rt = resource(plural).ok_or_else(|| unknown(plural))?;
            store.update_shared(rt, &namespace_of(&object), &name_of(&object), object, None, &options)?;
        }
        Action::UpdateStatus {
            resource: plural,
            object,
        } => {
            let rt = resource(plural).ok_or_else(|| unknown(plural))?;
            let (ns, name) = (namespace_of(&object), name_of(&object));
            store.update_shared(rt, &ns, &name, object, Some(Subresource::Status), &options)?;
        }
        Action::Delete {
            resource: plural,
            namespace,
            name,
        } => {
            let rt = resource(plural).ok_or_else(|| unknown(plural))?;
            store.delete(rt, &namespace, &name, &DeleteOptions::default())?;
        }
        Action::Remove {
            resource: plural,
            namespace,
            name,
        } => {
            let rt = resource(plural).ok_or_else(|| unknown(plural))?;
            store.remove(rt, &namespace, &name)?;
        }
    }
    Ok(())
}

impl Engine {
    pub(crate) fn new(controllers: Controllers, profile: Profile) -> Self {
        Self {
            controllers: Mutex::new((controllers, None)),
            paused: AtomicBool::new(false),
            profile,
        }
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    pub(crate) fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub(crate) fn set_image_rule(&self, pattern: &str, behaviour: Behaviour) {
        let mut guard = self.controllers.lock().unwrap_or_else(|p| p.into_inner());
        let (controllers, quiet) = &mut *guard;
        controllers.rules_mut().set(pattern, behaviour);
        // Pod statuses depend on the rules: the next pass must look again.
        *quiet = None;
    }

    /// One controller pass (not while paused or frozen), skipped when it could not change
    /// anything. Returns whether it ran.
    pub(crate) fn tick(&self, store: &Store, clock: &SimClock, frozen: bool) -> bool {
        self.pass(store, clock, frozen, true)
    }

    /// One controller pass now, even when it would change nothing (not while paused or
    /// frozen). Returns whether it ran.
    pub(crate) fn tick_now(&self, store: &Store, clock: &SimClock, frozen: bool) -> bool {
        self.pass(store, clock, frozen, false)
    }

    fn pass(&self, store: &Store, clock: &SimClock, frozen: bool, may_skip: bool) -> bool {
        if frozen || self.paused() {
            return false;
        }
        let mut guard = self.controllers.lock().unwrap_or_else(|p| p.into_inner());
        let (controllers, quiet) = &mut *guard;
        if may_skip && can_skip(*quiet, store.current_rv(), clock.now()) {
            return false;
        }
        // Start the snapshot (a section under the store's lock) on a fresh time slice.
        std::thread::yield_now();
        let (snapshot, rv) = store.snapshot_with_rv();
        let actions = controllers.tick(&snapshot, clock.now());
        drop(snapshot);
        let mut running_since = Instant::now();
        for action in actions {
            if running_since.elapsed() >= YIELD_EVERY {
                std::thread::yield_now();
                running_since = Instant::now();
            }
            if let Err(error) = apply_action(store, action) {
                tracing::debug!(message = "Dropped a controller write.", error = %error, kind = error.kind());
            }
        }
        let housekeeping_changed = store.housekeeping();
        *quiet = quiet_after(controllers.next_pass(), rv, housekeeping_changed);
        true
    }

    /// Moves a manual clock forward by `by`, running a tick after each step of the profile's
    /// tick length (at least one tick, even for a zero advance).
    pub(crate) fn advance(&self, store: &Store, clock: &SimClock, by: Duration, frozen: bool) -> u64 {
        let tick = self.profile.tick.max(Duration::from_millis(1));
        let mut steps = (by.as_nanos() / tick.as_nanos()) as u64;
        let mut step = tick;
        if steps > MAX_TICKS_PER_ADVANCE {
            step = by / MAX_TICKS_PER_ADVANCE as u32;
            steps = MAX_TICKS_PER_ADVANCE;
        }
        let mut moved = Duration::ZERO;
        for _ in 0..steps {
            clock.advance(step);
            moved += step;
            self.tick(store, clock, frozen);
        }
        if by > moved {
            clock.advance(by - moved);
        }
        if steps == 0 || by > moved {
            self.tick(store, clock, frozen);
        }
        steps.max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use serde_json::{Value, json};

    use super::*;
    use crate::clock::ClockMode;
    use crate::images::ImageRules;
    use crate::store::PropagationPolicy;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_else(Utc::now)
    }

    fn profile() -> Profile {
        Profile {
            tick: Duration::from_millis(100),
            pod_ready_after: Duration::from_secs(1),
            max_grace: Duration::from_secs(2),
            speed: 1.0,
        }
    }

    fn rules() -> ImageRules {
        let mut rules = ImageRules::new();
        rules.set(
            "flaky:*",
            Behaviour::ReadyThenFail {
                after: Duration::from_secs(3),
            },
        );
        rules
    }

    /// A store and engine on a manual clock.
    fn world(seed: u64) -> (Store, SimClock, Engine) {
        let clock = SimClock::new(ClockMode::Manual, t0());
        let store = Store::new(clock.clone(), seed ^ 0x5EED, 10_000);
        let engine = Engine::new(Controllers::new(seed, rules(), profile()), profile());
        (store, clock, engine)
    }

    fn deployment(name: &str, replicas: i64, image: &str, min_ready: i64) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "minReadySeconds": min_ready,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}
            }
        })
    }

    fn deployments() -> &'static ResourceType {
        ResourceType::by_plural("deployments").unwrap_or(&crate::store::RESOURCES[0])
    }

    fn create(store: &Store, d: Value) {
        let result = store.create(deployments(), "default", d, &WriteOptions::new("test"), false);
        assert!(result.is_ok(), "{result:?}");
    }

    fn set_image(store: &Store, name: &str, image: &str) {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        patch_in(store, "default", name, patch);
    }

    fn available(store: &Store, name: &str) -> i64 {
        store
            .get(deployments(), "default", name)
            .ok()
            .and_then(|d| d.pointer("/status/availableReplicas").and_then(Value::as_i64))
            .unwrap_or(0)
    }

    #[test]
    fn a_quiet_pass_is_repeated_only_when_the_store_moves_or_a_timer_falls_due() {
        let at = |ms: i64| t0() + chrono::Duration::milliseconds(ms);
        let timed = quiet_after(NextPass::At(at(500)), 7, false);
        assert!(can_skip(timed, 7, at(100)));
        assert!(can_skip(timed, 7, at(499)));
        assert!(!can_skip(timed, 7, at(500)), "the timer is due");
        assert!(!can_skip(timed, 8, at(100)), "the store moved");
        let idle = quiet_after(NextPass::OnChange, 7, false);
        assert!(can_skip(idle, 7, at(1_000_000)));
        assert!(!can_skip(idle, 9, at(0)));
        assert_eq!(quiet_after(NextPass::Now, 7, false), None);
        assert_eq!(
            quiet_after(NextPass::OnChange, 7, true),
            None,
            "housekeeping changed the store"
        );
        assert!(!can_skip(None, 7, at(0)));
    }

    #[test]
    fn skipped_ticks_still_advance_a_rollout_when_a_pod_timer_falls_due() {
        let (store, clock, engine) = world(3);
        create(&store, deployment("web", 2, "nginx:1.25", 0));
        let mut ran = 0;
        let mut skipped_while_waiting = 0;
        let mut ready_at = None;
        for step in 1..=40 {
            clock.advance(profile().tick);
            if engine.tick(&store, &clock, false) {
                ran += 1;
            } else if ready_at.is_none() {
                skipped_while_waiting += 1;
            }
            if ready_at.is_none() && available(&store, "web") == 2 {
                ready_at = Some(step);
            }
        }
        // Pods are ready 1 s (10 ticks) after creation; the rollout must not wait longer.
        assert!(ready_at.is_some_and(|s| s <= 16), "rolled out at tick {ready_at:?}");
        assert!(skipped_while_waiting > 0, "no tick was skipped while pods started");
        assert!(ran < 40, "every tick ran although the cluster was settled");
        let settled_rv = store.current_rv();
        for _ in 0..50 {
            clock.advance(profile().tick);
            assert!(!engine.tick(&store, &clock, false), "a tick ran in a settled cluster");
        }
        assert_eq!(store.current_rv(), settled_rv);
        assert!(engine.tick_now(&store, &clock, false), "a forced tick runs");
    }

    #[test]
    fn a_changed_image_rule_wakes_the_controllers() {
        let (store, clock, engine) = world(4);
        create(&store, deployment("web", 1, "app:1", 0));
        for _ in 0..30 {
            clock.advance(profile().tick);
            engine.tick(&store, &clock, false);
        }
        assert_eq!(available(&store, "web"), 1);
        engine.set_image_rule("app:*", Behaviour::NeverReady);
        clock.advance(profile().tick);
        assert!(engine.tick(&store, &clock, false), "the rule change was ignored");
    }

    /// Every stored object after each tick, over rollouts that exercise every timer.
    fn history(seed: u64, may_skip: bool) -> (Vec<String>, usize) {
        let (store, clock, engine) = world(seed);
        create(&store, deployment("web", 3, "nginx:1.25", 0));
        create(&store, deployment("slow", 2, "nginx:1.25", 2));
        create(&store, deployment("crash", 1, "nginx:1-crash", 0));
        create(&store, deployment("pull", 1, "nginx:1-bad-pull", 0));
        create(&store, deployment("flaky", 1, "flaky:1", 0));
        let mut dumps = Vec::new();
        let mut ran = 0;
        for step in 0..400 {
            match step {
                60 => set_image(&store, "web", "nginx:1.26"),
                90 => set_image(&store, "slow", "nginx:1.26"),
                150 => set_image(&store, "web", "nginx:1.27-never-ready"),
                _ => {}
            }
            clock.advance(profile().tick);
            let did_run = if may_skip {
                engine.tick(&store, &clock, false)
            } else {
                engine.tick_now(&store, &clock, false)
            };
            ran += usize::from(did_run);
            dumps.push(serde_json::to_string(&store.dump()).unwrap_or_default());
        }
        (dumps, ran)
    }

    #[test]
    fn the_controllers_write_only_fields_the_schema_knows() {
        let (store, clock, _) = world(5);
        let mut controllers = Controllers::new(5, rules(), profile());
        create(&store, deployment("web", 3, "nginx:1.25", 0));
        create(&store, deployment("slow", 2, "nginx:1.25", 1));
        create(&store, deployment("crash", 1, "nginx:1-crash", 0));
        create(&store, deployment("pull", 1, "nginx:1-bad-pull", 0));
        create(&store, deployment("flaky", 1, "flaky:1", 0));
        let mut checked = 0;
        for step in 0..200 {
            if step == 40 {
                set_image(&store, "web", "nginx:1.26");
                set_image(&store, "slow", "nginx:1.26");
            }
            clock.advance(profile().tick);
            let actions = controllers.tick(&store.snapshot(), clock.now());
            for action in &actions {
                if let Action::Create {
                    resource: plural,
                    object,
                }
                | Action::Update {
                    resource: plural,
                    object,
                }
                | Action::UpdateStatus {
                    resource: plural,
                    object,
                } = action
                {
                    let kind = resource(plural).map_or("", |r| r.kind);
                    let unknown = crate::schema::unknown_fields(kind, object);
                    assert!(unknown.is_empty(), "{kind} written with unknown fields {unknown:?}");
                    checked += 1;
                }
            }
            for action in actions {
                let _ = apply_action(&store, action);
            }
            store.housekeeping();
        }
        assert!(checked > 50, "only {checked} writes were checked");
    }

    /// Every stored object after each pass of controllers that forget their caches of quiet
    /// pods, ReplicaSets and Deployments before each pass (`forget`) or keep them.
    fn passes(seed: u64, forget: bool) -> Vec<String> {
        let (store, clock, _) = world(seed);
        let mut controllers = Controllers::new(seed, rules(), profile());
        create(&store, deployment("web", 3, "nginx:1.25", 0));
        create(&store, deployment("slow", 2, "nginx:1.25", 1));
        create(&store, deployment("crash", 1, "nginx:1-crash", 0));
        create(&store, deployment("pull", 1, "nginx:1-bad-pull", 0));
        create(&store, deployment("flaky", 1, "flaky:1", 0));
        let mut dumps = Vec::new();
        for step in 0..300 {
            if step == 60 {
                set_image(&store, "web", "nginx:1.26");
            }
            clock.advance(profile().tick);
            if forget {
                controllers.rules_mut();
            }
            for action in controllers.tick(&store.snapshot(), clock.now()) {
                let _ = apply_action(&store, action);
            }
            store.housekeeping();
            dumps.push(serde_json::to_string(&store.dump()).unwrap_or_default());
        }
        dumps
    }

    fn namespaces() -> &'static ResourceType {
        ResourceType::by_plural("namespaces").unwrap_or(&crate::store::RESOURCES[0])
    }

    fn pods() -> &'static ResourceType {
        ResourceType::by_plural("pods").unwrap_or(&crate::store::RESOURCES[0])
    }

    fn patch_in(store: &Store, ns: &str, name: &str, patch: Value) {
        let result = store.patch(
            deployments(),
            ns,
            name,
            crate::store::PatchKind::Strategic,
            &patch,
            None,
            &WriteOptions::new("test"),
        );
        assert!(result.is_ok(), "{result:?}");
    }

    fn delete_in(store: &Store, resource: &'static ResourceType, ns: &str, name: &str, policy: PropagationPolicy) {
        let options = DeleteOptions {
            propagation: Some(policy),
            ..DeleteOptions::default()
        };
        let result = store.delete(resource, ns, name, &options);
        assert!(result.is_ok(), "{result:?}");
    }

    /// The actions of every pass over a varied run: several namespaces, every image
    /// behaviour, `minReadySeconds`, Recreate, a short progress deadline, scaling, pausing,
    /// background, orphan and foreground deletes, a re-created owner adopting its orphans and
    /// a pod deleted by hand. `forget` drops every cache of the controllers before each pass.
    fn varied(seed: u64, forget: bool) -> Vec<String> {
        let (store, clock, _) = world(seed);
        let mut controllers = Controllers::new(seed, rules(), profile());
        for ns in ["alpha", "beta"] {
            let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let result = store.create(namespaces(), "", object, &WriteOptions::new("test"), false);
            assert!(result.is_ok(), "{result:?}");
        }
        let spaces = ["default", "alpha", "beta"];
        let images = [
            "nginx:1.25",
            "nginx:1-crash",
            "nginx:1-bad-pull",
            "flaky:1",
            "nginx:1.25-never-ready",
        ];
        let app = |i: usize| (spaces[i % 3], format!("app-{i}"));
        let create_app = |i: usize| {
            let (ns, name) = app(i);
            let mut d = deployment(&name, 1 + (i % 3) as i64, images[i % 5], i64::from(i.is_multiple_of(4)));
            if i == 9 {
                d["spec"]["strategy"] = json!({"type": "Recreate"});
            }
            if i == 10 {
                d["spec"]["progressDeadlineSeconds"] = json!(2);
            }
            let result = store.create(deployments(), ns, d, &WriteOptions::new("test"), false);
            assert!(result.is_ok(), "{result:?}");
        };
        for i in 0..24 {
            create_app(i);
        }
        let image =
            |image: &str| json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        let mut trace = Vec::new();
        for step in 0..450 {
            match step {
                40 => {
                    for i in (0..24).filter(|i| i % 3 != 2) {
                        let (ns, name) = app(i);
                        patch_in(&store, ns, &name, image("nginx:1.26"));
                    }
                }
                80 => {
                    patch_in(&store, app(1).0, &app(1).1, json!({"spec": {"replicas": 5}}));
                    patch_in(&store, app(2).0, &app(2).1, json!({"spec": {"replicas": 0}}));
                }
                120 => delete_in(
                    &store,
                    deployments(),
                    app(3).0,
                    &app(3).1,
                    PropagationPolicy::Background,
                ),
                160 => delete_in(&store, deployments(), app(4).0, &app(4).1, PropagationPolicy::Orphan),
                170 => create_app(4),
                200 => delete_in(
                    &store,
                    deployments(),
                    app(5).0,
                    &app(5).1,
                    PropagationPolicy::Foreground,
                ),
                240 | 250 => {
                    let victim = store
                        .snapshot()
                        .pods
                        .iter()
                        .find(|p| {
                            p.pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.starts_with("app-6-"))
                        })
                        .and_then(|p| p.pointer("/metadata/name").and_then(Value::as_str).map(str::to_owned));
                    if let Some(name) = victim {
                        delete_in(&store, pods(), app(6).0, &name, PropagationPolicy::Background);
                    }
                }
                280 => patch_in(&store, app(7).0, &app(7).1, json!({"spec": {"paused": true}})),
                290 => patch_in(&store, app(7).0, &app(7).1, image("nginx:1.27")),
                330 => patch_in(&store, app(7).0, &app(7).1, json!({"spec": {"paused": false}})),
                _ => {}
            }
            clock.advance(profile().tick);
            if forget {
                controllers.forget_caches();
            }
            let actions = controllers.tick(&store.snapshot(), clock.now());
            trace.extend(actions.iter().map(|a| format!("{step} {a:?}")));
            for action in actions {
                let _ = apply_action(&store, action);
            }
            store.housekeeping();
        }
        trace.push(serde_json::to_string(&store.dump()).unwrap_or_default());
        trace
    }

    #[test]
    fn the_caches_change_no_action_in_a_varied_run() {
        let cached = varied(31, false);
        let fresh = varied(31, true);
        assert!(
            cached.len() > 500,
            "only {} actions: the run exercises too little",
            cached.len()
        );
        for (i, (a, b)) in cached.iter().zip(&fresh).enumerate() {
            assert!(a == b, "action {i} differs:\n{a}\n{b}");
        }
        assert_eq!(cached.len(), fresh.len());
    }

    #[test]
    fn a_varied_run_is_the_same_from_the_same_seed() {
        assert!(varied(32, false) == varied(32, false));
    }

    #[test]
    fn the_caches_of_quiet_objects_change_nothing_the_store_shows() {
        let cached = passes(21, false);
        let fresh = passes(21, true);
        for (step, (a, b)) in cached.iter().zip(&fresh).enumerate() {
            assert!(a == b, "the store differs after pass {step}");
        }
    }

    #[test]
    fn skipping_quiet_ticks_changes_nothing_the_store_shows() {
        let (every, ran_every) = history(11, false);
        let (skipping, ran_skipping) = history(11, true);
        assert_eq!(ran_every, 400);
        assert!(
            ran_skipping < 300,
            "only {} of 400 ticks were skipped",
            400 - ran_skipping
        );
        for (step, (a, b)) in every.iter().zip(&skipping).enumerate() {
            assert!(a == b, "the store differs after tick {step}");
        }
    }
}
