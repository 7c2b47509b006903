//! Popular: decayed popularity in the request's context (time of day,
//! device). Popularity is the cold start's main signal, so this is where the
//! context reaches users without a history (the learned ranker has context
//! features for the rest).

use super::{Proposal, SourceInput};

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Proposal {
    Proposal::List(
        input
            .features
            .popular_in_context(limit, input.now, input.context),
    )
}
