//! `meta.k8s.io/v1` Table output for `kubectl get` (spec §3.5): the columns of kubectl's
//! printers for each kind, with priority-1 columns shown only by `-o wide`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::age::age_since;

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// One column: name, type, format, description, priority.
struct Column(&'static str, &'static str, &'static str, &'static str, u8);

const fn name_col() -> Column {
    Column("Name", "string", "name", NAME_DOC, 0)
}

const fn age_col() -> Column {
    Column("Age", "string", "", AGE_DOC, 0)
}

fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Deployment" => vec![
            name_col(),
            Column("Ready", "string", "", "Number of the pod with ready state", 0),
            Column(
                "Up-to-date",
                "integer",
                "",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                0,
            ),
            Column(
                "Available",
                "integer",
                "",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                0,
            ),
            age_col(),
            Column(
                "Containers",
                "string",
                "",
                "Names of each container in the template.",
                1,
            ),
            Column(
                "Images",
                "string",
                "",
                "Images referenced by each container in the template.",
                1,
            ),
            Column(
                "Selector",
                "string",
                "",
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
                1,
            ),
        ],
        "ReplicaSet" => vec![
            name_col(),
            Column("Desired", "integer", "", "Replicas is the number of desired pods.", 0),
            Column(
                "Current",
                "integer",
                "",
                "Replicas is the most recently observed number of replicas.",
                0,
            ),
            Column(
                "Ready",
                "integer",
                "",
                "readyReplicas is the number of pods targeted by this ReplicaSet with a Ready Condition.",
                0,
            ),
            age_col(),
            Column(
                "Containers",
                "string",
                "",
                "Names of each container in the template.",
                1,
            ),
            Column(
                "Images",
                "string",
                "",
                "Images referenced by each container in the template.",
                1,
            ),
            Column(
                "Selector",
                "string",
                "",
                "Selector is a label query over pods that should match the replica count.",
                1,
            ),
        ],
        "Pod" => vec![
            name_col(),
            Column(
                "Ready",
                "string",
                "",
                "The aggregate readiness state of this pod for accepting traffic.",
                0,
            ),
            Column(
                "Status",
                "string",
                "",
                "The aggregate status of the containers in this pod.",
                0,
            ),
            Column(
                "Restarts",
                "string",
                "",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                0,
            ),
            age_col(),
            Column(
                "IP",
                "string",
                "",
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                1,
            ),
            Column(
                "Node",
                "string",
                "",
                "NodeName is a request to schedule this pod onto a specific node.",
                1,
            ),
            Column(
                "Nominated Node",
                "string",
                "",
                "nominatedNodeName is set only when this pod preempts other pods on the node.",
                1,
            ),
            Column(
                "Readiness Gates",
                "string",
                "",
                "If specified, all readiness gates will be evaluated for pod readiness.",
                1,
            ),
        ],
        "Namespace" => vec![
            name_col(),
            Column("Status", "string", "", "The status of the namespace", 0),
            age_col(),
        ],
        "Service" => vec![
            name_col(),
            Column("Type", "string", "", "type determines how the Service is exposed.", 0),
            Column(
                "Cluster-IP",
                "string",
                "",
                "clusterIP is the IP address of the service.",
                0,
            ),
            Column(
                "External-IP",
                "string",
                "",
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
                0,
            ),
            Column(
                "Port(s)",
                "string",
                "",
                "The list of ports that are exposed by this service.",
                0,
            ),
            age_col(),
            Column(
                "Selector",
                "string",
                "",
                "Route service traffic to pods with label keys and values matching this selector.",
                1,
            ),
        ],
        "ConfigMap" => vec![
            name_col(),
            Column("Data", "string", "", "Data contains the configuration data.", 0),
            age_col(),
        ],
        "Secret" => vec![
            name_col(),
            Column(
                "Type",
                "string",
                "",
                "Used to facilitate programmatic handling of secret data.",
                0,
            ),
            Column("Data", "string", "", "Data contains the secret data.", 0),
            age_col(),
        ],
        "Event" => vec![
            Column(
                "Last Seen",
                "string",
                "",
                "The time at which the most recent occurrence of this event was recorded.",
                0,
            ),
            Column(
                "Type",
                "string",
                "",
                "Type of this event (Normal, Warning), new types could be added in the future",
                0,
            ),
            Column(
                "Reason",
                "string",
                "",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                0,
            ),
            Column("Object", "string", "", "The object that this event is about.", 0),
            Column(
                "Subobject",
                "string",
                "",
                "The field of the object that this event is about.",
                1,
            ),
            Column("Source", "string", "", "The component reporting this event.", 1),
            Column(
                "Message",
                "string",
                "",
                "A human-readable description of the status of this operation.",
                0,
            ),
            Column(
                "First Seen",
                "string",
                "",
                "The time at which the event was first recorded.",
                1,
            ),
            Column("Count", "string", "", "The number of times this event has occurred.", 1),
            Column("Name", "string", "name", NAME_DOC, 1),
        ],
        _ => vec![name_col(), Column("Created At", "date", "", AGE_DOC, 0)],
    }
}

