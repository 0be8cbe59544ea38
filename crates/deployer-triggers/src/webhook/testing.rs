//! Hooks shared by the unit tests of the providers.

use secrecy::SecretString;

use super::{Hook, Hooks};
use crate::event::Provider;
use crate::pattern::RepositoryPattern;

/// The Docker Hub token bound to `acme/api`.
pub(crate) const TOKEN_A: &str = "dockerhub-token-for-acme-api-0123456789";

pub(crate) fn hooks() -> Hooks {
    let pattern = |p: &str| RepositoryPattern::new(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    Hooks::new(vec![Hook::new(
        "acme-api",
        Provider::Dockerhub,
        SecretString::from(TOKEN_A),
        vec![pattern("acme/api")],
    )])
}
