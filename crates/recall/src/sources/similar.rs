//! Similar: the items most like the ones the request refers to ("something
//! like Heat"), by the engine's item-to-item similarity (co-occurrence
//! blended with content vectors), passing the request's filter.

use super::{Proposal, SourceError, SourceInput};

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Result<Proposal, SourceError> {
    match (input.like_items, input.similarity) {
        ([], _) => Ok(Proposal::Skipped("no reference item")),
        (_, None) => Ok(Proposal::Skipped("no item similarity")),
        (items, Some(sim)) => Ok(Proposal::List(sim.similar(items, limit, input.filter)?)),
    }
}
