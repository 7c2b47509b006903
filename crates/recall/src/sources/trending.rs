//! Trending: items whose short-window activity rises against their long
//! window.

use super::{Proposal, SourceInput};

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Proposal {
    Proposal::List(input.features.trending(limit, input.now))
}
