//! Collaborative and sequential models fitted from the event log, both kept as
//! sparse item → item tables ([`ItemNeighbors`]) that score a user's history:
//!
//! * [`fit_ease`]: EASE, the closed-form item-item model;
//! * [`fit_als`]: implicit ALS, item factors for catalogs too large for EASE
//!   (kept as a [`FactorModel`], which folds a history in to score it);
//! * [`fit_sequential`]: next-item transitions;
//! * [`fit_cooccurrence`]: cosine item-to-item similarity from co-occurrence.
//!
//! Fitting is a batch job over [`Interactions`]; the engine runs it and swaps
//! the result in while serving.

mod als;
mod binfile;
mod cooccurrence;
mod ease;
mod interactions;
pub mod linalg;
mod neighbors;
mod sequential;

pub use als::{AlsParams, FactorModel, fit_als};
pub use cooccurrence::{CooccurrenceParams, fit_cooccurrence};
pub use ease::{EaseParams, fit_ease};
pub use interactions::Interactions;
pub use neighbors::{ItemNeighbors, Weighted};
pub use sequential::{SequentialParams, fit_sequential};

/// Why a fit failed.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// A setting is out of range (the caller's configuration).
    #[error("invalid model setting: {0}")]
    Params(String),
    /// The numerics failed (a bug or degenerate data).
    #[error("model fit failed: {0}")]
    Numeric(String),
}

/// The order of one user's interactions that share a timestamp: by a hash of
/// (user, item), then by id. Not by id alone: MovieLens users rate many
/// movies in the same second, and ordered by id the last of them would be
/// predictable from id order, which every model fitted on the sequences
/// (transitions, the sequence model, the ranker's held-out items) would learn.
pub fn tie_order(user: &str, a: &str, b: &str) -> std::cmp::Ordering {
    tie_key(user, a)
        .cmp(&tie_key(user, b))
        .then_with(|| id_order(a, b))
}

fn tie_key(user: &str, item: &str) -> u64 {
    sommelier_types::mix64(
        sommelier_types::fnv1a(user) ^ sommelier_types::fnv1a(item).rotate_left(29),
    )
}

/// Item ids in their natural order: numerically when both are integers (as in
/// MovieLens, where "1000" comes after "200"), as strings otherwise.
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}
