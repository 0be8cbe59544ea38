//! The body of `POST /api/v1/deployments` and its validation into a [`DeployRequest`].
//!
//! Every field arrives as text and is checked here, so each problem gets its own code and a
//! message naming the field. This is a plain function of the body and the caller: no I/O.

use std::time::Duration;

use deployer_core::image::{ImageRef, Tag};
use deployer_core::model::{
    AppFile, ClusterName, ContainerName, DeployRequest, ImageChange, Method, Region, Source, Target, TriggerKind,
};
use serde::Deserialize;

use super::error::ApiError;
use crate::auth::Principal;

/// The longest reason accepted, in characters.
pub const MAX_REASON: usize = 1000;
/// The longest source field or idempotency key accepted, in characters.
pub const MAX_FIELD: usize = 512;
/// The shortest and longest rollout timeouts accepted.
pub const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(24 * 3600));

/// The JSON body of a deploy request, exactly as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    /// The region.
    pub region: String,
    /// The cluster within the region.
    pub cluster: String,
    /// The application file (`api` or `api.yaml`).
    pub file: String,
    /// The new tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// An image reference: selects the images to change and, with a tag or digest, sets it.
    #[serde(default)]
    pub image: Option<String>,
    /// `apply` (default), `commit-only`, `dry-run` or `restart`.
    #[serde(default)]
    pub method: Option<String>,
    /// Restrict the change to this container.
    #[serde(default)]
    pub container: Option<String>,
    /// Why, in one line.
    #[serde(default)]
    pub reason: Option<String>,
    /// How long the rollout may take (`"90s"`, `"10m"`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Where the request comes from.
    #[serde(default)]
    pub source: Option<SourceBody>,
    /// A key that makes a retried request return the first deployment.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The person the caller acts for; only tokens allowed to act for users may send it.
    #[serde(default)]
    pub requested_by: Option<String>,
}

/// The `source` object of a deploy request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    /// `api` (default), `cli`, `ui`, or the automatic `ci` and `registry` (refused for pinned targets).
    #[serde(default)]
    pub kind: Option<String>,
    /// The CI system.
    #[serde(default)]
    pub ci: Option<String>,
    /// The branch built.
    #[serde(default)]
    pub branch: Option<String>,
    /// The application commit built.
    #[serde(default)]
    pub commit: Option<String>,
    /// A link to the build.
    #[serde(default)]
    pub build_url: Option<String>,
}

fn field(code: &'static str, err: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(code, err.to_string())
}

fn bounded(name: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::unprocessable(
            "field_too_long",
            format!(
                "`{name}` is {} characters long; at most {max} are accepted",
                v.chars().count()
            ),
        )),
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn change_of(image: Option<&ImageRef>, tag: Option<Tag>, method: Method) -> Result<ImageChange, ApiError> {
    let from_image = image.and_then(ImageChange::from_ref);
    match (tag, from_image) {
        (Some(_), Some(_)) => Err(ApiError::unprocessable(
            "conflicting_tag",
            "`tag` is given and `image` carries a tag or digest too",
        )
        .with_hint("give the tag once: either `tag`, or `image` as `repository:tag`")),
        (Some(tag), None) => Ok(ImageChange::Tag { tag }),
        (None, Some(change)) => Ok(change),
        // A restart keeps the images unless a tag is given.
        (None, None) if method == Method::Restart => Ok(ImageChange::None),
        (None, None) => Err(ApiError::unprocessable("missing_tag", "the request names no new tag")
            .with_hint("send `tag`, or `image` as `repository:tag` or `repository@sha256:…`; or use method `restart`")),
    }
}

fn requester(principal: &Principal, on_behalf: Option<String>) -> Result<String, ApiError> {
    match on_behalf {
        None => Ok(principal.name.clone()),
        Some(_) if !principal.act_for_users => Err(ApiError::client(
            axum::http::StatusCode::FORBIDDEN,
            "requested_by_not_allowed",
            format!("token `{}` may not name the person it acts for", principal.name),
        )
        .with_hint("drop `requested_by`, or set `act_for_users = true` on the token in `[[auth.tokens]]`")),
        Some(user) => Ok(format!("{}:{}", principal.name, deployer_core::commit::one_line(&user))),
    }
}

