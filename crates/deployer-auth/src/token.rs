//! API tokens: generation, the public id, the stored hash and the token's name.
//!
//! A token is `kad_` followed by 43 base62 characters that encode 32 bytes from the operating
//! system's random source (256 bits). It is shown once, when issued; the deployer keeps only
//! its SHA-256, as 64 lowercase hex digits.
//!
//! # Why SHA-256 and not a password hash
//! Password hashes (argon2, bcrypt, scrypt) are slow on purpose, to make guessing *low-entropy*
//! secrets expensive after a database leak. A token has 256 bits of entropy: no amount of
//! guessing finds a preimage of its SHA-256, so slowness buys nothing. It would cost a lot, though:
//! every API request checks a token, and a deliberately slow hash on that path turns into a
//! denial-of-service lever. A fast, unsalted hash also lets the store find a token *by its hash*
//! with an index, instead of trying every row's salt. GitHub, GitLab and PyPI store their API
//! tokens the same way.
//!
//! # The public id
//! The first 8 characters after `kad_` are the token's [`TokenId`]: shown in listings, audit
//! entries and `token revoke`, so that whoever holds a leaked token can tell which one to
//! revoke. Publishing them leaves 35 secret characters, still above 208 bits.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every token, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "kad_";

/// The number of base62 characters after the prefix.
pub const TOKEN_BODY_LEN: usize = 43;

/// The number of characters of the public [`TokenId`].
pub const TOKEN_ID_LEN: usize = 8;

/// The base62 alphabet, in the order of the digits' values.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The operating system's random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed: {message}")]
pub struct RandomUnavailable {
    /// What the random source reported.
    pub message: String,
}

impl RandomUnavailable {
    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        "random_unavailable"
    }
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| RandomUnavailable { message: e.to_string() })?;
    Ok(buf)
}

/// Encodes 32 bytes as exactly 43 base62 digits, most significant first.
///
/// 62^43 > 2^256, so every 32-byte value has a 43-digit encoding and no entropy is lost.
pub(crate) fn base62_32(bytes: [u8; 32]) -> String {
    let mut number = bytes;
    let mut digits = [b'0'; TOKEN_BODY_LEN];
    for slot in digits.iter_mut().rev() {
        // Long division of the big-endian number by 62.
        let mut remainder: u32 = 0;
        for byte in &mut number {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(acc / 62).unwrap_or(u8::MAX);
            remainder = acc % 62;
        }
        *slot = BASE62[usize::try_from(remainder).unwrap_or(0)];
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// Whether every character of `s` is a base62 digit.
fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A token in clear text: freshly issued, or as a client presented it.
///
/// It is a secret: its `Debug` output is redacted and it has no `Display`, so it cannot end up
/// in a log line by accident. [`PlainToken::expose_secret`] is for showing it once to whoever
/// asked for it.
#[derive(Clone)]
pub struct PlainToken(SecretString);

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainToken({TOKEN_PREFIX}{}…)", self.id())
    }
}

/// Text presented as a token that cannot be one.
///
/// The message never repeats the text: it may be a secret pasted in the wrong place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "malformed token: a k8s-app-deployer token is `kad_` followed by 43 letters and digits, as printed by `token create`"
)]
pub struct MalformedToken;

impl PlainToken {
    /// Generates a new token from 32 random bytes.
    ///
    /// # Errors
    /// [`RandomUnavailable`] when the operating system's random source fails.
    pub fn generate() -> Result<Self, RandomUnavailable> {
        let bytes = random_bytes::<32>()?;
        Ok(Self(SecretString::from(format!("{TOKEN_PREFIX}{}", base62_32(bytes)))))
    }

    /// Checks the shape of a presented token (prefix, length, alphabet) before it is hashed
    /// and looked up. It compares nothing secret, so it need not be constant-time.
    ///
    /// # Errors
    /// [`MalformedToken`] when the text cannot be a token.
    pub fn parse(text: &str) -> Result<Self, MalformedToken> {
        let body = text.strip_prefix(TOKEN_PREFIX).ok_or(MalformedToken)?;
        if body.len() != TOKEN_BODY_LEN || !is_base62(body) {
            return Err(MalformedToken);
        }
        Ok(Self(SecretString::from(text.to_owned())))
    }

    /// The token's public id: the 8 characters after `kad_`.
    pub fn id(&self) -> TokenId {
        let text = self.0.expose_secret();
        let id = text
            .get(TOKEN_PREFIX.len()..TOKEN_PREFIX.len() + TOKEN_ID_LEN)
            .unwrap_or_default();
        TokenId(id.to_owned())
    }

    /// The hash the store keeps and looks the token up by.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.expose_secret())
    }

    /// The token in clear text, to show once to whoever asked for it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A token's public id: 8 base62 characters, the start of the token after `kad_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(String);

/// Text that is not a token id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid token id `{0}`: a token id is the 8 letters and digits after `kad_`, as shown by `token list`")]
pub struct InvalidTokenId(pub String);

