//! Large and adversarial input within the size limit is handled in bounded time.

use std::time::{Duration, Instant};

use deployer_manifest::{EditError, Limits, list_images, parse_documents};

const MIB: usize = 1024 * 1024;

fn timed(what: &str, src: &str) -> Result<usize, EditError> {
    let start = Instant::now();
    let out = parse_documents(src.as_bytes(), &Limits::default()).map(|d| d.len());
    let listed = list_images(src.as_bytes(), &Limits::default()).map(|l| l.len());
    let took = start.elapsed();
    eprintln!("{what}: {took:?}");
    // Generous for unoptimised builds on a loaded machine; the point is "not quadratic".
    assert!(took < Duration::from_secs(20), "{what} took {took:?}");
    listed.and(out)
}

#[test]
fn large_but_legal_inputs_parse_in_bounded_time() {
    let mut many_keys = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n");
    let mut i = 0;
    while many_keys.len() < 2 * MIB - 64 {
        many_keys.push_str(&format!("  key{i}: value-{i}\n"));
        i += 1;
    }
    assert_eq!(timed("many keys", &many_keys).ok(), Some(1));

    let long_line = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: line}}\ndata: {{k: {}}}\n",
        "x".repeat(2 * MIB - 100)
    );
    assert_eq!(timed("one long plain scalar", &long_line).ok(), Some(1));

    let escapes = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: esc}}\ndata: {{k: \"{}\"}}\n",
        "\\u00e9\\n".repeat((2 * MIB - 100) / 8)
    );
    assert_eq!(timed("escaped double-quoted scalar", &escapes).ok(), Some(1));

    let unicode = format!(
        "# {}\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: u}}\n",
        "é🚀".repeat(MIB / 4)
    );
    assert_eq!(timed("non-ASCII comment", &unicode).ok(), Some(1));
}

#[test]
fn many_documents_and_nesting_just_under_the_limits_are_accepted() {
    let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n";
    assert_eq!(timed("100 documents", &doc.repeat(99)).ok(), Some(99));
    let nested = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: nested}}\ndata: {}x{}\n",
        "[".repeat(62),
        "]".repeat(62)
    );
    assert_eq!(timed("62 levels", &nested).map_err(|e| e.to_string()), Ok(1));
}
