//! The event stream several replicas share: events are published to a NATS
//! JetStream stream by whichever replica (or external producer) receives
//! them, and every replica consumes the stream through its own durable
//! consumer (docs/scale-out.md).
//!
//! - **Durable on acknowledgement.** [`EventStream::publish`] returns once
//!   JetStream has stored every message (its publish acknowledgement; in a
//!   cluster, once the stream's replicas have it). A message carries its
//!   event id as `Nats-Msg-Id`, so a retried publish within the stream's
//!   duplicate window is answered as a duplicate, not stored twice.
//! - **At least once.** A [`Consumer`] is durable: the server remembers the
//!   last sequence it acknowledged, so a replica that was down resumes
//!   after it. A message not acknowledged within `ack_wait` is delivered
//!   again; the consumer side de-duplicates by event id.
//! - **Blocking.** The engine is synchronous: every call blocks its caller
//!   on an answer computed on this crate's own small runtime (a plain
//!   block, never a runtime inside a runtime, so a server handler's
//!   blocking task may call it).

mod consumer;
mod url;

pub use consumer::{Consumer, Delivery};
pub use url::redact;

use async_nats::jetstream::{self, consumer as js_consumer, stream};
use std::future::Future;
use std::time::Duration;
use url::{Credentials, check, credentials};

/// What went wrong talking to the stream, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The configuration cannot work (the operator's to fix).
    #[error("stream configuration: {0}")]
    Config(String),
    /// The server could not be reached, or refused the connection (wrong
    /// credentials, not JetStream-enabled): the operator's to fix.
    #[error("cannot connect to the event stream at {url}: {reason}")]
    Connect {
        /// The server's address, without a password.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// The server did not do what was asked in time (down, partitioned,
    /// out of storage): nothing was acknowledged.
    #[error("the event stream did not answer while {op}: {reason}")]
    Unavailable {
        /// What was being done.
        op: &'static str,
        /// What the client said.
        reason: String,
    },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, StreamError>;

/// Where the stream is and how it is kept.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `nats://[user:password@]host:port` (several separated by commas).
    pub url: String,
    /// The JetStream stream's name (created if missing).
    pub stream: String,
    /// The subject events are published on (the stream's only subject).
    pub subject: String,
    /// Copies of each message in a NATS cluster (1 on a single server).
    pub replicas: usize,
    /// How long messages are kept; the store is the system of record, so
    /// this only has to outlast the longest time every replica is down.
    pub max_age: Duration,
    /// Window in which a message id published again is a duplicate.
    pub duplicate_window: Duration,
    /// Longest wait for a connection, a publish acknowledgement or an API
    /// answer.
    pub timeout: Duration,
    /// The client's name as the server lists it (e.g. the replica's).
    pub client_name: String,
}

/// One message to publish: the event id (`Nats-Msg-Id`) and its JSON.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// De-duplication id.
    pub id: String,
    /// The body.
    pub payload: Vec<u8>,
}

/// JetStream's acknowledgement of one published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    /// The stream sequence that holds it (the earlier one for a duplicate).
    pub sequence: u64,
    /// Already in the stream (same id within the duplicate window).
    pub duplicate: bool,
}

/// A connection to the stream.
pub struct EventStream {
    config: StreamConfig,
    /// Drives the client; shut down in the background on drop.
    runtime: Option<tokio::runtime::Runtime>,
    client: async_nats::Client,
    js: jetstream::Context,
}

/// Whether `name` may name a durable consumer.
pub fn consumer_name_ok(name: &str) -> bool {
    url::plain_name(name) && name.len() <= 64
}

