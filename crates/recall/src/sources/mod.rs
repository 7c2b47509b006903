//! The candidate sources: a closed set ([`Source`]), one file each, one
//! shape. A source reads what its [`SourceInput`] lends it — the request's
//! query and filter, the user's state, the catalog's vectors and text index,
//! the fitted models, the online features — and answers a [`Proposal`]: its
//! own ranked list with its own scores, or why it has none. Sources do not
//! know about each other, about fusion weights or about ranking, in the
//! spirit of meilisearch's ranking rules: each narrows the catalog by one
//! idea, and the pipeline decides what to make of the lists.

mod collaborative;
mod fresh;
mod lexical;
mod popular;
mod semantic;
mod sequential;
mod similar;
mod trending;
mod user_profile;

use crate::Source;
use sommelier_collab::Weighted;
use sommelier_features::{ContextKey, FeatureRead, HistoryEntry, SignalWeights};
use sommelier_index::{Filter, Hit, IndexError};
use sommelier_types::Timestamp;
use std::time::Instant;

/// Vector sources only propose items at least this similar (cosine): rank
/// fusion ignores score scales, so a far item must not enter a list at all.
pub const MIN_SIMILARITY: f32 = 0.1;

/// The item vectors of the catalog and a filtered nearest-neighbour search
/// over them (the catalog snapshot lends both).
pub trait VectorReads {
    /// The vector of an item, if it has one.
    fn vector(&self, item: &str) -> Option<std::sync::Arc<[f32]>>;
    /// The vectors of `items`, in their order (one read where they are
    /// kept in a database).
    fn vectors(&self, items: &[&str]) -> Vec<Option<std::sync::Arc<[f32]>>> {
        items.iter().map(|i| self.vector(i)).collect()
    }
    /// The `k` nearest vectors to `query` that pass `filter`.
    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>, IndexError>;
}

/// A fitted model that scores items for a weighted history (EASE or iALS
/// for the collaborative source, next-item transitions for the sequential
/// one): the best `n` items, the history's own left out.
pub trait ItemScorer: Send + Sync {
    /// The best `n` items for `history`, with the model's scores.
    fn score(&self, history: &[Weighted<'_>], n: usize) -> Vec<(String, f64)>;
}

impl ItemScorer for sommelier_collab::ItemNeighbors {
    fn score(&self, history: &[Weighted<'_>], n: usize) -> Vec<(String, f64)> {
        sommelier_collab::ItemNeighbors::score(self, history, n)
    }
}

/// A sequence model's answer for one user, computed once per request from
/// their whole recent history in order (the engine's self-attention model):
/// the best `n` next items with their probabilities, the history left out.
pub trait NextItems: Send + Sync {
    /// The `n` most probable next items, best first.
    fn next(&self, n: usize) -> Vec<(String, f64)>;
}

/// Item-to-item similarity: the items most like `items` (together), passing
/// `filter`, the items themselves left out, best first with a score in
/// [0, 1] (the engine's blend of co-occurrence and content vectors).
pub trait ItemSimilarity {
    /// The `k` items most like `items`.
    fn similar(
        &self,
        items: &[&str],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(String, f64)>, IndexError>;
}

/// The requesting user's state, as the online features hold it.
#[derive(Debug, Default)]
pub struct UserState<'a> {
    /// Recent interactions, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Every item the user has an event on, sorted.
    pub seen: Vec<&'a str>,
}

impl UserState<'_> {
    /// No history: a visitor, or a user without events.
    pub fn is_cold(&self) -> bool {
        self.history.is_empty()
    }
}

/// Settings the sources read (from `[features]`, `[models]` and `[rerank]`).
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// How much each kind of event says about taste (the user profile).
    pub weights: SignalWeights,
    /// Last positive interactions the sequential source continues from.
    pub sequential_context: usize,
    /// Days after its creation an item counts as new (the fresh source).
    pub launch_window_days: f64,
    /// Items with at most this many events count as unexplored.
    pub explore_max_events: u64,
}

/// Everything a source may read for one request.
pub struct SourceInput<'a> {
    /// The request's text, trimmed; `None` when it has none.
    pub query: Option<&'a str>,
    /// The request's semantic query vector (its embedded text, or a
    /// referenced item's vector), or why there is none.
    pub query_vector: Result<&'a [f32], &'static str>,
    /// The catalog filter of the request.
    pub filter: &'a Filter,
    /// The user's state.
    pub user: &'a UserState<'a>,
    /// The request's time of day and device, resolved against the features.
    pub context: ContextKey,
    /// Online features.
    pub features: &'a dyn FeatureRead,
    /// The time decays are measured at (the features' clock).
    pub now: Timestamp,
    /// Wall-clock now, for item ages (catalog times are wall-clock).
    pub wall_now: Timestamp,
    /// Item vectors and their index.
    pub vectors: &'a dyn VectorReads,
    /// BM25 over the catalog's text, when it could be built.
    pub lexical: Option<&'a sommelier_lexical::LexicalIndex>,
    /// The newest available items (id, created at), newest first.
    pub newest: &'a [(String, Timestamp)],
    /// The fitted collaborative model.
    pub collaborative: Option<&'a dyn ItemScorer>,
    /// The fitted next-item transition table.
    pub sequential: Option<&'a dyn ItemScorer>,
    /// The sequence model's answer for this user; when present, the
    /// sequential source proposes it instead of the transition table's.
    pub next_items: Option<&'a dyn NextItems>,
    /// The items the request refers to ("like Heat").
    pub like_items: &'a [&'a str],
    /// Item-to-item similarity, for the items referred to.
    pub similarity: Option<&'a dyn ItemSimilarity>,
    /// Settings.
    pub settings: &'a SourceSettings,
    /// When every source must have answered: a source that has not started
    /// by then is skipped (`deadline`). `None`: no deadline.
    pub deadline: Option<Instant>,
}

