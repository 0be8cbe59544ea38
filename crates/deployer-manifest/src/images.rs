//! Listing container images and changing them in place.
//!
//! Which images [`set_image`] changes, in every workload of every document:
//! - with [`ImageSelector::image`]: every container or init container whose image has the same
//!   repository (compared normalised, so `nginx` matches `docker.io/library/nginx`); with
//!   [`ImageSelector::container`] as well, only the containers of that name among them;
//! - with only [`ImageSelector::container`]: the containers of that name, whatever their image;
//! - with neither: the file's application image. The distinct repositories of the
//!   (non-init) containers must be exactly one, otherwise the request is ambiguous; every
//!   container and init container of that repository then changes, while sidecars and init
//!   containers of other repositories are left alone.
//!
//! The repository stays exactly as written and only the tag and digest part changes, except
//! for [`NewImage::Ref`], which replaces the whole reference. The scalar keeps its quoting
//! style. An image written with an anchor (`image: &img app:1`) and reused through aliases
//! (`image: *img`) is one scalar: changing it changes every alias, and every container so
//! affected is reported, with [`ImageChange::aliased`] set.

use std::collections::HashSet;

use deployer_core::image::{Digest, ImageRef, Tag};
use serde::{Deserialize, Serialize};

use crate::error::EditError;
use crate::limits::Limits;
use crate::splice::{self, Splice};
use crate::tree::{self, NodeId};
use crate::workload::{self, ContainerImage, Found};

/// Which container images to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSelector {
    /// Match containers whose image has this repository (its tag and digest are ignored).
    #[serde(default)]
    pub image: Option<ImageRef>,
    /// Match containers with this name.
    #[serde(default)]
    pub container: Option<String>,
}

/// What the matched images become.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewImage {
    /// The same repository with this tag (any digest is dropped).
    Tag(Tag),
    /// The same repository with this digest (any tag is dropped).
    Digest(Digest),
    /// The same repository with this tag and digest (`repo:tag@digest`).
    TagAndDigest(Tag, Digest),
    /// This whole reference, repository included.
    Ref(ImageRef),
}

/// One container image that an edit matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImageChange {
    /// Index of the YAML document in the file, from 0 (empty documents count).
    pub document: usize,
    /// The workload's `kind`.
    pub kind: String,
    /// The workload's `metadata.name`.
    pub name: String,
    /// The container's `name`.
    pub container: String,
    /// Whether it is an init container.
    pub init: bool,
    /// The image before the edit.
    pub old: String,
    /// The image after the edit.
    pub new: String,
    /// Line of the container's image value as written (an alias's own line), from 1.
    pub line: usize,
    /// Whether the edited scalar is an anchor that aliases elsewhere in the file refer to, so
    /// that the edit also changes what those aliases say.
    pub aliased: bool,
}

/// The result of an edit: the new file and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit<C = ImageChange> {
    /// The whole new file. Only the edited values differ from the input.
    pub content: Vec<u8>,
    /// The matched items whose text changed.
    pub changes: Vec<C>,
    /// Every matched item, including those already at the target.
    pub matched: Vec<C>,
}

/// Decodes the file as UTF-8.
pub(crate) fn decode(content: &[u8]) -> Result<&str, EditError> {
    std::str::from_utf8(content).map_err(|e| EditError::NotUtf8 {
        offset: e.valid_up_to(),
    })
}

/// Every container and init container image of every workload in the file, in file order.
///
/// # Errors
/// The file is too large, not UTF-8, not YAML, or crosses a [`Limits`] bound.
pub fn list_images(content: &[u8], limits: &Limits) -> Result<Vec<ContainerImage>, EditError> {
    let src = decode(content)?;
    let tree = tree::parse(src, limits)?;
    Ok(workload::containers(&tree).into_iter().map(|f| f.image).collect())
}

