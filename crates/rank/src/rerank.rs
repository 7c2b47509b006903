//! Business re-ranking of the filtered pool: boosts (margin, launch window,
//! exploration of new items), per-item exposure caps, then MMR diversity.
//!
//! Scores are first scaled to [0, 1] over the pool, so boosts mean the same
//! whichever ranker produced the scores; each boost that applies is added to the
//! pick's "why".

use crate::{Contribution, Ranked};
use serde::{Deserialize, Serialize};
use sommelier_types::{Item, Timestamp};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

/// `[rerank]`: business re-ranking of the filtered pool — MMR diversity,
/// boosts and exposure caps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RerankConfig {
    /// MMR trade-off: 1 ranks by relevance only, lower values favour variety.
    pub mmr_lambda: f64,
    /// Candidates re-ranked per request, as a multiple of k.
    pub pool_factor: usize,
    /// Boost (on a 0–1 relevance scale) of items created within the launch window.
    pub launch_boost: f64,
    /// Days after an item's creation it counts as new.
    pub launch_window_days: f64,
    /// Boost of new items with few events, so they get seen (cold-start exploration).
    pub explore_boost: f64,
    /// Items with at most this many events count as unexplored.
    pub explore_max_events: u64,
    /// Boost per unit of the margin attribute (0–1).
    pub margin_boost: f64,
    /// Item attribute holding the margin, 0–1.
    pub margin_attribute: String,
    /// Times an item may be served per hour before it is demoted (0: no cap).
    pub exposure_cap_per_hour: u32,
}

impl Default for RerankConfig {
    fn default() -> Self {
        Self {
            mmr_lambda: 0.8,
            pool_factor: 5,
            launch_boost: 0.0,
            launch_window_days: 14.0,
            explore_boost: 0.05,
            explore_max_events: 5,
            margin_boost: 0.0,
            margin_attribute: "margin".into(),
            exposure_cap_per_hour: 0,
        }
    }
}

/// How many times each item was served in the current window, for caps.
#[derive(Debug, Default)]
pub struct Exposure {
    window: Mutex<(i64, HashMap<String, u32>)>,
}

const HOUR_MS: i64 = 3_600_000;

impl Exposure {
    fn counts(&self, now: i64) -> std::sync::MutexGuard<'_, (i64, HashMap<String, u32>)> {
        // A panic while counting leaves counts that are still counts.
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if now / HOUR_MS != w.0 {
            *w = (now / HOUR_MS, HashMap::new());
        }
        w
    }

    /// Items at or over `cap` exposures this hour.
    pub fn capped(&self, cap: u32, now: i64) -> HashSet<String> {
        self.counts(now)
            .1
            .iter()
            .filter(|(_, n)| **n >= cap)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Counts one exposure of each item.
    pub fn record<'a>(&self, items: impl Iterator<Item = &'a str>, now: i64) {
        let mut w = self.counts(now);
        for i in items {
            *w.1.entry(i.to_string()).or_default() += 1;
        }
    }
}

/// One pool entry: the ranked candidate, its catalog record, and its vector.
pub struct Entry {
    /// The ranked candidate.
    pub ranked: Ranked,
    /// Its catalog record.
    pub item: std::sync::Arc<Item>,
    /// Its vector, when it has one (MMR compares vectors, else categories).
    pub vector: Option<std::sync::Arc<[f32]>>,
    /// Lifetime events on the item (for exploration).
    pub events: u64,
}

/// Re-ranks `pool` (best first) and returns the best `k`.
pub fn rerank(
    pool: Vec<Entry>,
    k: usize,
    cfg: &RerankConfig,
    lambda: f64,
    capped: &HashSet<String>,
    now: Timestamp,
) -> Vec<Entry> {
    rerank_with(pool, k, cfg, lambda, capped, now, &BTreeMap::new())
}

/// Most a request's category boosts move one item (either way), on the 0–1
/// relevance scale.
pub const CATEGORY_BOOST_CAP: f64 = 0.5;

