//! `set_image` edge cases beyond the golden files.

use deployer_core::image::{Digest, ImageRef, Tag};
use deployer_manifest::{EditError, ImageSelector, Limits, NewImage, set_image};

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    version: &v ghcr.io/o/app:1\nspec:\n  containers:\n    - name: app\n      image: *v\n";

fn tag(s: &str) -> Tag {
    Tag::new(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_anchor_also_used_outside_containers_is_reported_as_aliased() {
    let edit = set_image(
        POD.as_bytes(),
        &ImageSelector::default(),
        &NewImage::Tag(tag("2")),
        &Limits::default(),
    );
    let edit = edit.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        String::from_utf8_lossy(&edit.content),
        POD.replace("&v ghcr.io/o/app:1", "&v ghcr.io/o/app:2")
    );
    assert_eq!(edit.changes.len(), 1);
    assert!(edit.changes[0].aliased);
    assert_eq!(edit.changes[0].line, 10);
}

#[test]
fn the_selector_tag_is_ignored_when_matching_by_repository() {
    let selector = ImageSelector {
        image: Some(ImageRef::parse("ghcr.io/o/app:99").unwrap_or_else(|e| panic!("{e}"))),
        container: None,
    };
    let edit = set_image(POD.as_bytes(), &selector, &NewImage::Tag(tag("2")), &Limits::default());
    assert_eq!(edit.map(|e| e.changes.len()).map_err(|e| e.to_string()), Ok(1));
}

#[test]
fn deploying_by_digest_twice_is_a_no_op_the_second_time() {
    let digest = Digest::new(&format!("sha256:{}", "ab".repeat(32))).unwrap_or_else(|e| panic!("{e}"));
    let new = NewImage::TagAndDigest(tag("2"), digest);
    let limits = Limits::default();
    let first = set_image(POD.as_bytes(), &ImageSelector::default(), &new, &limits).unwrap_or_else(|e| panic!("{e}"));
    let second = set_image(&first.content, &ImageSelector::default(), &new, &limits).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.content, first.content);
    assert!(second.changes.is_empty());
    assert_eq!(second.matched.len(), 1);
}

#[test]
fn an_init_only_repository_is_not_the_application_image() {
    let src = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers: [{name: i, image: busybox:1}]\n  containers: [{name: a, image: app:1}, {name: b, image: app:1}]\n";
    let edit = set_image(
        src.as_bytes(),
        &ImageSelector::default(),
        &NewImage::Tag(tag("2")),
        &Limits::default(),
    );
    let edit = edit.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&edit.content), src.replace("app:1", "app:2"));
    assert_eq!(edit.changes.len(), 2);
}

#[test]
fn error_messages_name_what_to_do() {
    let src = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: app:1}, {name: b, image: ghcr.io/o/side:1}]\n";
    let err = set_image(
        src.as_bytes(),
        &ImageSelector::default(),
        &NewImage::Tag(tag("2")),
        &Limits::default(),
    );
    let Err(err) = err else {
        panic!("two repositories are ambiguous")
    };
    assert_eq!(err.kind(), "ambiguous_image");
    assert_eq!(
        err.to_string(),
        "the file has several application images (app, ghcr.io/o/side); name the `container` or the `image` to change"
    );
    assert!(matches!(err, EditError::AmbiguousImage { ref images } if images.len() == 2));
}
