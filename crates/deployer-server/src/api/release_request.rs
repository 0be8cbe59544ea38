//! The body of `POST /api/v1/releases` and its validation into a
//! [`ReleaseRequest`](deployer_triggers::ReleaseRequest). A plain function: no I/O.

use deployer_core::image::{Digest, ImageRef, Tag};
use deployer_core::model::AppFile;
use deployer_triggers::ReleaseRequest;
use serde::Deserialize;

use super::error::ApiError;
use super::request::MAX_FIELD;

/// The most files a release may name.
pub const MAX_FILES: usize = 100;

/// The JSON body of a release, exactly as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRelease {
    /// The image repository that was built (`registry.example.com/team/api`). Exactly one of
    /// `image` and `app`.
    #[serde(default)]
    pub image: Option<String>,
    /// The application file stem that was built, when the image is not named.
    #[serde(default)]
    pub app: Option<String>,
    /// The tag that was built.
    pub tag: String,
    /// The digest of the tag, when known.
    #[serde(default)]
    pub digest: Option<String>,
    /// The branch that was built: it selects the environment.
    pub branch: String,
    /// The application commit.
    #[serde(default)]
    pub commit: Option<String>,
    /// A link to the build.
    #[serde(default)]
    pub build_url: Option<String>,
    /// The CI system; absent when a person releases (the trigger kind is then `api`).
    #[serde(default)]
    pub ci: Option<String>,
    /// Only these application files.
    #[serde(default)]
    pub files: Vec<String>,
    /// A key that makes a retried release return the first one's deployments.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Deploy even a semver downgrade.
    #[serde(default)]
    pub force: bool,
}

fn text(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > MAX_FIELD => Err(ApiError::unprocessable(
            "field_too_long",
            format!("`{name}` is longer than {MAX_FIELD} characters"),
        )),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => Ok(Some(deployer_core::commit::one_line(&v))),
        None => Ok(None),
    }
}

/// Turns a body into a release and its idempotency key, checking every field.
///
/// # Errors
/// A 422 [`ApiError`] naming the field: `missing_image_or_app`, `invalid_image`,
/// `conflicting_tag`, `invalid_file`, `invalid_tag`, `invalid_digest`, `invalid_branch`,
/// `field_too_long`, `invalid_idempotency_key`.
pub fn parse_release(body: CreateRelease) -> Result<(ReleaseRequest, Option<String>), ApiError> {
    let image = body
        .image
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(ImageRef::parse)
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_image", e.to_string()))?;
    if image
        .as_ref()
        .is_some_and(|i| i.tag().is_some() || i.digest().is_some())
    {
        return Err(ApiError::unprocessable(
            "conflicting_tag",
            "`image` carries a tag or digest; name the repository in `image` and the tag in `tag`",
        ));
    }
    let app = body
        .app
        .as_deref()
        .map(AppFile::new)
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_file", e.to_string()))?;
    if image.is_some() == app.is_some() {
        return Err(ApiError::unprocessable(
            "missing_image_or_app",
            "a release names exactly one of `image` and `app`",
        )
        .with_hint("send `image` (the repository that was built) or `app` (the application file)"));
    }
    let tag = Tag::new(body.tag.trim()).map_err(|e| ApiError::unprocessable("invalid_tag", e.to_string()))?;
    let digest = body
        .digest
        .as_deref()
        .map(|d| Digest::new(d.trim()))
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_digest", e.to_string()))?;
    let branch = text("branch", Some(body.branch))?.ok_or_else(|| {
        ApiError::unprocessable("invalid_branch", "`branch` is empty")
            .with_hint("send the branch that was built; it selects the environment")
    })?;
    if body.files.len() > MAX_FILES {
        return Err(ApiError::unprocessable(
            "invalid_file",
            format!("a release may name at most {MAX_FILES} files"),
        ));
    }
    let files = body
        .files
        .iter()
        .map(AppFile::new)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::unprocessable("invalid_file", e.to_string()))?;
    let key = match body.idempotency_key {
        None => None,
        Some(k) if !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()) => Some(k),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_idempotency_key",
                "`idempotency_key` must be 1 to 200 printable ASCII characters without spaces",
            ));
        }
    };
    let release = ReleaseRequest {
        image,
        app,
        tag,
        digest,
        branch,
        commit: text("commit", body.commit)?,
        build_url: text("build_url", body.build_url)?,
        ci: text("ci", body.ci)?,
        files,
        force: body.force,
    };
    Ok((release, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> CreateRelease {
        CreateRelease {
            image: Some("registry.example.com/team/api".to_owned()),
            tag: "v2".to_owned(),
            branch: "main".to_owned(),
            ..CreateRelease::default()
        }
    }

    fn code(body: CreateRelease) -> &'static str {
        parse_release(body).err().map_or("ok", |e| e.code())
    }

    #[test]
    fn a_release_names_exactly_one_of_image_and_app() {
        assert_eq!(code(body()), "ok");
        assert_eq!(
            code(CreateRelease {
                app: Some("api".to_owned()),
                ..body()
            }),
            "missing_image_or_app"
        );
        assert_eq!(code(CreateRelease { image: None, ..body() }), "missing_image_or_app");
        assert_eq!(
            code(CreateRelease {
                image: None,
                app: Some("api".to_owned()),
                ..body()
            }),
            "ok"
        );
    }

    #[test]
    fn each_bad_field_has_its_own_code() {
        let cases = [
            (
                CreateRelease {
                    image: Some("team/api:v1".to_owned()),
                    ..body()
                },
                "conflicting_tag",
            ),
            (
                CreateRelease {
                    image: Some("a//b".to_owned()),
                    ..body()
                },
                "invalid_image",
            ),
            (
                CreateRelease {
                    tag: "-x".to_owned(),
                    ..body()
                },
                "invalid_tag",
            ),
            (
                CreateRelease {
                    digest: Some("sha256:xyz".to_owned()),
                    ..body()
                },
                "invalid_digest",
            ),
            (
                CreateRelease {
                    branch: " ".to_owned(),
                    ..body()
                },
                "invalid_branch",
            ),
            (
                CreateRelease {
                    files: vec!["../x".to_owned()],
                    ..body()
                },
                "invalid_file",
            ),
            (
                CreateRelease {
                    idempotency_key: Some("a b".to_owned()),
                    ..body()
                },
                "invalid_idempotency_key",
            ),
            (
                CreateRelease {
                    commit: Some("x".repeat(MAX_FIELD + 1)),
                    ..body()
                },
                "field_too_long",
            ),
        ];
        for (b, expected) in cases {
            assert_eq!(code(b), expected);
        }
    }
}
