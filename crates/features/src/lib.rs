//! Online features, kept current as events arrive (the write path's last step)
//! and read by the ranking stage through [`FeatureRead`].
//!
//! * item popularity with exponential time decay ([`ItemFeatures::popularity`]);
//! * trending: a short decayed window against a long one ([`ItemFeatures::trend`]);
//! * counts per item and event kind;
//! * per-user recent history and decayed category affinity;
//! * context: per item, positive events by part of the day and device class,
//!   read as a lift against all items ([`FeatureRead::context_lift`]).
//!
//! Everything lives in memory and is rebuilt from the durable event log at start
//! (see [`OnlineFeatures::rebuild`]); the log, not this state, is the source of truth.
//! Time is event time: decays are measured against the time a reader passes in,
//! usually [`FeatureRead::clock`] (the newest event seen), so a historical data set
//! such as MovieLens has meaningful popularity.

pub mod context;
mod decay;
mod online;
mod weights;

pub use decay::Decayed;
pub use online::{FeatureConfig, Interner, OnlineFeatures, SavedError};
pub use weights::SignalWeights;

pub use context::{ContextKey, ContextLift};
use sommelier_types::{EventKind, Timestamp};

/// Features of one item at a point in time.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemFeatures {
    /// Decayed sum of weighted interactions.
    pub popularity: f64,
    /// Short-window rate over long-window rate (smoothed); above 1 means rising.
    pub trend: f64,
    /// Decayed interactions in the short window.
    pub recent_activity: f64,
    /// Lifetime count per event kind, indexed by [`EventKind::index`].
    pub counts: [u64; EventKind::ALL.len()],
    /// Time of the newest event on the item.
    pub last_event: Option<Timestamp>,
}

impl ItemFeatures {
    /// Lifetime count of one kind.
    pub fn count(&self, kind: EventKind) -> u64 {
        self.counts[kind.index()]
    }
}

/// One entry of a user's recent history, newest last.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// Item id.
    pub item: String,
    /// What the user did.
    pub kind: EventKind,
    /// Event value (rating, dwell seconds), if any.
    pub value: Option<f64>,
    /// When.
    pub timestamp: Timestamp,
}

/// Features of one user at a point in time.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFeatures {
    /// The most recent interactions, oldest first (bounded length).
    pub recent: Vec<HistoryEntry>,
    /// Decayed affinity per category, highest first; negative means disliked.
    pub category_affinity: Vec<(String, f64)>,
    /// Lifetime number of events.
    pub events: u64,
}

/// Positive events per part of the day and per device class, of one item or
/// of the whole log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ContextSummary {
    /// Events per part of the day ([`context::DAYPARTS`]).
    pub dayparts: std::collections::BTreeMap<String, u64>,
    /// Events per device class.
    pub devices: std::collections::BTreeMap<String, u64>,
}

/// What the ranker reads about one candidate for one user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateFeatures {
    /// As [`FeatureRead::item`].
    pub item: Option<ItemFeatures>,
    /// As [`FeatureRead::category_match`] (0 without a user).
    pub category_match: f64,
    /// As [`FeatureRead::context_lift`].
    pub context: ContextLift,
}

/// Read access to online features: what ranking uses.
pub trait FeatureRead {
    /// Features of an item, `None` if no event touched it.
    fn item(&self, item: &str, now: Timestamp) -> Option<ItemFeatures>;
    /// Features of a user, `None` if the user has no events.
    fn user(&self, user: &str, now: Timestamp) -> Option<UserFeatures>;
    /// The `n` most popular items, highest first.
    fn most_popular(&self, n: usize, now: Timestamp) -> Vec<(String, f64)>;
    /// The `n` most popular items in a context: the overall top `3 × n`
    /// re-scored by popularity × e^(daypart lift + device lift), so a visitor
    /// at 9 pm on a TV sees what people choose then and there; the plain
    /// popular list without a context.
    fn popular_in_context(&self, n: usize, now: Timestamp, key: ContextKey) -> Vec<(String, f64)>;
    /// The `n` most trending items (ratio weighted by recent volume), highest first.
    fn trending(&self, n: usize, now: Timestamp) -> Vec<(String, f64)>;
    /// Time of the newest event applied, the natural "now" for decays.
    fn clock(&self) -> Option<Timestamp>;
    /// Every item the user has an event on, in no particular order.
    fn seen<'a>(&'a self, user: &str) -> Vec<&'a str>;
    /// How much the user likes the item's categories: the mean of their decayed
    /// affinity over the item's categories, over their strongest |affinity|, so
    /// in [-1, 1]; 0 when either is unknown.
    fn category_match(&self, user: &str, item: &str, now: Timestamp) -> f64;
    /// Resolves a request's context once: its local hour (0–23) and device class.
    fn context_key(&self, hour: Option<u8>, device: Option<&str>) -> ContextKey;
    /// The item's lift in that context (0 for what is unknown).
    fn context_lift(&self, item: &str, key: &ContextKey) -> ContextLift;
    /// Counts per part of the day and device class of `item`, or of all items
    /// with `None`; `None` for an item no event touched.
    fn context_summary(&self, item: Option<&str>) -> Option<ContextSummary>;
    /// [`CandidateFeatures`] of many items for one user, in order. The same
    /// values as the three calls per item; an implementation can look each
    /// item up once and work out the user's affinities once.
    fn candidates(
        &self,
        user: Option<&str>,
        items: &[&str],
        now: Timestamp,
        key: &ContextKey,
    ) -> Vec<CandidateFeatures> {
        items
            .iter()
            .map(|item| CandidateFeatures {
                item: self.item(item, now),
                category_match: user.map_or(0.0, |u| self.category_match(u, item, now)),
                context: self.context_lift(item, key),
            })
            .collect()
    }
}
