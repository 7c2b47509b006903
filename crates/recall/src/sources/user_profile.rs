//! User profile: the recency-weighted mean of the vectors of the items the
//! user engaged with (disliked ones subtract) → nearest items.

use super::{Proposal, SourceError, SourceInput, close};

/// Each step back in the history weighs this much less.
const RECENCY: f64 = 0.95;

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Result<Proposal, SourceError> {
    let mut profile: Option<Vec<f32>> = None;
    let items: Vec<&str> = input
        .user
        .history
        .iter()
        .rev()
        .map(|h| h.item.as_str())
        .collect();
    let vectors = input.vectors.vectors(&items);
    for ((age, h), v) in input.user.history.iter().rev().enumerate().zip(vectors) {
        let Some(v) = v else {
            continue;
        };
        let w = input.settings.weights.affinity(h.kind, h.value) * RECENCY.powi(age as i32);
        let p = profile.get_or_insert_with(|| vec![0.0; v.len()]);
        p.iter_mut()
            .zip(v.iter())
            .for_each(|(a, b)| *a += (w as f32) * b);
    }
    match profile {
        Some(mut p) if p.iter().any(|x| *x != 0.0) => {
            sommelier_types::normalize(&mut p);
            Ok(Proposal::List(close(input.vectors.search(
                &p,
                limit,
                input.filter,
            )?)))
        }
        _ if input.user.is_cold() => Ok(Proposal::Skipped("no history")),
        _ => Ok(Proposal::Skipped("no vectors for the history")),
    }
}