impl TokenId {
    /// Validates a token id. A whole token is accepted too, and reduced to its id, so that a
    /// leaked token can be pasted into `token revoke` as found.
    ///
    /// # Errors
    /// [`InvalidTokenId`] when the text is neither.
    pub fn new(text: &str) -> Result<Self, InvalidTokenId> {
        if let Ok(token) = PlainToken::parse(text) {
            return Ok(token.id());
        }
        if text.len() == TOKEN_ID_LEN && is_base62(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidTokenId(
                text.chars().take(16).flat_map(char::escape_default).collect(),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TokenId {
    type Err = InvalidTokenId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for TokenId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TokenId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The SHA-256 of a token: what the store keeps.
///
/// Equality is constant-time ([`subtle::ConstantTimeEq`]): comparing two hashes takes the same
/// time wherever they differ.
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

/// Text that is not a SHA-256 in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid token hash: expected 64 lowercase hex digits")]
pub struct InvalidTokenHash;

impl TokenHash {
    /// The hash of `secret`.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Parses 64 lowercase hex digits, as [`TokenHash::to_hex`] writes them.
    ///
    /// # Errors
    /// [`InvalidTokenHash`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self, InvalidTokenHash> {
        decode_hex32(text).map(Self).ok_or(InvalidTokenHash)
    }

    /// The hash as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl ConstantTimeEq for TokenHash {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.ct_eq(other))
    }
}

impl Eq for TokenHash {}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

impl Serialize for TokenHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes exactly 64 lowercase hex digits.
pub(crate) fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// A token's name: who or what uses it (`ci-release-bot`, `alice@example.com`). It becomes the
/// `requested_by` of the deployments made with the token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenName(String);

/// Text that is not a token name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid token name `{0}`: use 1 to 64 letters, digits, `-`, `_`, `.`, `@` and `:`, starting with a letter or digit"
)]
pub struct InvalidTokenName(pub String);

impl TokenName {
    /// Validates a token name.
    ///
    /// # Errors
    /// [`InvalidTokenName`] when it is empty, too long or has other characters.
    pub fn new(name: &str) -> Result<Self, InvalidTokenName> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b':'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidTokenName(
                name.chars().take(64).flat_map(char::escape_default).collect(),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TokenName {
    type Err = InvalidTokenName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for TokenName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TokenName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> PlainToken {
        PlainToken::generate().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn generated_tokens_have_the_prefix_and_43_base62_characters() {
        let t = generated();
        let text = t.expose_secret();
        assert_eq!(text.len(), 47);
        assert!(text.starts_with("kad_"));
        assert!(is_base62(&text[4..]), "{text}");
        assert!(PlainToken::parse(text).is_ok());
    }

    #[test]
    fn generated_tokens_differ() {
        let a = generated();
        let b = generated();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn base62_encodes_the_extremes_at_full_width() {
        assert_eq!(base62_32([0; 32]), "0".repeat(43));
        let max = base62_32([0xff; 32]);
        assert_eq!(max.len(), 43);
        // 2^256 - 1, computed independently.
        assert_eq!(max, "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
        let mut one = [0u8; 32];
        one[31] = 61;
        assert_eq!(base62_32(one), format!("{}z", "0".repeat(42)));
        one[31] = 62;
        assert_eq!(base62_32(one), format!("{}10", "0".repeat(41)));
    }

    #[test]
    fn the_id_is_the_first_eight_characters_after_the_prefix() {
        let text = format!("kad_AbCdEfGh{}", "0".repeat(35));
        let t = PlainToken::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.id().as_str(), "AbCdEfGh");
        assert_eq!(
            TokenId::new(t.expose_secret()),
            Ok(t.id()),
            "a whole token names its id"
        );
    }

    #[test]
    fn malformed_tokens_are_refused_without_echoing_them() {
        let body = format!("AbCdEfGh{}", "0".repeat(35));
        let good = format!("kad_{body}");
        for bad in [
            String::new(),
            "kad_".to_owned(),
            body.clone(),
            format!("kad_{}", &body[1..]),
            format!("kad_{body}0"),
            format!("kad_AbCd-fGh{}", "0".repeat(35)),
            format!("KAD_{body}"),
            format!("kad_{}é", &body[2..]),
            format!(" {good}"),
        ] {
            assert_eq!(PlainToken::parse(&bad).err(), Some(MalformedToken), "{bad:?}");
        }
        assert!(PlainToken::parse(&good).is_ok());
        assert!(!MalformedToken.to_string().contains("AbCd"));
    }

    #[test]
    fn debug_output_of_a_token_shows_only_its_id() {
        let t = generated();
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.expose_secret()), "{shown}");
        assert!(shown.contains(t.id().as_str()));
    }

    #[test]
    fn hashes_are_sha256_hex_and_round_trip() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let h = TokenHash::of("abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Ok(h));
        assert!(TokenHash::from_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD").is_err());
        assert!(TokenHash::from_hex("abc").is_err());
    }

    /// Equality of hashes goes through `subtle`: this fails to compile if `TokenHash` stops
    /// implementing `ConstantTimeEq`, and checks that a difference anywhere is seen.
    #[test]
    fn token_hashes_compare_in_constant_time() {
        fn constant_time<T: ConstantTimeEq + Eq>() {}
        constant_time::<TokenHash>();
        let a = TokenHash::of("a token");
        for i in [0, 15, 31] {
            let mut bytes = *a.as_bytes();
            bytes[i] ^= 1;
            let b = TokenHash(bytes);
            assert!(!bool::from(a.ct_eq(&b)), "byte {i}");
            assert_ne!(a, b);
        }
        assert!(bool::from(a.ct_eq(&TokenHash::of("a token"))));
    }

    #[test]
    fn token_ids_and_names_are_validated() {
        assert!(TokenId::new("AbCdEfGh").is_ok());
        for bad in ["", "AbCdEfG", "AbCdEfGhi", "AbCd-fGh", "../../x"] {
            assert!(TokenId::new(bad).is_err(), "{bad:?}");
        }
        for good in ["ci-release-bot", "alice@example.com", "team:payments", "A1"] {
            assert!(TokenName::new(good).is_ok(), "{good:?}");
        }
        for bad in ["", "-x", "a b", "a/b", &"a".repeat(65), "name\n"] {
            assert!(TokenName::new(bad).is_err(), "{bad:?}");
        }
    }
}
