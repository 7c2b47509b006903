//! Stage 2, fusion: every source's list fused by weighted reciprocal rank
//! into the candidate pool (the best `fusion.pool`), provenance kept, without
//! the user's consumed items (unless asked for).

use super::sources::Gathered;
use sommelier_recall::{Candidate, FusionConfig, fuse_rrf};

/// The fused candidate pool of a request.
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