/// The Table for `objects` of `kind`. With `wide_columns_included` every column is present
/// (as the API server sends it; kubectl hides priority-1 columns without `-o wide`);
/// otherwise priority-1 columns are left out. `metadata` is empty: the caller sets its
/// `resourceVersion`.
pub fn table(kind: &str, objects: &[Value], wide_columns_included: bool, now: DateTime<Utc>) -> Value {
    let cols = columns(kind);
    let keep: Vec<bool> = cols.iter().map(|c| wide_columns_included || c.4 == 0).collect();
    let definitions: Vec<Value> = cols
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(c, _)| json!({"name":c.0,"type":c.1,"format":c.2,"description":c.3,"priority":c.4}))
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let cells: Vec<Value> = cells(kind, obj, now)
                .into_iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(c, _)| c)
                .collect();
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if let Some(conditions) = row_conditions(kind, obj) {
                row.insert("conditions".into(), conditions);
            }
            row.insert("object".into(), partial_metadata(obj));
            Value::Object(row)
        })
        .collect();
    json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},"columnDefinitions":definitions,"rows":rows})
}

fn partial_metadata(obj: &Value) -> Value {
    let mut meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.remove("managedFields");
    }
    json!({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":meta})
}

fn row_conditions(kind: &str, obj: &Value) -> Option<Value> {
    if kind != "Pod" {
        return None;
    }
    match obj.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Some(
            json!([{"type":"Completed","status":"True","reason":"Succeeded","message":"The pod has completed successfully."}]),
        ),
        Some("Failed") => {
            Some(json!([{"type":"Completed","status":"True","reason":"Failed","message":"The pod failed."}]))
        }
        _ => None,
    }
}

fn text<'v>(obj: &'v Value, pointer: &str) -> &'v str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn number(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".to_owned() } else { s }
}

fn cells(kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(text(obj, "/metadata/name"));
    let age = json!(age_since(
        obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str),
        now
    ));
    match kind {
        "Deployment" => {
            let (containers, images) = containers_and_images(obj);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    number(obj, "/status/readyReplicas"),
                    number(obj, "/spec/replicas")
                )),
                json!(number(obj, "/status/updatedReplicas")),
                json!(number(obj, "/status/availableReplicas")),
                age,
                json!(containers),
                json!(images),
                json!(format_label_selector(obj.pointer("/spec/selector"))),
            ]
        }
        "ReplicaSet" => {
            let (containers, images) = containers_and_images(obj);
            vec![
                name,
                json!(number(obj, "/spec/replicas")),
                json!(number(obj, "/status/replicas")),
                json!(number(obj, "/status/readyReplicas")),
                age,
                json!(containers),
                json!(images),
                json!(format_label_selector(obj.pointer("/spec/selector"))),
            ]
        }
        "Pod" => pod_cells(obj, name, age, now),
        "Namespace" => vec![name, json!(text(obj, "/status/phase")), age],
        "Service" => vec![
            name,
            json!(text(obj, "/spec/type")),
            json!(or_none(text(obj, "/spec/clusterIP").to_owned())),
            json!(service_external_ip(obj)),
            json!(service_ports(obj)),
            age,
            json!(format_labels(obj.pointer("/spec/selector"))),
        ],
        "ConfigMap" => {
            let count = |p: &str| obj.pointer(p).and_then(Value::as_object).map_or(0, Map::len);
            vec![name, json!(count("/data") + count("/binaryData")), age]
        }
        "Secret" => {
            let count = obj.pointer("/data").and_then(Value::as_object).map_or(0, Map::len);
            vec![name, json!(text(obj, "/type")), json!(count), age]
        }
        "Event" => event_cells(obj, now),
        _ => vec![name, json!(text(obj, "/metadata/creationTimestamp"))],
    }
}

