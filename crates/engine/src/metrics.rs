//! Operational metrics in the Prometheus text format: per-stage latency
//! histograms of the recommendation pipeline, request and fit counters, and
//! what the store and the online features hold. Recorded by the engine, so
//! every caller (HTTP, CLI, evaluation) is measured the same way.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Count per bucket (not cumulative); the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// The `q` quantile (0–1), as the upper bound of the bucket it falls in.
    fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let target = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        None
    }
}

/// A stage's latency summary, for dashboards that do not speak Prometheus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageLatency {
    /// Stage name.
    pub stage: String,
    /// Observations.
    pub count: u64,
    /// Mean, milliseconds.
    pub mean_ms: f64,
    /// Median bucket bound, milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile bucket bound, milliseconds.
    pub p99_ms: Option<f64>,
    /// Non-cumulative counts per bucket, with the bucket bounds in `bounds_ms`.
    pub buckets: Vec<u64>,
    /// Bucket upper bounds, milliseconds (the last bucket is unbounded).
    pub bounds_ms: Vec<f64>,
}

/// Counters and histograms since start.
#[derive(Debug, Default)]
pub struct Metrics {
    stages: Mutex<BTreeMap<&'static str, Histogram>>,
    recommendations_learned: AtomicU64,
    recommendations_fusion: AtomicU64,
    fits: AtomicU64,
    fit_failures: AtomicU64,
    chat: Mutex<BTreeMap<&'static str, Histogram>>,
    chat_turns_llm: AtomicU64,
    chat_turns_classical: AtomicU64,
}

impl Metrics {
    /// Records one request's stage timings (milliseconds, as in the response).
    pub(crate) fn observe_stages(&self, timings: &BTreeMap<&'static str, f64>, learned: bool) {
        let mut stages = self.stages.lock();
        for (stage, ms) in timings {
            stages.entry(stage).or_default().observe(ms / 1e3);
        }
        let c = if learned {
            &self.recommendations_learned
        } else {
            &self.recommendations_fusion
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one chat turn's stage timings and whether the LLM took part.
    pub(crate) fn observe_chat(&self, r: &crate::ChatResponse) {
        let mut stages = self.chat.lock();
        for (stage, ms) in &r.timings_ms {
            stages.entry(stage).or_default().observe(ms / 1e3);
        }
        let c = if r.llm.used {
            &self.chat_turns_llm
        } else {
            &self.chat_turns_classical
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fitted(&self, ok: bool) {
        let c = if ok { &self.fits } else { &self.fit_failures };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Per-stage latency summaries.
    pub fn stage_latencies(&self) -> Vec<StageLatency> {
        self.stages
            .lock()
            .iter()
            .map(|(stage, h)| StageLatency {
                stage: (*stage).to_string(),
                count: h.count,
                mean_ms: if h.count > 0 {
                    h.sum * 1e3 / h.count as f64
                } else {
                    0.0
                },
                p50_ms: h.quantile(0.5).map(|s| s * 1e3),
                p99_ms: h.quantile(0.99).map(|s| s * 1e3),
                buckets: h.counts.to_vec(),
                bounds_ms: BUCKETS.iter().map(|b| b * 1e3).collect(),
            })
            .collect()
    }

    /// Renders the histograms and counters, plus `extra` gauge/counter lines,
    /// in the Prometheus text exposition format (version 0.0.4).
    pub(crate) fn render(&self, extra: &[(&str, &str, &str, f64)]) -> String {
        let mut out = String::new();
        histograms(
            &mut out,
            "sommelier_stage_latency_seconds",
            "Latency of each stage of /v1/recommend.",
            &self.stages.lock(),
        );
        histograms(
            &mut out,
            "sommelier_chat_stage_latency_seconds",
            "Latency of each stage of /v1/chat.",
            &self.chat.lock(),
        );
        let _ = writeln!(
            out,
            "# HELP sommelier_chat_turns_total Chat turns answered, by whether an LLM answer was used.\n# TYPE sommelier_chat_turns_total counter\nsommelier_chat_turns_total{{llm=\"used\"}} {}\nsommelier_chat_turns_total{{llm=\"not_used\"}} {}",
            self.chat_turns_llm.load(Ordering::Relaxed),
            self.chat_turns_classical.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sommelier_recommendations_total Recommendation requests answered, by ranker.\n# TYPE sommelier_recommendations_total counter\nsommelier_recommendations_total{{ranker=\"learned\"}} {}\nsommelier_recommendations_total{{ranker=\"fusion\"}} {}",
            self.recommendations_learned.load(Ordering::Relaxed),
            self.recommendations_fusion.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sommelier_model_fits_total Model fits, by outcome.\n# TYPE sommelier_model_fits_total counter\nsommelier_model_fits_total{{outcome=\"ok\"}} {}\nsommelier_model_fits_total{{outcome=\"failed\"}} {}",
            self.fits.load(Ordering::Relaxed),
            self.fit_failures.load(Ordering::Relaxed)
        );
        for (name, kind, help, value) in extra {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

/// Writes one histogram family, a series per stage.
fn histograms(
    out: &mut String,
    name: &str,
    help: &str,
    stages: &BTreeMap<&'static str, Histogram>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (stage, h) in stages {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += h.counts[i];
            let _ = writeln!(
                out,
                "{name}_bucket{{stage=\"{stage}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {}\n{name}_sum{{stage=\"{stage}\"}} {}\n{name}_count{{stage=\"{stage}\"}} {}",
            h.count, h.sum, h.count
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_in_the_text_format() {
        let m = Metrics::default();
        let mut t = BTreeMap::new();
        t.insert("fusion", 0.2); // 0.2 ms → the 0.00025 s bucket
        m.observe_stages(&t, true);
        t.insert("fusion", 3.0); // 3 ms → the 0.005 s bucket
        m.observe_stages(&t, false);
        let text = m.render(&[("sommelier_items", "gauge", "Items.", 7.0)]);
        assert!(
            text.contains(
                "sommelier_stage_latency_seconds_bucket{stage=\"fusion\",le=\"0.0001\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "sommelier_stage_latency_seconds_bucket{stage=\"fusion\",le=\"0.00025\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "sommelier_stage_latency_seconds_bucket{stage=\"fusion\",le=\"0.005\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("sommelier_stage_latency_seconds_count{stage=\"fusion\"} 2"));
        assert!(text.contains("sommelier_recommendations_total{ranker=\"learned\"} 1"));
        assert!(text.contains("sommelier_items 7"));
        let s = &m.stage_latencies()[0];
        assert_eq!((s.count, s.p50_ms, s.p99_ms), (2, Some(0.25), Some(5.0)));
    }
}
