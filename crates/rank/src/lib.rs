//! The ranking stage's parts: the features of a fused candidate
//! ([`signals`]), the learned scorer over them ([`LinearModel`], fitted by
//! logistic regression, [`fit_logistic`]), and the business re-rank of the
//! filtered pool ([`rerank`]: boosts, exposure caps, MMR diversity). A linear
//! model keeps every score explainable: [`LinearModel::contributions`] says
//! how much each feature added, which is the "why" of a recommendation.

mod model;
pub mod rerank;
pub mod signals;

pub use model::{Contribution, FitError, FitStats, LinearModel, fit_logistic};
pub use rerank::{Entry, Exposure, RerankConfig};

use sommelier_recall::Provenance;

/// A candidate in ranked order, before the hard filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// Item id.
    pub item: String,
    /// The ranker's score (the learned logit, or the fused RRF score).
    pub score: f64,
    /// Every source that proposed it, strongest first.
    pub provenance: Vec<Provenance>,
    /// Why it ranks here, largest contribution first.
    pub why: Vec<Contribution>,
    /// The learned scorer's feature vector, kept so that the "why" is worked
    /// out only for the items that are returned, not for the whole pool.
    pub signals: Option<Vec<f64>>,
    /// Events on the item, when the ranking already read its features (the
    /// re-rank's exploration boost needs them; no second lookup).
    pub events: Option<u64>,
}