fn parse_source(source: Option<SourceBody>) -> Result<Source, ApiError> {
    let Some(s) = source else { return Ok(Source::default()) };
    let kind = match s.kind.as_deref() {
        None | Some("api") => TriggerKind::Api,
        Some("cli") => TriggerKind::Cli,
        Some("ui") => TriggerKind::Ui,
        // Automatic kinds are accepted so that pins can refuse them (409 `target_pinned`).
        Some("ci") => TriggerKind::Ci,
        Some("registry") => TriggerKind::Registry,
        Some(other) => {
            let shown: String = other.chars().take(40).flat_map(char::escape_default).collect();
            return Err(ApiError::unprocessable(
                "invalid_source_kind",
                format!("unknown source kind `{shown}`: use one of `api`, `cli`, `ui`, `ci`, `registry`"),
            ));
        }
    };
    Ok(Source {
        kind,
        ci: bounded("source.ci", s.ci, MAX_FIELD)?,
        branch: bounded("source.branch", s.branch, MAX_FIELD)?,
        commit: bounded("source.commit", s.commit, MAX_FIELD)?,
        build_url: bounded("source.build_url", s.build_url, MAX_FIELD)?,
    })
}

fn parse_timeout(text: Option<String>) -> Result<Option<Duration>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    let hint = "write a duration such as `90s`, `10m` or `1h 30m`, between 1s and 24h";
    let d = humantime::parse_duration(&text).map_err(|e| {
        let shown: String = text.chars().take(40).flat_map(char::escape_default).collect();
        ApiError::unprocessable("invalid_timeout", format!("invalid timeout `{shown}`: {e}")).with_hint(hint)
    })?;
    if d < TIMEOUT_RANGE.0 || d > TIMEOUT_RANGE.1 {
        return Err(
            ApiError::unprocessable("invalid_timeout", format!("timeout `{text}` is out of range")).with_hint(hint),
        );
    }
    Ok(Some(d))
}

fn parse_idempotency_key(key: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    let ok = !key.is_empty() && key.len() <= 200 && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(Some(key))
    } else {
        Err(ApiError::unprocessable(
            "invalid_idempotency_key",
            "`idempotency_key` must be 1 to 200 printable ASCII characters without spaces",
        ))
    }
}

