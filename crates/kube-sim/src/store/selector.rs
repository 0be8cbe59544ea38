//! Label and field selectors for list and watch (spec §6.1).

use serde_json::Value;

/// Why a selector could not be parsed; served as `400 BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label requirement that does not parse.
    #[error("unable to parse requirement: {0}")]
    BadRequirement(String),
    /// A field selector term that does not parse.
    #[error("invalid selector: '{0}'; can't understand '{0}'")]
    BadFieldTerm(String),
    /// A field the resource cannot be selected by.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

impl SelectorError {
    /// A stable name for this error, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequirement(_) => "bad_requirement",
            Self::BadFieldTerm(_) => "bad_field_term",
            Self::UnsupportedField(_) => "unsupported_field",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelOp {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<(String, LabelOp)>,
}

fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

fn valid_label_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_set(rest: &str, raw: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError::BadRequirement(format!("found '{rest}', expected: '('")))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(|v| !valid_label_value(v)) {
        return Err(SelectorError::BadRequirement(format!("invalid label value in '{raw}'")));
    }
    Ok(values)
}

fn parse_requirement(raw: &str) -> Result<(String, LabelOp), SelectorError> {
    let term = raw.trim();
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        if !valid_label_key(key) {
            return Err(SelectorError::BadRequirement(format!("invalid label key \"{key}\"")));
        }
        return Ok((key.to_string(), LabelOp::NotExists));
    }
    for (op, ctor) in [("!=", 0u8), ("==", 1), ("=", 1)] {
        if let Some((key, value)) = term.split_once(op) {
            let key = key.trim();
            let value = value.trim();
            if !valid_label_key(key) {
                return Err(SelectorError::BadRequirement(format!("invalid label key \"{key}\"")));
            }
            if !valid_label_value(value) {
                return Err(SelectorError::BadRequirement(format!(
                    "invalid label value: \"{value}\""
                )));
            }
            let op = if ctor == 0 {
                LabelOp::NotEquals(value.to_string())
            } else {
                LabelOp::Equals(value.to_string())
            };
            return Ok((key.to_string(), op));
        }
    }
    let mut words = term.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default().trim();
    let rest = words.next().unwrap_or_default().trim();
    if !valid_label_key(key) {
        return Err(SelectorError::BadRequirement(format!("invalid label key \"{key}\"")));
    }
    if rest.is_empty() {
        return Ok((key.to_string(), LabelOp::Exists));
    }
    if let Some(set) = rest.strip_prefix("notin") {
        return Ok((key.to_string(), LabelOp::NotIn(parse_set(set, term)?)));
    }
    if let Some(set) = rest.strip_prefix("in") {
        return Ok((key.to_string(), LabelOp::In(parse_set(set, term)?)));
    }
    let found = rest.split_whitespace().next().unwrap_or(rest);
    Err(SelectorError::BadRequirement(format!(
        "found '{found}', expected: in, notin, =, ==, !=, gt, lt"
    )))
}

