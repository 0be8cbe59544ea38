//! Hostile input fails fast, with the error that names the limit it crossed.

use std::time::{Duration, Instant};

use deployer_core::image::Tag;
use deployer_manifest::{EditError, ImageSelector, Limits, NewImage, list_images, parse_documents, set_image};

fn billion_laughs(levels: usize) -> String {
    let mut s = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  l0: &l0 \"lol\"\n");
    for i in 1..=levels {
        let refs = vec![format!("*l{}", i - 1); 9].join(", ");
        s.push_str(&format!("  l{i}: &l{i} [{refs}]\n"));
    }
    s
}

fn assert_fast<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{what} took {:?}",
        start.elapsed()
    );
    out
}

#[test]
fn a_billion_laughs_alias_bomb_fails_fast_with_too_many_aliases() {
    let bomb = billion_laughs(9);
    let err = assert_fast("parse_documents", || {
        parse_documents(bomb.as_bytes(), &Limits::default())
    });
    assert!(matches!(err, Err(EditError::TooManyAliases { .. })), "{err:?}");
    let err = assert_fast("list_images", || list_images(bomb.as_bytes(), &Limits::default()));
    assert!(matches!(err, Err(EditError::TooManyAliases { .. })), "{err:?}");
}

#[test]
fn a_few_aliases_are_expanded_within_the_limit() {
    let ok = billion_laughs(2); // 9 + 81 expansions
    let docs = parse_documents(ok.as_bytes(), &Limits::default()).map_err(|e| e.to_string());
    let docs = docs.unwrap_or_default();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["data"]["l2"][8][8], "lol");
}

#[test]
fn one_alias_of_a_huge_anchor_repeated_is_refused() {
    let mut s = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  big: &big [");
    s.push_str(&vec!["x"; 20_000].join(","));
    s.push_str("]\n  copies: [");
    s.push_str(&vec!["*big"; 200].join(","));
    s.push_str("]\n");
    let limits = Limits {
        max_bytes: 100_000,
        ..Limits::default()
    };
    let err = assert_fast("parse_documents", || parse_documents(s.as_bytes(), &limits));
    assert!(matches!(err, Err(EditError::TooManyAliases { .. })), "{err:?}");
}

#[test]
fn deep_flow_nesting_fails_fast_with_too_deep() {
    let deep = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err = assert_fast("parse_documents", || {
        parse_documents(deep.as_bytes(), &Limits::default())
    });
    assert!(matches!(err, Err(EditError::TooDeep { max: 64, .. })), "{err:?}");
}

#[test]
fn deep_block_nesting_fails_with_too_deep() {
    let mut deep = String::new();
    for i in 0..200 {
        deep.push_str(&" ".repeat(i));
        deep.push_str("k:\n");
    }
    let err = parse_documents(deep.as_bytes(), &Limits::default());
    assert!(matches!(err, Err(EditError::TooDeep { .. })), "{err:?}");
}

#[test]
fn aliases_count_towards_depth() {
    let mut s = String::from("a: &a [[[[[[[[[[x]]]]]]]]]]\n");
    s.push_str("b: [[[[[[*a]]]]]]\n");
    let limits = Limits {
        max_depth: 12,
        ..Limits::default()
    };
    let err = parse_documents(s.as_bytes(), &limits);
    assert!(matches!(err, Err(EditError::TooDeep { .. })), "{err:?}");
}

#[test]
fn too_many_documents_are_refused() {
    let s = "---\na: 1\n".repeat(101);
    let err = list_images(s.as_bytes(), &Limits::default());
    assert!(matches!(err, Err(EditError::TooManyDocuments { max: 100 })), "{err:?}");
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_parsing() {
    let s = "# padding\n".repeat(10);
    let limits = Limits {
        max_bytes: 50,
        ..Limits::default()
    };
    let Ok(tag) = Tag::new("1") else {
        panic!("`1` is a valid tag")
    };
    let err = set_image(s.as_bytes(), &ImageSelector::default(), &NewImage::Tag(tag), &limits);
    assert!(
        matches!(err, Err(EditError::TooLarge { size: 100, max: 50 })),
        "{err:?}"
    );
}

#[test]
fn invalid_utf8_is_refused_with_its_offset() {
    let err = list_images(b"kind: Pod\nmetadata: {name: \xff}\n", &Limits::default());
    assert_eq!(err, Err(EditError::NotUtf8 { offset: 27 }));
}

#[test]
fn invalid_yaml_reports_line_and_column() {
    let err = list_images(b"kind: Pod\nspec: [\n", &Limits::default());
    match err {
        Err(EditError::Yaml { line, column, .. }) => assert!(line >= 2 && column >= 1, "{line}:{column}"),
        other => panic!("expected a YAML error, got {other:?}"),
    }
}

#[test]
fn a_recursive_alias_is_an_error_not_a_loop() {
    let err = parse_documents(b"a: &a [*a]\n", &Limits::default());
    assert!(matches!(err, Err(EditError::Yaml { .. })), "{err:?}");
}

#[test]
fn duplicate_keys_are_refused() {
    let err = list_images(b"kind: Pod\nkind: Deployment\n", &Limits::default());
    match err {
        Err(EditError::Yaml { line: 2, message, .. }) => assert!(message.contains("duplicate key `kind`"), "{message}"),
        other => panic!("expected a duplicate key error, got {other:?}"),
    }
}
