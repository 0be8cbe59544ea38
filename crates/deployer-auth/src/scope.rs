//! Scopes: which actions a token may take, on which targets.
//!
//! # Grammar
//! ```text
//! scopes  = scope *( 1*SP scope )          ; or one scope per `--scope` flag
//! scope   = actions ":" targets
//! actions = action *( "," action )
//! action  = "read" / "deploy" / "rollback" / "pin" / "admin"
//! targets = "*" / part "/" part "/" part "/" part   ; environment/region/cluster/file
//! part    = 1*( ALPHA / DIGIT / "-" / "_" / "." / "*" )
//! ```
//! In a part, `*` matches any run of characters (`api-*`, `*-canary`, `prod-*-a`); every
//! other character matches itself, case-sensitively. `*` alone as the targets is short for
//! `*/*/*/*`. Examples: `read:*`, `deploy:staging/*/*/api-*`,
//! `rollback,pin:production/us-west-2/*/*`, `admin:*`.
//!
//! # Meaning
//! - `admin` grants every action, and with `admin:*` the targetless ones: managing tokens,
//!   reading the audit log.
//! - `deploy`, `rollback` and `pin` on a target also grant `read` on it: a token that may
//!   change a target may see its deployments.
//! - A target whose cluster belongs to no environment has none; only an environment part that
//!   is exactly `*` matches it.
//! - Targetless actions (listing everything, token administration) need the action on `*`:
//!   `read:*` to list, `admin:*` to administer tokens.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::glob;

/// Something a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// See deployments, events, pins and releases.
    Read,
    /// Create deployments (including restarts and dry runs).
    Deploy,
    /// Roll a target back to an earlier deployment.
    Rollback,
    /// Pin and unpin targets.
    Pin,
    /// Everything, including token administration.
    Admin,
}

impl Action {
    /// Every action, in the order scopes are written.
    pub const ALL: [Action; 5] = [
        Action::Read,
        Action::Deploy,
        Action::Rollback,
        Action::Pin,
        Action::Admin,
    ];

    /// The name used in scopes.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
            Action::Pin => "pin",
            Action::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Action::Read => 1,
            Action::Deploy => 2,
            Action::Rollback => 4,
            Action::Pin => 8,
            Action::Admin => 16,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ScopeProblem;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ScopeProblem::UnknownAction(s.chars().take(32).flat_map(char::escape_default).collect()))
    }
}

/// A set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
struct Actions(u8);

impl Actions {
    fn insert(&mut self, a: Action) {
        self.0 |= a.bit();
    }

    fn contains(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }

    /// Whether holding these actions on a target allows `action` there.
    fn grant(self, action: Action) -> bool {
        self.contains(action)
            || self.contains(Action::Admin)
            || (action == Action::Read
                && (self.contains(Action::Deploy) || self.contains(Action::Rollback) || self.contains(Action::Pin)))
    }

    fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

/// What a scope is checked against: one application file on one cluster, with the
/// environment the cluster belongs to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeTarget<'a> {
    /// The cluster's environment (`production`, `staging`), or `None` when it has none.
    pub environment: Option<&'a str>,
    /// The region.
    pub region: &'a str,
    /// The cluster.
    pub cluster: &'a str,
    /// The application file stem.
    pub file: &'a str,
}

impl<'a> ScopeTarget<'a> {
    /// The scope target of a deployment target.
    pub fn of(environment: Option<&'a str>, target: &'a deployer_core::model::Target) -> Self {
        Self {
            environment,
            region: target.region.as_str(),
            cluster: target.cluster.as_str(),
            file: target.file.as_str(),
        }
    }
}

impl<'a> ScopeTarget<'a> {
    /// The scope target of a deploy request: its target, in the environment the request
    /// carries.
    pub fn of_request(request: &'a deployer_core::model::DeployRequest) -> Self {
        Self::of(request.environment.as_deref(), &request.target)
    }
}

impl fmt::Display for ScopeTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.environment.unwrap_or("*"),
            self.region,
            self.cluster,
            self.file
        )
    }
}

/// A target pattern: four glob parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Pattern {
    environment: String,
    region: String,
    cluster: String,
    file: String,
}

