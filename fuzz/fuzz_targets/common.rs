//! What the webhook targets share: hooks that accept every repository with one known secret,
//! so that the fuzzer's bytes get past authentication into the parsers.

#![allow(dead_code)]

use deployer_triggers::Provider;
use deployer_triggers::pattern::RepositoryPattern;
use deployer_triggers::webhook::{Hook, Hooks};
use secrecy::SecretString;

/// The secret every hook is configured with.
pub const TOKEN: &str = "fuzz-webhook-secret-0123456789abcdef";

/// One hook per provider, for every repository.
pub fn hooks() -> Hooks {
    let every = || match RepositoryPattern::new("*") {
        Ok(p) => vec![p],
        Err(e) => panic!("the pattern `*` is valid: {e}"),
    };
    Hooks::new(
        Provider::ALL
            .iter()
            .map(|p| Hook::new(p.as_str(), *p, SecretString::from(TOKEN), every()))
            .collect(),
    )
}
