//! Glob patterns over names: file stems, branches, image repositories.
//!
//! The syntax is deliberately small: `*` matches any run of characters (including none and
//! including `/`), `?` matches exactly one character, and every other character matches
//! itself. There are no character classes and no escapes, so a pattern never needs quoting
//! rules beyond TOML's own.

use std::fmt;

use serde::Serialize;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern is empty.
    #[error("pattern is empty")]
    Empty,
    /// The pattern is longer than [`MAX_PATTERN_LEN`].
    #[error("pattern is longer than {MAX_PATTERN_LEN} characters")]
    TooLong,
    /// The pattern contains whitespace or control characters.
    #[error("pattern `{pattern}` contains whitespace or control characters")]
    InvalidCharacter {
        /// The refused pattern, escaped.
        pattern: String,
    },
}

impl PatternError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PatternError::Empty => "empty",
            PatternError::TooLong => "too_long",
            PatternError::InvalidCharacter { .. } => "invalid_character",
        }
    }
}

/// The longest pattern accepted.
pub const MAX_PATTERN_LEN: usize = 256;

/// A validated glob pattern (`api-*`, `release/*`, `docker.io/acme/*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Glob(String);

impl Glob {
    /// Validates a pattern.
    ///
    /// # Errors
    /// A [`PatternError`] when the pattern is empty, too long or has whitespace.
    pub fn new(pattern: &str) -> Result<Glob, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong);
        }
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PatternError::InvalidCharacter {
                pattern: pattern.chars().flat_map(char::escape_default).collect(),
            });
        }
        Ok(Glob(pattern.to_owned()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern has a wildcard at all.
    pub fn is_literal(&self) -> bool {
        !self.0.contains(['*', '?'])
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        glob_match(self.0.as_bytes(), text.as_bytes())
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Iterative wildcard matching with single-star backtracking: linear in practice and never
/// exponential, whatever the pattern.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            if pattern[p] == b'?' {
                // `?` is one character, not one byte.
                t += utf8_len(text[t]);
            } else {
                t += 1;
            }
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            let next = st + utf8_len(text[st]);
            star = Some((sp, next));
            t = next;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// The length of the UTF-8 sequence starting with `first`.
fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// A glob over normalised image repositories (`docker.io/acme/*`, `ghcr.io/acme/api`).
///
/// Patterns are normalised the way docker normalises references, so users may write what
/// they would write in `docker pull`: `acme/api` means `docker.io/acme/api` and `nginx`
/// means `docker.io/library/nginx`. A pattern whose first component contains a wildcard
/// (`*`, `*/api`) is matched against the full normalised repository as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RepositoryPattern(Glob);

impl RepositoryPattern {
    /// Validates and normalises a repository pattern.
    ///
    /// # Errors
    /// A [`PatternError`] as for [`Glob::new`].
    pub fn new(pattern: &str) -> Result<RepositoryPattern, PatternError> {
        Glob::new(pattern)?;
        let first = pattern.split('/').next().unwrap_or_default();
        let normal = if first.contains(['*', '?']) {
            pattern.to_owned()
        } else if first.contains(['.', ':']) || first == "localhost" {
            let (domain, rest) = pattern.split_once('/').unwrap_or((pattern, ""));
            let domain = domain.to_ascii_lowercase();
            let domain = if domain == "index.docker.io" {
                "docker.io".to_owned()
            } else {
                domain
            };
            if domain == "docker.io" && !rest.contains('/') && !rest.is_empty() && !rest.contains('*') {
                format!("docker.io/library/{rest}")
            } else if rest.is_empty() {
                domain
            } else {
                format!("{domain}/{rest}")
            }
        } else if pattern.contains('/') {
            format!("docker.io/{pattern}")
        } else {
            format!("docker.io/library/{pattern}")
        };
        Glob::new(&normal).map(RepositoryPattern)
    }

    /// The normalised pattern.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether a normalised repository (`docker.io/acme/api`) matches.
    pub fn matches(&self, repository: &str) -> bool {
        self.0.matches(repository)
    }
}

impl fmt::Display for RepositoryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn stars_and_question_marks_match_as_documented() {
        let cases = [
            ("api", "api", true),
            ("api", "api2", false),
            ("api-*", "api-eu", true),
            ("api-*", "api-", true),
            ("api-*", "web-eu", false),
            ("release/*", "release/1.2", true),
            ("release/*", "release", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("*a*b*c", "xxaxxbxxc", true),
            ("*a*b*c", "xxaxxbxx", false),
            ("docker.io/acme/*", "docker.io/acme/api", true),
            ("docker.io/acme/*", "docker.io/other/api", false),
        ];
        for (p, t, expected) in cases {
            assert_eq!(glob(p).matches(t), expected, "{p} vs {t}");
        }
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let p = glob(&"*a".repeat(50));
        let text = "a".repeat(49) + "b";
        assert!(!p.matches(&text));
    }

    #[test]
    fn empty_and_spaced_patterns_are_refused() {
        assert_eq!(Glob::new("").err().map(|e| e.kind()), Some("empty"));
        assert_eq!(Glob::new("a b").err().map(|e| e.kind()), Some("invalid_character"));
        assert_eq!(Glob::new(&"a".repeat(300)).err().map(|e| e.kind()), Some("too_long"));
    }

    #[test]
    fn repository_patterns_are_normalised_like_docker_references() {
        let cases = [
            ("acme/api", "docker.io/acme/api"),
            ("nginx", "docker.io/library/nginx"),
            ("acme/*", "docker.io/acme/*"),
            ("docker.io/acme/api", "docker.io/acme/api"),
            ("index.docker.io/acme/api", "docker.io/acme/api"),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("GHCR.io/acme/api", "ghcr.io/acme/api"),
            ("localhost:5000/x", "localhost:5000/x"),
            ("*/acme/api", "*/acme/api"),
        ];
        for (input, normal) in cases {
            let p = RepositoryPattern::new(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(p.as_str(), normal, "{input}");
        }
    }
}
