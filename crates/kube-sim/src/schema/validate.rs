//! Validation (spec §4.2): the minimum set of API server checks, with its exact messages.

use serde_json::{Map, Value};

use super::gofmt::{int_or_string, label_selector, quote, scalar, string_map};
use super::invalid::{Cause, Invalid};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
const NON_NEGATIVE: &str = "must be greater than or equal to 0";

/// Validates `obj` of `kind`; `old` is the stored object on update. Kinds without rules pass.
pub fn validate(kind: &str, obj: &Value, old: Option<&Value>) -> Result<(), Invalid> {
    let mut causes = Vec::new();
    validate_meta(kind, obj, &mut causes);
    match kind {
        "Deployment" | "ReplicaSet" => {
            validate_workload(kind, obj, &mut causes);
            if let Some(old) = old {
                let new_selector = obj.pointer("/spec/selector");
                if new_selector != old.pointer("/spec/selector") {
                    let rendered = new_selector.map_or_else(|| "null".to_owned(), label_selector);
                    causes.push(Cause::invalid("spec.selector", rendered, "field is immutable"));
                }
            }
        }
        "Pod" => {
            if let Some(spec) = obj.get("spec") {
                validate_pod_spec(spec, "spec", &mut causes);
            } else {
                causes.push(Cause::required("spec.containers", ""));
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(Invalid { causes })
    }
}

fn validate_meta(kind: &str, obj: &Value, causes: &mut Vec<Cause>) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let generate = obj
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        if generate.is_empty() {
            causes.push(Cause::required("metadata.name", "name or generateName is required"));
        }
        return;
    }
    for msg in name_errors(kind, name) {
        causes.push(Cause::invalid("metadata.name", quote(name), &msg));
    }
}

/// The messages for a bad object name of `kind` (empty when the name is valid).
fn name_errors(kind: &str, name: &str) -> Vec<String> {
    match kind {
        "Namespace" => label_errors(name, LABEL_MSG, false),
        "Service" => label_errors(name, DNS1035_MSG, true),
        _ => {
            let mut errs = Vec::new();
            if name.len() > 253 {
                errs.push("must be no more than 253 characters".to_owned());
            }
            if !name.split('.').all(is_label) {
                errs.push(SUBDOMAIN_MSG.to_owned());
            }
            errs
        }
    }
}

fn label_errors(name: &str, msg: &str, alpha_first: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > 63 {
        errs.push("must be no more than 63 characters".to_owned());
    }
    if !is_label(name) || (alpha_first && !name.starts_with(|c: char| c.is_ascii_lowercase())) {
        errs.push(msg.to_owned());
    }
    errs
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty() && s.starts_with(alnum) && s.ends_with(alnum) && s.chars().all(|c| alnum(c) || c == '-')
}

