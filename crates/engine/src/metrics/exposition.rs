//! `/metrics`: everything the engine counts, exposed in the OpenMetrics text
//! format by the `prometheus-client` library. One collector takes a snapshot
//! of the engine's own counters and histograms at each scrape and hands it to
//! the library's encoder family by family, so the wire format (names, label
//! escaping, cumulative buckets, `_total` suffixes, `# EOF`) is the
//! library's, not ours.

use super::{BUCKETS, Histogram, Metrics};
use crate::{Engine, Result};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use sommelier_types::Timestamp;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// The content type of [`Engine::render_metrics`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// One metric family as scraped.
#[derive(Debug)]
enum Family {
    Counter {
        name: &'static str,
        help: &'static str,
        series: Vec<(Labels, u64)>,
    },
    Gauge {
        name: &'static str,
        help: &'static str,
        series: Vec<(Labels, f64)>,
    },
    Histogram {
        name: &'static str,
        help: &'static str,
        series: Vec<(Labels, Histogram)>,
    },
}

/// Everything one scrape shows.
#[derive(Debug, Default)]
struct Scrape(Vec<Family>);

impl Scrape {
    fn counter(&mut self, name: &'static str, help: &'static str, series: Vec<(Labels, u64)>) {
        self.0.push(Family::Counter { name, help, series });
    }

    fn gauge(&mut self, name: &'static str, help: &'static str, value: f64) {
        self.0.push(Family::Gauge {
            name,
            help,
            series: vec![(Vec::new(), value)],
        });
    }

