//! Turning validated settings into a kube client, once, at start-up.
//!
//! Every problem is reported with the key of the offending setting (`clusters[1].kubeconfig`),
//! so that a broken kubeconfig stops the service at start instead of failing deployments
//! later. Texts quoted from a kubeconfig never carry its credentials.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use deployer_core::model::ClusterKey;
use hyper_rustls::{DefaultServerNameResolver, FixedServerNameResolver, HttpsConnector, ResolveServerName};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ClientBuilder, ConfigExt, RustlsTlsError};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig, KubeconfigError};
use rustls::pki_types::ServerName;
use secrecy::ExposeSecret;
use tower::{BoxError, ServiceBuilder};

use crate::error::{Redactor, describe};
use crate::settings::{ClusterSettings, Source};
use crate::tls::TlsConfigs;

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

/// A kube client that is put together when first used.
///
/// Everything that can fail is checked when the cluster is set up; what remains, kube's
/// request buffer with its task and its queue (about 10 KB), is only paid for by clusters
/// that are deployed to. Cloning shares the one client.
#[derive(Clone)]
pub struct LazyClient {
    inner: Arc<LazyInner>,
}

/// Finishes a client.
type Finish = Box<dyn FnOnce() -> kube::Client + Send>;

struct LazyInner {
    client: OnceLock<kube::Client>,
    finish: Mutex<Option<Finish>>,
}

impl LazyClient {
    /// A client that is ready already.
    pub fn ready(client: kube::Client) -> Self {
        Self {
            inner: Arc::new(LazyInner {
                client: OnceLock::from(client),
                finish: Mutex::new(None),
            }),
        }
    }

    /// A client that `finish` puts together on first use.
    pub fn deferred(finish: impl FnOnce() -> kube::Client + Send + 'static) -> Self {
        Self {
            inner: Arc::new(LazyInner {
                client: OnceLock::new(),
                finish: Mutex::new(Some(Box::new(finish))),
            }),
        }
    }

    /// The client, put together now if this is its first use. Must be called within the
    /// Tokio runtime (kube's buffer spawns its task).
    ///
    /// # Errors
    /// [`ClientUnavailable`] when an earlier attempt to put it together was interrupted.
    pub fn get(&self) -> Result<&kube::Client, ClientUnavailable> {
        if let Some(client) = self.inner.client.get() {
            return Ok(client);
        }
        // The lock makes concurrent first uses wait for one another; the first one finishes.
        let mut finish = self.inner.finish.lock().map_err(|_| ClientUnavailable)?;
        if let Some(client) = self.inner.client.get() {
            return Ok(client);
        }
        let finish = finish.take().ok_or(ClientUnavailable)?;
        Ok(self.inner.client.get_or_init(finish))
    }

    /// Whether the client has been put together.
    pub fn is_ready(&self) -> bool {
        self.inner.client.get().is_some()
    }
}

impl From<kube::Client> for LazyClient {
    fn from(client: kube::Client) -> Self {
        Self::ready(client)
    }
}

/// A client whose construction was interrupted earlier (it panicked) and cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client of this cluster could not be set up")]
pub struct ClientUnavailable;

impl ClientUnavailable {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        "client_unavailable"
    }
}

/// A client ready to use, with what is needed to describe its failures safely.
pub struct Connection {
    /// The client.
    pub client: LazyClient,
    /// The API server's address, without any user information.
    pub server: String,
    /// Hides this cluster's credentials in messages.
    pub redactor: Redactor,
}

/// What the clusters set up together share: each kubeconfig file is read once (with the
/// redactor of its secrets), and clients trusting the same CAs share a TLS configuration.
#[derive(Debug, Default)]
pub struct Shared {
    kubeconfigs: HashMap<PathBuf, (Kubeconfig, Redactor)>,
    tls: TlsConfigs,
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
    connect_shared(settings, index, home, &mut Shared::default()).await
}

