//! Configured hooks: who may call which webhook, with which secret, for which repositories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::WebhookError;
use super::signature::verify_sha256;
use crate::event::Provider;
use crate::pattern::RepositoryPattern;
use crate::problem::ConfigProblem;

/// The shortest secret accepted: 32 characters (`openssl rand -hex 32` gives 64).
pub const MIN_SECRET_LEN: usize = 32;

/// One `[[triggers.hooks]]` entry. Exactly one of `secret`, `secret_file`, `secret_env` and
/// `secret_hash` is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSettings {
    /// The hook's name: it becomes `requested_by` of the deployments it triggers
    /// (`webhook:<name>`).
    pub name: String,
    /// Which webhook format the hook receives.
    pub provider: Provider,
    /// The secret: the URL token for `dockerhub` and `quay`, the bearer token for
    /// `distribution`, the `Authorization` value for `harbor`, the HMAC key for `github` and
    /// `generic`. Prefer `secret_file` or `secret_env`.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// A file holding the secret (surrounding whitespace is ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Only the SHA-256 of the secret, `sha256:<64 hex digits>`, so the secret itself is in
    /// no file of the deployer. Possible for providers that present the secret as is
    /// (`dockerhub`, `quay`, `distribution`, `harbor`), not for HMAC signers.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// The repositories this hook may speak for, as patterns over normalised repositories
    /// (`acme/api` means `docker.io/acme/api`; `ghcr.io/acme/*`).
    pub repositories: Vec<String>,
}