/// A source's answer for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposal {
    /// Item ids with the source's own scores, best first.
    List(Vec<(String, f64)>),
    /// It proposed nothing, and why.
    Skipped(&'static str),
}

/// A source failed (not: had nothing to say).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The vector index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The text index failed.
    #[error("lexical search: {0}")]
    Lexical(#[from] sommelier_lexical::LexicalError),
}

impl Source {
    /// Every source, in the order a request runs them.
    pub const ALL: [Source; 9] = [
        Source::Semantic,
        Source::Lexical,
        Source::UserProfile,
        Source::Collaborative,
        Source::Sequential,
        Source::Popular,
        Source::Trending,
        Source::Fresh,
        Source::Similar,
    ];

    /// This source's list of at most `limit` items for `input`.
    pub fn propose(self, input: &SourceInput<'_>, limit: usize) -> Result<Proposal, SourceError> {
        if input.deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Proposal::Skipped("deadline"));
        }
        match self {
            Source::Semantic => semantic::propose(input, limit),
            Source::Lexical => lexical::propose(input, limit),
            Source::UserProfile => user_profile::propose(input, limit),
            Source::Collaborative => Ok(collaborative::propose(input, limit)),
            Source::Sequential => Ok(sequential::propose(input, limit)),
            Source::Popular => Ok(popular::propose(input, limit)),
            Source::Trending => Ok(trending::propose(input, limit)),
            Source::Fresh => Ok(fresh::propose(input, limit)),
            Source::Similar => similar::propose(input, limit),
        }
    }
}

/// The hits of a vector search that are close enough to propose.
fn close(hits: Vec<Hit>) -> Vec<(String, f64)> {
    hits.into_iter()
        .filter(|h| h.score >= MIN_SIMILARITY)
        .map(|h| (h.id, f64::from(h.score)))
        .collect()
}

/// The model a model-backed source scores with, or why it has nothing for
/// this user.
fn fitted<'a>(
    model: Option<&'a dyn ItemScorer>,
    user: &UserState<'_>,
) -> Result<&'a dyn ItemScorer, &'static str> {
    match model {
        None => Err("no fitted model (run `sommelier fit`)"),
        Some(_) if user.is_cold() => Err("no history"),
        Some(m) => Ok(m),
    }
}