/// [`connect`], reusing what earlier entries of the same start-up have read or built.
///
/// # Errors
/// As [`connect`].
pub async fn connect_shared(
    settings: &ClusterSettings,
    index: usize,
    home: Option<&Path>,
    shared: &mut Shared,
) -> Result<Connection, StartupError> {
    let source = settings.source(index, home)?;
    let invalid = |field: &str, message: String| StartupError::InvalidSetting {
        key: format!("clusters[{index}].{field}"),
        message,
    };
    let (mut config, file_redactor, key_field) = match &source {
        Source::Kubeconfig { path, context } => {
            let (kubeconfig, redactor) = match shared.kubeconfigs.get(path) {
                Some(read) => read.clone(),
                None => {
                    let kubeconfig = Kubeconfig::read_from(path)
                        .map_err(|err| invalid("kubeconfig", kubeconfig_read_error(path, &err)))?;
                    let redactor = Redactor::new(
                        kubeconfig
                            .auth_infos
                            .iter()
                            .filter_map(|named| named.auth_info.as_ref())
                            .flat_map(auth_secrets),
                    );
                    shared
                        .kubeconfigs
                        .insert(path.clone(), (kubeconfig.clone(), redactor.clone()));
                    (kubeconfig, redactor)
                }
            };
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
            (config, redactor, "kubeconfig")
        }
        Source::InCluster => {
            let config = kube::Config::incluster().map_err(|err| {
                invalid(
                    "in_cluster",
                    format!("cannot use the pod's service account: {}", describe(&err)),
                )
            })?;
            (config, Redactor::default(), "in_cluster")
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
    let redactor = file_redactor.extended(auth_secrets(&config.auth_info));
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
    let cannot_build = |message: String| {
        invalid(
            key_field,
            format!("cannot build a client: {}", redactor.clean(&message)),
        )
    };
    let client = build_client(config, &mut shared.tls).map_err(|err| cannot_build(describe(&err)))?;
    Ok(Connection {
        client,
        server,
        redactor,
    })
}

/// Whether the client stack of [`build_client`] covers everything `config` asks for; the
/// rest (a proxy, a CA file re-read for rotation, exec plugins that may hand out client
/// certificates, kube's own retries) is left to kube's builder.
fn own_stack_fits(config: &kube::Config) -> bool {
    config.proxy_url.is_none()
        && config.root_cert_file.is_none()
        && !config.accept_invalid_certs
        && config.auth_info.exec.is_none()
        && !config.default_retry
}

/// The idle connections kept to one cluster. Requests beyond one at a time (up to
/// `max_requests_in_flight`, watches aside) open connections of their own, which are closed
/// when they are done instead of being kept for the next burst. Each HTTP/1 connection holds
/// about 25 KiB of buffers and a task (more with TLS); kept at up to four per cluster they
/// were the largest part of the memory with 100 clusters and 1,000 deploys in flight
/// (docs/BENCHMARKS.md), against a connection set-up for each request of a burst.
const MAX_IDLE_CONNECTIONS: usize = 1;

/// The read buffer of each connection to a cluster. hyper's default buffer starts at 8 KiB and
/// grows with full reads up to about 400 KiB; a watch that once received a burst of events
/// keeps its grown buffer for as long as it stays open, and with a hundred clusters the
/// connections' buffers were the largest part of the heap (docs/BENCHMARKS.md). A fixed 8 KiB
/// reads bigger answers in more reads instead. It also bounds a response's head (status line
/// and headers) to 8 KiB, the limit API servers and proxies commonly keep to themselves.
const READ_BUFFER: usize = 8 * 1024;

/// Builds the client of one cluster: kube's default stack (base URL, authentication, extra
/// headers, timeouts, the HTTPS-or-HTTP connector) around a TLS configuration shared with
/// the clusters trusting the same CAs. An `https` cluster without a CA has the system's
/// roots read now, so that a system without any fails at start-up as before.
fn build_client(config: kube::Config, tls: &mut TlsConfigs) -> Result<LazyClient, BuildError> {
    if !own_stack_fits(&config) {
        return kube::Client::try_from(config)
            .map(LazyClient::ready)
            .map_err(BuildError::Kube);
    }
    let tls_config = tls.client_config(&config).map_err(BuildError::Kube)?;
    if config.root_cert.is_none()
        && config.cluster_url.scheme() == Some(&http::uri::Scheme::HTTPS)
        && let Some(system) = tls.system_roots()
    {
        system.verifier().map_err(BuildError::SystemRoots)?;
    }
    let resolver: Arc<dyn ResolveServerName + Send + Sync> = match &config.tls_server_name {
        Some(name) => {
            let name = ServerName::try_from(name.clone())
                .map_err(|err| BuildError::Kube(kube::Error::RustlsTls(RustlsTlsError::InvalidServerName(err))))?;
            Arc::new(FixedServerNameResolver::new(name))
        }
        None => Arc::new(DefaultServerNameResolver::default()),
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = HttpsConnector::new(http, tls_config, false, resolver);
    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let mut builder = hyper_util::client::legacy::Builder::new(TokioExecutor::new());
    builder.pool_max_idle_per_host(MAX_IDLE_CONNECTIONS);
    builder.http1_read_buf_exact_size(READ_BUFFER);
    let client: hyper_util::client::legacy::Client<_, Body> = builder.build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().map_err(BuildError::Kube)?)
        .layer(config.extra_headers_layer().map_err(BuildError::Kube)?)
        .map_err(BoxError::from)
        .service(client);
    let namespace = config.default_namespace;
    Ok(LazyClient::deferred(move || {
        ClientBuilder::new(service, namespace).build()
    }))
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    /// kube refused the configuration.
    #[error(transparent)]
    Kube(kube::Error),
    /// The cluster has no CA and the system's root certificates cannot be used.
    #[error("cannot use the system's root certificates: {0}")]
    SystemRoots(#[source] rustls::Error),
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
pub(crate) fn install_crypto_provider() {
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

    #[tokio::test]
    async fn a_deferred_client_is_put_together_once_on_first_use() -> Result<(), Box<dyn std::error::Error>> {
        install_crypto_provider();
        let config = kube::Config::new("http://127.0.0.1:1".parse()?);
        let built = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&built);
        let lazy = LazyClient::deferred(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            kube::Client::try_from(config).unwrap_or_else(|e| panic!("a plain client builds: {e}"))
        });
        let copy = lazy.clone();
        assert!(!lazy.is_ready());
        assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 0);
        lazy.get()?;
        copy.get()?;
        assert!(copy.is_ready());
        assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 1);
        Ok(())
    }

    #[test]
    fn the_server_is_shown_without_user_information() -> Result<(), http::uri::InvalidUri> {
        let url: http::Uri = "https://admin:pw@10.0.0.1:6443/".parse()?;
        assert_eq!(display_server(&url), "https://10.0.0.1:6443");
        Ok(())
    }
}
