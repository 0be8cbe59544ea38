//! Golden tests: every directory under `tests/golden/` is one real-world manifest shape.
//!
//! Each holds `input.yaml` and `request.json` (`{"op": "set_image", "selector": …, "new": …}`
//! or `{"op": "set_restarted_at", "timestamp": …}`), and either `expected.yaml` (the exact
//! bytes expected) with `changes.txt` (the reported matches, one a line), or
//! `expected_error.txt` (`kind: message`). Every successful edit is also applied a second
//! time, which must change nothing, and its output must still parse.
//!
//! `GOLDEN_BLESS=1` writes missing `changes.txt` and `expected_error.txt` files (never
//! `expected.yaml`); review them before committing.

use std::fs;
use std::path::{Path, PathBuf};

use deployer_manifest::{
    Edit, EditError, ImageChange, ImageSelector, Limits, NewImage, RestartChange, list_images, set_image,
    set_restarted_at,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Request {
    SetImage {
        #[serde(default)]
        selector: ImageSelector,
        new: NewImage,
    },
    SetRestartedAt {
        timestamp: String,
    },
}

fn describe_image(c: &ImageChange) -> String {
    let changed = if c.old == c.new { "unchanged" } else { "changed" };
    let mut flags = String::new();
    if c.init {
        flags.push_str(" init");
    }
    if c.aliased {
        flags.push_str(" aliased");
    }
    format!(
        "{changed} doc {} {}/{} container {}{flags}: {} -> {} (line {})",
        c.document, c.kind, c.name, c.container, c.old, c.new, c.line
    )
}

fn describe_restart(c: &RestartChange) -> String {
    let changed = if c.old.as_deref() == Some(c.new.as_str()) {
        "unchanged"
    } else {
        "changed"
    };
    format!(
        "{changed} doc {} {}/{}: {} -> {} (line {})",
        c.document,
        c.kind,
        c.name,
        c.old.as_deref().unwrap_or("(none)"),
        c.new,
        c.line
    )
}

/// Runs a request, returning the new content and the described matches.
fn run(input: &[u8], request: &Request) -> Result<(Vec<u8>, Vec<String>, usize), EditError> {
    let limits = Limits::default();
    match request {
        Request::SetImage { selector, new } => {
            let Edit {
                content,
                changes,
                matched,
            } = set_image(input, selector, new, &limits)?;
            assert!(
                changes.iter().all(|c| matched.contains(c)),
                "every change is also matched"
            );
            Ok((content, matched.iter().map(describe_image).collect(), changes.len()))
        }
        Request::SetRestartedAt { timestamp } => {
            let Edit {
                content,
                changes,
                matched,
            } = set_restarted_at(input, timestamp, &limits)?;
            assert!(
                changes.iter().all(|c| matched.contains(c)),
                "every change is also matched"
            );
            Ok((content, matched.iter().map(describe_restart).collect(), changes.len()))
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn check_case(dir: &Path, bless: bool) -> Result<(), String> {
    let input = read(&dir.join("input.yaml"))?;
    let request: Request = serde_json::from_slice(&read(&dir.join("request.json"))?)
        .map_err(|e| format!("request.json does not parse: {e}"))?;
    let expected_yaml = dir.join("expected.yaml");
    let expected_error = dir.join("expected_error.txt");
    let changes_file = dir.join("changes.txt");
    match run(&input, &request) {
        Err(err) => {
            let got = format!("{}: {err}\n", err.kind());
            if expected_yaml.exists() {
                return Err(format!("expected an edit, got the error {got}"));
            }
            if bless && !expected_error.exists() {
                fs::write(&expected_error, &got).map_err(|e| e.to_string())?;
            }
            let want = String::from_utf8_lossy(&read(&expected_error)?).into_owned();
            if got != want {
                return Err(format!("error differs:\n  got:  {got}  want: {want}"));
            }
        }
        Ok((content, described, changed)) => {
            if !expected_yaml.exists() {
                return Err(format!(
                    "expected an error, got an edit:\n{}",
                    String::from_utf8_lossy(&content)
                ));
            }
            let want = read(&expected_yaml)?;
            if content != want {
                return Err(format!(
                    "output differs:\n--- got ---\n{}\n--- want ---\n{}",
                    String::from_utf8_lossy(&content),
                    String::from_utf8_lossy(&want)
                ));
            }
            let got = described.iter().map(|l| format!("{l}\n")).collect::<String>();
            if bless && !changes_file.exists() {
                fs::write(&changes_file, &got).map_err(|e| e.to_string())?;
            }
            let want = String::from_utf8_lossy(&read(&changes_file)?).into_owned();
            if got != want {
                return Err(format!(
                    "reported matches differ:\n--- got ---\n{got}--- want ---\n{want}"
                ));
            }
            if (changed == 0) != (content == input) {
                return Err(format!(
                    "{changed} changes reported but the bytes {}",
                    if content == input { "did not change" } else { "changed" }
                ));
            }
            // Idempotent: the same request again changes nothing.
            let (again, _, changed_again) = run(&content, &request).map_err(|e| format!("second run failed: {e}"))?;
            if again != content || changed_again != 0 {
                return Err(format!("second run was not a no-op ({changed_again} changes)"));
            }
            list_images(&content, &Limits::default()).map_err(|e| format!("the output does not parse: {e}"))?;
        }
    }
    Ok(())
}

#[test]
fn every_golden_case_produces_its_expected_bytes_and_report() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("GOLDEN_BLESS").is_some();
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 30,
        "expected at least 30 golden cases, found {}",
        dirs.len()
    );
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|dir| {
            check_case(dir, bless).err().map(|e| {
                format!(
                    "== {} ==\n{e}",
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
