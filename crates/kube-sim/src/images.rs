//! Per-image pod behaviour rules: how the simulated kubelet runs a container with a given image.
//!
//! # Behaviours
//! - `ready` (`after`: optional): `ContainerCreating` for `after` (default: the profile's
//!   `pod_ready_after`), then running and ready.
//! - `never-ready`: starts like `ready`, then runs but never becomes ready.
//! - `image-pull-error`: stays `Pending`; the container waits with `ErrImagePull`, then
//!   `ImagePullBackOff`, retrying with an exponential back-off.
//! - `crash-loop`: the container exits with code 1 each time it starts and waits in
//!   `CrashLoopBackOff`; `restartCount` goes up after each back-off (10 s, 20 s, 40 s, … 5 min).
//! - `ready-then-fail` (`after`: optional, default 5 s): becomes ready like `ready`, then stops
//!   being ready `after` later (the container keeps running).
//!
//! # Rule file (YAML)
//! A list of rules; the first whose `match` glob matches the full image reference wins:
//! ```yaml
//! - match: "registry.example.com/web:*"   # `*` matches any run of characters, `?` one
//!   behaviour: ready
//!   after: 2s                              # humantime duration ("500ms", "1m 30s") or seconds
//! - match: "*:broken"
//!   behaviour: never-ready
//! ```
//! When no rule matches, a tag ending in `-never-ready`, `-bad-pull` or `-crash` selects
//! `never-ready`, `image-pull-error` or `crash-loop`; anything else is `ready` with the default
//! delay.
//!
//! # Runtime control
//! [`ImageRules::set`] puts a rule in front of all others (replacing a rule with the same
//! pattern). Its [`Behaviour`] is (de)serialised as `{"behaviour":"never-ready"}` or
//! `{"behaviour":"ready","after":"3s"}` (the bodies of `PUT /_sim/images/{image}`); a bare
//! string `"never-ready"` and the externally tagged `{"ready":{"after":"3s"}}` are accepted too.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long a `ready-then-fail` container stays ready when the rule gives no `after`.
pub const DEFAULT_FAIL_AFTER: Duration = Duration::from_secs(5);

/// What the simulated kubelet does with a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Ready after `after` (`None`: the profile's `pod_ready_after`).
    Ready {
        /// Time spent in `ContainerCreating`.
        after: Option<Duration>,
    },
    /// Running but never ready.
    NeverReady,
    /// The image cannot be pulled: `ErrImagePull`, then `ImagePullBackOff`.
    ImagePullError,
    /// The container crashes on every start: `CrashLoopBackOff`.
    CrashLoop,
    /// Ready, then not ready once `after` has passed since it became ready.
    ReadyThenFail {
        /// How long the container stays ready.
        after: Duration,
    },
}

impl Behaviour {
    /// The behaviour's name in rule files and control requests (`never-ready`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Behaviour::Ready { .. } => "ready",
            Behaviour::NeverReady => "never-ready",
            Behaviour::ImagePullError => "image-pull-error",
            Behaviour::CrashLoop => "crash-loop",
            Behaviour::ReadyThenFail { .. } => "ready-then-fail",
        }
    }

    fn after(&self) -> Option<Duration> {
        match self {
            Behaviour::Ready { after } => *after,
            Behaviour::ReadyThenFail { after } => Some(*after),
            _ => None,
        }
    }

    /// Builds a behaviour from its name and optional `after` text.
    pub fn from_parts(name: &str, after: Option<&str>) -> Result<Self, RulesError> {
        let after = after.map(parse_duration).transpose()?;
        match (name, after) {
            ("ready", after) => Ok(Behaviour::Ready { after }),
            ("ready-then-fail", after) => Ok(Behaviour::ReadyThenFail {
                after: after.unwrap_or(DEFAULT_FAIL_AFTER),
            }),
            ("never-ready", None) => Ok(Behaviour::NeverReady),
            ("image-pull-error", None) => Ok(Behaviour::ImagePullError),
            ("crash-loop", None) => Ok(Behaviour::CrashLoop),
            ("never-ready" | "image-pull-error" | "crash-loop", Some(_)) => Err(RulesError::UnexpectedAfter {
                behaviour: name.to_owned(),
            }),
            _ => Err(RulesError::UnknownBehaviour { name: name.to_owned() }),
        }
    }
}

