//! Stage 2, fusion: every source's list fused by weighted reciprocal rank
//! into the candidate pool (the best `fusion.pool`), provenance kept, without
//! the user's consumed items (unless asked for).

use super::sources::Gathered;
use sommelier_recall::{Candidate, FusionConfig, Source, fuse_rrf};

/// How much the other lists count, against their configured weights, in a
/// request that names items: their neighbours lead, and the request's own
/// words and the person's taste refine the order.
pub const REFERENCE_OTHERS: f64 = 0.25;

/// The weight of `source`'s list in a request that names items ("like
/// Heat") and gets their neighbours (the `similar` list): the lists that know
/// nothing of the request (popular, trending, fresh) step aside, and the
/// others count [`REFERENCE_OTHERS`] of their `weight`, so well-known items
/// that are merely near everything do not crowd out the nearest ones.
pub(super) fn reference_weight(source: Source, weight: f64) -> f64 {
    match source {
        Source::Similar => weight,
        Source::Popular | Source::Trending | Source::Fresh => 0.0,
        _ => weight * REFERENCE_OTHERS,
    }
}

/// The fused candidate pool of a request (the lists' weights as
/// [`super::sources::gather`] set them).
pub(super) fn pool(
    g: &Gathered<'_>,
    fusion: &FusionConfig,
    include_consumed: bool,
) -> Vec<Candidate> {
    let mut fused = fuse_rrf(&g.lists, fusion.rrf_k, fusion.pool);
    if !include_consumed {
        fused.retain(|c| !g.seen(c.item.as_str()));
    }
    fused
}