/// Where a secret not written inline lives; the caller reads it (this crate does no I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource<'a> {
    /// A file.
    File(&'a Path),
    /// An environment variable.
    Env(&'a str),
}

/// A validated hook. Its `Debug` output shows neither the secret nor its hash.
#[derive(Clone)]
pub struct Hook {
    name: String,
    provider: Provider,
    secret: Option<SecretString>,
    fingerprint: [u8; 32],
    repositories: Vec<RepositoryPattern>,
}

impl Hook {
    /// A hook from already validated parts (the secret is not checked for length here).
    pub fn new(
        name: impl Into<String>,
        provider: Provider,
        secret: SecretString,
        repositories: Vec<RepositoryPattern>,
    ) -> Hook {
        let fingerprint = fingerprint(secret.expose_secret());
        Hook {
            name: name.into(),
            provider,
            secret: Some(secret),
            fingerprint,
            repositories,
        }
    }

    /// The hook's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hook's provider.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The repository patterns the hook may speak for.
    pub fn repositories(&self) -> &[RepositoryPattern] {
        &self.repositories
    }

    /// Whether the hook may speak for a normalised repository (`docker.io/acme/api`).
    pub fn allows(&self, repository: &str) -> bool {
        self.repositories.iter().any(|p| p.matches(repository))
    }

    /// A hook that knows only the SHA-256 of its secret: it authenticates URL tokens and
    /// header values, never HMAC signatures.
    pub fn with_secret_hash(
        name: impl Into<String>,
        provider: Provider,
        secret_sha256: [u8; 32],
        repositories: Vec<RepositoryPattern>,
    ) -> Hook {
        Hook {
            name: name.into(),
            provider,
            secret: None,
            fingerprint: secret_sha256,
            repositories,
        }
    }

    /// The secret, when the hook has it (not only its hash).
    pub(crate) fn secret_bytes(&self) -> Option<&[u8]> {
        self.secret.as_ref().map(|s| s.expose_secret().as_bytes())
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("repositories", &self.repositories)
            .finish_non_exhaustive()
    }
}

fn fingerprint(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Every configured hook.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    hooks: Vec<Hook>,
}

impl Hooks {
    /// A set from already built hooks.
    pub fn new(hooks: Vec<Hook>) -> Hooks {
        Hooks { hooks }
    }

    /// Validates `[[triggers.hooks]]`, reading secrets given by file or variable through
    /// `read_secret` (which returns the secret or a short reason).
    ///
    /// # Errors
    /// Every problem found, with key paths `hooks[i].<field>`.
    pub fn from_settings(
        settings: &[HookSettings],
        read_secret: &mut dyn FnMut(SecretSource<'_>) -> Result<SecretString, String>,
    ) -> Result<Hooks, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut hooks = Vec::new();
        let mut names = BTreeSet::new();
        for (i, s) in settings.iter().enumerate() {
            let key = |k: &str| format!("hooks[{i}].{k}");
            if s.name.trim().is_empty() {
                problems.push(ConfigProblem::new(key("name"), "a hook needs a name"));
            } else if !names.insert(s.name.as_str()) {
                problems.push(ConfigProblem::new(
                    key("name"),
                    format!("hook name `{}` is used twice", s.name),
                ));
            }
            let secret = resolve_secret(s, &key, read_secret, &mut problems);
            if s.repositories.is_empty() {
                problems.push(
                    ConfigProblem::new(
                        key("repositories"),
                        "a hook must list the repositories it may speak for",
                    )
                    .hint("e.g. `repositories = [\"acme/api\"]`; `*` allows every repository"),
                );
            }
            let mut patterns = Vec::new();
            for (j, r) in s.repositories.iter().enumerate() {
                match RepositoryPattern::new(r) {
                    Ok(p) => patterns.push(p),
                    Err(e) => problems.push(ConfigProblem::new(
                        format!("hooks[{i}].repositories[{j}]"),
                        e.to_string(),
                    )),
                }
            }
            if let Some(credential) = secret {
                let hook = match credential {
                    Credential::Secret(secret) => Hook::new(s.name.clone(), s.provider, secret, patterns),
                    Credential::Hash(hash) => Hook::with_secret_hash(s.name.clone(), s.provider, hash, patterns),
                };
                if hooks
                    .iter()
                    .any(|h: &Hook| h.provider == hook.provider && h.fingerprint == hook.fingerprint)
                {
                    problems.push(
                        ConfigProblem::new(key("secret"), "two hooks of the same provider share a secret")
                            .hint("give every hook its own secret, so a delivery names exactly one hook"),
                    );
                }
                hooks.push(hook);
            }
        }
        if problems.is_empty() {
            Ok(Hooks { hooks })
        } else {
            Err(problems)
        }
    }

    /// The hooks of one provider.
    pub fn of(&self, provider: Provider) -> impl Iterator<Item = &Hook> {
        self.hooks.iter().filter(move |h| h.provider == provider)
    }

    fn any_of(&self, provider: Provider) -> Result<(), WebhookError> {
        if self.of(provider).next().is_none() {
            Err(WebhookError::NoHookConfigured { provider })
        } else {
            Ok(())
        }
    }

    /// The hook whose secret equals `presented`, compared in constant time against every
    /// hook of the provider (hashes are compared, so the length does not leak either).
    pub(crate) fn by_token(&self, provider: Provider, presented: &str) -> Result<Option<&Hook>, WebhookError> {
        self.any_of(provider)?;
        let presented = fingerprint(presented);
        let mut found = None;
        for hook in self.of(provider) {
            if bool::from(hook.fingerprint.ct_eq(&presented)) {
                found = Some(hook);
            }
        }
        Ok(found)
    }

    /// The hook whose secret makes `mac` a valid HMAC-SHA256 of the concatenated `parts`.
    pub(crate) fn by_hmac(
        &self,
        provider: Provider,
        parts: &[&[u8]],
        mac: &[u8],
    ) -> Result<Option<&Hook>, WebhookError> {
        self.any_of(provider)?;
        Ok(self
            .of(provider)
            .find(|h| h.secret_bytes().is_some_and(|secret| verify_sha256(secret, parts, mac))))
    }
}

/// What a hook authenticates with after validation.
enum Credential {
    Secret(SecretString),
    Hash([u8; 32]),
}

fn resolve_secret(
    s: &HookSettings,
    key: &dyn Fn(&str) -> String,
    read_secret: &mut dyn FnMut(SecretSource<'_>) -> Result<SecretString, String>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Credential> {
    let given = [
        s.secret.is_some(),
        s.secret_file.is_some(),
        s.secret_env.is_some(),
        s.secret_hash.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        problems.push(
            ConfigProblem::new(
                key("secret"),
                format!(
                    "hook `{}` must give exactly one of `secret`, `secret_file`, `secret_env`, `secret_hash`",
                    s.name
                ),
            )
            .hint("prefer `secret_file` (a mounted secret) or `secret_env`"),
        );
        return None;
    }
    if let Some(hash) = &s.secret_hash {
        return secret_hash(s.provider, hash, &key("secret_hash"), problems).map(Credential::Hash);
    }
    let (field, secret) = if let Some(secret) = &s.secret {
        ("secret", Ok(secret.clone()))
    } else if let Some(path) = &s.secret_file {
        ("secret_file", read_secret(SecretSource::File(path)))
    } else if let Some(var) = &s.secret_env {
        ("secret_env", read_secret(SecretSource::Env(var)))
    } else {
        return None;
    };
    match secret {
        Err(reason) => {
            problems.push(ConfigProblem::new(key(field), reason));
            None
        }
        Ok(secret) if secret.expose_secret().trim().len() < MIN_SECRET_LEN => {
            problems.push(
                ConfigProblem::new(
                    key(field),
                    format!("the secret is shorter than {MIN_SECRET_LEN} characters"),
                )
                .hint("generate one with `openssl rand -hex 32`"),
            );
            None
        }
        Ok(secret) => Some(Credential::Secret(SecretString::from(
            secret.expose_secret().trim().to_owned(),
        ))),
    }
}

/// Parses `sha256:<64 lowercase hex>`; refused for providers that sign with an HMAC.
fn secret_hash(provider: Provider, text: &str, key: &str, problems: &mut Vec<ConfigProblem>) -> Option<[u8; 32]> {
    if provider.signs_with_hmac() {
        problems.push(
            ConfigProblem::new(
                key,
                format!("`{provider}` hooks check an HMAC signature, which needs the secret itself"),
            )
            .hint("use `secret_file` or `secret_env` for this hook"),
        );
        return None;
    }
    let hex_part = text.trim().strip_prefix("sha256:").unwrap_or_default();
    let mut hash = [0u8; 32];
    let valid = hex_part.len() == 64
        && !hex_part.bytes().any(|b| b.is_ascii_uppercase())
        && hex::decode_to_slice(hex_part, &mut hash).is_ok();
    if !valid {
        problems.push(
            ConfigProblem::new(key, "is not `sha256:` followed by 64 lowercase hex digits")
                .hint("hash the secret with `printf %s \"$SECRET\" | sha256sum`"),
        );
        return None;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(name: &str, provider: Provider, secret: &str) -> HookSettings {
        HookSettings {
            name: name.to_owned(),
            provider,
            secret: Some(SecretString::from(secret)),
            secret_file: None,
            secret_env: None,
            secret_hash: None,
            repositories: vec!["acme/*".to_owned()],
        }
    }

    #[test]
    fn two_hooks_of_one_provider_may_not_share_a_secret() {
        let secret = "s".repeat(40);
        let same = [
            settings("a", Provider::Harbor, &secret),
            settings("b", Provider::Harbor, &secret),
        ];
        let problems = Hooks::from_settings(&same, &mut |_| Err("unused".into()))
            .err()
            .unwrap_or_default();
        assert_eq!(
            problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            [
                "hooks[1].secret: two hooks of the same provider share a secret\n\nhint: give every hook its own secret, so a delivery names exactly one hook"
            ]
        );
        let across = [
            settings("a", Provider::Harbor, &secret),
            settings("b", Provider::Quay, &secret),
        ];
        assert!(Hooks::from_settings(&across, &mut |_| Err("unused".into())).is_ok());
    }

    #[test]
    fn a_secret_that_cannot_be_read_is_reported_with_the_reason() {
        let mut s = settings("a", Provider::Quay, "");
        s.secret = None;
        s.secret_file = Some(PathBuf::from("/run/secrets/quay"));
        let problems = Hooks::from_settings(&[s], &mut |_| Err("cannot read `/run/secrets/quay`: not found".into()))
            .err()
            .unwrap_or_default();
        assert_eq!(
            problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["hooks[0].secret_file: cannot read `/run/secrets/quay`: not found"]
        );
    }

    #[test]
    fn a_secret_hash_authenticates_tokens_but_not_hmac_providers() {
        let secret = "kadwh_4c9e1b7a2f6d8e0c3b5a7f9d1e2c4b6a8f0d2e4";
        let hash = format!("sha256:{}", hex::encode(Sha256::digest(secret.as_bytes())));
        let mut hub = settings("hub", Provider::Dockerhub, "");
        hub.secret = None;
        hub.secret_hash = Some(hash.clone());
        let hooks = Hooks::from_settings(std::slice::from_ref(&hub), &mut |_| Err("unused".into()))
            .unwrap_or_else(|p| panic!("{p:?}"));
        let found = hooks
            .by_token(Provider::Dockerhub, secret)
            .ok()
            .flatten()
            .map(Hook::name);
        assert_eq!(found, Some("hub"));
        assert!(
            hooks
                .by_token(Provider::Dockerhub, "kadwh_wrong")
                .ok()
                .flatten()
                .is_none()
        );

        let mut github = hub.clone();
        github.provider = Provider::Github;
        let mut bad = hub;
        bad.name = "bad".into();
        bad.secret_hash = Some(hash.to_uppercase());
        let problems = Hooks::from_settings(&[github, bad], &mut |_| Err("unused".into()))
            .err()
            .unwrap_or_default();
        let shown: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.key_path, p.message))
            .collect();
        assert_eq!(
            shown,
            [
                "hooks[0].secret_hash: `github` hooks check an HMAC signature, which needs the secret itself",
                "hooks[1].secret_hash: is not `sha256:` followed by 64 lowercase hex digits",
            ]
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let hook = Hook::new("a", Provider::Github, SecretString::from("top-secret-value"), vec![]);
        let shown = format!("{hook:?}");
        assert!(
            !shown.contains("top-secret-value") && !shown.contains("fingerprint"),
            "{shown}"
        );
    }
}
