//! Links from a configuration-repository commit to the page that shows it.
//!
//! `[git] commit_url` names the page explicitly
//! (`"https://git.example.com/org/config/-/commit/{sha}"`); without it, the page is derived
//! from `[git] remote` when the remote is on GitHub, GitLab or Bitbucket (over HTTPS, ssh:// or
//! the scp-like `git@host:path`). Local paths and other hosts get no link. The API adds the
//! link to every deployment record it answers with (`commit_url`), and the web UI shows the
//! commit as a link when it is there.

use std::fmt;
use std::str::FromStr;

/// The placeholder a commit-page template replaces with the commit's id.
pub const SHA_PLACEHOLDER: &str = "{sha}";

/// A commit-page template: an `http://` or `https://` URL with a host, containing
/// [`SHA_PLACEHOLDER`], without whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitUrlTemplate(String);

/// Why a `commit_url` template was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommitUrlError {
    /// It does not start with `http://` or `https://`.
    #[error("must be an http:// or https:// URL")]
    NotHttp,
    /// Nothing follows the scheme.
    #[error("names no host")]
    NoHost,
    /// It has no `{sha}`.
    #[error("does not contain `{{sha}}`, where the commit's id goes")]
    NoPlaceholder,
    /// It has spaces or control characters.
    #[error("contains whitespace or control characters")]
    Unprintable,
}

impl CommitUrlError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CommitUrlError::NotHttp => "not_http",
            CommitUrlError::NoHost => "no_host",
            CommitUrlError::NoPlaceholder => "no_placeholder",
            CommitUrlError::Unprintable => "unprintable",
        }
    }
}

/// The scheme of `text` (`http://` or `https://`, any case) and what follows it.
fn split_http(text: &str) -> Option<(&str, &str)> {
    ["https://", "http://"].into_iter().find_map(|scheme| {
        let head = text.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme).then(|| text.split_at(scheme.len()))
    })
}

impl FromStr for CommitUrlTemplate {
    type Err = CommitUrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CommitUrlError::Unprintable);
        }
        let (_, rest) = split_http(text).ok_or(CommitUrlError::NotHttp)?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // The host is what is left of the authority without user information and port.
        let host = authority.rsplit('@').next().unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        if host.is_empty() || host.contains(SHA_PLACEHOLDER) {
            return Err(CommitUrlError::NoHost);
        }
        if !text.contains(SHA_PLACEHOLDER) {
            return Err(CommitUrlError::NoPlaceholder);
        }
        Ok(CommitUrlTemplate(text.to_owned()))
    }
}

impl fmt::Display for CommitUrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl CommitUrlTemplate {
    /// The page of commit `sha`, or `None` when `sha` is not a commit id (4 to 64 hexadecimal
    /// digits), so that nothing but an id ever lands in the URL.
    pub fn render(&self, sha: &str) -> Option<String> {
        let is_id = (4..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit());
        is_id.then(|| self.0.replace(SHA_PLACEHOLDER, sha))
    }
}

/// The well-known hosts whose commit pages can be derived from the remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forge {
    GitHub,
    GitLab,
    Bitbucket,
}

impl Forge {
    fn of_host(host: &str) -> Option<Forge> {
        match host.to_ascii_lowercase().as_str() {
            "github.com" => Some(Forge::GitHub),
            "gitlab.com" => Some(Forge::GitLab),
            "bitbucket.org" => Some(Forge::Bitbucket),
            _ => None,
        }
    }

    fn host(self) -> &'static str {
        match self {
            Forge::GitHub => "github.com",
            Forge::GitLab => "gitlab.com",
            Forge::Bitbucket => "bitbucket.org",
        }
    }

    /// What goes between the repository's page and the commit id.
    fn commit_path(self) -> &'static str {
        match self {
            Forge::GitHub => "commit",
            Forge::GitLab => "-/commit",
            Forge::Bitbucket => "commits",
        }
    }

    /// Whether `segments` can name a repository: `owner/name` (GitLab also nests groups).
    fn accepts(self, segments: &[&str]) -> bool {
        let count_ok = match self {
            Forge::GitLab => segments.len() >= 2,
            Forge::GitHub | Forge::Bitbucket => segments.len() == 2,
        };
        count_ok
            && segments.iter().all(|s| {
                !s.is_empty()
                    && !s.starts_with('.')
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            })
    }
}

