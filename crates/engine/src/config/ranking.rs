//! The sections that shape recommendations: `[models]` (what is fitted from
//! the log), `[fusion]` (candidate lists, their weights, the ranker's pool) and
//! `[rerank]` (business re-ranking).

use super::CollaborativeModel;
use serde::{Deserialize, Serialize};

/// `[models]`: the collaborative (EASE) and sequential models, fitted from the
/// event log by `sommelier fit`, `POST /v1/admin/fit` or the server's refit timer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// EASE regularisation λ.
    pub ease_lambda: f32,
    /// Most items in the EASE model (the most interacted-with).
    pub ease_max_items: usize,
    /// Neighbors kept per item in the EASE table.
    pub ease_neighbors: usize,
    /// Which collaborative model: `auto` (EASE while the items with 2+ users
    /// fit in `ease_max_items`, iALS beyond), `ease` or `als`.
    pub collaborative: CollaborativeModel,
    /// iALS: dimensions of the user and item vectors.
    pub als_factors: usize,
    /// iALS: alternating passes.
    pub als_iterations: usize,
    /// iALS: L2 regularisation.
    pub als_regularization: f32,
    /// iALS: confidence of an observed interaction.
    pub als_alpha: f32,
    /// Next items linked per item by the sequential model.
    pub sequential_window: usize,
    /// Successors kept per item in the sequential table.
    pub sequential_neighbors: usize,
    /// Weight of the link to the item `d` steps later: `step_decay^(d-1)`.
    pub sequential_step_decay: f32,
    /// Smoothing prior of each item's transition total.
    pub sequential_prior: f32,
    /// Last interactions a request continues from.
    pub sequential_context: usize,
    /// Threads for fitting.
    pub fit_threads: usize,
    /// Most users the ranker learns from (a deterministic sample).
    pub ranker_users: usize,
    /// Fewest users to learn a ranker from; below, the hand-set fusion ranks.
    pub ranker_min_users: usize,
    /// Negative candidates kept per user.
    pub ranker_negatives: usize,
    /// L2 penalty of the ranker's logistic regression.
    pub ranker_l2: f64,
    /// Seconds between refits in the server (0: only on request).
    pub refit_interval_secs: u64,
    /// A timed refit runs only when at least this many events arrived since the last.
    pub refit_min_new_events: u64,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        let e = sommelier_collab::EaseParams::default();
        let a = sommelier_collab::AlsParams::default();
        let s = sommelier_collab::SequentialParams::default();
        Self {
            ease_lambda: e.lambda,
            ease_max_items: e.max_items,
            ease_neighbors: e.neighbors,
            collaborative: CollaborativeModel::Auto,
            als_factors: a.factors,
            als_iterations: a.iterations,
            als_regularization: a.regularization,
            als_alpha: a.alpha,
            sequential_window: s.window,
            sequential_neighbors: s.neighbors,
            sequential_step_decay: s.step_decay,
            sequential_prior: s.prior,
            sequential_context: 5,
            fit_threads: 2,
            ranker_users: 5000,
            ranker_min_users: 20,
            ranker_negatives: 200,
            ranker_l2: 1.0,
            refit_interval_secs: 3600,
            refit_min_new_events: 1000,
        }
    }
}

/// `[fusion]`: reciprocal-rank fusion weight of each candidate source (0 turns
/// a source off), and the fusion constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FusionConfig {
    /// RRF constant `k` in `weight / (k + rank)`.
    pub rrf_k: f64,
    /// Candidates each source proposes.
    pub per_source: usize,
    /// Per-source list lengths instead of `per_source` (`[fusion.candidates]`,
    /// e.g. `collaborative = 80`): a source whose tail rarely reaches the pool
    /// can search less. Sources not named keep their built-in length (see
    /// [`FusionConfig::limit`]).
    pub candidates: std::collections::BTreeMap<sommelier_recall::Source, usize>,
    /// Fused candidates passed on to the ranker (the best by weighted RRF;
    /// the learned ranker's training samples its negatives from the same pool).
    pub pool: usize,
    /// Query text → ANN.
    pub semantic: f64,
    /// Query text → BM25.
    pub lexical: f64,
    /// The user's taste vector → ANN.
    pub user_profile: f64,
    /// EASE item-item.
    pub collaborative: f64,
    /// Next-item transitions.
    pub sequential: f64,
    /// Popularity for users with a history or a query.
    pub popular: f64,
    /// Popularity for a cold user without a query.
    pub popular_cold: f64,
    /// Rising items.
    pub trending: f64,
    /// New items few people have seen (exploration).
    pub fresh: f64,
}

/// Built-in list lengths (each at most `per_source`) of the sources that
/// search a graph whose cost grows with the length asked for, and whose tail
/// rarely reaches the pool. On the validation splits (docs/ranking.md) a
/// user-profile list of 25 to 100 and a collaborative list of 50 or 100
/// measure the same NDCG@10; at 1M items the user profile's `i8` graph
/// search and the iALS graph search are the costliest steps of a request,
/// and a search is as wide as the list asked for.
pub const DEFAULT_CANDIDATES: [(sommelier_recall::Source, usize); 2] = [
    (sommelier_recall::Source::UserProfile, 50),
    (sommelier_recall::Source::Collaborative, 50),
];

impl FusionConfig {
    /// Candidates `source` proposes: its entry in `candidates`; else its
    /// length in [`DEFAULT_CANDIDATES`] (at most `per_source`); else
    /// `per_source`.
    pub fn limit(&self, source: sommelier_recall::Source) -> usize {
        if let Some(&n) = self.candidates.get(&source) {
            return n;
        }
        DEFAULT_CANDIDATES
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(self.per_source, |&(_, n)| n.min(self.per_source))
    }
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            rrf_k: 60.0,
            per_source: 100,
            candidates: Default::default(),
            pool: 200,
            semantic: 2.0,
            lexical: 1.0,
            user_profile: 1.0,
            collaborative: 1.5,
            sequential: 1.0,
            popular: 0.3,
            popular_cold: 1.0,
            trending: 0.2,
            fresh: 0.1,
        }
    }
}

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
