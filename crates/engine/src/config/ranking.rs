//! `[models]`: what is fitted from the log. The other sections that shape
//! recommendations belong to the crates that read them: `[fusion]` is
//! `sommelier_recall::FusionConfig` (candidate lists, their weights, the
//! ranker's pool), `[rerank]` is `sommelier_rank::RerankConfig` (business
//! re-ranking).

use super::CollaborativeModel;
use serde::{Deserialize, Serialize};

/// `[models]`: the collaborative (EASE) and sequential models, fitted from the
/// event log by `sommelier fit`, `POST /v1/admin/fit` or the server's refit timer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Where fitted sets are kept; `None`: `DATA_DIR/fitted`. Replicas over
    /// one PostgreSQL store share one folder, so a fit by one is loaded by
    /// all (each checks `CURRENT` as it follows the log).
    pub dir: Option<std::path::PathBuf>,
    /// EASE regularisation λ.
    pub ease_lambda: f32,
    /// Most items in the EASE model (the most interacted-with).
    pub ease_max_items: usize,
    /// Weights kept per item in the EASE table (the largest in magnitude,
    /// negative ones included).
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
    /// Last interactions a request continues from (the transition table).
    pub sequential_context: usize,
    /// What the sequential source and the ranker's sequence signal use:
    /// `sasrec` (a self-attention model over the user's newest history,
    /// fitted by `sommelier fit`; the transition table still serves until
    /// the first such fit) or `transitions` (the counted table alone).
    pub sequential_model: SequentialModel,
    /// `[models.sasrec]`: the self-attention model's shape and fit.
    pub sasrec: sommelier_sequence::SasRecParams,
    /// Threads for fitting.
    pub fit_threads: usize,
    /// Most users the ranker learns from (a deterministic sample).
    pub ranker_users: usize,
    /// Fewest users to learn a ranker from; below, the hand-set fusion ranks.
    pub ranker_min_users: usize,
    /// Negative candidates kept per user.
    pub ranker_negatives: usize,
    /// Newest distinct items held out per user for the ranker to learn
    /// from, all of them the right answers of one request made when the
    /// first was chosen (each user keeps at least two). The sequence model
    /// trains without all of them and stops on the first, so the ranker
    /// learns how far to trust it from items it has not seen.
    pub ranker_future_items: usize,
    /// A pause longer than this (seconds) between two of those items ends
    /// a visit: only the newest visit's items are held out, so a user back
    /// after a long time is asked when they came back. 0 (the default): no
    /// limit, the newest items whatever the pauses between them
    /// (docs/quality.md, "Visits": on MovieLens a limit of a day measured
    /// no better).
    pub ranker_visit_gap_secs: u64,
    /// Rank each example with the features as they were when it was asked
    /// (the popularity, trends and fresh items of that moment), the log's
    /// events applied in time order; off (the default): with those of the
    /// log's end (docs/quality.md, "The moment of each example": on
    /// MovieLens it measured no better yet).
    pub ranker_point_in_time: bool,
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
            dir: None,
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
            sequential_model: SequentialModel::Sasrec,
            sasrec: sommelier_sequence::SasRecParams::default(),
            fit_threads: 2,
            ranker_users: 5000,
            ranker_min_users: 20,
            ranker_negatives: 200,
            ranker_future_items: 3,
            ranker_visit_gap_secs: 0,
            ranker_point_in_time: false,
            ranker_l2: 1.0,
            refit_interval_secs: 3600,
            refit_min_new_events: 1000,
        }
    }
}

/// The next-item model behind the sequential source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SequentialModel {
    /// The self-attention model (with the transition table as fallback).
    Sasrec,
    /// The counted next-item transition table.
    Transitions,
}
