//! Repository-relative paths that cannot leave the repository.

use std::fmt;

/// A validated repository-relative path: `/`-separated, no empty, `.`, `..` or `.git`
/// components, no leading `/`, no backslashes or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath {
    components: Vec<String>,
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path is not a plain repository-relative path")]
pub struct UnsafePath;

impl RepoPath {
    /// Parses and checks `text`.
    ///
    /// # Errors
    /// [`UnsafePath`] for absolute paths, `..`, `.`, `.git`, empty components, backslashes or
    /// control characters.
    pub fn parse(text: &str) -> Result<Self, UnsafePath> {
        if text.is_empty() || text.starts_with('/') || text.contains('\\') || text.chars().any(char::is_control) {
            return Err(UnsafePath);
        }
        let components: Vec<String> = text.split('/').map(str::to_owned).collect();
        let bad = |c: &String| c.is_empty() || c == "." || c == ".." || c.eq_ignore_ascii_case(".git");
        if components.iter().any(bad) {
            return Err(UnsafePath);
        }
        Ok(RepoPath { components })
    }

    /// The components, outermost first (never empty).
    pub fn components(&self) -> &[String] {
        &self.components
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.components.join("/"))
    }
}

/// Whether `name` is a manifest file name (`*.yaml` or `*.yml`).
pub fn is_manifest_name(name: &str) -> bool {
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_accepted() -> Result<(), UnsafePath> {
        let p = RepoPath::parse("eu-west-1/prod-a/apps/web.yaml")?;
        assert_eq!(p.components().len(), 4);
        assert_eq!(p.to_string(), "eu-west-1/prod-a/apps/web.yaml");
        Ok(())
    }

    #[test]
    fn escaping_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "r/../../etc/passwd",
            "r/c/apps/..",
            "./r/c",
            "r//c",
            "r/c/",
            ".git/config",
            "r/.GIT/x",
            "r\\c",
            "r/c\n/x",
        ] {
            assert_eq!(RepoPath::parse(bad), Err(UnsafePath), "{bad:?}");
        }
    }

    #[test]
    fn manifest_names_end_in_yaml_or_yml() {
        assert!(is_manifest_name("web.yaml"));
        assert!(is_manifest_name("web.yml"));
        assert!(!is_manifest_name("web.json"));
        assert!(!is_manifest_name(".yaml"));
    }
}