fn int(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

fn non_negative(spec: &Map<String, Value>, key: &str, causes: &mut Vec<Cause>) {
    if let Some(n) = int(spec.get(key)).filter(|n| *n < 0) {
        causes.push(Cause::invalid(format!("spec.{key}"), n.to_string(), NON_NEGATIVE));
    }
}

fn validate_workload(kind: &str, obj: &Value, causes: &mut Vec<Cause>) {
    let empty = Map::new();
    let spec = obj.get("spec").and_then(Value::as_object).unwrap_or(&empty);
    non_negative(spec, "replicas", causes);
    if kind == "ReplicaSet" {
        non_negative(spec, "minReadySeconds", causes);
    }
    let selector = spec.get("selector").filter(|s| !s.is_null());
    match selector {
        None => causes.push(Cause::required("spec.selector", "")),
        Some(sel) => {
            let labels = sel.get("matchLabels").and_then(Value::as_object).map_or(0, Map::len);
            let exprs = sel
                .get("matchExpressions")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if labels + exprs == 0 {
                causes.push(Cause::invalid(
                    "spec.selector",
                    label_selector(sel),
                    "empty selector is invalid for deployment",
                ));
            }
        }
    }
    // The template is a value (not a pointer) in the API types: a missing one is empty.
    let no_template = Value::Object(Map::new());
    let template = spec.get("template").filter(|t| !t.is_null()).unwrap_or(&no_template);
    let labels = template.pointer("/metadata/labels");
    let selector_empty = selector.is_some_and(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    });
    if !selector_empty && !selector.is_some_and(|s| selector_matches(s, labels)) {
        causes.push(Cause::invalid(
            "spec.template.metadata.labels",
            string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    let pod = template.get("spec").unwrap_or(&no_template);
    validate_pod_spec(pod, "spec.template.spec", causes);
    let policy = pod.get("restartPolicy").and_then(Value::as_str).unwrap_or("Always");
    if policy != "Always" {
        causes.push(Cause::not_supported(
            "spec.template.spec.restartPolicy",
            policy,
            &["Always"],
        ));
    }
    if kind == "Deployment" {
        validate_strategy(spec, causes);
        non_negative(spec, "minReadySeconds", causes);
        non_negative(spec, "revisionHistoryLimit", causes);
        if let Some(deadline) = int(spec.get("progressDeadlineSeconds")) {
            non_negative(spec, "progressDeadlineSeconds", causes);
            let min_ready = int(spec.get("minReadySeconds")).unwrap_or(0);
            if deadline <= min_ready {
                causes.push(Cause::invalid(
                    "spec.progressDeadlineSeconds",
                    deadline.to_string(),
                    "must be greater than minReadySeconds",
                ));
            }
        }
    }
}

/// Whether a label selector selects these labels.
pub(crate) fn selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let empty = Map::new();
    let labels = labels.and_then(Value::as_object).unwrap_or(&empty);
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten();
    let labels_ok = match_labels.clone().all(|(k, v)| get(k) == v.as_str());
    let exprs = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let exprs_ok = exprs.clone().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
            "In" => get(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => get(key).is_some(),
            "DoesNotExist" => get(key).is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

fn validate_strategy(spec: &Map<String, Value>, causes: &mut Vec<Cause>) {
    let Some(strategy) = spec.get("strategy") else { return };
    let rolling = strategy.get("rollingUpdate").filter(|r| !r.is_null());
    match strategy.get("type").and_then(Value::as_str).unwrap_or_default() {
        "Recreate" => {
            if rolling.is_some() {
                causes.push(Cause::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match rolling {
            None => causes.push(Cause::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(r) => validate_rolling_update(r, causes),
        },
        other => causes.push(Cause::not_supported(
            "spec.strategy.type",
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
}

/// The value of an int-or-percent, as the API server reads it for the both-zero check.
fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => s.trim_end_matches('%').parse().unwrap_or(0),
        Some(v) => v.as_i64().unwrap_or(0),
        None => 0,
    }
}

fn validate_int_or_percent(v: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    match v {
        Some(Value::String(s)) => {
            let digits = s.strip_suffix('%').unwrap_or("");
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                causes.push(Cause::invalid(field, int_or_string(v), PERCENT_MSG));
            }
        }
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n < 0) => {
            causes.push(Cause::invalid(field, scalar(&Value::Number(n.clone())), NON_NEGATIVE));
        }
        _ => {}
    }
}

fn validate_rolling_update(rolling: &Value, causes: &mut Vec<Cause>) {
    let unavailable = rolling.get("maxUnavailable");
    let surge = rolling.get("maxSurge");
    validate_int_or_percent(unavailable, "spec.strategy.rollingUpdate.maxUnavailable", causes);
    validate_int_or_percent(surge, "spec.strategy.rollingUpdate.maxSurge", causes);
    if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
        causes.push(Cause::invalid(
            "spec.strategy.rollingUpdate.maxUnavailable",
            int_or_string(unavailable),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    if let Some(Value::String(s)) = unavailable
        && s.ends_with('%')
        && int_or_percent_value(unavailable) > 100
    {
        causes.push(Cause::invalid(
            "spec.strategy.rollingUpdate.maxUnavailable",
            int_or_string(unavailable),
            "must not be greater than 100%",
        ));
    }
}

fn validate_pod_spec(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    let Some(containers) = containers else {
        causes.push(Cause::required(format!("{path}.containers"), ""));
        return;
    };
    let mut names: Vec<&str> = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{path}.containers[{i}]");
        match c.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            None => causes.push(Cause::required(format!("{at}.name"), "")),
            Some(name) => {
                if names.contains(&name) {
                    causes.push(Cause::duplicate(format!("{at}.name"), name));
                } else if !is_label(name) || name.len() > 63 {
                    causes.push(Cause::invalid(format!("{at}.name"), quote(name), LABEL_MSG));
                }
                names.push(name);
            }
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(|i| i.trim().is_empty())
        {
            causes.push(Cause::required(format!("{at}.image"), ""));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schema::apply_defaults;
    use serde_json::json;

    fn deployment() -> Value {
        let mut d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
            "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}}}});
        apply_defaults("Deployment", &mut d);
        d
    }

    fn message(kind: &str, obj: &Value, old: Option<&Value>) -> String {
        validate(kind, obj, old)
            .unwrap_err()
            .message(&format!("{kind}.apps"), "web")
    }

    #[test]
    fn a_valid_deployment_passes() {
        assert_eq!(validate("Deployment", &deployment(), None), Ok(()));
        assert_eq!(validate("Deployment", &deployment(), Some(&deployment())), Ok(()));
    }

    #[test]
    fn validation_messages_match_the_api_server() {
        type Mutation = fn(&mut Value);
        let cases: Vec<(Mutation, &str)> = vec![
            (
                |d| d["spec"]["template"]["metadata"]["labels"] = json!({"app":"x"}),
                r#"Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`"#,
            ),
            (
                |d| {
                    d["spec"].as_object_mut().unwrap().remove("selector");
                },
                r#"Deployment.apps "web" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`]"#,
            ),
            (
                |d| d["spec"]["replicas"] = json!(-1),
                r#"Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#,
            ),
            (
                |d| d["spec"]["strategy"]["rollingUpdate"] = json!({"maxSurge":0,"maxUnavailable":0}),
                r#"Deployment.apps "web" is invalid: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0"#,
            ),
            (
                |d| {
                    d["spec"]["progressDeadlineSeconds"] = json!(5);
                    d["spec"]["minReadySeconds"] = json!(10);
                },
                r#"Deployment.apps "web" is invalid: spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds"#,
            ),
            (
                |d| d["spec"]["template"]["spec"]["containers"] = json!([]),
                r#"Deployment.apps "web" is invalid: spec.template.spec.containers: Required value"#,
            ),
            (
                |d| d["spec"]["template"]["spec"]["containers"] = json!([{"image":"x"},{"name":"b"}]),
                r#"Deployment.apps "web" is invalid: [spec.template.spec.containers[0].name: Required value, spec.template.spec.containers[1].image: Required value]"#,
            ),
            (
                |d| d["metadata"]["name"] = json!("Web_1"),
                r#"Deployment.apps "web" is invalid: metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
            ),
            (
                |d| d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = json!("abc"),
                r#"Deployment.apps "web" is invalid: spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"abc"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"#,
            ),
            (
                |d| d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never"),
                r#"Deployment.apps "web" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#,
            ),
        ];
        for (mutate, expected) in cases {
            let mut d = deployment();
            mutate(&mut d);
            assert_eq!(message("Deployment", &d, None), expected);
        }
    }

    #[test]
    fn causes_carry_reason_field_and_message() {
        let mut d = deployment();
        d["spec"].as_object_mut().unwrap().remove("selector");
        let invalid = validate("Deployment", &d, None).unwrap_err();
        assert_eq!(
            invalid.causes_json(),
            vec![
                json!({"reason":"FieldValueRequired","message":"Required value","field":"spec.selector"}),
                json!({"reason":"FieldValueInvalid","message":"Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`","field":"spec.template.metadata.labels"}),
            ]
        );
    }

    #[test]
    fn the_selector_is_immutable_on_update() {
        let old = deployment();
        let mut new = deployment();
        new["spec"]["selector"] = json!({"matchLabels":{"app":"web","tier":"x"}});
        new["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
        assert_eq!(
            message("Deployment", &new, Some(&old)),
            r#"Deployment.apps "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
        );
    }

    #[test]
    fn names_follow_the_rules_of_each_kind() {
        let ns = |name: &str| json!({"metadata":{"name":name}});
        assert!(validate("Namespace", &ns("team-a"), None).is_ok());
        assert!(validate("Namespace", &ns("team.a"), None).is_err());
        assert!(validate("Service", &ns("1svc"), None).is_err());
        assert!(validate("ConfigMap", &ns("a.b-c"), None).is_ok());
        assert!(validate("ConfigMap", &ns(&"a".repeat(254)), None).is_err());
        let missing = validate("ConfigMap", &json!({"metadata":{}}), None).unwrap_err();
        assert_eq!(
            missing.message("ConfigMap", ""),
            r#"ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required"#
        );
        assert!(
            validate(
                "Pod",
                &json!({"metadata":{"generateName":"p-"},"spec":{"containers":[{"name":"a","image":"b"}]}}),
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn a_deployment_without_template_reports_labels_and_containers() {
        let d = json!({"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}}}});
        assert_eq!(
            message("Deployment", &d, None),
            r#"Deployment.apps "web" is invalid: [spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`, spec.template.spec.containers: Required value]"#
        );
    }

    #[test]
    fn replica_sets_and_pods_are_validated_too() {
        let mut rs = deployment();
        rs["kind"] = json!("ReplicaSet");
        rs["spec"]["replicas"] = json!(-2);
        assert_eq!(
            validate("ReplicaSet", &rs, None).unwrap_err().summary(),
            "spec.replicas: Invalid value: -2: must be greater than or equal to 0"
        );
        let pod = json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}]}});
        assert_eq!(
            validate("Pod", &pod, None).unwrap_err().summary(),
            "spec.containers[0].image: Required value"
        );
    }

    #[test]
    fn selector_matching_supports_expressions() {
        let labels = json!({"app":"web","tier":"fe"});
        assert!(selector_matches(
            &json!({"matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]}]}),
            Some(&labels)
        ));
        assert!(!selector_matches(
            &json!({"matchExpressions":[{"key":"tier","operator":"NotIn","values":["fe"]}]}),
            Some(&labels)
        ));
        assert!(selector_matches(
            &json!({"matchExpressions":[{"key":"x","operator":"DoesNotExist"}]}),
            Some(&labels)
        ));
    }
}
