//! Which tags a rule accepts: any, a glob, a regular expression or a semver range.

use std::fmt;

use deployer_core::image::Tag;
use regex::Regex;
use semver::{Version, VersionReq};
use serde::{Serialize, Serializer};

use crate::pattern::Glob;

/// A compiled tag filter.
#[derive(Debug, Clone)]
pub enum TagFilter {
    /// Every tag.
    Any,
    /// Tags matching a glob.
    Glob(Glob),
    /// Tags matching a regular expression as a whole.
    Regex(Regex),
    /// Tags that are semver versions (a leading `v` accepted) within a range.
    Semver {
        /// The range.
        range: VersionReq,
        /// Whether pre-release versions may match.
        prerelease: bool,
    },
}

impl TagFilter {
    /// Compiles a regular expression, anchored to the whole tag, with a size limit.
    ///
    /// # Errors
    /// The regex crate's message.
    pub fn regex(pattern: &str) -> Result<TagFilter, String> {
        regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(1 << 20)
            .build()
            .map(TagFilter::Regex)
            .map_err(|e| match e {
                regex::Error::Syntax(text) => text.lines().last().unwrap_or("syntax error").trim().to_owned(),
                other => other.to_string(),
            })
    }

    /// Parses a semver range; space-separated comparators (`>=1.0.0 <2.0.0`, as Flux and
    /// npm write them) are accepted too.
    ///
    /// # Errors
    /// The semver crate's message.
    pub fn semver(range: &str, prerelease: bool) -> Result<TagFilter, String> {
        VersionReq::parse(&comma_separated(range))
            .map(|range| TagFilter::Semver { range, prerelease })
            .map_err(|e| e.to_string())
    }

    /// `Ok` when the tag qualifies, or why it does not.
    ///
    /// # Errors
    /// A sentence saying why the tag is refused.
    pub fn check(&self, tag: &Tag) -> Result<(), String> {
        match self {
            TagFilter::Any => Ok(()),
            TagFilter::Glob(glob) => {
                if glob.matches(tag.as_str()) {
                    Ok(())
                } else {
                    Err(format!("tag `{tag}` does not match glob `{glob}`"))
                }
            }
            TagFilter::Regex(re) => {
                if re.is_match(tag.as_str()) {
                    Ok(())
                } else {
                    Err(format!("tag `{tag}` does not match regex `{}`", display_regex(re)))
                }
            }
            TagFilter::Semver { range, prerelease } => {
                let Some(version) = semver_of(tag) else {
                    return Err(format!("tag `{tag}` is not a semver version"));
                };
                if !version.pre.is_empty() && !prerelease {
                    return Err(format!(
                        "tag `{tag}` is a pre-release; the rule sets no `prerelease = true`"
                    ));
                }
                let release = Version::new(version.major, version.minor, version.patch);
                if range.matches(&version) || (!version.pre.is_empty() && range.matches(&release)) {
                    Ok(())
                } else {
                    Err(format!("tag `{tag}` is outside semver range `{range}`"))
                }
            }
        }
    }
}

impl fmt::Display for TagFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagFilter::Any => f.write_str("any tag"),
            TagFilter::Glob(glob) => write!(f, "glob `{glob}`"),
            TagFilter::Regex(re) => write!(f, "regex `{}`", display_regex(re)),
            TagFilter::Semver {
                range,
                prerelease: false,
            } => write!(f, "semver `{range}`"),
            TagFilter::Semver {
                range,
                prerelease: true,
            } => write!(f, "semver `{range}` with pre-releases"),
        }
    }
}

impl Serialize for TagFilter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The pattern as the operator wrote it, without the anchoring added here.
fn display_regex(re: &Regex) -> &str {
    let text = re.as_str();
    text.strip_prefix("^(?:")
        .and_then(|t| t.strip_suffix(")$"))
        .unwrap_or(text)
}

/// A tag as a semver version; a leading `v` is accepted. Tags cannot hold `+`, so build
/// metadata never appears.
pub fn semver_of(tag: &Tag) -> Option<Version> {
    let text = tag.as_str();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    Version::parse(text).ok()
}

/// `>=1.0.0 <2.0.0` → `>=1.0.0, <2.0.0`; `>= 1.0` stays one comparator.
fn comma_separated(range: &str) -> String {
    if range.contains(',') {
        return range.to_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for token in range.split_whitespace() {
        if token.chars().all(|c| matches!(c, '<' | '>' | '=' | '~' | '^')) {
            pending_op.push_str(token);
        } else {
            parts.push(format!("{pending_op}{token}"));
            pending_op.clear();
        }
    }
    if !pending_op.is_empty() {
        parts.push(pending_op);
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(t: &str) -> Tag {
        Tag::new(t).unwrap_or_else(|e| panic!("{e}"))
    }

    fn semver(range: &str, pre: bool) -> TagFilter {
        TagFilter::semver(range, pre).unwrap_or_else(|e| panic!("{range}: {e}"))
    }

    #[test]
    fn semver_ranges_accept_a_leading_v_and_refuse_pre_releases_by_default() {
        let cases = [
            (">=1.0.0, <2.0.0", false, "v1.4.2", true),
            (">=1.0.0, <2.0.0", false, "1.4.2", true),
            (">=1.0.0 <2.0.0", false, "2.0.0", false),
            (">= 1.0.0 < 2.0.0", false, "1.9.9", true),
            ("^1.2", false, "1.3.0", true),
            ("~1.2", false, "1.3.0", false),
            (">=1.0.0", false, "1.3.0-rc.1", false),
            (">=1.0.0", true, "1.3.0-rc.1", true),
            (">=1.0.0", true, "0.9.0-rc.1", false),
            (">=1.0.0", false, "latest", false),
            (">=1.0.0", false, "1.2", false),
        ];
        for (range, pre, t, expected) in cases {
            assert_eq!(
                semver(range, pre).check(&tag(t)).is_ok(),
                expected,
                "{range} (pre {pre}) vs {t}"
            );
        }
    }

    #[test]
    fn refusals_say_why() {
        let pre = semver(">=1.0.0", false).check(&tag("1.3.0-rc.1")).err();
        assert_eq!(
            pre.as_deref(),
            Some("tag `1.3.0-rc.1` is a pre-release; the rule sets no `prerelease = true`")
        );
        let out = semver("^1", false).check(&tag("v2.0.0")).err();
        assert_eq!(out.as_deref(), Some("tag `v2.0.0` is outside semver range `^1`"));
        let re = TagFilter::regex("main-[0-9a-f]{7}").unwrap_or(TagFilter::Any);
        assert_eq!(
            re.check(&tag("main-abc1234x")).err().as_deref(),
            Some("tag `main-abc1234x` does not match regex `main-[0-9a-f]{7}`")
        );
    }

    #[test]
    fn regexes_match_the_whole_tag() {
        let re = TagFilter::regex("[0-9]+").unwrap_or(TagFilter::Any);
        assert!(re.check(&tag("123")).is_ok());
        assert!(re.check(&tag("v123")).is_err());
    }

    #[test]
    fn invalid_filters_are_reported() {
        assert!(TagFilter::regex("(").is_err());
        assert!(TagFilter::semver(">=1.x.y", false).is_err());
        assert!(TagFilter::semver("banana", false).is_err());
    }
}
