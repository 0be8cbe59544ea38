//! Container image references: parsing, validation and normalisation.
//!
//! The grammar is the one of `distribution/reference` (and the OCI distribution spec):
//!
//! ```text
//! reference        := name [":" tag] ["@" digest]
//! name             := [domain "/"] path
//! domain           := host [":" port]        host := domain-name | IPv4 | "[" IPv6 "]"
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path             := path-component ("/" path-component)*      (at most 255 characters)
//! path-component   := [a-z0-9]+ (separator [a-z0-9]+)*          separator := [_.] | "__" | "-"+
//! tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest           := "sha256:" [a-f0-9]{64} | "sha512:" [a-f0-9]{128}
//! ```
//!
//! As in the docker CLI, the first `/`-separated component is a registry domain only when it
//! contains `.` or `:` (or is an `[IPv6]` address), is `localhost`, or contains an uppercase
//! letter; otherwise the
//! reference lives on Docker Hub (`nginx` is `docker.io/library/nginx`). Digests are limited
//! to the two algorithms registered by the OCI image spec, in canonical lowercase form, since
//! those are the only ones a kubelet pulls.
//!
//! A reference keeps its repository exactly as written ([`ImageRef::repository`]); only
//! comparisons go through [`ImageRef::normalized_repository`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest path (repository name without the domain) the grammar allows.
pub const MAX_PATH_LEN: usize = 255;
/// The longest tag the grammar allows.
pub const MAX_TAG_LEN: usize = 128;

/// Why an image reference, a tag or a digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// The reference is empty.
    #[error(
        "invalid image reference: it is empty; write `[registry/]repository[:tag][@digest]`, e.g. `registry.example.com/team/api:1.4.2`"
    )]
    Empty,
    /// A component between two `/` (or before the first or after the last) is empty.
    #[error("invalid image reference `{reference}`: it has an empty component (a leading, trailing or doubled `/`)")]
    EmptyComponent {
        /// The refused reference.
        reference: String,
    },
    /// The repository path contains uppercase letters.
    #[error("invalid image reference `{reference}`: the repository name must be lowercase")]
    UppercaseRepository {
        /// The refused reference.
        reference: String,
    },
    /// A path component breaks the grammar.
    #[error(
        "invalid image reference `{reference}`: repository component `{component}` may contain only lowercase letters and digits, separated by a single `.`, a single `_`, `__`, or `-`s"
    )]
    InvalidPathComponent {
        /// The refused reference.
        reference: String,
        /// The offending component.
        component: String,
    },
    /// The repository path is longer than 255 characters.
    #[error(
        "invalid image reference `{reference}`: the repository name is {len} characters long; at most 255 are allowed"
    )]
    RepositoryTooLong {
        /// The refused reference (shortened).
        reference: String,
        /// Length of the path.
        len: usize,
    },
    /// The registry domain breaks the grammar.
    #[error(
        "invalid image reference `{reference}`: registry `{domain}` is not a valid host (letters, digits, `-` and `.`, or an `[IPv6]` address), optionally followed by `:port`"
    )]
    InvalidDomain {
        /// The refused reference.
        reference: String,
        /// The offending domain.
        domain: String,
    },
    /// The tag breaks the grammar.
    #[error(
        "invalid tag `{tag}`: a tag may contain only letters, digits, `_`, `.` and `-` (at most 128 characters, not starting with `.` or `-`)"
    )]
    InvalidTag {
        /// The refused tag (shortened).
        tag: String,
    },
    /// The digest breaks the grammar.
    #[error(
        "invalid digest `{digest}`: {reason}; a digest is `sha256:` followed by 64 lowercase hex digits, or `sha512:` followed by 128"
    )]
    InvalidDigest {
        /// The refused digest (shortened).
        digest: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ImageRefError {
    /// A stable, low-cardinality name for the error, usable as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::EmptyComponent { .. } => "empty_component",
            Self::UppercaseRepository { .. } => "uppercase_repository",
            Self::InvalidPathComponent { .. } => "invalid_path_component",
            Self::RepositoryTooLong { .. } => "repository_too_long",
            Self::InvalidDomain { .. } => "invalid_domain",
            Self::InvalidTag { .. } => "invalid_tag",
            Self::InvalidDigest { .. } => "invalid_digest",
        }
    }
}

/// Shortens a refused value and escapes control characters so it can be shown safely.
fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(160).flat_map(char::escape_default).collect();
    if value.chars().count() > 160 {
        out.push('…');
    }
    out
}

