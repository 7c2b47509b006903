//! Events through the stream replicas share (`[stream] backend = "nats"`,
//! docs/scale-out.md).
//!
//! - **Write.** `POST /v1/events` on any replica decodes the batch as
//!   always, then publishes each accepted event, in its decoded form (id
//!   and timestamp filled in), to the stream, with its id as the message
//!   id; the answer comes once JetStream has stored them all. Nothing is
//!   written to the store on this path.
//! - **Consume.** Every replica takes messages from its own durable
//!   consumer ([`Engine::follow_stream`]), decodes them with the same
//!   rules (an external producer's message too; the time the stream stored
//!   it stands for "now", so every replica decodes it alike), writes them
//!   to the store, where the event id de-duplicates them (the first
//!   replica to get an event writes it; the others find it there), follows
//!   the store's log into the online features, and only then acknowledges
//!   them. A replica that dies before acknowledging gets them again; one
//!   that was down resumes after its last acknowledgement.
//! - **Features follow the store's log**, as without a stream: every
//!   replica applies events in the store's commit order, so their
//!   positions agree (replay, `events_applied`), and events that reach the
//!   store another way (a file import) are followed too.

use crate::{Engine, EngineError, Result};
use parking_lot::{Condvar, Mutex};
use sommelier_ingest::{Record, RecordError, RecordKind};
use sommelier_stream::{Consumer, Delivery, EventStream, Outgoing};
use sommelier_types::Timestamp;
use sommelier_types::api::IngestReport;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The connection to the stream and this replica's consumer.
pub(crate) struct StreamLink {
    stream: EventStream,
    consumer: Consumer,
    /// The highest stream sequence this replica has written to the store.
    applied: Mutex<u64>,
    applied_changed: Condvar,
    /// Messages refused as undecodable since start.
    rejected: AtomicU64,
}

/// What one pass over the consumer did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamPass {
    /// Messages taken.
    pub messages: usize,
    /// Events new to the store.
    pub written: u64,
    /// Events the store already had (another replica wrote them first).
    pub duplicates: u64,
    /// Messages refused for good (not an event).
    pub rejected: usize,
}

impl StreamLink {
    fn wait_applied(&self, sequence: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut applied = self.applied.lock();
        while *applied < sequence {
            if self
                .applied_changed
                .wait_until(&mut applied, deadline)
                .timed_out()
            {
                return *applied >= sequence;
            }
        }
        true
    }
}

impl Engine {
    /// Connects to the stream the configuration names and opens this
    /// replica's consumer (`serve` calls it at start). False when no
    /// stream is configured. Fails with the reason when the server cannot
    /// be reached or refuses the credentials.
    pub fn connect_stream(&self) -> Result<bool> {
        let s = &self.config.stream;
        if !s.enabled() {
            return Ok(false);
        }
        if self.stream.get().is_some() {
            return Ok(true);
        }
        if s.consumer.is_empty() {
            return Err(EngineError::Config(crate::ConfigError::Invalid(
                "stream.consumer is empty: give each replica a consumer name of its own, kept across restarts (e.g. SOMMELIER__STREAM__CONSUMER=replica-1)".into(),
            )));
        }
        let stream = EventStream::connect(s.client())?;
        let consumer = stream.consumer(&s.consumer, Duration::from_secs(s.ack_wait_secs))?;
        let _ = self.stream.set(StreamLink {
            stream,
            consumer,
            applied: Mutex::new(0),
            applied_changed: Condvar::new(),
            rejected: AtomicU64::new(0),
        });
        Ok(true)
    }

    /// Whether events go through the stream now.
    pub fn streaming(&self) -> bool {
        self.stream.get().is_some()
    }

