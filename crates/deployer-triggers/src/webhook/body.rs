//! Defensive JSON decoding: size and nesting limits before any parsing.

use serde::de::DeserializeOwned;

use super::WebhookError;
use crate::event::Provider;

/// The largest body accepted. The HTTP layer enforces it too; this is the second line.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The deepest JSON nesting accepted. Real payloads nest fewer than ten levels.
pub const MAX_JSON_DEPTH: usize = 32;

/// Refuses a body over [`MAX_BODY_BYTES`]. Called before authentication, so an oversized
/// body is never hashed.
pub(crate) fn check_size(body: &[u8]) -> Result<(), WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::PayloadTooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

/// Decodes a provider's JSON after checking the size and the nesting depth.
pub(crate) fn decode<T: DeserializeOwned>(provider: Provider, body: &[u8]) -> Result<T, WebhookError> {
    check_size(body)?;
    check_depth(body)?;
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => WebhookError::UnexpectedShape {
            provider,
            detail: e.to_string(),
        },
        _ => WebhookError::InvalidJson { detail: e.to_string() },
    })
}

/// Counts `[`/`{` nesting outside strings, without parsing.
fn check_depth(body: &[u8]) -> Result<(), WebhookError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(WebhookError::TooDeep { limit: MAX_JSON_DEPTH });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Any {
        #[serde(rename = "a")]
        _a: serde_json::Value,
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_before_parsing() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        let err = decode::<Any>(Provider::Generic, deep.as_bytes()).err();
        assert_eq!(err.map(|e| e.kind()), Some("too_deep"));
    }

    #[test]
    fn brackets_inside_strings_do_not_count_as_nesting() {
        let text = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(40), "{".repeat(40));
        assert!(decode::<Any>(Provider::Generic, text.as_bytes()).is_ok());
    }

    #[test]
    fn an_oversized_body_is_refused_with_its_size() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let err = decode::<Any>(Provider::Generic, &body).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("payload of 1048577 bytes is larger than the 1048576-byte limit")
        );
    }

    #[test]
    fn syntax_errors_and_shape_errors_are_told_apart() {
        let syntax = decode::<Any>(Provider::Generic, b"{\"a\":").err();
        assert_eq!(syntax.as_ref().map(WebhookError::kind), Some("invalid_json"));
        assert!(
            syntax
                .map(|e| e.to_string())
                .unwrap_or_default()
                .starts_with("payload is not valid JSON: ")
        );
        let shape = decode::<Any>(Provider::Generic, b"{\"b\":1}").err();
        assert_eq!(shape.map(|e| e.kind()), Some("unexpected_shape"));
    }
}
