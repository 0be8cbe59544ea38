//! Limits on JSON bodies checked before any parser sees them: nesting depth and string length.
//!
//! The API's bodies are flat objects with short fields, and registry payloads nest a few
//! levels. A scan over the bytes (no allocation, no recursion) refuses bodies nested deeper
//! than [`MAX_DEPTH`] or holding a string longer than the limit, whatever their fields:
//! parsers and error messages never see such input. Text that is not JSON is left to the
//! parser, which refuses it with its own message.

/// The deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 64;
/// The longest string (in bytes, as sent, escapes included) accepted in an API body. Fields
/// have their own, smaller limits (`reason` ≤ 1000 characters); this bounds everything else.
pub const MAX_API_STRING_BYTES: usize = 16 * 1024;

/// What a body breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonLimitError {
    /// Arrays and objects nest deeper than allowed.
    #[error("the JSON body nests arrays and objects more than {max} levels deep")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A string is longer than allowed.
    #[error("the JSON body holds a string longer than {max} bytes")]
    StringTooLong {
        /// The limit.
        max: usize,
    },
}

impl JsonLimitError {
    /// A stable label, also the API's error code.
    pub fn kind(&self) -> &'static str {
        match self {
            JsonLimitError::TooDeep { .. } => "json_too_deep",
            JsonLimitError::StringTooLong { .. } => "string_too_long",
        }
    }
}

/// Checks `body` against `max_depth` and `max_string` (bytes).
///
/// # Errors
/// The first limit broken.
pub fn check(body: &[u8], max_depth: usize, max_string: usize) -> Result<(), JsonLimitError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_len = 0usize;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                continue;
            }
            string_len += 1;
            if string_len > max_string {
                return Err(JsonLimitError::StringTooLong { max: max_string });
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_len = 0;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(JsonLimitError::TooDeep { max: max_depth });
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

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_level_is_refused() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check(nested(64).as_bytes(), 64, 100), Ok(()));
        assert_eq!(
            check(nested(65).as_bytes(), 64, 100),
            Err(JsonLimitError::TooDeep { max: 64 })
        );
        let objects = format!("{}1{}", "{\"a\":".repeat(65), "}".repeat(65));
        assert_eq!(
            check(objects.as_bytes(), 64, 100),
            Err(JsonLimitError::TooDeep { max: 64 })
        );
    }

    #[test]
    fn brackets_and_quotes_inside_strings_do_not_count() {
        let body = format!(r#"{{"reason": "{} \" {}"}}"#, "[".repeat(200), "{".repeat(200));
        assert_eq!(check(body.as_bytes(), 64, 1000), Ok(()));
        assert_eq!(check(br#"{"a": "x\\"}"#, 1, 10), Ok(()));
    }

    #[test]
    fn a_long_string_is_refused_and_a_short_one_passes() {
        let body = format!(r#"{{"reason": "{}"}}"#, "x".repeat(101));
        assert_eq!(check(body.as_bytes(), 64, 101), Ok(()));
        assert_eq!(
            check(body.as_bytes(), 64, 100),
            Err(JsonLimitError::StringTooLong { max: 100 })
        );
    }
}
