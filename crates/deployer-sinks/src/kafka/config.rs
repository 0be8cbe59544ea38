//! The `[sinks.kafka]` section.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use secrecy::SecretString;
use serde::Deserialize;

use crate::outbox::SinkName;
use crate::settings::SettingsError;

/// `[sinks.kafka]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// The sink's name (default `kafka`).
    #[serde(default = "default_name")]
    pub name: String,
    /// `host:port` of one or more brokers.
    pub bootstrap_servers: Vec<String>,
    /// The topic; it must exist.
    pub topic: String,
    /// The client id the brokers see (default `k8s-app-deployer`).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// `[sinks.kafka.tls]`: connect with TLS.
    #[serde(default)]
    pub tls: Option<KafkaTls>,
    /// `[sinks.kafka.sasl]`: authenticate with SASL.
    #[serde(default)]
    pub sasl: Option<KafkaSasl>,
    /// How long one delivery may take, connecting included.
    #[serde(default = "default_timeout", with = "crate::settings::duration")]
    pub timeout: Duration,
}

fn default_name() -> String {
    "kafka".to_owned()
}

fn default_client_id() -> String {
    "k8s-app-deployer".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `[sinks.kafka.tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTls {
    /// PEM certificates of the authorities to trust; the Mozilla root set when unset.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// A SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    /// `PLAIN` (use it only with TLS).
    #[serde(rename = "plain", alias = "PLAIN")]
    Plain,
    /// `SCRAM-SHA-256`.
    #[serde(rename = "scram-sha-256", alias = "SCRAM-SHA-256")]
    ScramSha256,
    /// `SCRAM-SHA-512`.
    #[serde(rename = "scram-sha-512", alias = "SCRAM-SHA-512")]
    ScramSha512,
}

/// `[sinks.kafka.sasl]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    /// `plain`, `scram-sha-256` or `scram-sha-512`.
    pub mechanism: SaslMechanism,
    /// The user.
    pub username: String,
    /// The password (prefer `password_file` or `password_env`).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// A file holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

/// A Kafka topic name: 1 to 249 ASCII letters, digits, `.`, `_` and `-`, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicName(String);

impl TopicName {
    /// Validates a topic name.
    ///
    /// # Errors
    /// A message saying which rule it breaks.
    pub fn new(name: &str) -> Result<Self, String> {
        let ok = !name.is_empty()
            && name.len() <= 249
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "invalid topic `{}`: use 1 to 249 letters, digits, `.`, `_` and `-`",
                name.escape_default()
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A checked Kafka configuration.
#[derive(Clone)]
pub struct KafkaConfig {
    /// The sink's name.
    pub name: SinkName,
    /// The bootstrap brokers.
    pub bootstrap_servers: Vec<String>,
    /// The topic.
    pub topic: TopicName,
    /// The client id.
    pub client_id: String,
    /// TLS, when enabled.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// SASL mechanism, user and password, when enabled.
    pub sasl: Option<(SaslMechanism, String, SecretString)>,
    /// The delivery timeout.
    pub timeout: Duration,
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("name", &self.name)
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("topic", &self.topic)
            .field("client_id", &self.client_id)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|(m, u, _)| (m, u)))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl KafkaConfig {
    /// A plain-text configuration without authentication, for tests and local brokers.
    pub fn plain(name: SinkName, bootstrap_servers: Vec<String>, topic: TopicName, timeout: Duration) -> Self {
        Self {
            name,
            bootstrap_servers,
            topic,
            client_id: default_client_id(),
            tls: None,
            sasl: None,
            timeout,
        }
    }
}

impl KafkaSettings {
    /// Checks the section, reads the password and the CA file.
    ///
    /// # Errors
    /// [`SettingsError`] naming every invalid key, or the unreadable secret or CA file.
    pub fn build(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<KafkaConfig, SettingsError> {
        let mut problems = Vec::new();
        let name = SinkName::new(&self.name)
            .map_err(|e| problems.push(format!("`sinks.kafka.name`: {e}")))
            .ok();
        let topic = TopicName::new(&self.topic)
            .map_err(|e| problems.push(format!("`sinks.kafka.topic`: {e}")))
            .ok();
        if self.bootstrap_servers.is_empty() {
            problems.push("`sinks.kafka.bootstrap_servers` must list at least one `host:port`".to_owned());
        }
        for server in &self.bootstrap_servers {
            let port_ok = server
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !port_ok {
                problems.push(format!(
                    "`sinks.kafka.bootstrap_servers`: `{}` is not `host:port`",
                    server.escape_default()
                ));
            }
        }
        if self.client_id.is_empty() {
            problems.push("`sinks.kafka.client_id` must not be empty".to_owned());
        }
        if self.timeout.is_zero() {
            problems.push("`sinks.kafka.timeout` must be positive".to_owned());
        }
        let (Some(name), Some(topic), true) = (name, topic, problems.is_empty()) else {
            return Err(SettingsError::Invalid { problems });
        };
        let sasl = match &self.sasl {
            None => None,
            Some(s) => {
                let password = crate::secret::resolve(
                    "sinks.kafka.sasl.password",
                    s.password.as_ref(),
                    s.password_file.as_deref(),
                    s.password_env.as_deref(),
                    lookup,
                )?
                .ok_or_else(|| {
                    SettingsError::invalid("`sinks.kafka.sasl` needs `password`, `password_file` or `password_env`")
                })?;
                if s.username.is_empty() {
                    return Err(SettingsError::invalid("`sinks.kafka.sasl.username` must not be empty"));
                }
                Some((s.mechanism, s.username.clone(), password))
            }
        };
        let tls = self.tls.as_ref().map(tls_config).transpose()?;
        Ok(KafkaConfig {
            name,
            bootstrap_servers: self.bootstrap_servers.clone(),
            topic,
            client_id: self.client_id.clone(),
            tls,
            sasl,
            timeout: self.timeout,
        })
    }
}

/// A rustls client configuration trusting the CA file, or the Mozilla roots.
fn tls_config(tls: &KafkaTls) -> Result<Arc<rustls::ClientConfig>, SettingsError> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            let unusable = |reason: String| SettingsError::CaFileUnusable {
                path: path.clone(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| unusable(e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| unusable(e.to_string()))?;
                roots.add(cert).map_err(|e| unusable(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(unusable("it holds no PEM certificate".to_owned()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SettingsError::invalid(format!("`sinks.kafka.tls`: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
