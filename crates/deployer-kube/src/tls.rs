//! TLS configurations shared between the clients of several clusters.
//!
//! kube builds one rustls configuration per client. Without a CA in the kubeconfig that
//! means reading and parsing every root certificate of the system, about 100 KB kept per
//! cluster, and every configuration carries its own session cache. Here clusters that trust
//! the same CAs and present no client certificate share one configuration, and the system's
//! roots are loaded once, the first time a server certificate has to be checked against them
//! (at start-up for an `https` cluster without a CA, never for a plain `http` one).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use kube::client::ConfigExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Verifies servers against the system's root certificates, loading them on first use.
///
/// Verdicts are those of [`rustls_platform_verifier::Verifier`], the verifier kube uses when a
/// kubeconfig names no CA; only the moment the roots are read differs.
#[derive(Debug)]
pub struct SystemRoots {
    provider: Arc<CryptoProvider>,
    loaded: OnceLock<Result<Arc<rustls_platform_verifier::Verifier>, rustls::Error>>,
}

impl SystemRoots {
    /// A verifier using `provider`'s signature algorithms; nothing is read yet.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self {
            provider,
            loaded: OnceLock::new(),
        }
    }

    /// The verifier over the system's roots, reading them the first time.
    ///
    /// # Errors
    /// The platform verifier's error when the system has no usable root certificate (the
    /// failure is kept: later calls give it again without reading the system's roots anew).
    pub fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        let loaded = self
            .loaded
            .get_or_init(|| rustls_platform_verifier::Verifier::new(Arc::clone(&self.provider)).map(Arc::new));
        match loaded {
            Ok(verifier) => Ok(verifier),
            Err(err) => Err(err.clone()),
        }
    }

    /// Whether the roots have been read.
    pub fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    // Signatures are checked with the provider's algorithms alone, as the platform verifier
    // does; they need no root certificate.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether a client configuration only depends on the CAs it trusts, so that it can be
/// shared: no client certificate (from the kubeconfig or an exec plugin) is presented.
pub fn shareable(config: &kube::Config) -> bool {
    let auth = &config.auth_info;
    auth.client_certificate.is_none()
        && auth.client_certificate_data.is_none()
        && auth.client_key.is_none()
        && auth.client_key_data.is_none()
        && auth.exec.is_none()
}

/// The TLS configurations built so far, one per distinct CA bundle, and the system's roots.
#[derive(Debug, Default)]
pub struct TlsConfigs {
    system: Option<Arc<SystemRoots>>,
    by_roots: HashMap<Option<Vec<Vec<u8>>>, Arc<ClientConfig>>,
}

impl TlsConfigs {
    /// The rustls configuration for `config`: the one already built for the same CAs when
    /// `config` presents no client certificate, a new one otherwise. Without a CA, servers
    /// are verified against the system's roots, read on first use.
    ///
    /// # Errors
    /// kube's error when the CA bundle or the client identity cannot be used.
    pub fn client_config(&mut self, config: &kube::Config) -> Result<Arc<ClientConfig>, kube::Error> {
        let shared = shareable(config);
        if shared && let Some(found) = self.by_roots.get(&config.root_cert) {
            return Ok(Arc::clone(found));
        }
        let built = Arc::new(self.build(config)?);
        if shared {
            self.by_roots.insert(config.root_cert.clone(), Arc::clone(&built));
        }
        Ok(built)
    }

    /// The system's roots, as far as they are needed yet.
    pub fn system_roots(&self) -> Option<&Arc<SystemRoots>> {
        self.system.as_ref()
    }

    fn build(&mut self, config: &kube::Config) -> Result<ClientConfig, kube::Error> {
        if config.root_cert.is_some() {
            return config.rustls_client_config();
        }
        // kube would load the system's roots here; an empty bundle gets the same
        // configuration (client identity included) without them, and the verifier is then
        // replaced by one that reads them when first needed.
        let mut without_roots = config.clone();
        without_roots.root_cert = Some(Vec::new());
        let mut built = without_roots.rustls_client_config()?;
        let system = self
            .system
            .get_or_insert_with(|| Arc::new(SystemRoots::new(Arc::clone(built.crypto_provider()))));
        built
            .dangerous()
            .set_certificate_verifier(Arc::clone(system) as Arc<dyn ServerCertVerifier>);
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, roots: Option<Vec<Vec<u8>>>) -> Result<kube::Config, http::uri::InvalidUri> {
        let mut config = kube::Config::new(url.parse()?);
        config.root_cert = roots;
        Ok(config)
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    #[test]
    fn clusters_trusting_the_same_cas_share_one_configuration() -> Result<(), Box<dyn std::error::Error>> {
        crate::startup::install_crypto_provider();
        let mut configs = TlsConfigs::default();
        let a = configs.client_config(&config("http://10.0.0.1:8080", None)?)?;
        let b = configs.client_config(&config("https://10.0.0.2:6443", None)?)?;
        assert!(Arc::ptr_eq(&a, &b));
        Ok(())
    }

    #[test]
    fn a_client_certificate_gets_a_configuration_of_its_own() -> Result<(), Box<dyn std::error::Error>> {
        let mut plain = config("http://10.0.0.1:8080", None)?;
        assert!(shareable(&plain));
        plain.auth_info.client_certificate = Some("/etc/kube/client.crt".to_owned());
        assert!(!shareable(&plain));
        Ok(())
    }

    #[test]
    fn the_system_roots_are_not_read_until_a_certificate_is_checked() -> Result<(), Box<dyn std::error::Error>> {
        crate::startup::install_crypto_provider();
        let mut configs = TlsConfigs::default();
        configs.client_config(&config("http://10.0.0.1:8080", None)?)?;
        let system = configs.system_roots().ok_or("no system roots verifier installed")?;
        assert!(!system.is_loaded());
        Ok(())
    }

    #[test]
    fn signature_schemes_come_from_the_provider_without_reading_roots() {
        let roots = SystemRoots::new(provider());
        assert_eq!(
            roots.supported_verify_schemes(),
            provider().signature_verification_algorithms.supported_schemes()
        );
        assert!(!roots.is_loaded());
    }
}