    fn histograms(
        &mut self,
        name: &'static str,
        help: &'static str,
        stages: &BTreeMap<&'static str, Histogram>,
    ) {
        let series = stages
            .iter()
            .map(|(stage, h)| (vec![("stage", stage.to_string())], h.clone()))
            .collect();
        self.0.push(Family::Histogram { name, help, series });
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        for family in &self.0 {
            match family {
                Family::Counter { name, help, series } => {
                    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
                    for (labels, v) in series {
                        if labels.is_empty() {
                            m.encode_counter::<NoLabelSet, _, u64>(v, None)?;
                        } else {
                            m.encode_family(labels)?
                                .encode_counter::<NoLabelSet, _, u64>(v, None)?;
                        }
                    }
                }
                Family::Gauge { name, help, series } => {
                    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                    for (labels, v) in series {
                        if labels.is_empty() {
                            m.encode_gauge(v)?;
                        } else {
                            m.encode_family(labels)?.encode_gauge(v)?;
                        }
                    }
                }
                Family::Histogram { name, help, series } => {
                    let mut m =
                        encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
                    for (labels, h) in series {
                        // The library wants (upper bound, count in the bucket).
                        let buckets: Vec<(f64, u64)> = BUCKETS
                            .iter()
                            .copied()
                            .chain([f64::INFINITY])
                            .zip(h.counts.iter().copied())
                            .collect();
                        m.encode_family(labels)?
                            .encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Metrics {
    /// The engine's own histograms and counters.
    fn scrape(&self, out: &mut Scrape) {
        out.histograms(
            "sommelier_stage_latency_seconds",
            "Latency of each stage of /v1/recommend.",
            &self.stages.lock(),
        );
        out.histograms(
            "sommelier_chat_stage_latency_seconds",
            "Latency of each stage of /v1/chat.",
            &self.chat.lock(),
        );
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        out.counter(
            "sommelier_chat_turns",
            "Chat turns answered, by whether an LLM answer was used.",
            vec![
                (vec![("llm", "used".into())], n(&self.chat_turns_llm)),
                (
                    vec![("llm", "not_used".into())],
                    n(&self.chat_turns_classical),
                ),
            ],
        );
        out.counter(
            "sommelier_recommendations",
            "Recommendation requests answered, by ranker.",
            vec![
                (
                    vec![("ranker", "learned".into())],
                    n(&self.recommendations_learned),
                ),
                (
                    vec![("ranker", "fusion".into())],
                    n(&self.recommendations_fusion),
                ),
            ],
        );
        out.counter(
            "sommelier_damage_found",
            "Damage found in derived or kept data at start (saved features, features against the log, store counters), by what.",
            self.damage()
                .into_iter()
                .map(|(what, n)| (vec![("what", what.into())], n))
                .collect(),
        );
        out.counter(
            "sommelier_model_fits",
            "Model fits, by outcome.",
            vec![
                (vec![("outcome", "ok".into())], n(&self.fits)),
                (vec![("outcome", "failed".into())], n(&self.fit_failures)),
            ],
        );
    }
}

/// The LLM layer's counters: stage outcomes, tokens, cache hits.
fn scrape_llm(llm: &sommelier_llm::Llm, out: &mut Scrape) {
    out.counter(
        "sommelier_llm_stage",
        "LLM stage calls by outcome (llm: the answer was used; else the fallback reason).",
        llm.stats()
            .stages()
            .into_iter()
            .map(|(stage, outcome, n)| (vec![("stage", stage), ("outcome", outcome)], n))
            .collect(),
    );
    out.counter(
        "sommelier_llm_tokens",
        "Tokens by model and kind (prompt: computed, cached: prefix reused, completion: generated).",
        llm.stats()
            .tokens()
            .into_iter()
            .flat_map(|(model, t)| {
                [
                    ("prompt", t.prompt_tokens),
                    ("cached", t.cached_tokens),
                    ("completion", t.completion_tokens),
                ]
                .map(|(kind, v)| (vec![("model", model.clone()), ("kind", kind.into())], v))
            })
            .collect(),
    );
    let (hits, misses, entries) = llm.cache_counts();
    out.counter(
        "sommelier_llm_cache_requests",
        "LLM cache lookups by result.",
        vec![
            (vec![("result", "hit".into())], hits),
            (vec![("result", "miss".into())], misses),
        ],
    );
    let ratio = if hits + misses > 0 {
        hits as f64 / (hits + misses) as f64
    } else {
        0.0
    };
    out.gauge(
        "sommelier_llm_cache_hit_ratio",
        "Share of LLM cache lookups that hit.",
        ratio,
    );
    out.gauge(
        "sommelier_llm_cache_entries",
        "LLM results cached.",
        entries as f64,
    );
}

impl Engine {
    /// Everything `/metrics` shows, in the OpenMetrics text format
    /// ([`CONTENT_TYPE`]).
    pub fn render_metrics(&self) -> Result<String> {
        let mut scrape = Scrape::default();
        self.metrics.scrape(&mut scrape);
        let stats = self.stats()?;
        scrape.gauge("sommelier_items", "Live catalog items.", stats.items as f64);
        scrape.gauge("sommelier_users", "User profiles.", stats.users as f64);
        scrape.gauge(
            "sommelier_events",
            "Events in the log.",
            stats.events as f64,
        );
        let applied = self
            .built_features()
            .map_or(0, |f| f.state.read().applied());
        scrape.gauge(
            "sommelier_feature_events_applied",
            "Events folded into the online features.",
            applied as f64,
        );
        let c = &self.counters;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        scrape.counter(
            "sommelier_records_accepted",
            "Records accepted since start.",
            vec![(Vec::new(), n(&c.accepted))],
        );
        scrape.counter(
            "sommelier_records_rejected",
            "Records rejected since start.",
            vec![(Vec::new(), n(&c.rejected))],
        );
        scrape.counter(
            "sommelier_records_duplicate",
            "Duplicate records skipped since start.",
            vec![(Vec::new(), n(&c.duplicates))],
        );
        let x = self.exposure_counts();
        scrape.counter(
            "sommelier_exposures",
            "Served lists by what the exposure log did with them since start: logged (committed), dropped (its queue was full), failed (the store refused the batch).",
            vec![
                (vec![("outcome", "logged".into())], n(&x.logged)),
                (vec![("outcome", "dropped".into())], n(&x.dropped)),
                (vec![("outcome", "failed".into())], n(&x.failed)),
            ],
        );
        let age = self
            .models_report()
            .map_or(-1.0, |m| (Timestamp::now().0 - m.fitted_at.0) as f64 / 1e3);
        scrape.gauge(
            "sommelier_model_age_seconds",
            "Seconds since the models in use were fitted (-1: none).",
            age,
        );
        if let Some(Ok((lag, refused))) = self.stream_lag() {
            scrape.gauge(
                "sommelier_stream_consumer_lag",
                "Messages in the event stream this replica's consumer has not acknowledged.",
                lag as f64,
            );
            scrape.counter(
                "sommelier_stream_refused",
                "Messages on the event stream refused as not an event since start.",
                vec![(Vec::new(), refused)],
            );
        }
        if let Some(llm) = self.llm.get() {
            scrape_llm(llm, &mut scrape);
        }
        Ok(encode(scrape))
    }
}

/// The scrape in the OpenMetrics text format.
fn encode(scrape: Scrape) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_total_in_the_text_format() {
        let m = Metrics::default();
        let mut t = BTreeMap::new();
        t.insert("fusion", 0.2); // 0.2 ms → the 0.00025 s bucket
        m.observe_stages(&t, true);
        t.insert("fusion", 3.0); // 3 ms → the 0.005 s bucket
        m.observe_stages(&t, false);
        let mut scrape = Scrape::default();
        m.scrape(&mut scrape);
        scrape.gauge("sommelier_items", "Items.", 7.0);
        let text = encode(scrape);
        let has = |line: &str| assert!(text.contains(line), "no `{line}` in\n{text}");
        has("# TYPE sommelier_stage_latency_seconds histogram");
        // The library writes `le` first.
        has("sommelier_stage_latency_seconds_bucket{le=\"0.0001\",stage=\"fusion\"} 0");
        has("sommelier_stage_latency_seconds_bucket{le=\"0.00025\",stage=\"fusion\"} 1");
        has("sommelier_stage_latency_seconds_bucket{le=\"0.005\",stage=\"fusion\"} 2");
        has("sommelier_stage_latency_seconds_bucket{le=\"+Inf\",stage=\"fusion\"} 2");
        has("sommelier_stage_latency_seconds_count{stage=\"fusion\"} 2");
        has("sommelier_recommendations_total{ranker=\"learned\"} 1");
        has("sommelier_items 7.0");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let s = &m.stage_latencies()[0];
        assert_eq!((s.count, s.p50_ms, s.p99_ms), (2, Some(0.25), Some(5.0)));
    }
}