/// The host and repository path of a remote: `https://host/path`, `ssh://user@host[:port]/path`
/// or the scp-like `user@host:path`. Local paths and `file://` URLs have none.
fn host_and_path(remote: &str) -> Option<(&str, &str)> {
    if let Some((_, rest)) = split_http(remote) {
        let (authority, path) = rest.split_once('/')?;
        return Some((authority.rsplit('@').next()?, path));
    }
    if let Some(rest) = remote.strip_prefix("ssh://") {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        return Some((host.split(':').next()?, path));
    }
    // scp-like: `[user@]host:path`, with no `/` before the colon.
    let (authority, path) = remote.split_once(':')?;
    if authority.contains('/') {
        return None;
    }
    Some((authority.rsplit('@').next()?, path))
}

/// The commit-page template of a remote on GitHub, GitLab or Bitbucket
/// (`git@github.com:o/r.git` → `https://github.com/o/r/commit/{sha}`); `None` for local paths,
/// other hosts and paths that name no repository.
pub fn derived_template(remote: &str) -> Option<CommitUrlTemplate> {
    let (host, path) = host_and_path(remote.trim())?;
    let forge = Forge::of_host(host)?;
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    if !forge.accepts(&segments) {
        return None;
    }
    Some(CommitUrlTemplate(format!(
        "https://{}/{}/{}/{SHA_PLACEHOLDER}",
        forge.host(),
        segments.join("/"),
        forge.commit_path()
    )))
}

/// How the configuration repository's commits are linked: through a template, or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitLinks {
    template: Option<CommitUrlTemplate>,
}

impl CommitLinks {
    /// Links through `configured` when given, else through the template derived from `remote`.
    pub fn new(configured: Option<CommitUrlTemplate>, remote: Option<&str>) -> Self {
        Self {
            template: configured.or_else(|| remote.and_then(derived_template)),
        }
    }

    /// The template in use, if any.
    pub fn template(&self) -> Option<&CommitUrlTemplate> {
        self.template.as_ref()
    }

