//! The controller loop: each tick takes a snapshot of the store, asks the controllers what to
//! write, and writes it through the normal store write path as `kube-controller-manager`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::clock::{Profile, SimClock};
use crate::controllers::{Action, Controllers};
use crate::images::Behaviour;
use crate::store::{CONTROLLER_MANAGER, DeleteOptions, ResourceType, Store, StoreError, Subresource, WriteOptions};

/// At most this many ticks run for one manual `advance`; longer advances take larger steps.
const MAX_TICKS_PER_ADVANCE: u64 = 20_000;

/// The simulated controllers and whether they are paused.
pub(crate) struct Engine {
    controllers: Mutex<Controllers>,
    paused: AtomicBool,
    profile: Profile,
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
    let options = WriteOptions::new(CONTROLLER_MANAGER);
    let unknown = |plural: &str| StoreError::BadRequest(format!("unknown resource {plural}"));
    match action {
        Action::Create {
            resource: plural,
            object,
        } => {
            let rt = resource(plural).ok_or_else(|| unknown(plural))?;
            store.create(rt, &namespace_of(&object), object, &options, true)?;
        }
        Action::Update {
            resource: plural,
            object,
        } => {
            let rt = resource(plural).ok_or_else(|| unknown(plural))?;
            store.update(rt, &namespace_of(&object), &name_of(&object), object, None, &options)?;
        }
        Action::UpdateStatus {
            resource: plural,
            object,
        } => {
            let rt = resource(plural).ok_or_else(|| unknown(plural))?;
            let (ns, name) = (namespace_of(&object), name_of(&object));
            store.update(rt, &ns, &name, object, Some(Subresource::Status), &options)?;
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
            controllers: Mutex::new(controllers),
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
        let mut controllers = self.controllers.lock().unwrap_or_else(|p| p.into_inner());
        controllers.rules_mut().set(pattern, behaviour);
    }

    /// One controller pass (skipped while paused or frozen).
    pub(crate) fn tick(&self, store: &Store, clock: &SimClock, frozen: bool) {
        if frozen || self.paused() {
            return;
        }
        let snapshot = store.snapshot();
        let actions = {
            let mut controllers = self.controllers.lock().unwrap_or_else(|p| p.into_inner());
            controllers.tick(&snapshot, clock.now())
        };
        for action in actions {
            if let Err(error) = apply_action(store, action) {
                tracing::debug!(message = "Dropped a controller write.", error = %error, kind = error.kind());
            }
        }
        store.housekeeping();
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
