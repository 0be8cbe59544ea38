//! HTTPS with rustls. The certificate and key are read from PEM files and read again whenever
//! either file's modification time changes (checked every `reload_interval`), so a renewed
//! certificate (cert-manager, certbot) is served without a restart. A file that cannot be read
//! or does not parse keeps the certificate in force and logs a warning.
//!
//! Handshakes run in their own tasks, each bounded by [`HANDSHAKE_TIMEOUT`], so a client that
//! opens a connection and sends nothing holds up nobody else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Deserializer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client gets to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[server.tls]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain, PEM, leaf first.
    pub cert_file: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// How often the files' modification times are checked (default `10s`).
    #[serde(default = "default_reload_interval", deserialize_with = "duration")]
    pub reload_interval: Duration,
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(10)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let parsed = humantime::parse_duration(&text).map_err(serde::de::Error::custom)?;
    if parsed.is_zero() {
        return Err(serde::de::Error::custom("must be longer than zero"));
    }
    Ok(parsed)
}

/// Why the certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no PEM of the expected kind.
    #[error("cannot read `{path}`: {reason}")]
    UnreadableFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the key or the configuration (its message quotes no key material).
    #[error("the certificate or key is not usable: {0}")]
    Refused(rustls::Error),
}

impl TlsError {
    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TlsError::UnreadableFile { .. } => "unreadable_file",
            TlsError::Refused(_) => "refused",
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn unreadable(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::UnreadableFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads and checks the certificate chain and key of `settings`.
///
/// # Errors
/// [`TlsError`] naming the file, or rustls's refusal.
pub fn load(settings: &TlsSettings, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&settings.cert_file)
        .map_err(|e| unreadable(&settings.cert_file, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(&settings.cert_file, e))?;
    if chain.is_empty() {
        return Err(unreadable(&settings.cert_file, "no certificate in it"));
    }
    // The key's parse error is not shown: it might quote key material.
    let key = PrivateKeyDer::from_pem_file(&settings.key_file)
        .map_err(|_| unreadable(&settings.key_file, "no PEM private key in it"))?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(TlsError::Refused)?;
    Ok(Arc::new(certified))
}

/// Checks that the certificate and key of `settings` can be loaded (at start-up, so that a
/// bad file is reported with the configuration's other problems).
///
/// # Errors
/// [`TlsError`] naming the file, or rustls's refusal.
pub fn check(settings: &TlsSettings) -> Result<(), TlsError> {
    load(settings, &provider()).map(|_| ())
}

fn modified(settings: &TlsSettings) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&settings.cert_file)?, m(&settings.key_file)?))
}

/// The certificate in force, replaced when its files change.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

impl ReloadingCert {
    /// Loads the certificate and starts watching its files from a task of the current
    /// runtime; the task ends when the returned value is dropped.
    ///
    /// # Errors
    /// [`TlsError`] when the first load fails.
    pub fn watch(settings: TlsSettings) -> Result<Arc<Self>, TlsError> {
        let provider = provider();
        let first = load(&settings, &provider)?;
        let this = Arc::new(Self {
            current: RwLock::new(first),
        });
        let weak: Weak<Self> = Arc::downgrade(&this);
        let mut seen = modified(&settings);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(settings.reload_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { return };
                let now = modified(&settings);
                if now.is_none() || now == seen {
                    continue;
                }
                match load(&settings, &provider) {
                    Ok(key) => {
                        *this.current.write().unwrap_or_else(PoisonError::into_inner) = key;
                        seen = now;
                        tracing::info!(message = "TLS certificate reloaded.", cert_file = %settings.cert_file.display());
                    }
                    Err(error) => {
                        // Tried again at the next tick: the files may be half written.
                        tracing::warn!(message = "Cannot reload the TLS certificate; the previous one stays in force.", %error);
                    }
                }
            }
        });
        Ok(this)
    }
}

/// The rustls server configuration serving `cert`, speaking HTTP/1.1.
///
/// # Errors
/// [`TlsError::Refused`] when rustls has no safe protocol version with the provider.
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Refused)?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener that hands out connections once their TLS handshake is done.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    _cert: Arc<ReloadingCert>,
}

impl TlsListener {
    /// Serves TLS on `listener` with the certificate of `settings`.
    ///
    /// # Errors
    /// [`TlsError`] when the certificate cannot be loaded.
    pub fn new(listener: TcpListener, settings: &TlsSettings) -> Result<Self, TlsError> {
        let local = listener
            .local_addr()
            .map_err(|e| unreadable(Path::new("(listener)"), e))?;
        let cert = ReloadingCert::watch(settings.clone())?;
        let acceptor = TlsAcceptor::from(server_config(cert.clone())?);
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = tx.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (stream, addr) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::warn!(message = "Accepting a connection failed.", %error);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(message = "TLS handshake failed.", client = %addr, %error);
                        }
                        Err(_) => tracing::debug!(message = "TLS handshake timed out.", client = %addr),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            _cert: cert,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accepting task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
