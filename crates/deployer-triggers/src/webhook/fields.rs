//! Small helpers shared by the payload parsers: required fields, references, times.

use chrono::{DateTime, Utc};
use deployer_core::image::{Digest, ImageRef, Tag};

use super::{Hook, WebhookError};
use crate::event::ImageEvent;

/// A required text field, trimmed; empty counts as missing.
pub(crate) fn required(value: Option<String>, field: &'static str) -> Result<String, WebhookError> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::MissingField { field })
}

/// An optional text field, trimmed; empty counts as absent.
pub(crate) fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A field naming a repository without tag or digest.
pub(crate) fn repository(field: &'static str, text: &str) -> Result<ImageRef, WebhookError> {
    let image = ImageRef::parse(text).map_err(|source| WebhookError::InvalidReference { field, source })?;
    if image.tag().is_some() || image.digest().is_some() {
        return Err(WebhookError::UnexpectedTagOrDigest { field });
    }
    Ok(image)
}

/// A field holding a tag.
pub(crate) fn tag(field: &'static str, text: &str) -> Result<Tag, WebhookError> {
    Tag::new(text).map_err(|source| WebhookError::InvalidReference { field, source })
}

/// A field holding a digest.
pub(crate) fn digest(field: &'static str, text: &str) -> Result<Digest, WebhookError> {
    Digest::new(text).map_err(|source| WebhookError::InvalidReference { field, source })
}

/// Unix seconds, integer or float (old Docker Hub payloads use `1.417566161e+09`).
pub(crate) fn epoch_seconds(value: Option<&serde_json::Number>) -> Option<DateTime<Utc>> {
    let secs = value?.as_f64()?;
    if !secs.is_finite() || !(0.0..=1.0e11).contains(&secs) {
        return None;
    }
    let whole = secs.trunc();
    let nanos = ((secs - whole) * 1e9).round().clamp(0.0, 999_999_999.0);
    // Both values are finite and range-checked above, so the casts are exact.
    DateTime::from_timestamp(whole as i64, nanos as u32)
}

/// Refuses an event whose repository the hook may not speak for; `shown` is the name as
/// the payload wrote it.
pub(crate) fn check_allowed(hook: &Hook, event: &ImageEvent, shown: &str) -> Result<(), WebhookError> {
    if hook.allows(&event.repository) {
        Ok(())
    } else {
        Err(WebhookError::RepositoryNotAllowed {
            repository: shown.chars().take(300).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_accept_integers_and_floats() {
        let int: serde_json::Number = 1_417_566_161.into();
        let float = serde_json::Number::from_f64(1.417_566_161e9);
        assert_eq!(epoch_seconds(Some(&int)).map(|t| t.timestamp()), Some(1_417_566_161));
        assert_eq!(
            epoch_seconds(float.as_ref()).map(|t| t.timestamp()),
            Some(1_417_566_161)
        );
        let negative = serde_json::Number::from_f64(-5.0);
        assert_eq!(epoch_seconds(negative.as_ref()), None);
    }
}
