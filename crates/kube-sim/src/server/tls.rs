//! The secured mode's certificates: a fresh self-signed CA and a serving certificate for
//! `127.0.0.1` and `localhost`, signed by it.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why the TLS set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating a key or certificate failed.
    #[error("failed to generate the serving certificate")]
    Certificate(#[source] rcgen::Error),
    /// rustls refused the configuration.
    #[error("failed to build the TLS configuration")]
    Config(#[source] rustls::Error),
}

impl TlsError {
    /// A stable name for this error, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Certificate(_) => "certificate",
            Self::Config(_) => "config",
        }
    }
}

/// The generated material: the server configuration and the CA to trust.
pub(crate) struct TlsMaterial {
    pub server_config: Arc<rustls::ServerConfig>,
    /// PEM of the CA certificate, for `certificate-authority-data`.
    pub ca_pem: String,
}

/// Generates a CA and a serving certificate and builds the rustls configuration.
pub(crate) fn generate(cluster_name: &str) -> Result<TlsMaterial, TlsError> {
    let ca_key = KeyPair::generate().map_err(TlsError::Certificate)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Certificate)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("kube-sim-ca@{cluster_name}"));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(TlsError::Certificate)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(TlsError::Certificate)?;
    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(TlsError::Certificate)?;
    server_params.distinguished_name.push(DnType::CommonName, "kube-sim");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .map_err(TlsError::Certificate)?;

    let chain = vec![CertificateDer::from(server_cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        server_config: Arc::new(config),
        ca_pem: ca_cert.pem(),
    })
}