    /// The page of commit `sha`, when commits are linked and `sha` is a commit id.
    pub fn url(&self, sha: &str) -> Option<String> {
        self.template.as_ref()?.render(sha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9c1e5b7d3f2a4c6e8b0d1f3a5c7e9b1d3f5a7c9e";

    fn derived(remote: &str) -> Option<String> {
        derived_template(remote).and_then(|t| t.render(SHA))
    }

    #[test]
    fn github_remotes_in_every_form_link_to_the_commit_page() {
        let page = Some(format!("https://github.com/acme/k8s-config/commit/{SHA}"));
        for remote in [
            "https://github.com/acme/k8s-config",
            "https://github.com/acme/k8s-config.git",
            "https://github.com/acme/k8s-config/",
            "HTTPS://GitHub.com/acme/k8s-config.git",
            "git@github.com:acme/k8s-config.git",
            "git@github.com:acme/k8s-config",
            "github.com:acme/k8s-config.git",
            "ssh://git@github.com/acme/k8s-config.git",
            "ssh://git@github.com:22/acme/k8s-config.git",
        ] {
            assert_eq!(derived(remote), page, "{remote}");
        }
    }

    #[test]
    fn gitlab_remotes_link_to_the_dash_commit_page_and_keep_subgroups() {
        assert_eq!(
            derived("git@gitlab.com:acme/k8s-config.git"),
            Some(format!("https://gitlab.com/acme/k8s-config/-/commit/{SHA}"))
        );
        assert_eq!(
            derived("https://gitlab.com/acme/platform/k8s-config.git"),
            Some(format!("https://gitlab.com/acme/platform/k8s-config/-/commit/{SHA}"))
        );
        assert_eq!(
            derived("ssh://git@gitlab.com/acme/k8s-config.git"),
            Some(format!("https://gitlab.com/acme/k8s-config/-/commit/{SHA}"))
        );
    }

    #[test]
    fn bitbucket_remotes_link_to_the_commits_page() {
        let page = Some(format!("https://bitbucket.org/acme/k8s-config/commits/{SHA}"));
        assert_eq!(derived("git@bitbucket.org:acme/k8s-config.git"), page);
        assert_eq!(derived("https://bitbucket.org/acme/k8s-config.git"), page);
        assert_eq!(derived("ssh://git@bitbucket.org/acme/k8s-config.git"), page);
    }

    #[test]
    fn local_paths_unknown_hosts_and_odd_paths_get_no_link() {
        for remote in [
            "/srv/git/config-repo.git",
            "./config-repo.git",
            "file:///srv/git/config-repo.git",
            "C:/git/config.git",
            "git@git.example.com:acme/k8s-config.git",
            "https://git.example.com/acme/k8s-config.git",
            "ssh://git@github.example.com/acme/k8s-config.git",
            "https://github.com/acme",
            "https://github.com/acme/k8s-config/tree/main",
            "git@github.com:acme/k8s config.git",
            "https://github.com/acme/..",
            "https://github.com/acme/repo?x=1",
            "",
        ] {
            assert_eq!(derived(remote), None, "{remote}");
        }
    }

    #[test]
    fn a_template_needs_http_a_host_and_the_placeholder() {
        let ok: Result<CommitUrlTemplate, _> = "https://git.example.com/org/config/-/commit/{sha}".parse();
        assert_eq!(
            ok.map(|t| t.render(SHA)),
            Ok(Some(format!("https://git.example.com/org/config/-/commit/{SHA}")))
        );
        assert!(
            "http://gitea.internal:3000/org/config/commit/{sha}"
                .parse::<CommitUrlTemplate>()
                .is_ok()
        );
        for (text, error) in [
            ("ftp://git.example.com/c/{sha}", CommitUrlError::NotHttp),
            ("javascript:alert({sha})", CommitUrlError::NotHttp),
            ("git.example.com/c/{sha}", CommitUrlError::NotHttp),
            ("https:///c/{sha}", CommitUrlError::NoHost),
            ("https://{sha}.example.com/", CommitUrlError::NoHost),
            (
                "https://git.example.com/org/config/commit/",
                CommitUrlError::NoPlaceholder,
            ),
            ("https://git.example.com/c/{SHA}", CommitUrlError::NoPlaceholder),
            ("https://git.example.com/c/ {sha}", CommitUrlError::Unprintable),
            ("https://git.example.com/c/{sha}\n", CommitUrlError::Unprintable),
        ] {
            assert_eq!(text.parse::<CommitUrlTemplate>(), Err(error), "{text:?}");
        }
    }

    #[test]
    fn only_commit_ids_are_put_into_a_link() {
        let links = CommitLinks::new(derived_template("git@github.com:acme/config.git"), None);
        assert!(links.url(SHA).is_some());
        assert!(links.url("abc1234").is_some(), "abbreviated ids are ids");
        for not_an_id in ["", "abc", "main", "9c1e5b7d/../x", "9c1e?x=1", &"a".repeat(65)] {
            assert_eq!(links.url(not_an_id), None, "{not_an_id:?}");
        }
    }

    #[test]
    fn a_configured_template_wins_over_the_remote_and_neither_means_no_links() {
        let configured = "https://git.example.com/c/{sha}".parse().ok();
        let links = CommitLinks::new(configured, Some("git@github.com:acme/config.git"));
        assert_eq!(
            links.url("abcd1234"),
            Some("https://git.example.com/c/abcd1234".to_owned())
        );
        let derived = CommitLinks::new(None, Some("git@github.com:acme/config.git"));
        assert_eq!(
            derived.url("abcd1234"),
            Some("https://github.com/acme/config/commit/abcd1234".to_owned())
        );
        assert_eq!(
            CommitLinks::new(None, Some("/srv/git/config.git")).url("abcd1234"),
            None
        );
        assert_eq!(CommitLinks::default().url("abcd1234"), None);
    }
}
