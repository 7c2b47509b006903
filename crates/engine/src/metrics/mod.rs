//! Operational metrics: per-stage latency histograms of the recommendation
//! pipeline and of chat turns, request and fit counters, and a ten-minute
//! activity window for the dashboard. Recorded by the engine, so every caller
//! (HTTP, CLI, evaluation) is measured the same way. `/metrics` exposes them,
//! with what the store, the features and the LLM layer hold, through the
//! `prometheus-client` library (`exposition.rs`).

mod exposition;

pub use exposition::CONTENT_TYPE;

use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, in seconds.
pub(crate) const BUCKETS: [f64; 16] = [
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
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
    rates: Mutex<VecDeque<(u64, Activity)>>,
    /// Damage found in derived or kept data, by what (start-up checks).
    damage: Mutex<BTreeMap<&'static str, u64>>,
}

/// Seconds per slot of the activity window.
pub const RATE_SLOT_SECS: u64 = 10;
/// Slots kept: the last ten minutes.
const RATE_SLOTS: u64 = 60;

/// What happened in one slot of the activity window.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Activity {
    /// Events accepted through the API.
    pub events: u64,
    /// Recommendation requests answered.
    pub recommendations: u64,
    /// Chat turns answered.
    pub chat_turns: u64,
}

/// The recent activity, oldest slot first, the current slot last.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ActivityWindow {
    /// Seconds per slot.
    pub slot_secs: u64,
    /// Unix time (seconds) at which the last slot starts.
    pub last_slot_start: u64,
    /// One entry per slot, zeros included.
    pub slots: Vec<Activity>,
}

/// Chat turns since start, by whether the LLM's answer was used.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ChatTurns {
    /// The model's re-rank or phrasing was used.
    pub llm: u64,
    /// The classical fallback answered.
    pub fallback: u64,
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
        self.note(|a| a.recommendations += 1);
    }

    /// Counts events accepted through the API in the activity window.
    pub(crate) fn events_accepted(&self, n: u64) {
        if n > 0 {
            self.note(|a| a.events += n);
        }
    }

    /// Adds to the current slot of the activity window.
    fn note(&self, f: impl FnOnce(&mut Activity)) {
        self.note_at(unix_secs(), f)
    }

    fn note_at(&self, now_secs: u64, f: impl FnOnce(&mut Activity)) {
        let slot = now_secs / RATE_SLOT_SECS;
        let mut rates = self.rates.lock();
        match rates.back_mut() {
            Some((s, a)) if *s == slot => f(a),
            _ => {
                let mut a = Activity::default();
                f(&mut a);
                rates.push_back((slot, a));
            }
        }
        while rates.front().is_some_and(|(s, _)| s + RATE_SLOTS <= slot) {
            rates.pop_front();
        }
    }

    /// The last ten minutes of activity, in slots of [`RATE_SLOT_SECS`].
    pub fn activity(&self) -> ActivityWindow {
        self.activity_at(unix_secs())
    }

    fn activity_at(&self, now_secs: u64) -> ActivityWindow {
        let last = now_secs / RATE_SLOT_SECS;
        let first = last + 1 - RATE_SLOTS;
        let mut slots = vec![Activity::default(); RATE_SLOTS as usize];
        for (s, a) in self.rates.lock().iter() {
            if (first..=last).contains(s) {
                slots[(s - first) as usize] = *a;
            }
        }
        ActivityWindow {
            slot_secs: RATE_SLOT_SECS,
            last_slot_start: last * RATE_SLOT_SECS,
            slots,
        }
    }

    /// Chat turns since start.
    pub fn chat_turns(&self) -> ChatTurns {
        ChatTurns {
            llm: self.chat_turns_llm.load(Ordering::Relaxed),
            fallback: self.chat_turns_classical.load(Ordering::Relaxed),
        }
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
        drop(stages);
        self.note(|a| a.chat_turns += 1);
    }

    /// Records damage found in derived or kept data (and repaired, or
    /// reported in the log): `saved_features`, `features_vs_log`,
    /// `store_counters`, `missing_vectors`.
    pub(crate) fn damage_found(&self, what: &'static str) {
        *self.damage.lock().entry(what).or_default() += 1;
    }

    /// Damage found since start, by what.
    pub fn damage(&self) -> BTreeMap<&'static str, u64> {
        self.damage.lock().clone()
    }

    pub(crate) fn fitted(&self, ok: bool) {
        let c = if ok { &self.fits } else { &self.fit_failures };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Per-stage latency summaries of `/v1/recommend`.
    pub fn stage_latencies(&self) -> Vec<StageLatency> {
        summaries(&self.stages.lock())
    }

    /// Per-stage latency summaries of `/v1/chat`.
    pub fn chat_latencies(&self) -> Vec<StageLatency> {
        summaries(&self.chat.lock())
    }
}

/// Latency summaries of a histogram family.
fn summaries(stages: &BTreeMap<&'static str, Histogram>) -> Vec<StageLatency> {
    stages
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

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activity_window_keeps_ten_minutes_in_slots() {
        let m = Metrics::default();
        let t0 = 1_000_000;
        m.note_at(t0, |a| a.events += 3);
        m.note_at(t0 + 5, |a| a.events += 2); // same 10 s slot
        m.note_at(t0 + 20, |a| a.recommendations += 1);
        let w = m.activity_at(t0 + 25);
        assert_eq!(w.slots.len(), 60);
        assert_eq!(w.last_slot_start, (t0 + 25) / 10 * 10);
        let last = &w.slots[59];
        assert_eq!(last.recommendations, 1);
        assert_eq!(w.slots[57].events, 5);
        assert_eq!(w.slots.iter().map(|a| a.events).sum::<u64>(), 5);
        // Ten minutes later the first slots have left the window.
        m.note_at(t0 + 600, |a| a.chat_turns += 1);
        let w = m.activity_at(t0 + 600);
        assert_eq!(w.slots.iter().map(|a| a.events).sum::<u64>(), 0);
        assert_eq!(w.slots[59].chat_turns, 1);
        assert!(m.rates.lock().len() <= 60);
    }
}
