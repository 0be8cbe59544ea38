//! The `/_sim/` control API and its in-process twin, [`Control`]: advance the manual clock,
//! change image rules, compact the watch history, pause the controllers, inject faults and
//! dump the state (spec §8). When the cluster has a token, these paths require it too.
//!
//! | request | body | effect |
//! |---|---|---|
//! | `POST /_sim/advance` | `{"seconds": N}` | moves the clock; in manual mode runs one controller tick per profile tick (at least one) |
//! | `POST /_sim/tick` | | runs one controller pass now |
//! | `PUT /_sim/images/{urlencoded image pattern}` | `{"behaviour":"never-ready"}`, `{"behaviour":"ready","after":"3s"}` | puts an image rule first |
//! | `POST /_sim/compact` | | drops the watch history: older resourceVersions get 410 Expired |
//! | `POST /_sim/drop-watches` | | cuts every open watch connection |
//! | `POST /_sim/pause-controllers`, `/_sim/resume-controllers` | | freezes and unfreezes the controllers |
//! | `GET`/`PUT /_sim/faults` | [`Faults`], e.g. `{"verbs":{"list":{"rate":0.5,"code":503}},"latencyMs":50,"expireWatches":false,"freezeControllers":false}` | fault injection, rolled from the seed |
//! | `GET /_sim/state` | | time, resourceVersion, settings and every object |
//! | `GET /_sim/requests` | | the recent Kubernetes API requests (method, path, query, content type, user agent, code) |

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Method, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::context::{Shared, SharedRef};
use super::faults::Faults;
use super::response;
use crate::clock::ClockMode;
use crate::images::Behaviour;
use crate::store::{ApiStatus, Store, timestamp};

/// In-process access to the operations of the `/_sim/` API.
#[derive(Clone)]
pub struct Control {
    shared: SharedRef,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(shared: SharedRef) -> Self {
        Self { shared }
    }

    /// Moves the clock forward. In manual mode the controllers tick once per profile tick
    /// along the way (at least once, so `advance(0)` runs one pass); returns the ticks run.
    pub fn advance(&self, by: Duration) -> u64 {
        let shared = &self.shared;
        match shared.clock.mode() {
            ClockMode::Manual => {
                let frozen = shared.controllers_frozen();
                shared.engine.advance(&shared.store, &shared.clock, by, frozen)
            }
            ClockMode::Realtime => {
                shared.clock.advance(by);
                0
            }
        }
    }

    /// Runs one controller pass now (skipped while paused or frozen).
    pub fn tick(&self) {
        self.shared.tick_now();
    }

    /// Sets the behaviour of pods whose image matches `pattern`.
    pub fn set_image_rule(&self, pattern: &str, behaviour: Behaviour) {
        self.shared.engine.set_image_rule(pattern, behaviour);
    }

    /// Replaces the fault configuration.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults().set(faults);
    }

    /// The current fault configuration.
    pub fn faults(&self) -> Faults {
        self.shared.faults().faults().clone()
    }

    /// Stops the controllers until [`Control::resume_controllers`].
    pub fn pause_controllers(&self) {
        self.shared.engine.set_paused(true);
    }

    /// Lets the controllers run again.
    pub fn resume_controllers(&self) {
        self.shared.engine.set_paused(false);
    }

    /// Drops the watch history, so watches from any older resourceVersion get 410 Expired.
    /// Returns the compaction point.
    pub fn compact(&self) -> u64 {
        self.shared.store.compact()
    }

    /// Cuts every open watch connection.
    pub fn drop_watches(&self) {
        self.shared.drop_watches.send_modify(|n| *n += 1);
    }

    /// The simulated time now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.shared.clock.now()
    }

    /// The most recent Kubernetes API requests (method, path, query, content type, user agent,
    /// accept, status code), oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.request_log()
    }

    /// The object store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// A dump of the whole state: time, resourceVersion, controller and fault settings, objects.
    pub fn state(&self) -> Value {
        let shared = &self.shared;
        json!({
            "time": timestamp(shared.clock.now()),
            "clock": match shared.clock.mode() { ClockMode::Manual => "manual", ClockMode::Realtime => "realtime" },
            "resourceVersion": shared.store.current_rv().to_string(),
            "historyFloor": shared.store.history_floor().to_string(),
            "controllersPaused": shared.engine.paused(),
            "faults": serde_json::to_value(shared.faults().faults()).unwrap_or(Value::Null),
            "objects": shared.store.dump(),
        })
    }
}

fn bad_request(message: impl Into<String>) -> Response<Body> {
    response::status(&ApiStatus::bad_request(message))
}

fn ok(extra: Value) -> Response<Body> {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    response::json(200, &body)
}

/// Serves `/_sim/<rest>`.
pub(crate) fn serve(shared: &Arc<Shared>, method: &Method, rest: &str, body: &[u8]) -> Response<Body> {
    let control = Control::new(Arc::clone(shared));
    let parse = || -> Result<Value, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(json!({}))
        } else {
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
        }
    };
    match (method, rest) {
        (&Method::POST, "advance") => {
            let value = match parse() {
                Ok(v) => v,
                Err(e) => return bad_request(e),
            };
            let seconds = value.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
            if !seconds.is_finite() || seconds < 0.0 {
                return bad_request("seconds must be a non-negative number");
            }
            let ticks = control.advance(Duration::from_secs_f64(seconds));
            ok(json!({"time": timestamp(control.now()), "ticks": ticks}))
        }
        (&Method::PUT, image) if image.starts_with("images/") => {
            let pattern = percent_decode_str(&image["images/".len()..])
                .decode_utf8_lossy()
                .into_owned();
            if pattern.is_empty() {
                return bad_request("an image pattern is required: PUT /_sim/images/{urlencoded image}");
            }
            match serde_json::from_slice::<Behaviour>(body) {
                Ok(behaviour) => {
                    control.set_image_rule(&pattern, behaviour);
                    ok(json!({"image": pattern}))
                }
                Err(e) => bad_request(format!("invalid image behaviour: {e}")),
            }
        }
        (&Method::POST, "compact") => ok(json!({"compactedAt": control.compact().to_string()})),
        (&Method::POST, "pause-controllers") => {
            control.pause_controllers();
            ok(json!({}))
        }
        (&Method::POST, "resume-controllers") => {
            control.resume_controllers();
            ok(json!({}))
        }
        (&Method::POST, "drop-watches") => {
            control.drop_watches();
            ok(json!({}))
        }
        (&Method::POST, "tick") => {
            control.tick();
            ok(json!({}))
        }
        (&Method::GET, "state") => response::json(200, &control.state()),
        (&Method::GET, "requests") => response::json(200, &json!({"items": control.requests()})),
        (&Method::GET, "faults") => response::json(200, &serde_json::to_value(control.faults()).unwrap_or(Value::Null)),
        (&Method::PUT, "faults") => match serde_json::from_slice::<Faults>(body) {
            Ok(faults) => {
                control.set_faults(faults);
                ok(json!({}))
            }
            Err(e) => bad_request(format!("invalid faults: {e}")),
        },
        (
            _,
            "advance" | "compact" | "pause-controllers" | "resume-controllers" | "drop-watches" | "tick" | "state"
            | "faults" | "requests",
        ) => response::status(&ApiStatus::method_not_allowed()),
        _ => response::status(&ApiStatus::unknown_path()),
    }
}