/// Why a rule file or a behaviour could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The rule file is not a YAML list of rules.
    #[error("failed to parse the image rules: {0}")]
    Parse(String),
    /// The behaviour name is not one of the documented ones.
    #[error("unknown behaviour `{name}`; expected ready, never-ready, image-pull-error, crash-loop or ready-then-fail")]
    UnknownBehaviour {
        /// The name given.
        name: String,
    },
    /// `after` is not a duration such as `2s` or `500ms`.
    #[error("invalid duration `{value}`")]
    InvalidDuration {
        /// The text given.
        value: String,
        /// Why it does not parse.
        #[source]
        source: humantime::DurationError,
    },
    /// `after` was given to a behaviour that has no delay.
    #[error("behaviour `{behaviour}` takes no `after`")]
    UnexpectedAfter {
        /// The behaviour name.
        behaviour: String,
    },
}

impl RulesError {
    /// A short stable label for the error.
    pub fn kind(&self) -> &'static str {
        match self {
            RulesError::Parse(_) => "parse",
            RulesError::UnknownBehaviour { .. } => "unknown_behaviour",
            RulesError::InvalidDuration { .. } => "invalid_duration",
            RulesError::UnexpectedAfter { .. } => "unexpected_after",
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, RulesError> {
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Ok(Duration::from_secs_f64(seconds));
    }
    humantime::parse_duration(trimmed).map_err(|source| RulesError::InvalidDuration {
        value: text.to_owned(),
        source,
    })
}

/// A duration written as text (`"2s"`) or as a number of seconds (`2`, `0.5`).
#[derive(Deserialize)]
#[serde(untagged)]
enum DurationText {
    Text(String),
    Seconds(f64),
}

impl DurationText {
    fn into_text(self) -> String {
        match self {
            DurationText::Text(t) => t,
            DurationText::Seconds(s) => s.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct ExternalBody {
    #[serde(default)]
    after: Option<DurationText>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BehaviourRepr {
    Name(String),
    Tagged {
        behaviour: String,
        #[serde(default)]
        after: Option<DurationText>,
    },
    External(std::collections::BTreeMap<String, Option<ExternalBody>>),
}

impl<'de> Deserialize<'de> for Behaviour {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = BehaviourRepr::deserialize(deserializer)?;
        let (name, after) = match repr {
            BehaviourRepr::Name(name) => (name, None),
            BehaviourRepr::Tagged { behaviour, after } => (behaviour, after.map(DurationText::into_text)),
            BehaviourRepr::External(map) => {
                let mut entries = map.into_iter();
                match (entries.next(), entries.next()) {
                    (Some((name, body)), None) => (name, body.and_then(|b| b.after).map(DurationText::into_text)),
                    _ => {
                        return Err(serde::de::Error::custom(
                            "expected a behaviour such as {\"behaviour\":\"ready\",\"after\":\"2s\"}",
                        ));
                    }
                }
            }
        };
        Behaviour::from_parts(&name, after.as_deref()).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Behaviour {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let after = self.after();
        let mut map = serializer.serialize_map(Some(if after.is_some() { 2 } else { 1 }))?;
        map.serialize_entry("behaviour", self.name())?;
        if let Some(after) = after {
            map.serialize_entry("after", &humantime::format_duration(after).to_string())?;
        }
        map.end()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleRepr {
    #[serde(rename = "match")]
    pattern: String,
    behaviour: String,
    #[serde(default)]
    after: Option<DurationText>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    pattern: String,
    behaviour: Behaviour,
}

/// An ordered table of `(image glob, behaviour)` rules; the first match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRules {
    rules: Vec<Rule>,
}

impl ImageRules {
    /// A table without explicit rules (only the built-in tag suffixes apply).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a rule file (see the module documentation). An empty document gives no rules.
    pub fn from_yaml(text: &str) -> Result<Self, RulesError> {
        let reprs: Option<Vec<RuleRepr>> =
            serde_saphyr::from_str(text).map_err(|e| RulesError::Parse(e.to_string()))?;
        let rules = reprs
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let after = r.after.map(DurationText::into_text);
                Ok(Rule {
                    behaviour: Behaviour::from_parts(&r.behaviour, after.as_deref())?,
                    pattern: r.pattern,
                })
            })
            .collect::<Result<Vec<_>, RulesError>>()?;
        Ok(Self { rules })
    }

    /// Puts `pattern -> b` in front of every other rule, replacing an earlier rule with the
    /// same pattern.
    pub fn set(&mut self, pattern: &str, b: Behaviour) {
        self.rules.retain(|r| r.pattern != pattern);
        self.rules.insert(
            0,
            Rule {
                pattern: pattern.to_owned(),
                behaviour: b,
            },
        );
    }

    /// Removes the rule with exactly this pattern; returns whether there was one.
    pub fn remove(&mut self, pattern: &str) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.pattern != pattern);
        before != self.rules.len()
    }

    /// The rules in the order they are tried.
    pub fn rules(&self) -> impl Iterator<Item = (&str, &Behaviour)> {
        self.rules.iter().map(|r| (r.pattern.as_str(), &r.behaviour))
    }

    /// The behaviour of a container running `image`: the first matching rule, else the
    /// built-in tag suffixes, else `ready` with the default delay.
    pub fn behaviour_for(&self, image: &str) -> Behaviour {
        if let Some(rule) = self.rules.iter().find(|r| glob_match(&r.pattern, image)) {
            return rule.behaviour.clone();
        }
        let tag = image_tag(image).unwrap_or("");
        if tag.ends_with("-never-ready") {
            Behaviour::NeverReady
        } else if tag.ends_with("-bad-pull") {
            Behaviour::ImagePullError
        } else if tag.ends_with("-crash") {
            Behaviour::CrashLoop
        } else {
            Behaviour::Ready { after: None }
        }
    }
}

/// The tag of an image reference (`nginx:1.25` -> `1.25`), ignoring a registry port and a
/// digest.
fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_component = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last_component.split_once(':').map(|(_, tag)| tag)
}

/// Glob matching on the whole text: `*` matches any run of characters, `?` exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_the_whole_image_reference() {
        assert!(glob_match("nginx:*", "nginx:1.25"));
        assert!(glob_match("*", "registry.example.com:5000/a/b:c"));
        assert!(glob_match("*/web:?.?", "example.com/web:1.2"));
        assert!(glob_match("nginx:1.25", "nginx:1.25"));
        assert!(!glob_match("nginx:1.25", "nginx:1.255"));
        assert!(!glob_match("nginx:*", "redis:7"));
        assert!(glob_match("*-slow", "x:1-slow"));
        assert!(!glob_match("?", ""));
    }

    #[test]
    fn tag_suffixes_select_the_built_in_failures() {
        let rules = ImageRules::new();
        assert_eq!(rules.behaviour_for("nginx:1.27-never-ready"), Behaviour::NeverReady);
        assert_eq!(rules.behaviour_for("nginx:1.27-bad-pull"), Behaviour::ImagePullError);
        assert_eq!(
            rules.behaviour_for("example.com:5000/web:2-crash"),
            Behaviour::CrashLoop
        );
        assert_eq!(rules.behaviour_for("nginx:1.25"), Behaviour::Ready { after: None });
        // A registry port is not a tag.
        assert_eq!(
            rules.behaviour_for("example.com:5000-crash/web"),
            Behaviour::Ready { after: None }
        );
    }

    #[test]
    fn the_first_matching_rule_wins_over_suffixes() {
        let rules = ImageRules::from_yaml(
            "- match: \"nginx:1.27-*\"\n  behaviour: ready\n  after: 2s\n- match: \"nginx:*\"\n  behaviour: crash-loop\n",
        )
        .unwrap_or_default();
        assert_eq!(
            rules.behaviour_for("nginx:1.27-never-ready"),
            Behaviour::Ready {
                after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(rules.behaviour_for("nginx:1.25"), Behaviour::CrashLoop);
        assert_eq!(rules.behaviour_for("redis:7-bad-pull"), Behaviour::ImagePullError);
    }

    #[test]
    fn rule_files_accept_every_behaviour_and_durations() {
        let text = "- {match: a, behaviour: ready}\n- {match: b, behaviour: never-ready}\n- {match: c, behaviour: image-pull-error}\n- {match: d, behaviour: crash-loop}\n- {match: e, behaviour: ready-then-fail, after: 1m 30s}\n- {match: f, behaviour: ready, after: 0.5}\n- {match: g, behaviour: ready-then-fail}\n";
        let rules = ImageRules::from_yaml(text).unwrap_or_default();
        let got: Vec<Behaviour> = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .map(|i| rules.behaviour_for(i))
            .collect();
        assert_eq!(
            got,
            vec![
                Behaviour::Ready { after: None },
                Behaviour::NeverReady,
                Behaviour::ImagePullError,
                Behaviour::CrashLoop,
                Behaviour::ReadyThenFail {
                    after: Duration::from_secs(90)
                },
                Behaviour::Ready {
                    after: Some(Duration::from_millis(500))
                },
                Behaviour::ReadyThenFail {
                    after: DEFAULT_FAIL_AFTER
                },
            ]
        );
        assert_eq!(ImageRules::from_yaml("").map(|r| r.rules().count()).ok(), Some(0));
    }

    #[test]
    fn bad_rule_files_are_rejected_with_a_reason() {
        let kind = |text: &str| ImageRules::from_yaml(text).err().map(|e| e.kind());
        assert_eq!(kind("- {match: a, behaviour: sleepy}"), Some("unknown_behaviour"));
        assert_eq!(
            kind("- {match: a, behaviour: ready, after: soon}"),
            Some("invalid_duration")
        );
        assert_eq!(
            kind("- {match: a, behaviour: crash-loop, after: 2s}"),
            Some("unexpected_after")
        );
        assert_eq!(kind("- {match: a, behavior: ready}"), Some("parse"));
        assert_eq!(kind("match: a"), Some("parse"));
    }

    #[test]
    fn set_puts_a_runtime_rule_in_front_and_replaces_the_same_pattern() {
        let mut rules = ImageRules::from_yaml("- {match: \"nginx:*\", behaviour: crash-loop}").unwrap_or_default();
        rules.set("nginx:1.25", Behaviour::NeverReady);
        assert_eq!(rules.behaviour_for("nginx:1.25"), Behaviour::NeverReady);
        assert_eq!(rules.behaviour_for("nginx:1.26"), Behaviour::CrashLoop);
        rules.set("nginx:1.25", Behaviour::Ready { after: None });
        assert_eq!(rules.rules().count(), 2);
        assert_eq!(rules.behaviour_for("nginx:1.25"), Behaviour::Ready { after: None });
        assert!(rules.remove("nginx:1.25"));
        assert!(!rules.remove("nginx:1.25"));
        assert_eq!(rules.behaviour_for("nginx:1.25"), Behaviour::CrashLoop);
    }

    #[test]
    fn behaviours_round_trip_through_control_request_bodies() {
        let parse = |s: &str| serde_json::from_str::<Behaviour>(s).ok();
        assert_eq!(parse(r#"{"behaviour":"never-ready"}"#), Some(Behaviour::NeverReady));
        assert_eq!(
            parse(r#"{"behaviour":"ready","after":"3s"}"#),
            Some(Behaviour::Ready {
                after: Some(Duration::from_secs(3))
            })
        );
        assert_eq!(parse(r#""crash-loop""#), Some(Behaviour::CrashLoop));
        assert_eq!(
            parse(r#"{"ready":{"after":"2s"}}"#),
            Some(Behaviour::Ready {
                after: Some(Duration::from_secs(2))
            })
        );
        assert_eq!(parse(r#"{"image-pull-error":null}"#), Some(Behaviour::ImagePullError));
        assert_eq!(parse(r#"{"behaviour":"bogus"}"#), None);
        assert_eq!(parse(r#"{"behaviour":"never-ready","after":"1s"}"#), None);

        let text = serde_json::to_string(&Behaviour::ReadyThenFail {
            after: Duration::from_millis(1500),
        })
        .unwrap_or_default();
        assert_eq!(text, r#"{"behaviour":"ready-then-fail","after":"1s 500ms"}"#);
        assert_eq!(
            parse(&text),
            Some(Behaviour::ReadyThenFail {
                after: Duration::from_millis(1500)
            })
        );
        assert_eq!(
            serde_json::to_string(&Behaviour::NeverReady).unwrap_or_default(),
            r#"{"behaviour":"never-ready"}"#
        );
    }
}
