//! Deterministic fault injection: per-verb error rates, added latency, forced watch expiry
//! and frozen controllers, all drawn from the seeded generator.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rng::SimRng;
use crate::store::ApiStatus;

/// The API verbs faults can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE (one object or a collection).
    Delete,
}

/// The error a faulty verb answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub enum FaultCode {
    /// `500 InternalError`.
    Internal,
    /// `503 ServiceUnavailable`.
    Unavailable,
    /// `429 TooManyRequests` with `Retry-After`.
    TooManyRequests,
}

impl TryFrom<u16> for FaultCode {
    type Error = String;
    fn try_from(code: u16) -> Result<Self, Self::Error> {
        match code {
            500 => Ok(Self::Internal),
            503 => Ok(Self::Unavailable),
            429 => Ok(Self::TooManyRequests),
            other => Err(format!("unsupported fault code {other}; use 500, 503 or 429")),
        }
    }
}

impl From<FaultCode> for u16 {
    fn from(code: FaultCode) -> u16 {
        match code {
            FaultCode::Internal => 500,
            FaultCode::Unavailable => 503,
            FaultCode::TooManyRequests => 429,
        }
    }
}

/// How one verb misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerbFault {
    /// Probability in `[0, 1]` that a request fails.
    pub rate: f64,
    /// The error answered.
    pub code: FaultCode,
    /// `Retry-After` seconds for 429 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

/// The whole fault configuration (`PUT /_sim/faults`). The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Per-verb failures.
    #[serde(default)]
    pub verbs: BTreeMap<Verb, VerbFault>,
    /// Latency added to every Kubernetes API request, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Answer every new watch with a 410 Expired event.
    #[serde(default)]
    pub expire_watches: bool,
    /// Stop the controllers from running.
    #[serde(default)]
    pub freeze_controllers: bool,
}

/// The fault configuration plus the generator that decides each roll.
#[derive(Debug)]
pub struct FaultInjector {
    faults: Faults,
    rng: SimRng,
}

/// What the injector decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Wait this long before answering.
    pub delay: Duration,
    /// Answer with this error instead of serving the request.
    pub failure: Option<(ApiStatus, Option<u64>)>,
}

impl FaultInjector {
    /// An injector with no faults, rolling from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            faults: Faults::default(),
            rng: SimRng::new(seed),
        }
    }

    /// The current configuration.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the configuration.
    pub fn set(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Rolls for one request of `verb`.
    pub fn decide(&mut self, verb: Verb) -> Decision {
        let delay = Duration::from_millis(self.faults.latency_ms);
        let failure = match self.faults.verbs.get(&verb).copied() {
            Some(fault) if fault.rate > 0.0 => {
                let roll = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                (roll < fault.rate).then(|| failure_status(fault))
            }
            _ => None,
        };
        Decision { delay, failure }
    }
}

fn failure_status(fault: VerbFault) -> (ApiStatus, Option<u64>) {
    match fault.code {
        FaultCode::Internal => (ApiStatus::internal("injected fault"), None),
        FaultCode::Unavailable => (
            ApiStatus::new(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            None,
        ),
        FaultCode::TooManyRequests => {
            let after = fault.retry_after_seconds.unwrap_or(1);
            (
                ApiStatus::new(
                    429,
                    "TooManyRequests",
                    "the server has received too many requests and has asked us to try again later",
                )
                .with_retry_after(after),
                Some(after),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_rolls_are_deterministic_for_a_seed() {
        let faults: Faults = serde_json::from_str(r#"{"verbs":{"list":{"rate":0.5,"code":503}}}"#).unwrap_or_default();
        let rolls = |seed| {
            let mut injector = FaultInjector::new(seed);
            injector.set(faults.clone());
            (0..32)
                .map(|_| injector.decide(Verb::List).failure.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(rolls(7), rolls(7));
        assert!(rolls(7).iter().any(|f| *f) && rolls(7).iter().any(|f| !*f));
    }

    #[test]
    fn unsupported_fault_codes_are_rejected() {
        assert!(serde_json::from_str::<Faults>(r#"{"verbs":{"get":{"rate":1,"code":404}}}"#).is_err());
    }

    #[test]
    fn too_many_requests_carries_retry_after() {
        let mut injector = FaultInjector::new(1);
        let mut faults = Faults::default();
        faults.verbs.insert(
            Verb::Get,
            VerbFault {
                rate: 1.0,
                code: FaultCode::TooManyRequests,
                retry_after_seconds: Some(3),
            },
        );
        injector.set(faults);
        let decision = injector.decide(Verb::Get);
        assert_eq!(decision.failure.map(|(s, after)| (s.code, after)), Some((429, Some(3))));
        assert_eq!(injector.decide(Verb::List).failure, None);
    }
}
