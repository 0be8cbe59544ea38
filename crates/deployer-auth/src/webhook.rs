//! Webhook secrets that can be stored hashed, and why some cannot.
//!
//! A webhook secret that the sender presents *as is* can be kept as its SHA-256, exactly like
//! an API token: the deployer hashes what arrives and compares hashes in constant time. That
//! covers
//! - Docker Hub and Quay, which cannot sign: the secret is part of the webhook URL
//!   (`/hooks/dockerhub/<secret>` or `?secret=`);
//! - CNCF Distribution, GitLab's registry, Harbor and Azure Container Registry, which send a
//!   configured header verbatim (`Authorization: Bearer <secret>`).
//!
//! An **HMAC** secret cannot be stored hashed. GitHub's `X-Hub-Signature-256` is
//! `HMAC-SHA256(secret, body)`: to check it the deployer must compute the same HMAC, which
//! needs the secret itself. Such secrets stay in the configuration as secrets (a mounted file
//! or an environment variable), never in the database. (Pub/Sub push and OIDC tokens are
//! signed JWTs checked against public keys: there is no shared secret at all.)
//!
//! Generated secrets are `kadwh_` followed by 43 base62 characters (256 bits). Only
//! high-entropy secrets should be stored as a fast hash; [`WebhookSecretHash::of`] does not
//! check that, so hash only what [`generate_secret`] made or something as random.

use std::fmt;
use std::str::FromStr;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::token::{RandomUnavailable, base62_32, decode_hex32, encode_hex, random_bytes};

/// The prefix of generated webhook secrets.
pub const WEBHOOK_SECRET_PREFIX: &str = "kadwh_";

/// Generates a webhook secret: `kadwh_` and 43 base62 characters from 32 random bytes, safe in
/// a URL path, a query string and a header.
///
/// # Errors
/// [`RandomUnavailable`] when the operating system's random source fails.
pub fn generate_secret() -> Result<SecretString, RandomUnavailable> {
    let bytes = random_bytes::<32>()?;
    Ok(SecretString::from(format!(
        "{WEBHOOK_SECRET_PREFIX}{}",
        base62_32(bytes)
    )))
}

/// The SHA-256 of a webhook secret, written `sha256:<64 hex digits>` in the configuration.
#[derive(Clone, Copy)]
pub struct WebhookSecretHash([u8; 32]);

/// Text that is not a `sha256:<hex>` secret hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook secret hash: write `sha256:` and 64 lowercase hex digits, as `webhook-secret hash` prints")]
pub struct InvalidSecretHash;

impl WebhookSecretHash {
    /// The hash of `secret`, to put in the configuration.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `presented` is the secret, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let presented = Self::of(presented);
        bool::from(self.0.ct_eq(&presented.0))
    }
}

impl fmt::Display for WebhookSecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", encode_hex(&self.0))
    }
}

impl fmt::Debug for WebhookSecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecretHash({self})")
    }
}

impl FromStr for WebhookSecretHash {
    type Err = InvalidSecretHash;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("sha256:")
            .and_then(decode_hex32)
            .map(Self)
            .ok_or(InvalidSecretHash)
    }
}

impl PartialEq for WebhookSecretHash {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for WebhookSecretHash {}

impl Serialize for WebhookSecretHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WebhookSecretHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_generated_secret_matches_its_hash_and_nothing_else() {
        let secret = generate_secret().unwrap_or_else(|e| panic!("{e}"));
        let s = secret.expose_secret();
        assert!(s.starts_with("kadwh_") && s.len() == 49, "{s}");
        let hash = WebhookSecretHash::of(s);
        assert!(hash.matches(s));
        assert!(!hash.matches(&s[..48]));
        assert!(!hash.matches(""));
        assert!(!hash.to_string().contains(&s[6..]));
    }

    #[test]
    fn secret_hashes_parse_and_print_as_sha256_hex() {
        let h = WebhookSecretHash::of("abc");
        let text = h.to_string();
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(text.parse::<WebhookSecretHash>(), Ok(h));
        for bad in [
            "",
            "ba7816bf",
            "sha1:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:XYZ",
        ] {
            assert!(bad.parse::<WebhookSecretHash>().is_err(), "{bad:?}");
        }
        let from_config: Result<WebhookSecretHash, _> = serde_json::from_str(&format!("\"{text}\""));
        assert_eq!(from_config.ok(), Some(h));
    }
}
