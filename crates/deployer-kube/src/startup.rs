//! Turning validated settings into a kube client, once, at start-up.
//!
//! Every problem is reported with the key of the offending setting (`clusters[1].kubeconfig`),
//! so that a broken kubeconfig stops the service at start instead of failing deployments
//! later. Texts quoted from a kubeconfig never carry its credentials.

use std::path::Path;
use std::time::Duration;

use deployer_core::model::ClusterKey;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig, KubeconfigError};
use secrecy::ExposeSecret;

use crate::error::{Redactor, describe};
use crate::settings::{ClusterSettings, Source};

/// Why the configured clusters cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    /// A setting is invalid; `key` names it.
    #[error("invalid setting `{key}`: {message}")]
    InvalidSetting {
        /// The setting's path (`clusters[0].kubeconfig`).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Two entries name the same `(region, cluster)`.
    #[error("invalid setting `clusters[{index}]`: cluster `{key}` is already configured by `clusters[{first}]`")]
    DuplicateCluster {
        /// The second entry.
        index: usize,
        /// The first entry.
        first: usize,
        /// The pair they share.
        key: ClusterKey,
    },
}

impl StartupError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StartupError::InvalidSetting { .. } => "invalid_setting",
            StartupError::DuplicateCluster { .. } => "duplicate_cluster",
        }
    }
}

/// A client ready to use, with what is needed to describe its failures safely.
pub struct Connection {
    /// The client.
    pub client: kube::Client,
    /// The API server's address, without any user information.
    pub server: String,
    /// Hides this cluster's credentials in messages.
    pub redactor: Redactor,
}

/// The client for the `index`-th cluster entry. `home` is used for `~` expansion.
///
/// # Errors
/// [`StartupError::InvalidSetting`] naming the key when the settings are inconsistent, the
/// kubeconfig cannot be read or parsed, its context does not exist, it asks to skip TLS
/// verification, or the client cannot be built from it.
pub async fn connect(
    settings: &ClusterSettings,
    index: usize,
    home: Option<&Path>,
) -> Result<Connection, StartupError> {
    let source = settings.source(index, home)?;
    let invalid = |field: &str, message: String| StartupError::InvalidSetting {
        key: format!("clusters[{index}].{field}"),
        message,
    };
    let (mut config, mut secrets, key_field) = match &source {
        Source::Kubeconfig { path, context } => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|err| invalid("kubeconfig", kubeconfig_read_error(path, &err)))?;
            let secrets: Vec<String> = kubeconfig
                .auth_infos
                .iter()
                .filter_map(|named| named.auth_info.as_ref())
                .flat_map(auth_secrets)
                .collect();
            let redactor = Redactor::new(secrets.clone());
            let options = KubeConfigOptions {
                context: context.clone(),
                cluster: None,
                user: None,
            };
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|err| {
                    let field = match (&err, context) {
                        (KubeconfigError::LoadContext(_), Some(_)) => "context",
                        _ => "kubeconfig",
                    };
                    invalid(
                        field,
                        format!(
                            "cannot use kubeconfig `{}`: {}",
                            path.display(),
                            redactor.clean(&describe(&err))
                        ),
                    )
                })?;
            (config, secrets, "kubeconfig")
        }
        Source::InCluster => {
            let config = kube::Config::incluster().map_err(|err| {
                invalid(
                    "in_cluster",
                    format!("cannot use the pod's service account: {}", describe(&err)),
                )
            })?;
            (config, Vec::new(), "in_cluster")
        }
    };
    if config.accept_invalid_certs {
        return Err(invalid(
            key_field,
            "the cluster entry sets `insecure-skip-tls-verify`, which is not supported: certificates are always \
             verified; give the cluster's CA as `certificate-authority-data` instead"
                .to_owned(),
        ));
    }
    secrets.extend(auth_secrets(&config.auth_info));
    let redactor = Redactor::new(secrets);
    let server = display_server(&config.cluster_url);
    config.default_namespace.clone_from(&settings.namespace);
    config.connect_timeout = Some(settings.request_timeout.min(Duration::from_secs(10)));
    // Each request is timed as a whole by the transport; watches rely on the watcher's idle
    // timeout. A socket read timeout would cut quiet watches short.
    config.read_timeout = None;
    config.write_timeout = Some(settings.request_timeout);
    // Retries are ours: bounded, and aware of which requests may be repeated.
    config.default_retry = false;
    install_crypto_provider();
    let client = kube::Client::try_from(config).map_err(|err| {
        invalid(
            key_field,
            format!("cannot build a client: {}", redactor.clean(&describe(&err))),
        )
    })?;
    Ok(Connection {
        client,
        server,
        redactor,
    })
}

/// The secrets an auth entry holds.
fn auth_secrets(auth: &AuthInfo) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some(token) = &auth.token {
        secrets.push(token.expose_secret().to_owned());
    }
    if let Some(password) = &auth.password {
        secrets.push(password.expose_secret().to_owned());
    }
    if let Some(key) = &auth.client_key_data {
        secrets.push(key.expose_secret().to_owned());
    }
    secrets
}

/// Why a kubeconfig file could not be read. Parser messages may quote values from the file,
/// and a value could be a credential, so quoted text is left out.
fn kubeconfig_read_error(path: &Path, err: &KubeconfigError) -> String {
    match err {
        KubeconfigError::ReadConfig(io, _) => format!("cannot read kubeconfig `{}`: {io}", path.display()),
        other => format!(
            "`{}` is not a valid kubeconfig: {}",
            path.display(),
            without_quoted_text(&describe(other))
        ),
    }
}

/// `text` with every `"…"` or `'…'` quotation replaced by `"…"`.
fn without_quoted_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<char> = None;
    for c in text.chars() {
        match open {
            Some(q) if c == q => {
                out.push('…');
                out.push(q);
                open = None;
            }
            Some(_) => {}
            None if c == '"' || c == '\'' => {
                out.push(c);
                open = Some(c);
            }
            None => out.push(c),
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out
}

/// `scheme://host:port` of the API server, dropping any user information.
fn display_server(url: &http::Uri) -> String {
    let scheme = url.scheme_str().unwrap_or("https");
    let host = url.host().unwrap_or("");
    match url.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

/// rustls needs a process-wide crypto provider when more than one is compiled in; ring is the
/// one kube is built with here. An already installed provider is kept.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_left_out_of_parser_messages() {
        assert_eq!(
            without_quoted_text(r#"invalid type: string "sk-live-123", expected a map at line 3"#),
            r#"invalid type: string "…", expected a map at line 3"#
        );
        assert_eq!(without_quoted_text("unterminated 'abc"), "unterminated '…");
    }

    #[test]
    fn the_server_is_shown_without_user_information() -> Result<(), http::uri::InvalidUri> {
        let url: http::Uri = "https://admin:pw@10.0.0.1:6443/".parse()?;
        assert_eq!(display_server(&url), "https://10.0.0.1:6443");
        Ok(())
    }
}