fn containers_and_images(obj: &Value) -> (String, String) {
    let list = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = list.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = list.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// `metav1.FormatLabelSelector`: requirements sorted by key, `<none>` when empty.
fn format_label_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return "<none>".to_owned();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = text(e, "/key").to_owned();
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let rendered = match text(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return "<error>".to_owned(),
        };
        reqs.push((key, rendered));
    }
    reqs.sort();
    or_none(reqs.into_iter().map(|(_, r)| r).collect::<Vec<_>>().join(","))
}

/// `labels.FormatLabels`: `k=v` sorted by key, `<none>` when empty.
fn format_labels(labels: Option<&Value>) -> String {
    let mut pairs: Vec<String> = labels
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    or_none(pairs.join(","))
}

fn service_external_ip(svc: &Value) -> String {
    let external: Vec<&str> = svc
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match text(svc, "/spec/type") {
        "ClusterIP" | "NodePort" | "" => or_none(external.join(",")),
        "LoadBalancer" => {
            let mut ips: Vec<String> = svc
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|i| {
                    let ip = text(i, "/ip");
                    if ip.is_empty() {
                        text(i, "/hostname").to_owned()
                    } else {
                        ip.to_owned()
                    }
                })
                .filter(|s| !s.is_empty())
                .collect();
            ips.extend(external.iter().map(|s| (*s).to_owned()));
            if ips.is_empty() {
                "<pending>".to_owned()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => text(svc, "/spec/externalName").to_owned(),
        _ => "<unknown>".to_owned(),
    }
}

fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n > 0) {
                Some(node) => format!("{}:{node}/{protocol}", number(p, "/port")),
                None => format!("{}/{protocol}", number(p, "/port")),
            }
        })
        .collect();
    or_none(ports.join(","))
}

fn pod_cells(pod: &Value, name: Value, age: Value, now: DateTime<Utc>) -> Vec<Value> {
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let phase = text(pod, "/status/phase");
    let mut reason = text(pod, "/status/reason").to_owned();
    if reason.is_empty() {
        reason = phase.to_owned();
    }
    let mut restarts = 0;
    let mut ready = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut has_running = false;
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for status in statuses.iter().rev() {
        restarts += number(status, "/restartCount");
        if let Some(finished) = status
            .pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            let finished = finished.with_timezone(&Utc);
            if last_restart.is_none_or(|l| l < finished) {
                last_restart = Some(finished);
            }
        }
        let waiting = text(status, "/state/waiting/reason");
        let terminated = status.pointer("/state/terminated");
        if !waiting.is_empty() {
            reason = waiting.to_owned();
        } else if let Some(t) = terminated {
            let r = text(t, "/reason");
            reason = if !r.is_empty() {
                r.to_owned()
            } else if number(t, "/signal") != 0 {
                format!("Signal:{}", number(t, "/signal"))
            } else {
                format!("ExitCode:{}", number(t, "/exitCode"))
            };
        } else if status.get("ready").and_then(Value::as_bool) == Some(true)
            && status.pointer("/state/running").is_some()
        {
            has_running = true;
            ready += 1;
        }
    }
    if reason == "Completed" && has_running {
        let ready_condition = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True")
            });
        reason = if ready_condition { "Running" } else { "NotReady" }.to_owned();
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        if text(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".to_owned();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_owned();
        }
    }
    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            super::age::human_duration((now - t).num_seconds())
        ),
        _ => restarts.to_string(),
    };
    let mut ip = pod
        .pointer("/status/podIPs/0/ip")
        .and_then(Value::as_str)
        .unwrap_or_else(|| text(pod, "/status/podIP"))
        .to_owned();
    if ip.is_empty() {
        ip = "<none>".to_owned();
    }
    let gates: Vec<&str> = pod
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|g| text(g, "/conditionType"))
        .collect();
    let readiness = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let conditions = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let true_count = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .any(|c| text(c, "/type") == **g && text(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_text),
        age,
        json!(ip),
        json!(or_none(text(pod, "/spec/nodeName").to_owned())),
        json!(or_none(text(pod, "/status/nominatedNodeName").to_owned())),
        json!(readiness),
    ]
}