/// Changes the selected container images (see the module docs for which), touching nothing
/// but their values. Applying the same edit twice gives the same bytes and no changes.
///
/// # Errors
/// Besides the parsing errors of [`list_images`]: [`EditError::NoWorkloads`],
/// [`EditError::NoMatchingImage`], [`EditError::UnknownContainer`],
/// [`EditError::AmbiguousImage`], [`EditError::UnsupportedImageScalar`] (a block scalar,
/// a multi-line or escaped value) and [`EditError::InvalidCurrentImage`].
pub fn set_image(content: &[u8], selector: &ImageSelector, new: &NewImage, limits: &Limits) -> Result<Edit, EditError> {
    let src = decode(content)?;
    let tree = tree::parse(src, limits)?;
    let found = workload::containers(&tree);
    if found.is_empty() {
        return Err(EditError::NoWorkloads);
    }
    let selected = select(&found, selector)?;

    let mut nodes: Vec<NodeId> = Vec::new();
    let mut new_values: Vec<(NodeId, String)> = Vec::new();
    let mut splices = Vec::new();
    for f in &selected {
        if nodes.contains(&f.node) {
            continue;
        }
        nodes.push(f.node);
        let token = splice::scalar_token(&tree, f.node).map_err(|reason| EditError::UnsupportedImageScalar {
            container: f.image.container.clone(),
            line: f.image.line,
            reason,
        })?;
        let value = new_value(f, new)?;
        if value != f.image.image {
            splices.push(Splice {
                start: token.start,
                end: token.end,
                text: splice::render(&value, token.quote),
            });
        }
        new_values.push((f.node, value));
    }

    // Every container whose image is one of the edited scalars, including through aliases.
    let mut matched = Vec::new();
    for f in &found {
        let Some((_, value)) = new_values.iter().find(|(n, _)| *n == f.node) else {
            continue;
        };
        matched.push(ImageChange {
            document: f.image.document,
            kind: f.image.kind.clone(),
            name: f.image.name.clone(),
            container: f.image.container.clone(),
            init: f.image.init,
            old: f.image.image.clone(),
            new: value.clone(),
            line: f.image.line,
            aliased: tree.aliased.contains(&f.node),
        });
    }
    let changes = matched.iter().filter(|c| c.old != c.new).cloned().collect();
    Ok(Edit {
        content: splice::apply(src, splices).into_bytes(),
        changes,
        matched,
    })
}

/// The containers a selector picks, or why none or too many.
fn select<'f>(found: &'f [Found], selector: &ImageSelector) -> Result<Vec<&'f Found>, EditError> {
    let by_name = |f: &&Found| selector.container.as_deref().is_none_or(|c| f.image.container == c);
    if let Some(container) = &selector.container
        && !found.iter().any(|f| f.image.container == *container)
    {
        return Err(EditError::UnknownContainer {
            container: container.clone(),
            found: distinct(found.iter().map(|f| f.image.container.clone())),
        });
    }
    if let Some(wanted) = &selector.image {
        let selected: Vec<&Found> = found
            .iter()
            .filter(by_name)
            .filter(|f| ImageRef::parse(&f.image.image).is_ok_and(|r| r.same_repository(wanted)))
            .collect();
        if selected.is_empty() {
            return Err(EditError::NoMatchingImage {
                wanted: wanted.repository(),
                found: distinct(found.iter().filter(by_name).map(|f| f.image.image.clone())),
            });
        }
        return Ok(selected);
    }
    if selector.container.is_some() {
        return Ok(found.iter().filter(by_name).collect());
    }
    // The application image: the one repository of the non-init containers.
    let key = |f: &Found| match ImageRef::parse(&f.image.image) {
        Ok(r) => (r.normalized_repository(), r.repository()),
        Err(_) => (f.image.image.clone(), f.image.image.clone()),
    };
    let app: Vec<&Found> = found.iter().filter(|f| !f.image.init).collect();
    let candidates = if app.is_empty() { found.iter().collect() } else { app };
    let mut keys: Vec<(String, String)> = Vec::new();
    for f in candidates {
        let k = key(f);
        if !keys.iter().any(|(n, _)| *n == k.0) {
            keys.push(k);
        }
    }
    match keys.as_slice() {
        [(normal, _)] => Ok(found.iter().filter(|f| key(f).0 == *normal).collect()),
        _ => Err(EditError::AmbiguousImage {
            images: keys.into_iter().map(|(_, written)| written).collect(),
        }),
    }
}

/// The new value of a matched container's image.
fn new_value(f: &Found, new: &NewImage) -> Result<String, EditError> {
    if let NewImage::Ref(r) = new {
        return Ok(r.to_string());
    }
    let current = ImageRef::parse(&f.image.image).map_err(|source| EditError::InvalidCurrentImage {
        container: f.image.container.clone(),
        line: f.image.line,
        image: f.image.image.chars().take(200).flat_map(char::escape_default).collect(),
        source,
    })?;
    let next = match new {
        NewImage::Tag(t) => current.with_tag(t.clone()),
        NewImage::Digest(d) => current.with_digest(d.clone()),
        NewImage::TagAndDigest(t, d) => current.with_tag_and_digest(t.clone(), d.clone()),
        NewImage::Ref(r) => r.clone(),
    };
    Ok(next.to_string())
}

/// The distinct values, in first-seen order.
fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values.filter(|v| seen.insert(v.clone())).collect()
}