impl Pattern {
    fn everything() -> Self {
        let star = || "*".to_owned();
        Self {
            environment: star(),
            region: star(),
            cluster: star(),
            file: star(),
        }
    }

    fn parts(&self) -> [&str; 4] {
        [&self.environment, &self.region, &self.cluster, &self.file]
    }

    fn is_everything(&self) -> bool {
        self.parts().iter().all(|p| *p == "*")
    }

    fn matches(&self, t: &ScopeTarget<'_>) -> bool {
        let environment = match t.environment {
            Some(env) => glob::matches(&self.environment, env),
            None => self.environment == "*",
        };
        environment
            && glob::matches(&self.region, t.region)
            && glob::matches(&self.cluster, t.cluster)
            && glob::matches(&self.file, t.file)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_everything() {
            f.write_str("*")
        } else {
            write!(f, "{}/{}/{}/{}", self.environment, self.region, self.cluster, self.file)
        }
    }
}

/// One scope: actions on the targets a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    actions: Actions,
    pattern: Pattern,
}

/// What is wrong with a scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeProblem {
    /// Nothing was written.
    #[error("a scope is actions:targets, e.g. \"deploy:staging/*/*/*\"")]
    Empty,
    /// No `:` separates actions and targets.
    #[error("name the targets after a colon, e.g. \"{0}:*\" or \"{0}:staging/*/*/*\"")]
    MissingTargets(String),
    /// An action is not known.
    #[error("unknown action \"{0}\": use read, deploy, rollback, pin or admin")]
    UnknownAction(String),
    /// An action list has an empty entry.
    #[error("an action is missing before or after a comma")]
    EmptyAction,
    /// The target pattern does not have four parts.
    #[error("a target pattern has four parts environment/region/cluster/file (or is \"*\" for all), found {0}")]
    WrongPartCount(usize),
    /// A part of the target pattern is empty.
    #[error("the {0} part of the target pattern is empty; use \"*\" to match any {0}")]
    EmptyPart(&'static str),
    /// A part has a character names never have.
    #[error("the {part} part \"{text}\" may contain only letters, digits, \"-\", \"_\", \".\" and \"*\"")]
    BadCharacter {
        /// Which part.
        part: &'static str,
        /// The part as written.
        text: String,
    },
    /// The scope is unreasonably long.
    #[error("a scope is at most 512 characters")]
    TooLong,
}

/// A scope that does not parse: the text and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope \"{scope}\": {problem}")]
pub struct InvalidScope {
    /// The scope as written (shortened and escaped).
    pub scope: String,
    /// What is wrong.
    pub problem: ScopeProblem,
}

impl InvalidScope {
    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self.problem {
            ScopeProblem::Empty => "empty_scope",
            ScopeProblem::MissingTargets(_) => "missing_targets",
            ScopeProblem::UnknownAction(_) => "unknown_action",
            ScopeProblem::EmptyAction => "empty_action",
            ScopeProblem::WrongPartCount(_) => "wrong_part_count",
            ScopeProblem::EmptyPart(_) => "empty_part",
            ScopeProblem::BadCharacter { .. } => "bad_character",
            ScopeProblem::TooLong => "scope_too_long",
        }
    }
}

const PART_NAMES: [&str; 4] = ["environment", "region", "cluster", "file"];

