//! The per-target queue.
//!
//! Deployments to one target (`region/cluster/file`) run strictly one after another, in the
//! order they were accepted; different targets run in parallel, at most `concurrency` at a
//! time. Each target with work has one worker task, which exits once its queue is empty.
//! A cluster never has more than `cluster_concurrency` deployments running, and a worker takes
//! its cluster's slot before a global one, so a slow or unreachable cluster cannot take every
//! worker from the others.
//!
//! The queue is bounded twice: `capacity` deployments waiting or running in total (beyond it
//! new requests get a 503) and `per_target` for one target (beyond it a 429). A slot is
//! reserved before the deployment is stored, so an accepted deployment always has a place.
//!
//! On shutdown workers stop taking new deployments; running ones get `shutdown_deadline` to
//! finish and are then dropped at their next await point. The executor records each phase
//! before acting (or, for the apply, while acting), so a dropped run resumes from its recorded
//! phase at the next start.

/// Automatic rollbacks of failed deployments, as the `[[policies]]` say.
pub mod auto_rollback;
#[cfg(test)]
mod cluster_slots_tests;
mod dispatcher;
mod finished;
/// Holding deployments back while the configuration repository is unreachable.
pub mod repo_gate;
#[cfg(test)]
mod stored_record_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod watch_slots_tests;

pub use dispatcher::{EnqueueError, Queue, QueueStats, Reservation};
pub use finished::Finished;