impl LabelSelector {
    /// Parses `k=v,k!=v,k,!k,k in (a,b),k notin (a,b)`; the empty string selects everything.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self { requirements });
        }
        for part in split_top_level(text) {
            requirements.push(parse_requirement(&part)?);
        }
        Ok(Self { requirements })
    }

    /// Builds the selector of a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_label_selector_object(selector: &Value) -> Self {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                requirements.push((k.clone(), LabelOp::Equals(v.as_str().unwrap_or_default().into())));
            }
        }
        if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                let op = match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
                    "In" => LabelOp::In(values),
                    "NotIn" => LabelOp::NotIn(values),
                    "Exists" => LabelOp::Exists,
                    _ => LabelOp::NotExists,
                };
                requirements.push((key, op));
            }
        }
        Self { requirements }
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|(key, op)| match op {
            LabelOp::Equals(v) => get(key) == Some(v.as_str()),
            LabelOp::NotEquals(v) => get(key) != Some(v.as_str()),
            LabelOp::In(set) => get(key).is_some_and(|l| set.iter().any(|s| s == l)),
            LabelOp::NotIn(set) => !get(key).is_some_and(|l| set.iter().any(|s| s == l)),
            LabelOp::Exists => get(key).is_some(),
            LabelOp::NotExists => get(key).is_none(),
        })
    }

    /// The selector as text (`app=web,pod-template-hash=abc`), for the Scale status.
    pub fn to_text(&self) -> String {
        self.requirements
            .iter()
            .map(|(k, op)| match op {
                LabelOp::Equals(v) => format!("{k}={v}"),
                LabelOp::NotEquals(v) => format!("{k}!={v}"),
                LabelOp::In(s) => format!("{k} in ({})", s.join(",")),
                LabelOp::NotIn(s) => format!("{k} notin ({})", s.join(",")),
                LabelOp::Exists => k.clone(),
                LabelOp::NotExists => format!("!{k}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A parsed field selector: every term must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

fn field_supported(plural: &str, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    match plural {
        "events" => matches!(
            field,
            "involvedObject.kind"
                | "involvedObject.namespace"
                | "involvedObject.name"
                | "involvedObject.uid"
                | "involvedObject.apiVersion"
                | "involvedObject.resourceVersion"
                | "involvedObject.fieldPath"
                | "reason"
                | "type"
                | "source"
                | "reportingComponent"
        ),
        "pods" => matches!(
            field,
            "spec.nodeName" | "status.phase" | "spec.restartPolicy" | "status.podIP"
        ),
        "secrets" => field == "type",
        "namespaces" => field == "status.phase",
        "replicasets" => field == "status.replicas",
        _ => false,
    }
}

fn field_value(object: &Value, field: &str) -> String {
    let pointer = match field {
        "source" => "/source/component".to_string(),
        other => format!("/{}", other.replace('.', "/")),
    };
    match object.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

impl FieldSelector {
    /// Parses `f=v,f==v,f!=v` for resource `plural`; unknown fields are rejected.
    pub fn parse(text: &str, plural: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self { terms });
        }
        for raw in text.split(',') {
            let term = raw.trim();
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(SelectorError::BadFieldTerm(term.to_string()));
            };
            let field = field.trim();
            if !field_supported(plural, field) {
                return Err(SelectorError::UnsupportedField(field.to_string()));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    /// Whether the object satisfies every term.
    pub fn matches(&self, object: &Value) -> bool {
        self.terms
            .iter()
            .all(|(field, equal, value)| (field_value(object, field) == *value) == *equal)
    }

    /// The value required for `metadata.name`, when the selector pins one.
    pub fn pinned_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, eq, _)| f == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    #[test]
    fn label_selector_supports_every_operator() {
        let obj = labelled(json!({"app": "web", "tier": "front"}));
        for (sel, expected) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("tier in (front,back)", true),
            ("tier notin (front)", false),
            ("app=web,tier in (back)", false),
            ("", true),
        ] {
            let parsed = LabelSelector::parse(sel);
            assert_eq!(parsed.map(|s| s.matches(&obj)), Ok(expected), "{sel}");
        }
    }

    #[test]
    fn malformed_label_selector_is_rejected() {
        assert!(LabelSelector::parse("app web").is_err());
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn field_selector_knows_event_fields_and_rejects_others() {
        let ev = json!({"metadata": {"name": "e1", "namespace": "x"}, "involvedObject": {"name": "web", "kind": "Deployment"}, "source": {"component": "deployment-controller"}});
        let sel = FieldSelector::parse(
            "involvedObject.name=web,involvedObject.kind=Deployment,source=deployment-controller",
            "events",
        );
        assert_eq!(sel.map(|s| s.matches(&ev)), Ok(true));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", "deployments"),
            Err(SelectorError::UnsupportedField("spec.foo".into()))
        );
        let by_name = FieldSelector::parse("metadata.name!=web", "deployments");
        assert_eq!(
            by_name.map(|s| s.matches(&json!({"metadata": {"name": "web"}}))),
            Ok(false)
        );
    }
}
