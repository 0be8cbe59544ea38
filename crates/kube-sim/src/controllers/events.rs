//! core/v1 Event objects recorded by the controllers.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::json::{format_time, name, namespace, str_at, uid};
use crate::rng::SimRng;

/// The object an event is about, and who records it.
pub(crate) struct Subject<'a> {
    /// The stored object.
    pub(crate) object: &'a Value,
    /// Its Kind.
    pub(crate) kind: &'a str,
    /// Its apiVersion.
    pub(crate) api_version: &'a str,
    /// The recording component (`deployment-controller`, …).
    pub(crate) component: &'a str,
}

/// A `Normal` event about `subject`.
pub(crate) fn normal_event(
    rng: &mut SimRng,
    subject: &Subject<'_>,
    reason: &str,
    message: String,
    now: DateTime<Utc>,
) -> Value {
    let Subject {
        object: involved,
        kind,
        api_version,
        component,
    } = *subject;
    let time = format_time(now);
    let mut involved_object = json!({
        "kind": kind,
        "namespace": namespace(involved),
        "name": name(involved),
        "uid": uid(involved),
        "apiVersion": api_version,
    });
    if let Some(rv) = str_at(involved, &["metadata", "resourceVersion"]) {
        involved_object["resourceVersion"] = json!(rv);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{}.{:016x}", name(involved), rng.next_u64()),
            "namespace": namespace(involved),
        },
        "involvedObject": involved_object,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": time,
        "lastTimestamp": time,
        "count": 1,
        "type": "Normal",
        "reportingComponent": component,
        "reportingInstance": "",
    })
}