impl EventStream {
    /// Connects, and creates the stream if it does not exist (an existing
    /// one must carry the configured subject). Fails at once with the
    /// reason when the server cannot be reached or refuses the client.
    pub fn connect(config: StreamConfig) -> Result<Self> {
        check(&config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sommelier-nats")
            .enable_all()
            .build()
            .map_err(|e| StreamError::Unavailable {
                op: "starting the client's runtime",
                reason: e.to_string(),
            })?;
        let (url, credentials) = credentials(&config.url);
        let mut options = async_nats::ConnectOptions::new()
            .name(config.client_name.clone())
            .connection_timeout(config.timeout)
            .request_timeout(Some(config.timeout));
        match credentials {
            Some(Credentials::UserPassword(user, password)) => {
                options = options.user_and_password(user, password)
            }
            Some(Credentials::Token(token)) => options = options.token(token),
            None => {}
        }
        let client =
            block(runtime.handle(), async move { options.connect(url).await }).map_err(|e| {
                StreamError::Connect {
                    url: redact(&config.url),
                    reason: e.to_string(),
                }
            })?;
        // The context spawns its acknowledgement task: built on the runtime.
        let (c, timeout) = (client.clone(), config.timeout);
        let js = block(runtime.handle(), async move {
            jetstream::ContextBuilder::new()
                .timeout(timeout)
                .ack_timeout(timeout)
                .max_ack_inflight(8192)
                .backpressure_on_inflight(true)
                .build(c)
        });
        let s = Self {
            config,
            runtime: Some(runtime),
            client,
            js,
        };
        s.ensure_stream()?;
        Ok(s)
    }

    fn run<F>(&self, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        block(
            self.runtime.as_ref().expect("runtime until drop").handle(),
            f,
        )
    }

    fn ensure_stream(&self) -> Result<()> {
        let c = &self.config;
        let wanted = stream::Config {
            name: c.stream.clone(),
            subjects: vec![c.subject.clone()],
            storage: stream::StorageType::File,
            num_replicas: c.replicas,
            max_age: c.max_age,
            duplicate_window: c.duplicate_window,
            description: Some("Sommelier events (docs/scale-out.md)".into()),
            ..Default::default()
        };
        let js = self.js.clone();
        let url = redact(&c.url);
        let info = self
            .run(async move {
                let mut s = js.get_or_create_stream(wanted).await?;
                Ok::<_, async_nats::Error>(s.info().await?.clone())
            })
            .map_err(|e| StreamError::Connect {
                url,
                reason: format!(
                    "cannot open or create the JetStream stream {:?} (is JetStream enabled on the server?): {e}",
                    c.stream
                ),
            })?;
        if !info.config.subjects.iter().any(|s| s == &c.subject) {
            return Err(StreamError::Config(format!(
                "the stream {:?} exists with subjects {:?}, not {:?}; set stream.subject to one of them or stream.name to another stream",
                c.stream, info.config.subjects, c.subject
            )));
        }
        Ok(())
    }

    /// Publishes the messages (pipelined) and returns once JetStream has
    /// acknowledged every one, in order. On an error some may be stored:
    /// publishing them again is safe (the same ids are duplicates).
    pub fn publish(&self, messages: Vec<Outgoing>) -> Result<Vec<Acked>> {
        let js = self.js.clone();
        let subject = self.config.subject.clone();
        self.run(async move {
            let mut pending = Vec::with_capacity(messages.len());
            for m in messages {
                let publish = jetstream::message::PublishMessage::build()
                    .payload(m.payload.into())
                    .message_id(m.id);
                pending.push(js.send_publish(subject.clone(), publish).await?);
            }
            let mut acked = Vec::with_capacity(pending.len());
            for p in pending {
                let a = p.await?;
                acked.push(Acked {
                    sequence: a.sequence,
                    duplicate: a.duplicate,
                });
            }
            Ok::<_, async_nats::Error>(acked)
        })
        .map_err(|e| StreamError::Unavailable {
            op: "publishing events",
            reason: e.to_string(),
        })
    }

    /// The stream's last sequence (0 when empty).
    pub fn last_sequence(&self) -> Result<u64> {
        let js = self.js.clone();
        let name = self.config.stream.clone();
        self.run(async move {
            let mut s = js.get_stream(name).await?;
            Ok::<_, async_nats::Error>(s.info().await?.state.last_sequence)
        })
        .map_err(|e| StreamError::Unavailable {
            op: "reading the stream's state",
            reason: e.to_string(),
        })
    }

    /// The durable pull consumer `name` (created if missing, delivering
    /// from the stream's first message), resuming after its last
    /// acknowledged message.
    pub fn consumer(&self, name: &str, ack_wait: Duration) -> Result<Consumer> {
        if !consumer_name_ok(name) {
            return Err(StreamError::Config(format!(
                "consumer name {name:?} must be 1 to 64 letters, digits, '_' or '-'"
            )));
        }
        let js = self.js.clone();
        let stream_name = self.config.stream.clone();
        let config = js_consumer::pull::Config {
            durable_name: Some(name.to_string()),
            description: Some("a Sommelier replica (docs/scale-out.md)".into()),
            deliver_policy: js_consumer::DeliverPolicy::All,
            ack_policy: js_consumer::AckPolicy::Explicit,
            ack_wait,
            max_ack_pending: 20_000,
            ..Default::default()
        };
        let name = name.to_string();
        let inner = self
            .run(async move {
                let s = js.get_stream(stream_name).await?;
                Ok::<_, async_nats::Error>(s.get_or_create_consumer(&name, config).await?)
            })
            .map_err(|e| StreamError::Unavailable {
                op: "opening the replica's consumer",
                reason: e.to_string(),
            })?;
        Ok(Consumer::new(
            self.runtime.as_ref().expect("runtime").handle().clone(),
            self.config.timeout,
            inner,
        ))
    }

    /// Whether the client is connected now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `f` on the client's runtime and blocks the caller until it is done
/// (a plain block, so a blocking task of another runtime may call it).
pub(crate) fn block<F>(runtime: &tokio::runtime::Handle, f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    futures_executor::block_on(runtime.spawn(f)).expect("the stream client's task panicked")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, subject: &str) -> StreamConfig {
        StreamConfig {
            url: url.into(),
            stream: "EVENTS".into(),
            subject: subject.into(),
            replicas: 1,
            max_age: Duration::from_secs(3600),
            duplicate_window: Duration::from_secs(120),
            timeout: Duration::from_secs(1),
            client_name: "test".into(),
        }
    }

    #[test]
    fn bad_configuration_is_refused_before_connecting() {
        for (url, subject, says) in [
            ("tls://h:4222", "a.b", "TLS"),
            ("http://h:4222", "a.b", "scheme"),
            ("nats://h:4222", "a.*", "wildcards"),
            ("nats://h:4222", "", "plain subject"),
            ("", "a.b", "empty"),
        ] {
            let e = EventStream::connect(config(url, subject))
                .err()
                .expect("refused");
            assert!(matches!(e, StreamError::Config(_)), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
        assert!(!consumer_name_ok("replica 1"));
        assert!(consumer_name_ok("replica-1"));
    }

    #[test]
    fn nothing_listening_is_a_connect_error_naming_the_server() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("nats://u:pw@127.0.0.1:{port}");
        let e = EventStream::connect(config(&url, "a.b"))
            .err()
            .expect("nothing listens");
        let text = e.to_string();
        assert!(matches!(e, StreamError::Connect { .. }), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(!text.contains("pw"), "{text}");
    }
}