fn event_cells(event: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first_ts = event
        .pointer("/firstTimestamp")
        .and_then(Value::as_str)
        .or_else(|| event.pointer("/eventTime").and_then(Value::as_str));
    let first = age_since(first_ts, now);
    let last = match event.pointer("/lastTimestamp").and_then(Value::as_str) {
        Some(t) => age_since(Some(t), now),
        None => first.clone(),
    };
    let count = match number(event, "/count") {
        0 => 1,
        n => n,
    };
    let kind = text(event, "/involvedObject/kind").to_lowercase();
    let target = match text(event, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = match text(event, "/source/component") {
        "" => text(event, "/reportingComponent"),
        c => c,
    };
    let host = match text(event, "/source/host") {
        "" => text(event, "/reportingInstance"),
        h => h,
    };
    let source = if host.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(text(event, "/type")),
        json!(text(event, "/reason")),
        json!(target),
        json!(text(event, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(event, "/message").trim()),
        json!(first),
        json!(count),
        json!(text(event, "/metadata/name")),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn only_row(kind: &str, obj: Value, wide: bool) -> Vec<Value> {
        let t = table(kind, &[obj], wide, now());
        t["rows"][0]["cells"].as_array().unwrap().clone()
    }

    #[test]
    fn deployment_rows_show_ready_up_to_date_available_and_age() {
        let d = json!({"metadata":{"name":"web","creationTimestamp":"2025-01-01T00:56:58Z","managedFields":[{}]},
            "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.25"},{"name":"side","image":"envoy"}]}}},
            "status":{"readyReplicas":1,"updatedReplicas":2,"availableReplicas":1}});
        let t = table("Deployment", std::slice::from_ref(&d), true, now());
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["web", "1/2", 2, 1, "3m2s", "web,side", "nginx:1.25,envoy", "app=web"])
        );
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"web","creationTimestamp":"2025-01-01T00:56:58Z"}})
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(
            only_row("Deployment", d, false),
            vec![json!("web"), json!("1/2"), json!(2), json!(1), json!("3m2s")]
        );
    }

    #[test]
    fn replica_set_rows_show_desired_current_ready() {
        let rs = json!({"metadata":{"name":"web-abc","creationTimestamp":"2025-01-01T00:59:55Z"},"spec":{"replicas":2,
            "selector":{"matchLabels":{"app":"web","pod-template-hash":"abc"}},"template":{"spec":{"containers":[{"name":"web","image":"nginx"}]}}},"status":{"replicas":2}});
        assert_eq!(
            only_row("ReplicaSet", rs, true),
            vec![
                json!("web-abc"),
                json!(2),
                json!(2),
                json!(0),
                json!("5s"),
                json!("web"),
                json!("nginx"),
                json!("app=web,pod-template-hash=abc")
            ]
        );
    }

    #[test]
    fn pod_rows_show_waiting_reasons_restarts_and_wide_columns() {
        let pulling = json!({"metadata":{"name":"p1","creationTimestamp":"2025-01-01T00:00:00Z"},"spec":{"nodeName":"sim-node","containers":[{"name":"web"}]},
            "status":{"phase":"Pending","podIP":"10.244.0.5","containerStatuses":[{"name":"web","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ImagePullBackOff"}}}]}});
        assert_eq!(
            only_row("Pod", pulling, true),
            vec![
                json!("p1"),
                json!("0/1"),
                json!("ImagePullBackOff"),
                json!("0"),
                json!("60m"),
                json!("10.244.0.5"),
                json!("sim-node"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let running = json!({"metadata":{"name":"p2","creationTimestamp":"2025-01-01T00:00:00Z"},"spec":{"containers":[{"name":"web"}]},
            "status":{"phase":"Running","containerStatuses":[{"name":"web","ready":true,"restartCount":0,"state":{"running":{}}}]}});
        assert_eq!(
            &only_row("Pod", running, false)[..4],
            &[json!("p2"), json!("1/1"), json!("Running"), json!("0")]
        );
        let crashing = json!({"metadata":{"name":"p3","creationTimestamp":"2025-01-01T00:00:00Z"},"spec":{"containers":[{"name":"web"}]},
            "status":{"phase":"Running","containerStatuses":[{"name":"web","ready":false,"restartCount":3,"state":{"waiting":{"reason":"CrashLoopBackOff"}},
            "lastState":{"terminated":{"exitCode":1,"reason":"Error","finishedAt":"2025-01-01T00:59:20Z"}}}]}});
        assert_eq!(
            &only_row("Pod", crashing, false)[..4],
            &[
                json!("p3"),
                json!("0/1"),
                json!("CrashLoopBackOff"),
                json!("3 (40s ago)")
            ]
        );
        let terminating = json!({"metadata":{"name":"p4","deletionTimestamp":"2025-01-01T00:59:00Z"},"spec":{"containers":[{"name":"web"}]},"status":{"phase":"Running"}});
        assert_eq!(
            &only_row("Pod", terminating, false)[2..5],
            &[json!("Terminating"), json!("0"), json!("<unknown>")]
        );
    }

    #[test]
    fn namespace_service_config_map_and_secret_rows() {
        assert_eq!(
            only_row(
                "Namespace",
                json!({"metadata":{"name":"team-a","creationTimestamp":"2024-12-30T22:00:00Z"},"status":{"phase":"Active"}}),
                true
            ),
            vec![json!("team-a"), json!("Active"), json!("27h")]
        );
        let svc = json!({"metadata":{"name":"web","creationTimestamp":"2025-01-01T00:00:00Z"},"spec":{"type":"NodePort","clusterIP":"10.96.0.10","selector":{"app":"web"},
            "ports":[{"port":80,"protocol":"TCP","nodePort":30080},{"port":53,"protocol":"UDP"}]}});
        assert_eq!(
            only_row("Service", svc, true),
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP"),
                json!("60m"),
                json!("app=web")
            ]
        );
        let lb = json!({"metadata":{"name":"lb"},"spec":{"type":"LoadBalancer"}});
        assert_eq!(
            &only_row("Service", lb, false)[2..5],
            &[json!("<none>"), json!("<pending>"), json!("<none>")]
        );
        assert_eq!(
            only_row(
                "ConfigMap",
                json!({"metadata":{"name":"c"},"data":{"a":"1","b":"2"},"binaryData":{"c":"AA=="}}),
                true
            ),
            vec![json!("c"), json!(3), json!("<unknown>")]
        );
        assert_eq!(
            only_row(
                "Secret",
                json!({"metadata":{"name":"s"},"type":"Opaque","data":{"a":"MQ=="}}),
                true
            ),
            vec![json!("s"), json!("Opaque"), json!(1), json!("<unknown>")]
        );
    }

    #[test]
    fn event_rows_name_the_object_and_source() {
        let ev = json!({"metadata":{"name":"web.1"},"involvedObject":{"kind":"Deployment","name":"web"},"reason":"ScalingReplicaSet","type":"Normal",
            "message":"Scaled up replica set web-abc from 0 to 2 ","source":{"component":"deployment-controller"},
            "firstTimestamp":"2025-01-01T00:50:00Z","lastTimestamp":"2025-01-01T00:59:00Z","count":2});
        assert_eq!(
            only_row("Event", ev.clone(), true),
            vec![
                json!("60s"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web"),
                json!(""),
                json!("deployment-controller"),
                json!("Scaled up replica set web-abc from 0 to 2"),
                json!("10m"),
                json!(2),
                json!("web.1")
            ]
        );
        assert_eq!(
            only_row("Event", ev, false),
            vec![
                json!("60s"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web"),
                json!("Scaled up replica set web-abc from 0 to 2")
            ]
        );
    }

    #[test]
    fn label_selectors_format_like_kubectl() {
        assert_eq!(
            format_label_selector(Some(
                &json!({"matchLabels":{"b":"2"},"matchExpressions":[{"key":"a","operator":"In","values":["y","x"]},{"key":"c","operator":"DoesNotExist"}]})
            )),
            "a in (x,y),b=2,!c"
        );
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
    }
}