/// Turns a body into a request, checking every field.
///
/// # Errors
/// A 422 [`ApiError`] with a code naming the field (`invalid_region`, `invalid_tag`,
/// `invalid_method`, …), or a 403 when the token may not name the person it acts for.
pub fn parse(body: CreateDeployment, principal: &Principal) -> Result<DeployRequest, ApiError> {
    let target = Target {
        region: Region::new(body.region).map_err(|e| field("invalid_region", e))?,
        cluster: ClusterName::new(body.cluster).map_err(|e| field("invalid_cluster", e))?,
        file: AppFile::new(body.file).map_err(|e| field("invalid_file", e))?,
    };
    let method = match body.method.as_deref() {
        None => Method::default(),
        Some(m) => m.parse::<Method>().map_err(|e| field("invalid_method", e))?,
    };
    let tag = body
        .tag
        .as_deref()
        .map(Tag::new)
        .transpose()
        .map_err(|e| field("invalid_tag", e))?;
    let image = body
        .image
        .as_deref()
        .map(ImageRef::parse)
        .transpose()
        .map_err(|e| field("invalid_image", e))?;
    let change = change_of(image.as_ref(), tag, method)?;
    let container = body
        .container
        .map(ContainerName::new)
        .transpose()
        .map_err(|e| field("invalid_container", e))?;
    Ok(DeployRequest {
        target,
        image,
        container,
        change,
        method,
        reason: bounded("reason", body.reason, MAX_REASON)?,
        timeout: parse_timeout(body.timeout)?,
        source: parse_source(body.source)?,
        requested_by: requester(principal, body.requested_by)?,
        idempotency_key: parse_idempotency_key(body.idempotency_key)?,
        environment: None,
        force: false,
        rollback_of: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(act_for_users: bool) -> Principal {
        Principal {
            name: "ci".to_owned(),
            act_for_users,
        }
    }

    fn body() -> CreateDeployment {
        CreateDeployment {
            region: "us-west-2".to_owned(),
            cluster: "prod-1".to_owned(),
            file: "api".to_owned(),
            tag: Some("v1.2.3".to_owned()),
            ..CreateDeployment::default()
        }
    }

    fn code(r: Result<DeployRequest, ApiError>) -> &'static str {
        r.err().map(|e| e.code()).unwrap_or("ok")
    }

    #[test]
    fn a_plain_tag_request_becomes_a_tag_change_by_the_token() {
        let req = parse(body(), &principal(false)).map_err(|e| e.message().to_owned());
        let req = req.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.change.tag().map(Tag::as_str), Some("v1.2.3"));
        assert_eq!(req.requested_by, "ci");
        assert_eq!(req.method, Method::Apply);
    }

    #[test]
    fn each_bad_field_has_its_own_code() {
        let cases: Vec<(CreateDeployment, &str)> = vec![
            (
                CreateDeployment {
                    region: "US".to_owned(),
                    ..body()
                },
                "invalid_region",
            ),
            (
                CreateDeployment {
                    file: "../etc/passwd".to_owned(),
                    ..body()
                },
                "invalid_file",
            ),
            (
                CreateDeployment {
                    tag: Some("-bad".to_owned()),
                    ..body()
                },
                "invalid_tag",
            ),
            (
                CreateDeployment {
                    method: Some("yolo".to_owned()),
                    ..body()
                },
                "invalid_method",
            ),
            (
                CreateDeployment {
                    timeout: Some("soon".to_owned()),
                    ..body()
                },
                "invalid_timeout",
            ),
            (CreateDeployment { tag: None, ..body() }, "missing_tag"),
            (
                CreateDeployment {
                    image: Some("nginx:1".to_owned()),
                    ..body()
                },
                "conflicting_tag",
            ),
            (
                CreateDeployment {
                    idempotency_key: Some("a b".to_owned()),
                    ..body()
                },
                "invalid_idempotency_key",
            ),
            (
                CreateDeployment {
                    reason: Some("x".repeat(MAX_REASON + 1)),
                    ..body()
                },
                "field_too_long",
            ),
        ];
        for (b, expected) in cases {
            assert_eq!(code(parse(b, &principal(false))), expected);
        }
    }

    #[test]
    fn an_image_with_a_digest_sets_the_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let b = CreateDeployment {
            tag: None,
            image: Some(format!("registry.example.com/api@{digest}")),
            ..body()
        };
        let req = parse(b, &principal(false))
            .map_err(|e| e.message().to_owned())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(req.change, ImageChange::Digest { .. }));
    }

    #[test]
    fn a_restart_keeps_the_images_unless_a_tag_is_given() {
        let plain = CreateDeployment {
            tag: None,
            method: Some("restart".to_owned()),
            ..body()
        };
        let req = parse(plain, &principal(false))
            .map_err(|e| e.message().to_owned())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.change, ImageChange::None);
        let tagged = CreateDeployment {
            method: Some("restart".to_owned()),
            ..body()
        };
        let req = parse(tagged, &principal(false))
            .map_err(|e| e.message().to_owned())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.change.tag().map(Tag::as_str), Some("v1.2.3"));
    }

    #[test]
    fn only_trusted_tokens_may_name_the_person_they_act_for() {
        let b = CreateDeployment {
            requested_by: Some("alice\nEvil: 1".to_owned()),
            ..body()
        };
        assert_eq!(code(parse(b.clone(), &principal(false))), "requested_by_not_allowed");
        let req = parse(b, &principal(true))
            .map_err(|e| e.message().to_owned())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.requested_by, "ci:alice Evil: 1");
    }
}
