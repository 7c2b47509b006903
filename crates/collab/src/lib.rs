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

/// Item ids in their natural order: numerically when both are integers (as in
/// MovieLens, where "1000" comes after "200"), as strings otherwise. Ties of
/// time in a history are broken this way everywhere (fits, evaluation splits).
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}
