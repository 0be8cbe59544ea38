//! Deploy triggers for k8s-app-deployer: registry webhooks, CI releases, routing rules and
//! the trigger planner.
//!
//! The classic failure of registry-triggered deployers is that any push deploys somewhere
//! unintended. Here every trigger goes through explicit rules, and every decision, positive
//! or not, is reported.
//!
//! # The model
//!
//! 1. **Inputs.** A registry webhook is authenticated and parsed by its provider's module in
//!    [`webhook`] into [`ImageEvent`]s (`registry`, normalised `repository`, `tag`,
//!    `digest`, `pushed_at`, `actor`, `provider`). Each hook is a secret bound to the
//!    repositories it may speak for. A CI or API release arrives as a [`ReleaseRequest`]
//!    (`image` or `app`, `tag`, `branch`, `commit`, `build_url`, `ci`, `files`).
//! 2. **Configuration.** [`rules::TriggerSettings`] (the `[triggers]` section) is validated
//!    once into [`rules::Rules`] and [`webhook::Hooks`], reporting every
//!    [`ConfigProblem`] with its key path. [`rules::Rules`] holds the environments (named
//!    groups of `region/cluster` with a registry-push policy, an optional promotion gate
//!    and an `on_failure` policy), the branch routes (`dev` → `development`, `stage` →
//!    `staging`, `master`/`main` → `production` by default) and the rules (repositories ×
//!    files × environments × trigger kinds × tag filter).
//! 3. **Planning.** [`plan::plan_image_event`] and [`plan::plan_release`] are pure: they take
//!    the trigger, the rules, the [`plan::Observed`] state the caller looked up (existing
//!    files and their images, pins, tags that succeeded per environment, recent triggers)
//!    and `now`, and return a [`plan::TriggerPlan`]: the deployments to make, each with its
//!    rule and environment, and a [`plan::Skip`] with a [`plan::SkipReason`] for everything
//!    that will not deploy.
//!
//! The server wires it together: receive → authenticate and parse (this crate) → resolve
//! the digest and look up the observed state (I/O) → plan (this crate) → enqueue the deploy
//! requests ([`plan::TriggerPlan::requests`]) and answer with the plan.
//!
//! Nothing in this crate does I/O or reads the clock.
//!
//! # Example
//!
//! ```
//! use chrono::DateTime;
//! use deployer_core::model::{AppFile, ClusterName, Region, Target};
//! use deployer_triggers::plan::{Observed, ObservedFile, plan_image_event};
//! use deployer_triggers::rules::TriggerSettings;
//! use deployer_triggers::webhook::dockerhub;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let settings: TriggerSettings = toml::from_str(
//!     r#"
//!     [environments.staging]
//!     targets = ["eu-west-1/stage-1"]
//!
//!     [[rules]]
//!     name = "api"
//!     repositories = ["acme/api"]
//!     files = ["api"]
//!     environments = ["staging", "production"]
//!     triggers = ["registry"]
//!     tags = { semver = ">=1.0.0" }
//!
//!     [[hooks]]
//!     name = "hub"
//!     provider = "dockerhub"
//!     secret = "0123456789abcdef0123456789abcdef"
//!     repositories = ["acme/api"]
//!     "#,
//! )?;
//! // Secrets given as `secret_file` or `secret_env` would be read by this closure.
//! let (rules, hooks) = settings.validate(&mut |_| Err("not used here".into())).map_err(|p| format!("{p:?}"))?;
//!
//! // `POST /webhooks/dockerhub/0123456789abcdef0123456789abcdef`
//! let body = br#"{"push_data":{"tag":"1.4.2"},"repository":{"repo_name":"acme/api"}}"#;
//! let delivery = dockerhub::receive(&hooks, "0123456789abcdef0123456789abcdef", body)?;
//!
//! let api = Target { region: Region::new("eu-west-1")?, cluster: ClusterName::new("stage-1")?, file: AppFile::new("api")? };
//! let observed = Observed {
//!     files: vec![ObservedFile { target: api.clone(), images: vec!["acme/api:1.4.1".parse()?] }],
//!     ..Observed::default()
//! };
//! let now = DateTime::from_timestamp(1_764_138_000, 0).unwrap_or_default();
//! let plan = plan_image_event(&delivery.events[0], &rules, &observed, now);
//!
//! assert_eq!(plan.deployments[0].target, api);
//! assert_eq!(plan.deployments[0].image.to_string(), "acme/api:1.4.2");
//! // Production refuses registry pushes unless a rule sets `allow_production_push`.
//! assert_eq!(plan.skipped[0].reason.kind(), "registry_push_refused");
//! # Ok(())
//! # }
//! ```

mod event;
/// Glob patterns over names and image repositories.
pub mod pattern;
/// The trigger planner.
pub mod plan;
mod problem;
/// Environments, branch routes and rules: the `[triggers]` configuration.
pub mod rules;
/// Registry webhooks: authentication and parsing, one module per provider.
pub mod webhook;

pub use event::{DedupKey, ImageEvent, Provider, ReleaseRequest};
pub use problem::ConfigProblem;
