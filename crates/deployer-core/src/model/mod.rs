//! The vocabulary of the deployer: names, requests, records and events.

mod deployment;
mod event;
mod id;
mod names;

pub use deployment::{
    DeployRequest, DeploymentRecord, DryRunResult, Failure, ImageChange, Method, Phase, PodIssue, RolloutSummary,
    Source, Status, TriggerKind, UnknownMethod, opt_duration,
};
pub use event::{DeploymentEvent, EventKind};
pub use id::{DeploymentId, InvalidId};
pub use names::{AppFile, ClusterKey, ClusterName, ContainerName, InvalidName, InvalidPath, Region, Target};
