//! The [`Manifests`] port of the executor, implemented with this crate's editor.

use deployer_core::model::ImageChange;
use deployer_core::ports::{EditRejected, EditedManifest, ImageEdit, Manifests};

use crate::{EditError, ImageSelector, Limits, NewImage};

/// The manifest editor as the executor uses it.
#[derive(Debug, Clone, Default)]
pub struct ManifestEditor {
    limits: Limits,
}

impl ManifestEditor {
    /// An editor enforcing `limits` on every file it reads.
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }
}

fn rejected(e: &EditError) -> EditRejected {
    EditRejected {
        code: e.kind().to_owned(),
        message: e.to_string(),
    }
}

impl Manifests for ManifestEditor {
    fn set_image(&self, content: &[u8], edit: &ImageEdit) -> Result<EditedManifest, EditRejected> {
        let new = match &edit.change {
            ImageChange::Tag { tag } => NewImage::Tag(tag.clone()),
            ImageChange::Digest { digest } => NewImage::Digest(digest.clone()),
            ImageChange::TagAndDigest { tag, digest } => NewImage::TagAndDigest(tag.clone(), digest.clone()),
            ImageChange::None => {
                let images = self.images(content)?;
                return Ok(EditedManifest {
                    content: content.to_vec(),
                    old_images: images.clone(),
                    new_images: images,
                });
            }
        };
        let selector = ImageSelector {
            image: edit.image.clone(),
            container: edit.container.as_ref().map(|c| c.to_string()),
        };
        let result = crate::set_image(content, &selector, &new, &self.limits).map_err(|e| rejected(&e))?;
        Ok(EditedManifest {
            content: result.content,
            old_images: result.matched.iter().map(|c| c.old.clone()).collect(),
            new_images: result.matched.iter().map(|c| c.new.clone()).collect(),
        })
    }

    fn set_restarted_at(&self, content: &[u8], at: &str) -> Result<EditedManifest, EditRejected> {
        let images = self.images(content)?;
        let result = crate::set_restarted_at(content, at, &self.limits).map_err(|e| rejected(&e))?;
        Ok(EditedManifest {
            content: result.content,
            old_images: images.clone(),
            new_images: images,
        })
    }

    fn documents(&self, content: &[u8]) -> Result<Vec<serde_json::Value>, EditRejected> {
        crate::parse_documents(content, &self.limits).map_err(|e| rejected(&e))
    }

    fn images(&self, content: &[u8]) -> Result<Vec<String>, EditRejected> {
        crate::list_images(content, &self.limits)
            .map(|images| images.into_iter().map(|i| i.image).collect())
            .map_err(|e| rejected(&e))
    }
}

#[cfg(test)]
mod tests {
    use deployer_core::image::Tag;

    use super::*;

    const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web # the app\n          image: \"ghcr.io/acme/web:1.0.0\"\n";

    fn tag(t: &str) -> ImageChange {
        ImageChange::Tag {
            tag: Tag::new(t).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[test]
    fn the_port_edits_only_the_tag_and_reports_old_and_new() {
        let editor = ManifestEditor::default();
        let edit = ImageEdit {
            image: None,
            container: None,
            change: tag("1.1.0"),
        };
        let out = editor
            .set_image(WEB.as_bytes(), &edit)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&out.content),
            WEB.replace("web:1.0.0", "web:1.1.0")
        );
        assert_eq!(out.old_images, vec!["ghcr.io/acme/web:1.0.0"]);
        assert_eq!(out.new_images, vec!["ghcr.io/acme/web:1.1.0"]);
    }

    #[test]
    fn an_unknown_container_is_rejected_with_the_editors_code() {
        let editor = ManifestEditor::default();
        let container = deployer_core::model::ContainerName::new("db").ok();
        let edit = ImageEdit {
            image: None,
            container,
            change: tag("2"),
        };
        let err = editor.set_image(WEB.as_bytes(), &edit).err();
        assert_eq!(err.map(|e| e.code), Some("unknown_container".to_owned()));
    }

    #[test]
    fn documents_and_images_read_the_file() {
        let editor = ManifestEditor::default();
        let docs = editor.documents(WEB.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(docs[0]["metadata"]["name"], "web");
        assert_eq!(
            editor.images(WEB.as_bytes()).ok(),
            Some(vec!["ghcr.io/acme/web:1.0.0".to_owned()])
        );
    }
}
