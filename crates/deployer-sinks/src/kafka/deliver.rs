//! Producing records with rskafka.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rskafka::BackoffConfig;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use crate::cloudevents::Encoder;
use crate::delivery::{Delivered, DeliveryError, Sink};
use crate::http::shorten;
use crate::outbox::{OutboxItem, SinkName};

use super::config::{KafkaConfig, SaslMechanism};
use super::encode::{KafkaRecord, partition_for, record};

/// An open connection with what we learnt about the topic.
struct Connection {
    client: Client,
    partitions: Option<i32>,
    producers: HashMap<i32, Arc<PartitionClient>>,
}

/// The Kafka sink.
pub struct KafkaSink {
    config: KafkaConfig,
    encoder: Encoder,
    connection: Mutex<Option<Connection>>,
}

impl KafkaSink {
    /// A sink for `config`. It connects on the first delivery, so the service starts while
    /// the brokers are down.
    pub fn new(config: KafkaConfig, encoder: Encoder) -> Self {
        Self {
            config,
            encoder,
            connection: Mutex::new(None),
        }
    }

    /// Produces one record, connecting first if needed.
    async fn produce(&self, slot: &mut Option<Connection>, rec: KafkaRecord) -> Result<(), DeliveryError> {
        if slot.is_none() {
            *slot = Some(self.connect().await?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(DeliveryError::retryable("kafka_connect", "no connection"));
        };
        let partitions = match conn.partitions {
            Some(n) => n,
            None => {
                // Listing all topics never auto-creates ours, unlike asking for its metadata.
                let topics = conn
                    .client
                    .list_topics()
                    .await
                    .map_err(|e| classify("list topics", &e))?;
                let topic = topics
                    .iter()
                    .find(|t| t.name == self.config.topic.as_str())
                    .ok_or_else(|| {
                        DeliveryError::retryable(
                            "kafka_topic_missing",
                            format!("topic `{}` does not exist", self.config.topic),
                        )
                    })?;
                let n = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX).max(1);
                conn.partitions = Some(n);
                n
            }
        };
        let partition = partition_for(rec.key.as_bytes(), partitions);
        let producer = match conn.producers.get(&partition) {
            Some(p) => Arc::clone(p),
            None => {
                let p = conn
                    .client
                    .partition_client(self.config.topic.as_str(), partition, UnknownTopicHandling::Error)
                    .await
                    .map_err(|e| classify("find the partition leader", &e))?;
                let p = Arc::new(p);
                conn.producers.insert(partition, Arc::clone(&p));
                p
            }
        };
        let record = rskafka::record::Record {
            key: Some(rec.key.into_bytes()),
            value: Some(rec.value),
            headers: rec.headers,
            timestamp: rec.timestamp,
        };
        producer
            .produce(vec![record], Compression::NoCompression)
            .await
            .map_err(|e| classify("produce", &e))?;
        Ok(())
    }

    async fn connect(&self) -> Result<Connection, DeliveryError> {
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
            deadline: Some(self.config.timeout),
        };
        let mut builder = ClientBuilder::new(self.config.bootstrap_servers.clone())
            .client_id(self.config.client_id.clone())
            .backoff_config(backoff);
        if let Some(tls) = &self.config.tls {
            builder = builder.tls_config(Arc::clone(tls));
        }
        if let Some((mechanism, user, password)) = &self.config.sasl {
            let creds = Credentials::new(user.clone(), password.expose_secret().to_owned());
            builder = builder.sasl_config(match mechanism {
                SaslMechanism::Plain => SaslConfig::Plain(creds),
                SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(creds),
                SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(creds),
            });
        }
        let client = builder.build().await.map_err(|e| classify("connect", &e))?;
        Ok(Connection {
            client,
            partitions: None,
            producers: HashMap::new(),
        })
    }
}

/// Sorts rskafka errors into retryable and permanent ones: the request or the credentials
/// being refused is permanent, anything about connections, leaders or load is retryable.
fn classify(step: &str, err: &KafkaError) -> DeliveryError {
    let message = format!("failed to {step}: {}", shorten(&err.to_string(), 300));
    match err {
        KafkaError::ServerError { protocol_error, .. } => match protocol_error {
            ProtocolError::MessageTooLarge
            | ProtocolError::RecordListTooLarge
            | ProtocolError::InvalidRecord
            | ProtocolError::CorruptMessage
            | ProtocolError::InvalidTopicException
            | ProtocolError::TopicAuthorizationFailed
            | ProtocolError::ClusterAuthorizationFailed
            | ProtocolError::SaslAuthenticationFailed
            | ProtocolError::UnsupportedSaslMechanism
            | ProtocolError::UnsupportedVersion
            | ProtocolError::InvalidRequiredAcks
            | ProtocolError::PolicyViolation => DeliveryError::permanent("kafka_rejected", message),
            _ => DeliveryError::retryable("kafka_produce", message),
        },
        _ => DeliveryError::retryable("kafka_connect", message),
    }
}

#[async_trait]
impl Sink for KafkaSink {
    fn name(&self) -> &SinkName {
        &self.config.name
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<Delivered, DeliveryError> {
        let event = self.encoder.encode(&item.event);
        let rec = record(&event, item.event.at);
        let mut slot = self.connection.lock().await;
        let outcome = tokio::time::timeout(self.config.timeout, self.produce(&mut slot, rec)).await;
        let result = match outcome {
            Ok(result) => result,
            Err(_) => Err(DeliveryError::retryable(
                "timeout",
                format!(
                    "producing took longer than {}",
                    humantime::format_duration(self.config.timeout)
                ),
            )),
        };
        if result.is_err() {
            // Start afresh next time: new connection, new metadata, new partition count.
            *slot = None;
        }
        result.map(|()| Delivered::Sent)
    }
}

#[cfg(test)]
mod tests {
    use rskafka::client::error::RequestContext;

    use super::*;

    fn server_error(protocol_error: ProtocolError) -> KafkaError {
        KafkaError::ServerError {
            protocol_error,
            error_message: None,
            request: RequestContext::Topic("deployments".to_owned()),
            response: None,
            is_virtual: false,
        }
    }

    #[test]
    fn refused_requests_are_permanent_and_broker_trouble_is_retried() {
        for permanent in [
            ProtocolError::MessageTooLarge,
            ProtocolError::TopicAuthorizationFailed,
            ProtocolError::SaslAuthenticationFailed,
        ] {
            assert!(!classify("produce", &server_error(permanent)).retryable);
        }
        for retryable in [
            ProtocolError::NotLeaderOrFollower,
            ProtocolError::RequestTimedOut,
            ProtocolError::NotEnoughReplicas,
        ] {
            assert!(classify("produce", &server_error(retryable)).retryable);
        }
        assert!(classify("connect", &KafkaError::Timeout).retryable);
    }
}