impl Scope {
    /// Parses one scope.
    ///
    /// # Errors
    /// [`InvalidScope`] naming the scope and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, InvalidScope> {
        Self::parse_inner(text).map_err(|problem| InvalidScope {
            scope: text.chars().take(80).flat_map(char::escape_default).collect(),
            problem,
        })
    }

    fn parse_inner(text: &str) -> Result<Self, ScopeProblem> {
        if text.len() > 512 {
            return Err(ScopeProblem::TooLong);
        }
        if text.is_empty() {
            return Err(ScopeProblem::Empty);
        }
        let Some((actions_text, targets)) = text.split_once(':') else {
            return Err(ScopeProblem::MissingTargets(text.chars().take(32).collect()));
        };
        let mut actions = Actions::default();
        for word in actions_text.split(',') {
            if word.is_empty() {
                return Err(if actions_text.is_empty() {
                    ScopeProblem::Empty
                } else {
                    ScopeProblem::EmptyAction
                });
            }
            actions.insert(word.parse()?);
        }
        let pattern = if targets == "*" {
            Pattern::everything()
        } else {
            let parts: Vec<&str> = targets.split('/').collect();
            if parts.len() != 4 {
                return Err(ScopeProblem::WrongPartCount(parts.len()));
            }
            for (part, name) in parts.iter().zip(PART_NAMES) {
                if part.is_empty() {
                    return Err(ScopeProblem::EmptyPart(name));
                }
                let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*');
                if !part.bytes().all(ok) {
                    return Err(ScopeProblem::BadCharacter {
                        part: name,
                        text: part.chars().take(40).flat_map(char::escape_default).collect(),
                    });
                }
            }
            Pattern {
                environment: parts[0].to_owned(),
                region: parts[1].to_owned(),
                cluster: parts[2].to_owned(),
                file: parts[3].to_owned(),
            }
        };
        Ok(Self { actions, pattern })
    }

    /// Whether this scope allows `action` on `target`.
    pub fn allows(&self, action: Action, target: &ScopeTarget<'_>) -> bool {
        self.actions.grant(action) && self.pattern.matches(target)
    }

    /// Whether this scope allows `action` everywhere, which targetless actions need.
    pub fn allows_everywhere(&self, action: Action) -> bool {
        self.actions.grant(action) && self.pattern.is_everything()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.actions.iter().map(Action::as_str).collect();
        write!(f, "{}:{}", names.join(","), self.pattern)
    }
}

impl FromStr for Scope {
    type Err = InvalidScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The outcome of a scope check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The scopes allow it.
    Allow,
    /// They do not.
    Deny {
        /// The narrowest scope that would allow it, e.g.
        /// `deploy:production/us-west-2/prod-1/api`, to show the caller.
        needed: String,
    },
}

impl Decision {
    /// Whether it is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// `Ok(())` when allowed, the [`Denied`] error otherwise: handy with `?` in a handler.
    ///
    /// # Errors
    /// [`Denied`] naming the missing scope.
    pub fn into_result(self) -> Result<(), Denied> {
        match self {
            Decision::Allow => Ok(()),
            Decision::Deny { needed } => Err(Denied { needed }),
        }
    }
}

/// A refused action, as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this token does not have the scope `{needed}`")]
pub struct Denied {
    /// The scope that would allow it.
    pub needed: String,
}

impl Denied {
    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        "missing_scope"
    }
}

impl From<Denied> for deployer_core::error::DeployError {
    fn from(d: Denied) -> Self {
        deployer_core::error::DeployError::Forbidden {
            code: "missing_scope",
            message: d.to_string(),
        }
    }
}

/// A token's scopes. Stored and serialised as a list of scope strings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Scopes from already parsed ones.
    pub fn new(scopes: Vec<Scope>) -> Self {
        Self(scopes)
    }

    /// Parses scopes given one per item (repeated `--scope` flags); each item may itself hold
    /// several scopes separated by spaces.
    ///
    /// # Errors
    /// [`InvalidScope`] for the first scope that does not parse.
    pub fn parse_all<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidScope> {
        let mut out = Vec::new();
        for item in items {
            for word in item.split_whitespace() {
                let scope = Scope::parse(word)?;
                if !out.contains(&scope) {
                    out.push(scope);
                }
            }
        }
        Ok(Self(out))
    }

    /// The scopes.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Whether there are none (such a token may do nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether these scopes allow `action` on `target`.
    pub fn allows(&self, action: Action, target: &ScopeTarget<'_>) -> Decision {
        if self.0.iter().any(|s| s.allows(action, target)) {
            Decision::Allow
        } else {
            Decision::Deny {
                needed: format!("{action}:{target}"),
            }
        }
    }

    /// Whether these scopes allow a targetless `action`: listing across every target needs
    /// `read:*`, token administration `admin:*`.
    pub fn allows_everywhere(&self, action: Action) -> Decision {
        if self.0.iter().any(|s| s.allows_everywhere(action)) {
            Decision::Allow
        } else {
            Decision::Deny {
                needed: format!("{action}:*"),
            }
        }
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&texts.join(" "))
    }
}

impl FromStr for Scopes {
    type Err = InvalidScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_all([s])
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Scope>::deserialize(d).map(Self)
    }
}

#[cfg(test)]
mod tests;
