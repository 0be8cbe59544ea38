//! GitHub `package` and `registry_package` events for images on ghcr.io.
//!
//! GitHub signs the raw body: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`,
//! verified in constant time before the body is parsed. The signature covers no timestamp,
//! so the `X-GitHub-Delivery` id is returned for the caller to deduplicate on.

use serde::Deserialize;

use super::body::{check_size, decode};
use super::fields::{check_allowed, digest, optional, repository, required, tag};
use super::signature::decode_sha256_header;
use super::{Delivery, Headers, Hooks, IgnoreReason, WebhookError};
use crate::event::{ImageEvent, Provider};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// The event-name header.
pub const EVENT_HEADER: &str = "X-GitHub-Event";
/// The delivery-id header.
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    package: Option<Package>,
    #[serde(default)]
    registry_package: Option<Package>,
    #[serde(default)]
    sender: Option<Login>,
}

#[derive(Deserialize)]
struct Package {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    owner: Option<Login>,
    #[serde(default)]
    package_type: Option<String>,
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    package_version: Option<Version>,
}

#[derive(Deserialize)]
struct Version {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    container_metadata: Option<ContainerMetadata>,
}

#[derive(Deserialize)]
struct ContainerMetadata {
    #[serde(default)]
    tag: Option<TagInfo>,
}

#[derive(Deserialize)]
struct TagInfo {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    login: Option<String>,
}

/// Authenticates and parses one GitHub delivery.
///
/// # Errors
/// [`WebhookError`]: a missing, malformed or wrong signature, a missing event header, an
/// oversized or malformed body, or a package the hook may not speak for.
pub fn receive(hooks: &Hooks, headers: &Headers, body: &[u8]) -> Result<Delivery, WebhookError> {
    check_size(body)?;
    let signature = headers.get(SIGNATURE_HEADER).ok_or(WebhookError::MissingHeader {
        header: SIGNATURE_HEADER,
    })?;
    let mac = decode_sha256_header(SIGNATURE_HEADER, signature)?;
    let hook = hooks
        .by_hmac(Provider::Github, &[body], &mac)?
        .ok_or(WebhookError::SignatureMismatch)?;
    let event_name = headers
        .get(EVENT_HEADER)
        .ok_or(WebhookError::MissingHeader { header: EVENT_HEADER })?
        .trim();
    let mut delivery = Delivery::new(hook.name());
    delivery.delivery_id = headers
        .get(DELIVERY_HEADER)
        .map(|d| d.trim().chars().take(80).collect());
    if event_name != "package" && event_name != "registry_package" {
        let event: String = event_name.chars().take(40).collect();
        delivery.ignore(format!("{event} event"), IgnoreReason::UnsupportedEvent { event });
        return Ok(delivery);
    }
    let payload: Payload = decode(Provider::Github, body)?;
    let action = optional(payload.action).unwrap_or_default();
    if action != "published" && action != "updated" {
        delivery.ignore(format!("package {action}"), IgnoreReason::NotAPush { action });
        return Ok(delivery);
    }
    let (field, package) = match (payload.package, payload.registry_package) {
        (Some(p), _) if event_name == "package" => ("package", p),
        (_, Some(p)) => ("registry_package", p),
        (Some(p), None) => ("package", p),
        (None, None) => return Err(WebhookError::MissingField { field: "package" }),
    };
    let package_type = optional(package.package_type)
        .or(optional(package.ecosystem))
        .unwrap_or_default();
    if !package_type.eq_ignore_ascii_case("container") {
        delivery.ignore(
            format!("{field} published"),
            IgnoreReason::NotAContainer { package_type },
        );
        return Ok(delivery);
    }
    let owner = optional(package.namespace)
        .or_else(|| package.owner.and_then(|o| optional(o.login)))
        .ok_or(WebhookError::MissingField {
            field: "package.owner.login",
        })?;
    let name = required(package.name, "package.name")?;
    let shown = format!("ghcr.io/{owner}/{name}").to_lowercase();
    let image = repository("package.name", &shown)?;
    let mut event = ImageEvent::from_reference(&image, Provider::Github);
    check_allowed(hook, &event, &shown)?;
    let version = package.package_version;
    let tag_info = version
        .as_ref()
        .and_then(|v| v.container_metadata.as_ref())
        .and_then(|m| m.tag.as_ref());
    let Some(tag_name) = tag_info.and_then(|t| optional(t.name.clone())) else {
        delivery.ignore(shown, IgnoreReason::Untagged);
        return Ok(delivery);
    };
    event.tag = Some(tag("package.package_version.container_metadata.tag.name", &tag_name)?);
    let digest_text = tag_info.and_then(|t| optional(t.digest.clone())).or_else(|| {
        version
            .as_ref()
            .and_then(|v| optional(v.name.clone()))
            .filter(|n| n.starts_with("sha256:"))
    });
    if let Some(d) = digest_text {
        event.digest = Some(digest("package.package_version.container_metadata.tag.digest", &d)?);
    }
    event.actor = payload.sender.and_then(|s| optional(s.login));
    delivery.events.push(event);
    Ok(delivery)
}