    /// Publishes a decoded batch of events to the stream; returns once
    /// the stream has stored them (and, up to
    /// `stream.read_own_writes_secs`, once this replica has them in its
    /// features). In atomic mode a rejected record publishes nothing.
    pub(crate) fn publish_events(
        &self,
        link: &StreamLink,
        decoded: Vec<std::result::Result<Record, RecordError>>,
        atomic: bool,
    ) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let mut out = Vec::with_capacity(decoded.len());
        for r in decoded {
            match r {
                Ok(Record::Event(e)) => out.push(Outgoing {
                    id: e.id.as_str().to_string(),
                    payload: serde_json::to_vec(&e).expect("an event serialises"),
                }),
                Ok(_) => {
                    return Err(EngineError::Usage(
                        "only events go through the stream".into(),
                    ));
                }
                Err(e) => {
                    report.rejected += 1;
                    report.errors.push(e);
                }
            }
        }
        if atomic && report.rejected > 0 {
            report.rolled_back = true;
            return Ok(report);
        }
        if out.is_empty() {
            return Ok(report);
        }
        let acked = link.stream.publish(out)?;
        report.duplicates = acked.iter().filter(|a| a.duplicate).count() as u64;
        report.accepted = acked.len() as u64 - report.duplicates;
        let wait = self.config.stream.read_own_writes_secs;
        if let Some(last) = acked.iter().map(|a| a.sequence).max()
            && wait > 0.0
            && !link.wait_applied(last, Duration::from_secs_f64(wait))
        {
            tracing::debug!(
                sequence = last,
                "published events not yet followed by this replica; answering anyway (they are durable)"
            );
        }
        Ok(report)
    }

    /// Takes up to `stream.batch` messages from this replica's consumer
    /// (waiting up to `wait` for the first), writes them to the store,
    /// follows them into the features and acknowledges them. Does nothing
    /// without a stream.
    pub fn follow_stream(&self, wait: Duration) -> Result<StreamPass> {
        let Some(link) = self.stream.get() else {
            std::thread::sleep(wait);
            return Ok(StreamPass::default());
        };
        let deliveries = link.consumer.fetch(self.config.stream.batch, wait)?;
        if deliveries.is_empty() {
            return Ok(StreamPass::default());
        }
        let mut pass = StreamPass {
            messages: deliveries.len(),
            ..Default::default()
        };
        let mut good: Vec<Delivery> = Vec::with_capacity(deliveries.len());
        let mut records = Vec::with_capacity(deliveries.len());
        let mut bad = Vec::new();
        let mut opts = self.config.decode_options();
        for d in deliveries {
            match decode_message(&d, &mut opts) {
                Ok(record) => {
                    records.push(Ok(record));
                    good.push(d);
                }
                Err(reason) => {
                    tracing::warn!(
                        sequence = d.sequence,
                        subject = %self.config.stream.subject,
                        %reason,
                        "refused a message on the event stream (not delivered again)"
                    );
                    bad.push(d);
                }
            }
        }
        pass.rejected = bad.len();
        if !bad.is_empty() {
            link.rejected.fetch_add(bad.len() as u64, Ordering::Relaxed);
            link.consumer.reject(bad)?;
        }
        let last = good.iter().map(|d| d.sequence).max();
        if !records.is_empty() {
            let report = match sommelier_ingest::write_records(self.store(), records, false) {
                Ok((report, _)) => report,
                Err(e) => {
                    // Delivered again in a second rather than after ack_wait.
                    let _ = link.consumer.retry(good, Duration::from_secs(1));
                    return Err(e.into());
                }
            };
            pass.written = report.accepted;
            pass.duplicates = report.duplicates;
            // Also when another replica wrote them first: the features
            // follow the store's log now rather than at the next tail tick.
            self.catch_up()?;
            link.consumer.ack(good)?;
        }
        if let Some(last) = last {
            let mut applied = link.applied.lock();
            *applied = (*applied).max(last);
            link.applied_changed.notify_all();
        }
        Ok(pass)
    }

    /// This replica's consumer lag (messages in the stream it has not
    /// acknowledged) and the messages it refused since start; `None`
    /// without a stream.
    pub fn stream_lag(&self) -> Option<Result<(u64, u64)>> {
        let link = self.stream.get()?;
        Some(
            link.consumer
                .lag()
                .map(|lag| (lag, link.rejected.load(Ordering::Relaxed)))
                .map_err(Into::into),
        )
    }
}

/// One message as an event, decoded as the HTTP API decodes a record,
/// with the time the stream stored it as "now".
fn decode_message(
    d: &Delivery,
    opts: &mut sommelier_ingest::DecodeOptions,
) -> std::result::Result<Record, String> {
    let value: serde_json::Value = serde_json::from_slice(&d.payload)
        .map_err(|e| format!("not JSON ({e}); expected one event object"))?;
    opts.now = Timestamp(d.published_secs.saturating_mul(1000));
    match sommelier_ingest::decode_batch(RecordKind::Events, vec![value], opts).pop() {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(match e.field {
            Some(f) => format!("field `{f}`: {}", e.reason),
            None => e.reason,
        }),
        None => Err("empty".into()),
    }
}

#[cfg(test)]
mod tests {
    use sommelier_ingest::{Record, RecordKind};
    use sommelier_types::{Event, EventContext, EventId, EventKind, ItemId, Timestamp, UserId};

    /// What a replica publishes is what every replica decodes: the
    /// event's own serialisation goes through the HTTP decoder unchanged.
    #[test]
    fn a_published_event_decodes_to_itself() {
        let event = Event {
            id: EventId::new("e-1").unwrap(),
            user: UserId::new("u 1").unwrap(),
            item: ItemId::new("sku/9").unwrap(),
            kind: EventKind::Rating,
            value: Some(4.5),
            timestamp: Timestamp(1_700_000_123_456),
            context: EventContext {
                device: Some("mobile".into()),
                session_id: Some("s1".into()),
                request_id: Some("r1".into()),
                position: Some(3),
                ..Default::default()
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        let opts = crate::Config::default().decode_options();
        let decoded = sommelier_ingest::decode_batch(RecordKind::Events, vec![json], &opts)
            .pop()
            .unwrap()
            .unwrap();
        assert!(matches!(decoded, Record::Event(e) if e == event));
    }
}
