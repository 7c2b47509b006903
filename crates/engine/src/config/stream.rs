//! `[stream]`: the event stream several replicas share (docs/scale-out.md).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[stream]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamSettings {
    /// `none` (the default: events are written to the store directly and
    /// replicas follow the store's log) or `nats` (events are published to
    /// a NATS JetStream stream that every replica consumes).
    pub backend: String,
    /// `nats://[user:password@]host:port`, several separated by commas
    /// (a cluster's seeds); best given as `SOMMELIER__STREAM__URL` when it
    /// carries a password.
    pub url: String,
    /// The JetStream stream (created when missing).
    pub name: String,
    /// The subject events are published on: the replicas publish there,
    /// and external producers may too (docs/scale-out.md gives the format).
    pub subject: String,
    /// This replica's durable consumer: a name of its own per replica
    /// (letters, digits, `_`, `-`), kept across restarts, so a replica
    /// resumes after the last message it acknowledged.
    pub consumer: String,
    /// Copies of each message in a NATS cluster (3 in production; 1 on
    /// one server).
    pub replicas: usize,
    /// Hours messages stay in the stream; it must outlast the longest
    /// time all replicas could be down at once (the store keeps every
    /// event for good once a replica consumed it).
    pub max_age_hours: f64,
    /// Seconds in which an event id published again is answered as a
    /// duplicate by the stream itself.
    pub duplicate_window_secs: u64,
    /// Seconds to wait for the server: connecting, a publish
    /// acknowledgement, an API answer.
    pub timeout_secs: f64,
    /// Messages a replica takes from its consumer per store transaction.
    pub batch: usize,
    /// Seconds before a message taken and not acknowledged (a replica that
    /// died) is delivered again.
    pub ack_wait_secs: u64,
    /// After publishing a batch, how long `POST /v1/events` waits for this
    /// replica to have it in its features, so a client reads its own
    /// writes on the replica it wrote to (the events are durable either
    /// way). 0: answer as soon as the stream has them.
    pub read_own_writes_secs: f64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            backend: "none".into(),
            url: "nats://127.0.0.1:4222".into(),
            name: "SOMMELIER_EVENTS".into(),
            subject: "sommelier.events".into(),
            consumer: String::new(),
            replicas: 1,
            max_age_hours: 168.0,
            duplicate_window_secs: 120,
            timeout_secs: 5.0,
            batch: 1000,
            ack_wait_secs: 30,
            read_own_writes_secs: 2.0,
        }
    }
}

impl StreamSettings {
    /// Whether events go through a stream.
    pub fn enabled(&self) -> bool {
        self.backend == "nats"
    }

    /// What is wrong with it, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        match self.backend.as_str() {
            "none" => return None,
            "nats" => {}
            other => {
                return Some(format!(
                    "stream.backend is {other:?}; expected \"none\" or \"nats\""
                ));
            }
        }
        // Empty is allowed here: jobs (`fit`, `ingest`, `keys`) share the
        // replicas' configuration and never consume; `serve` needs a name.
        if !self.consumer.is_empty() && !sommelier_stream::consumer_name_ok(&self.consumer) {
            return Some(format!(
                "stream.consumer {:?} must name this replica (1 to 64 letters, digits, '_' or '-'; one per replica, kept across restarts)",
                self.consumer
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.max_age_hours) || !positive(self.timeout_secs) {
            return Some("stream.max_age_hours and stream.timeout_secs must be positive".into());
        }
        if !self.read_own_writes_secs.is_finite() || self.read_own_writes_secs < 0.0 {
            return Some("stream.read_own_writes_secs must be 0 or more".into());
        }
        if self.batch == 0 || self.ack_wait_secs == 0 || self.duplicate_window_secs == 0 {
            return Some(
                "stream.batch, stream.ack_wait_secs and stream.duplicate_window_secs must be at least 1"
                    .into(),
            );
        }
        None
    }

    /// The client's settings.
    pub(crate) fn client(&self) -> sommelier_stream::StreamConfig {
        sommelier_stream::StreamConfig {
            url: self.url.clone(),
            stream: self.name.clone(),
            subject: self.subject.clone(),
            replicas: self.replicas,
            max_age: Duration::from_secs_f64(self.max_age_hours * 3600.0),
            duplicate_window: Duration::from_secs(self.duplicate_window_secs),
            timeout: Duration::from_secs_f64(self.timeout_secs),
            client_name: format!("sommelier {}", self.consumer),
        }
    }
}
