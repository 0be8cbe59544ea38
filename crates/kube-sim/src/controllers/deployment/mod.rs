//! The Deployment controller (spec §7.1), after `pkg/controller/deployment` of
//! kube-controller-manager 1.32, as a pure pass over one Deployment and its ReplicaSets.
//!
//! A pass builds a [`work::Work`] from the stored objects, takes at most one step
//! ([`work::Work::run`]: paused conditions, revision sync, scaling event, or one RollingUpdate
//! / Recreate step), and turns the result into writes ([`work::Work::finish`]).

mod revision;
mod rolling;
mod scale;
pub(crate) mod status;
mod sync;
pub(crate) mod view;
pub(crate) mod work;
