//! Collaborative: the fitted item-item model (EASE) or factor model (iALS)
//! over everything the user touched.

use super::{Proposal, SourceInput, fitted};
use sommelier_collab::Weighted;

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Proposal {
    let model = match fitted(input.collaborative, input.user) {
        Ok(m) => m,
        Err(why) => return Proposal::Skipped(why),
    };
    let history: Vec<Weighted<'_>> = input
        .user
        .seen
        .iter()
        .map(|i| Weighted {
            item: i,
            weight: 1.0,
        })
        .collect();
    Proposal::List(model.score(&history, limit))
}
