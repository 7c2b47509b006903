//! Sequential: what comes next after the user's positive interactions — the
//! sequence model's most probable next items when the engine has one for
//! this user, else what tends to follow their last few (the newest counts
//! most) in the transition table.

use super::{Proposal, SourceInput, fitted};
use sommelier_collab::Weighted;

/// Each step back from the newest interaction weighs this much less.
const STEP: f32 = 0.5;

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Proposal {
    if let Some(next) = input.next_items {
        return Proposal::List(next.next(limit));
    }
    let model = match fitted(input.sequential, input.user) {
        Ok(m) => m,
        Err(why) => return Proposal::Skipped(why),
    };
    let last: Vec<Weighted<'_>> = input
        .user
        .history
        .iter()
        .rev()
        .filter(|h| h.kind.is_positive())
        .take(input.settings.sequential_context)
        .enumerate()
        .map(|(age, h)| Weighted {
            item: &h.item,
            weight: STEP.powi(age as i32),
        })
        .collect();
    Proposal::List(model.score(&last, limit))
}
