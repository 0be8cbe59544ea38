//! The 422 Invalid error: field errors with the API server's exact wording (spec §5).

use serde_json::{Value, json};

use super::gofmt::quote;

/// The kind of a field error, as the Status cause `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauseReason {
    /// `FieldValueInvalid`: "Invalid value".
    Invalid,
    /// `FieldValueRequired`: "Required value".
    Required,
    /// `FieldValueNotSupported`: "Unsupported value".
    NotSupported,
    /// `FieldValueForbidden`: "Forbidden".
    Forbidden,
    /// `FieldValueDuplicate`: "Duplicate value".
    Duplicate,
}

impl CauseReason {
    /// The Status cause reason (`FieldValueInvalid`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "FieldValueInvalid",
            Self::Required => "FieldValueRequired",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate => "FieldValueDuplicate",
        }
    }
}

/// One field error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// The kind of error.
    pub reason: CauseReason,
    /// The field path, e.g. `spec.template.metadata.labels`.
    pub field: String,
    /// The message without the field: `Invalid value: 5: must be greater than minReadySeconds`.
    pub message: String,
}

impl Cause {
    /// `Invalid value: <value>: <detail>`; `value` is already rendered the way Go prints it.
    pub fn invalid(field: impl Into<String>, value: impl AsRef<str>, detail: &str) -> Self {
        Self {
            reason: CauseReason::Invalid,
            field: field.into(),
            message: format!("Invalid value: {}: {detail}", value.as_ref()),
        }
    }

    /// `Required value` (with `: <detail>` when there is one).
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Required value".to_owned()
        } else {
            format!("Required value: {detail}")
        };
        Self {
            reason: CauseReason::Required,
            field: field.into(),
            message,
        }
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
        Self {
            reason: CauseReason::NotSupported,
            field: field.into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                quote(value),
                list.join(", ")
            ),
        }
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self {
            reason: CauseReason::Forbidden,
            field: field.into(),
            message: format!("Forbidden: {detail}"),
        }
    }

    /// `Duplicate value: "x"`.
    pub fn duplicate(field: impl Into<String>, value: &str) -> Self {
        Self {
            reason: CauseReason::Duplicate,
            field: field.into(),
            message: format!("Duplicate value: {}", quote(value)),
        }
    }

    /// `<field>: <message>`, as joined into the Status message.
    pub fn full_message(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// A failed validation: one or more field errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct Invalid {
    /// The field errors, in the API server's order.
    pub causes: Vec<Cause>,
}

impl Invalid {
    /// The error list: one message, or several joined as `[a, b]` (duplicates dropped).
    pub fn summary(&self) -> String {
        let mut seen: Vec<String> = Vec::new();
        for cause in &self.causes {
            let msg = cause.full_message();
            if !seen.contains(&msg) {
                seen.push(msg);
            }
        }
        match seen.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        }
    }

    /// The Status message: `Deployment.apps "web" is invalid: <errors>`.
    pub fn message(&self, kind_with_group: &str, name: &str) -> String {
        if self.causes.is_empty() {
            return format!("{kind_with_group} {} is invalid", quote(name));
        }
        format!("{kind_with_group} {} is invalid: {}", quote(name), self.summary())
    }

    /// The Status `details.causes`.
    pub fn causes_json(&self) -> Vec<Value> {
        self.causes
            .iter()
            .map(|c| json!({"reason": c.reason.as_str(), "message": c.message, "field": c.field}))
            .collect()
    }

    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        "invalid"
    }
}