/// [`rerank`] with the request's own category boosts: each item's categories
/// add their weights from `categories` (positive lifts, negative lowers;
/// "like Heat but funnier" lifts comedies), at most
/// [`CATEGORY_BOOST_CAP`] either way.
pub fn rerank_with(
    mut pool: Vec<Entry>,
    k: usize,
    cfg: &RerankConfig,
    lambda: f64,
    capped: &HashSet<String>,
    now: Timestamp,
    categories: &BTreeMap<String, f64>,
) -> Vec<Entry> {
    if pool.is_empty() {
        return pool;
    }
    let (lo, hi) = pool
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), e| {
            (lo.min(e.ranked.score), hi.max(e.ranked.score))
        });
    let n = pool.len();
    let mut rel: Vec<f64> = pool
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if hi > lo {
                (e.ranked.score - lo) / (hi - lo)
            } else {
                1.0 - i as f64 / n as f64
            }
        })
        .collect();
    for (e, r) in pool.iter_mut().zip(rel.iter_mut()) {
        let asked: f64 = e
            .item
            .categories
            .iter()
            .filter_map(|c| categories.get(c))
            .sum::<f64>()
            .clamp(-CATEGORY_BOOST_CAP, CATEGORY_BOOST_CAP);
        if asked != 0.0 {
            *r += asked;
            let named: Vec<&str> = e
                .item
                .categories
                .iter()
                .filter(|c| categories.contains_key(*c))
                .map(String::as_str)
                .collect();
            let way = if asked > 0.0 { "more" } else { "less" };
            e.ranked.why.insert(
                0,
                Contribution {
                    feature: format!("boost.{way}:{}", named.join("/")),
                    value: asked,
                    contribution: asked,
                },
            );
        }
        for (feature, value, boost) in boosts(&e.item, e.events, cfg, now) {
            *r += boost;
            e.ranked.why.insert(
                0,
                Contribution {
                    feature: feature.into(),
                    value,
                    contribution: boost,
                },
            );
        }
        if capped.contains(&e.ranked.item) {
            // Over its exposure cap: behind everything that is not.
            *r -= 10.0;
            e.ranked.why.insert(
                0,
                Contribution {
                    feature: "exposure_cap".into(),
                    value: f64::from(cfg.exposure_cap_per_hour),
                    contribution: -10.0,
                },
            );
        }
    }
    // MMR: λ·relevance − (1−λ)·max similarity to what is already picked.
    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    let mut max_sim = vec![0.0f64; n];
    let mut left: Vec<usize> = (0..n).collect();
    while chosen.len() < k && !left.is_empty() {
        let (pos, _) = left
            .iter()
            .enumerate()
            .map(|(p, &i)| (p, lambda * rel[i] - (1.0 - lambda) * max_sim[i]))
            .fold(
                (0, f64::NEG_INFINITY),
                |best, x| if x.1 > best.1 { x } else { best },
            );
        let pick = left.remove(pos);
        chosen.push(pick);
        // After the last pick nothing reads the similarities.
        if lambda < 1.0 && chosen.len() < k {
            for &i in &left {
                max_sim[i] = max_sim[i].max(similarity(&pool[i], &pool[pick]));
            }
        }
    }
    let mut slots: Vec<Option<Entry>> = pool.into_iter().map(Some).collect();
    chosen
        .into_iter()
        .map(|i| {
            let mut e = slots[i].take().expect("each index is chosen once");
            e.ranked.score = rel[i];
            e
        })
        .collect()
}

/// The boosts that apply to an item: (name, value, boost).
fn boosts(
    item: &Item,
    events: u64,
    cfg: &RerankConfig,
    now: Timestamp,
) -> Vec<(&'static str, f64, f64)> {
    let mut out = Vec::new();
    let window_ms = cfg.launch_window_days * 86_400_000.0;
    let age_ms = (now.0 - item.created_at.0) as f64;
    let new = window_ms > 0.0 && (0.0..window_ms).contains(&age_ms);
    if cfg.launch_boost > 0.0 && new {
        let fresh = 1.0 - age_ms / window_ms;
        out.push(("boost.launch_window", fresh, cfg.launch_boost * fresh));
    }
    if cfg.explore_boost > 0.0 && new && events <= cfg.explore_max_events {
        out.push(("boost.exploration", events as f64, cfg.explore_boost));
    }
    if cfg.margin_boost > 0.0
        && let Some(m) = item
            .attributes
            .get(&cfg.margin_attribute)
            .and_then(|v| v.as_f64())
    {
        let m = m.clamp(0.0, 1.0);
        out.push(("boost.margin", m, cfg.margin_boost * m));
    }
    out
}