/// An image tag, `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Validates a tag.
    ///
    /// # Errors
    /// [`ImageRefError::InvalidTag`] when the text breaks the tag grammar.
    pub fn new(s: &str) -> Result<Tag, ImageRefError> {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let bytes = s.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= MAX_TAG_LEN
            && word(bytes[0])
            && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
        if ok {
            Ok(Tag(s.to_owned()))
        } else {
            Err(ImageRefError::InvalidTag { tag: shown(s) })
        }
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A content digest, `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest(String);

impl Digest {
    /// Validates a digest.
    ///
    /// # Errors
    /// [`ImageRefError::InvalidDigest`] saying what is wrong.
    pub fn new(s: &str) -> Result<Digest, ImageRefError> {
        let err = |reason| ImageRefError::InvalidDigest {
            digest: shown(s),
            reason,
        };
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(err("it has no `algorithm:` prefix"));
        };
        let expected = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => {
                return Err(err("only the `sha256` and `sha512` algorithms are supported"));
            }
        };
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("the encoded part may contain only hex digits"));
        }
        if hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err("the hex digits must be lowercase"));
        }
        if hex.len() != expected {
            return Err(err("the encoded part has the wrong length for its algorithm"));
        }
        Ok(Digest(s.to_owned()))
    }

    /// The digest as text (`sha256:…`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm (`sha256` or `sha512`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex-encoded part after the algorithm.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }
}

/// A parsed image reference: `[domain/]path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    domain: Option<String>,
    path: String,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a reference strictly by the distribution grammar (see the module docs).
    ///
    /// # Errors
    /// An [`ImageRefError`] naming the part that breaks the grammar.
    pub fn parse(s: &str) -> Result<ImageRef, ImageRefError> {
        if s.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((name, digest)) => (name, Some(Digest::new(digest)?)),
            None => (s, None),
        };
        // A tag is after the last `:` that follows the last `/` (a `:` before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(Tag::new(&rest[at + 1..])?))
            }
            None => (rest, None),
        };
        let (domain, path) = split_domain(name);
        if path.is_empty() || path.split('/').any(str::is_empty) || domain.is_some_and(str::is_empty) {
            return Err(ImageRefError::EmptyComponent { reference: shown(s) });
        }
        if let Some(domain) = domain
            && !valid_domain(domain)
        {
            return Err(ImageRefError::InvalidDomain {
                reference: shown(s),
                domain: shown(domain),
            });
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ImageRefError::UppercaseRepository { reference: shown(s) });
        }
        if let Some(component) = path.split('/').find(|c| !valid_path_component(c)) {
            return Err(ImageRefError::InvalidPathComponent {
                reference: shown(s),
                component: shown(component),
            });
        }
        if path.len() > MAX_PATH_LEN {
            return Err(ImageRefError::RepositoryTooLong {
                reference: shown(s),
                len: path.len(),
            });
        }
        Ok(ImageRef {
            domain: domain.map(str::to_owned),
            path: path.to_owned(),
            tag,
            digest,
        })
    }

    /// The repository as written: `[domain/]path`, e.g. `registry.example.com:5000/team/api`
    /// or `nginx`.
    pub fn repository(&self) -> String {
        match &self.domain {
            Some(domain) => format!("{domain}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The registry domain as written, if the reference names one.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The repository path within its registry, as written.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The repository in docker's normalised form: Docker Hub references get the
    /// `docker.io` domain (and `library/` for single-component names), `index.docker.io`
    /// becomes `docker.io`, and the domain is lowercased.
    pub fn normalized_repository(&self) -> String {
        let domain = match &self.domain {
            None => "docker.io".to_owned(),
            Some(d) => {
                let d = d.to_ascii_lowercase();
                if d == "index.docker.io" {
                    "docker.io".to_owned()
                } else {
                    d
                }
            }
        };
        if domain == "docker.io" && !self.path.contains('/') {
            format!("docker.io/library/{}", self.path)
        } else {
            format!("{domain}/{}", self.path)
        }
    }

    /// Whether both references name the same repository once normalised
    /// (`nginx` and `docker.io/library/nginx` do).
    pub fn same_repository(&self, other: &ImageRef) -> bool {
        self.normalized_repository() == other.normalized_repository()
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: Tag) -> ImageRef {
        ImageRef {
            tag: Some(tag),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository with digest `d` and no tag.
    pub fn with_digest(&self, d: Digest) -> ImageRef {
        ImageRef {
            tag: None,
            digest: Some(d),
            ..self.clone()
        }
    }

    /// The same repository with both `tag` and digest `d` (`repo:tag@digest`; the digest is
    /// what gets pulled, the tag documents it).
    pub fn with_tag_and_digest(&self, tag: Tag, d: Digest) -> ImageRef {
        ImageRef {
            tag: Some(tag),
            digest: Some(d),
            ..self.clone()
        }
    }
}

/// Splits `name` into the optional domain and the path, by the docker CLI rule.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':', '['])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separator `[_.] | __ | -+`.
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        let ok_sep = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok_sep {
            return false;
        }
    }
}

/// `host [":" port]`, host being dotted domain components, IPv4, or `[IPv6]`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if d.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(domain) = &self.domain {
            write!(f, "{domain}/")?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

macro_rules! string_like {
    ($ty:ident, $parse:path) => {
        impl FromStr for $ty {
            type Err = ImageRefError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $parse(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_like!(ImageRef, ImageRef::parse);
string_like!(Tag, Tag::new);
string_like!(Digest, Digest::new);

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn sha512() -> String {
        format!("sha512:{}", "ab".repeat(64))
    }

    fn parse(s: &str) -> ImageRef {
        match ImageRef::parse(s) {
            Ok(r) => r,
            Err(e) => panic!("`{s}` should parse: {e}"),
        }
    }

    #[test]
    fn valid_references_parse_into_their_parts() {
        let cases: Vec<(String, &str, Option<&str>, Option<&str>)> = vec![
            ("nginx".into(), "nginx", None, None),
            ("nginx:1.25".into(), "nginx", Some("1.25"), None),
            ("library/nginx:latest".into(), "library/nginx", Some("latest"), None),
            (
                "registry.example.com/team/api:v1.2.3".into(),
                "registry.example.com/team/api",
                Some("v1.2.3"),
                None,
            ),
            (
                "registry.example.com:5000/team/api".into(),
                "registry.example.com:5000/team/api",
                None,
                None,
            ),
            (
                "registry.example.com:5000/team/api:1".into(),
                "registry.example.com:5000/team/api",
                Some("1"),
                None,
            ),
            ("localhost:5000/x".into(), "localhost:5000/x", None, None),
            ("localhost/x:dev".into(), "localhost/x", Some("dev"), None),
            ("[::1]:5000/app:1".into(), "[::1]:5000/app", Some("1"), None),
            ("[fe80::1]/app".into(), "[fe80::1]/app", None, None),
            (
                "192.168.1.10:5000/a/b/c:_x".into(),
                "192.168.1.10:5000/a/b/c",
                Some("_x"),
                None,
            ),
            (format!("api@{SHA256}"), "api", None, Some(SHA256)),
            (
                format!("ghcr.io/o/api:1.0@{SHA256}"),
                "ghcr.io/o/api",
                Some("1.0"),
                Some(SHA256),
            ),
            (
                format!("quay.io/o/api@{}", sha512()),
                "quay.io/o/api",
                None,
                Some(sha512().leak()),
            ),
            (
                "a__b/c-d---e/f.g_h:A.b-C_".into(),
                "a__b/c-d---e/f.g_h",
                Some("A.b-C_"),
                None,
            ),
            ("MyRegistry/app".into(), "MyRegistry/app", None, None),
            (
                format!("x:{}", "t".repeat(128)),
                "x",
                Some("t".repeat(128).leak()),
                None,
            ),
        ];
        for (input, repo, tag, digest) in cases {
            let r = parse(&input);
            assert_eq!(r.repository(), repo, "{input}");
            assert_eq!(r.tag().map(Tag::as_str), tag, "{input}");
            assert_eq!(r.digest().map(Digest::as_str), digest, "{input}");
        }
    }

    #[test]
    fn invalid_references_are_refused_with_the_right_kind() {
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            ("Nginx".into(), "uppercase_repository"),
            ("team/Api".into(), "uppercase_repository"),
            ("x:v1+build".into(), "invalid_tag"),
            ("x:".into(), "invalid_tag"),
            ("x:.hidden".into(), "invalid_tag"),
            ("x:-dash".into(), "invalid_tag"),
            (format!("x:{}", "t".repeat(129)), "invalid_tag"),
            ("x@sha256:abc".into(), "invalid_digest"),
            (
                format!("x@{}", SHA256.to_uppercase().replace("SHA256", "sha256")),
                "invalid_digest",
            ),
            (format!("x@md5:{}", "a".repeat(32)), "invalid_digest"),
            (format!("x@sha512:{}", "a".repeat(64)), "invalid_digest"),
            ("x@".into(), "invalid_digest"),
            ("/x".into(), "empty_component"),
            ("x/".into(), "empty_component"),
            ("a//b".into(), "empty_component"),
            ("registry.example.com/".into(), "empty_component"),
            ("a..b".into(), "invalid_path_component"),
            ("a___b".into(), "invalid_path_component"),
            ("a_-b".into(), "invalid_path_component"),
            ("-a".into(), "invalid_path_component"),
            ("a b".into(), "invalid_path_component"),
            ("bad_host.com/x".into(), "invalid_domain"),
            ("-host.com/x".into(), "invalid_domain"),
            ("host.com:port/x".into(), "invalid_domain"),
            ("host.com:/x".into(), "invalid_domain"),
            ("[::1/x".into(), "invalid_domain"),
            ("[zz]/x".into(), "invalid_domain"),
            ("a".repeat(256), "repository_too_long"),
        ];
        for (input, kind) in cases {
            match ImageRef::parse(&input) {
                Ok(r) => panic!("`{input}` should be refused, parsed as {r:?}"),
                Err(e) => assert_eq!(e.kind(), kind, "{input}: {e}"),
            }
        }
    }

    #[test]
    fn a_path_of_exactly_255_characters_is_accepted() {
        let path = format!("{}/{}", "a".repeat(127), "b".repeat(127));
        assert_eq!(path.len(), 255);
        assert_eq!(parse(&path).path(), path);
    }

    #[test]
    fn tag_error_message_explains_the_grammar() {
        let e = Tag::new("v1+build").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "invalid tag `v1+build`: a tag may contain only letters, digits, `_`, `.` and `-` (at most 128 characters, not starting with `.` or `-`)"
            )
        );
    }

    #[test]
    fn docker_hub_names_normalise_to_docker_io() {
        let cases = [
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1", "docker.io/library/nginx"),
            ("library/nginx", "docker.io/library/nginx"),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("index.docker.io/library/nginx", "docker.io/library/nginx"),
            ("bitnami/redis", "docker.io/bitnami/redis"),
            ("localhost/x", "localhost/x"),
            ("Registry.Example.com/a", "registry.example.com/a"),
            (
                "registry.example.com:5000/team/api",
                "registry.example.com:5000/team/api",
            ),
        ];
        for (input, normal) in cases {
            assert_eq!(parse(input).normalized_repository(), normal, "{input}");
        }
        assert!(parse("nginx:1").same_repository(&parse("index.docker.io/library/nginx:2")));
        assert!(!parse("nginx").same_repository(&parse("ghcr.io/nginx")));
        assert!(!parse("registry:5000/a").same_repository(&parse("registry/a")));
    }

    #[test]
    fn display_round_trips_every_valid_reference() {
        let inputs = [
            "nginx".to_owned(),
            "registry.example.com:5000/team/api:1.2".to_owned(),
            format!("[::1]:5000/app:1@{SHA256}"),
            format!("quay.io/o/api@{}", sha512()),
        ];
        for input in inputs {
            let r = parse(&input);
            assert_eq!(r.to_string(), input);
            assert_eq!(parse(&r.to_string()), r);
        }
    }

    #[test]
    fn with_tag_replaces_the_tag_and_drops_the_digest() {
        let r = parse(&format!("ghcr.io/o/api:1@{SHA256}"));
        let tag = Tag::new("2").ok();
        let digest = Digest::new(SHA256).ok();
        let (Some(tag), Some(digest)) = (tag, digest) else {
            panic!("fixtures are valid")
        };
        assert_eq!(r.with_tag(tag.clone()).to_string(), "ghcr.io/o/api:2");
        assert_eq!(
            r.with_digest(digest.clone()).to_string(),
            format!("ghcr.io/o/api@{SHA256}")
        );
        assert_eq!(
            r.with_tag_and_digest(tag, digest).to_string(),
            format!("ghcr.io/o/api:2@{SHA256}")
        );
    }

    #[test]
    fn serde_uses_the_string_form_and_validates_on_deserialize() {
        let r = parse("ghcr.io/o/api:1");
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(json, "\"ghcr.io/o/api:1\"");
        let back: Result<ImageRef, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(r));
        assert!(serde_json::from_str::<ImageRef>("\"Bad/Name\"").is_err());
        assert!(serde_json::from_str::<Tag>("\"a+b\"").is_err());
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
        assert_eq!(
            serde_json::from_str::<Tag>("\"v1\"").ok().map(|t| t.to_string()),
            Some("v1".to_owned())
        );
    }

    #[test]
    fn digest_exposes_algorithm_and_hex() {
        let d = Digest::new(SHA256).ok();
        assert_eq!(d.as_ref().map(Digest::algorithm), Some("sha256"));
        assert_eq!(d.as_ref().map(|d| d.hex().len()), Some(64));
    }
}
