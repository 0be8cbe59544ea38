//! Triggers, server side: the `[triggers]` configuration in force (reloadable), the observed
//! state the planner needs, and carrying out plans through the same path as
//! `POST /api/v1/deployments`.
//!
//! ```text
//! webhook / release ─► authenticate and parse (deployer-triggers)
//!                   ─► observe: files and images, pins, succeeded tags, recent triggers (I/O)
//!                   ─► plan (deployer-triggers, pure)
//!                   ─► submit each planned deployment: validate → store → queue
//!                   ─► record the trigger (TriggerStore) and, for releases, the release
//! ```

/// Docker Hub callback acknowledgements.
pub mod callback;
/// Handling an authenticated webhook delivery.
pub mod delivery;
/// Carrying out a plan and recording the trigger.
pub mod dispatch;
/// The configuration in force and its reload.
pub mod live;
/// Looking up the observed state.
pub mod observe;
/// Handling a release.
pub mod release;

pub use live::{LiveTriggers, Reloaded, TriggerReloader, reload_on_hangup};