/// Cosine of the item vectors when both have one, else the Jaccard similarity
/// of their categories.
fn similarity(a: &Entry, b: &Entry) -> f64 {
    if let (Some(x), Some(y)) = (&a.vector, &b.vector) {
        return f64::from(sommelier_types::dot(x, y));
    }
    let ca: HashSet<&str> = a.item.categories.iter().map(String::as_str).collect();
    let cb: HashSet<&str> = b.item.categories.iter().map(String::as_str).collect();
    let union = ca.union(&cb).count();
    if union == 0 {
        0.0
    } else {
        ca.intersection(&cb).count() as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sommelier_types::{ItemId, ItemKind};

    fn entry(id: &str, score: f64, cats: &[&str], v: &[f32], created: i64) -> Entry {
        Entry {
            ranked: Ranked {
                item: id.into(),
                score,
                provenance: Vec::new(),
                why: Vec::new(),
                signals: None,
                events: None,
            },
            item: std::sync::Arc::new(Item {
                id: ItemId::new(id).unwrap(),
                kind: ItemKind::generic(),
                title: id.into(),
                description: None,
                categories: cats.iter().map(|c| c.to_string()).collect(),
                tags: Vec::new(),
                attributes: Default::default(),
                price: None,
                availability: Default::default(),
                release_date: None,
                created_at: Timestamp(created),
                updated_at: Timestamp(created),
            }),
            vector: Some(v.into()),
            events: 100,
        }
    }

    fn ids(v: &[Entry]) -> Vec<String> {
        v.iter().map(|e| e.ranked.item.clone()).collect()
    }

    const A: [f32; 2] = [1.0, 0.0];
    const B: [f32; 2] = [0.0, 1.0];

    fn pool() -> Vec<Entry> {
        vec![
            entry("a1", 1.0, &["x"], &A, 0),
            entry("a2", 0.95, &["x"], &A, 0),
            entry("a3", 0.9, &["x"], &A, 0),
            entry("b1", 0.6, &["y"], &B, 0),
        ]
    }

    fn cfg() -> RerankConfig {
        RerankConfig {
            explore_boost: 0.0,
            ..RerankConfig::default()
        }
    }

    #[test]
    fn lambda_one_keeps_the_ranked_order_and_lower_lambda_mixes_in_variety() {
        let none = HashSet::new();
        let now = Timestamp(1);
        assert_eq!(
            ids(&rerank(pool(), 3, &cfg(), 1.0, &none, now)),
            ["a1", "a2", "a3"]
        );
        // With diversity, the near-duplicate a2 gives way to the different b1.
        assert_eq!(
            ids(&rerank(pool(), 3, &cfg(), 0.5, &none, now)),
            ["a1", "b1", "a2"]
        );
        // k larger than the pool: everything, once.
        assert_eq!(rerank(pool(), 10, &cfg(), 0.3, &none, now).len(), 4);
    }

    #[test]
    fn boosts_and_caps_move_items_and_say_so() {
        let now = Timestamp(10 * 86_400_000);
        let mut p = pool();
        std::sync::Arc::make_mut(&mut p[3].item).created_at = Timestamp(now.0 - 86_400_000); // one day old
        p[3].events = 0;
        let c = RerankConfig {
            explore_boost: 1.2,
            ..RerankConfig::default()
        };
        let out = rerank(p, 2, &c, 1.0, &HashSet::new(), now);
        assert_eq!(
            ids(&out),
            ["b1", "a1"],
            "the unexplored new item is boosted"
        );
        assert_eq!(out[0].ranked.why[0].feature, "boost.exploration");

        let capped: HashSet<String> = ["a1".to_string()].into();
        let out = rerank(pool(), 4, &cfg(), 1.0, &capped, Timestamp(1));
        assert_eq!(
            ids(&out).last().map(String::as_str),
            Some("a1"),
            "over its cap: last"
        );
        assert_eq!(out[3].ranked.why[0].feature, "exposure_cap");
    }

    #[test]
    fn exposures_are_counted_per_hour() {
        let e = Exposure::default();
        e.record(["a", "b"].into_iter(), 0);
        e.record(["a"].into_iter(), 1000);
        assert_eq!(e.capped(2, 2000), ["a".to_string()].into());
        // A new hour starts from zero.
        assert!(e.capped(1, HOUR_MS + 1).is_empty());
    }
}
