//! A replica's durable consumer: fetch, acknowledge, refuse, give back, lag.

use crate::{Result, StreamError};
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use std::future::Future;
use std::time::Duration;

/// The messages of one pull request, in order.
async fn collect(
    mut batch: consumer::pull::Batch,
) -> std::result::Result<Vec<Delivery>, async_nats::Error> {
    let mut out = Vec::new();
    while let Some(m) = batch.next().await {
        let m = m?;
        let info = m.info()?;
        let (sequence, published_secs, delivered) = (
            info.stream_sequence,
            info.published.unix_timestamp(),
            info.delivered,
        );
        out.push(Delivery {
            sequence,
            published_secs,
            delivered,
            payload: m.payload.clone(),
            message: m,
        });
    }
    Ok(out)
}

/// One delivered message.
pub struct Delivery {
    /// Its stream sequence.
    pub sequence: u64,
    /// When JetStream stored it, seconds since the epoch.
    pub published_secs: i64,
    /// How many times it has been delivered (1 the first time).
    pub delivered: i64,
    /// The body.
    pub payload: bytes::Bytes,
    message: jetstream::Message,
}

/// A replica's durable consumer.
pub struct Consumer {
    handle: tokio::runtime::Handle,
    /// The longest wait for an answer.
    timeout: Duration,
    inner: consumer::Consumer<consumer::pull::Config>,
}

impl Consumer {
    pub(crate) fn new(
        handle: tokio::runtime::Handle,
        timeout: Duration,
        inner: consumer::Consumer<consumer::pull::Config>,
    ) -> Self {
        Self {
            handle,
            timeout,
            inner,
        }
    }

    /// Runs `f` on the client's runtime, blocking the caller; gives up
    /// after `limit` (a server that went away never answers).
    fn call<T, F>(&self, op: &'static str, limit: Duration, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = std::result::Result<T, async_nats::Error>> + Send + 'static,
    {
        crate::block(&self.handle, async move {
            tokio::time::timeout(limit, f)
                .await
                .unwrap_or_else(|_| Err("no answer from the server".into()))
        })
        .map_err(|e| StreamError::Unavailable {
            op,
            reason: e.to_string(),
        })
    }

    /// Up to `max` messages: those waiting now, at once; when none is,
    /// waits up to `wait` for the first and takes what came with it.
    /// Empty after `wait` with nothing new.
    pub fn fetch(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let c = self.inner.clone();
        // The server ends a pull request; a server that went away never
        // does, so the client gives up after the wait and the timeout.
        self.call("fetching events", wait + self.timeout, async move {
            // A fetch answers with what is there now (no wait); a batch
            // request of one waits for the next message.
            let mut out = collect(c.fetch().max_messages(max).messages().await?).await?;
            if out.is_empty() {
                out = collect(c.batch().max_messages(1).expires(wait).messages().await?).await?;
                if !out.is_empty() && max > 1 {
                    out.extend(collect(c.fetch().max_messages(max - 1).messages().await?).await?);
                }
            }
            Ok(out)
        })
    }

    /// Acknowledges the deliveries (they will not come again); the last one
    /// waits for the server's confirmation, so on return all are settled.
    pub fn ack(&self, deliveries: Vec<Delivery>) -> Result<()> {
        self.settle(deliveries, jetstream::AckKind::Ack, "acknowledging events")
    }

    /// Refuses the deliveries for good (a message that can never be
    /// decoded): they are not delivered again.
    pub fn reject(&self, deliveries: Vec<Delivery>) -> Result<()> {
        self.settle(deliveries, jetstream::AckKind::Term, "rejecting events")
    }

    /// Gives the deliveries back (they could not be handled now, e.g. the
    /// store is away): delivered again after `delay`, not after `ack_wait`.
    pub fn retry(&self, deliveries: Vec<Delivery>, delay: Duration) -> Result<()> {
        self.settle(
            deliveries,
            jetstream::AckKind::Nak(Some(delay)),
            "giving events back",
        )
    }

    fn settle(
        &self,
        deliveries: Vec<Delivery>,
        kind: jetstream::AckKind,
        op: &'static str,
    ) -> Result<()> {
        self.call(op, self.timeout, Self::settle_all(deliveries, kind))
    }

    async fn settle_all(
        deliveries: Vec<Delivery>,
        kind: jetstream::AckKind,
    ) -> std::result::Result<(), async_nats::Error> {
        let n = deliveries.len();
        for (i, d) in deliveries.into_iter().enumerate() {
            if i + 1 == n {
                d.message.double_ack_with(kind).await?;
            } else {
                d.message.ack_with(kind).await?;
            }
        }
        Ok(())
    }

    /// Messages not yet acknowledged by this consumer: waiting to be
    /// delivered plus delivered and not yet acknowledged (its lag).
    pub fn lag(&self) -> Result<u64> {
        let mut c = self.inner.clone();
        self.call("reading the consumer's lag", self.timeout, async move {
            let info = c.info().await?;
            Ok(info.num_pending + info.num_ack_pending as u64)
        })
    }
}
