//! Stage 2, fusion: every source's list fused by weighted reciprocal rank
//! into the candidate pool (the best `fusion.pool`), provenance kept, without
//! the user's consumed items (unless asked for).

use super::sources::Gathered;
use sommelier_recall::{Candidate, FusionConfig, Source, SourceList, fuse_rrf};
use std::borrow::Cow;

/// How much the other lists count, against their configured weights, in a
/// request that names items: their neighbours lead, and the request's own
/// words and the person's taste refine the order.
pub const REFERENCE_OTHERS: f64 = 0.25;

/// The fused candidate pool of a request. A request that names items ("like
/// Heat": `references`) is answered from their neighbours (the `similar`
/// source): the lists that know nothing of the request (popular, trending,
/// fresh) step aside, and the others count [`REFERENCE_OTHERS`] of their
/// weight, so well-known items that are merely near everything do not
/// crowd out the nearest ones.
pub(super) fn pool(
    g: &Gathered<'_>,
    fusion: &FusionConfig,
    include_consumed: bool,
    references: bool,
) -> Vec<Candidate> {
    let lists: Cow<'_, [SourceList]> =
        if references && g.lists.iter().any(|l| l.source == Source::Similar) {
            Cow::Owned(
                g.lists
                    .iter()
                    .map(|l| SourceList {
                        source: l.source,
                        weight: match l.source {
                            Source::Similar => l.weight,
                            Source::Popular | Source::Trending | Source::Fresh => 0.0,
                            _ => l.weight * REFERENCE_OTHERS,
                        },
                        items: l.items.clone(),
                    })
                    .collect(),
            )
        } else {
            Cow::Borrowed(&g.lists)
        };
    let mut fused = fuse_rrf(&lists, fusion.rrf_k, fusion.pool);
    if !include_consumed {
        fused.retain(|c| !g.seen(c.item.as_str()));
    }
    fused
}
