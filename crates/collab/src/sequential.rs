//! Next-item transitions: what tends to follow an item in users' sequences.
//! Counts `a → b` for `b` within `window` steps after `a` (nearer steps count
//! more), normalised per source item with a smoothing prior, so a rare item's
//! few transitions do not outweigh a common item's many.

use crate::neighbors::ItemNeighbors;
use crate::{FitError, Interactions};
use std::collections::HashMap;

/// Transition-model settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SequentialParams {
    /// How many following items each item links to.
    pub window: usize,
    /// Weight of step `d` is `step_decay^(d-1)`.
    pub step_decay: f32,
    /// Smoothing prior added to each source item's total.
    pub prior: f32,
    /// Successors kept per item.
    pub neighbors: usize,
}

impl Default for SequentialParams {
    fn default() -> Self {
        Self {
            window: 5,
            step_decay: 0.8,
            prior: 5.0,
            neighbors: 100,
        }
    }
}

/// Fits the transition table.
pub fn fit_sequential(
    data: &Interactions,
    p: &SequentialParams,
) -> Result<ItemNeighbors, FitError> {
    if p.window == 0 || p.step_decay.is_nan() || p.step_decay <= 0.0 || p.prior < 0.0 {
        return Err(FitError::Params(format!(
            "sequential window must be ≥ 1, step_decay > 0 and prior ≥ 0 (got {}, {}, {})",
            p.window, p.step_decay, p.prior
        )));
    }
    let seqs = data.sequences();
    let n = data.items().len();
    let mut rows: Vec<HashMap<u32, f32>> = vec![HashMap::new(); n];
    let mut totals = vec![0f32; n];
    for s in seqs {
        for (pos, &a) in s.iter().enumerate() {
            let mut w = 1.0;
            for &b in s.iter().skip(pos + 1).take(p.window) {
                *rows[a as usize].entry(b).or_default() += w;
                totals[a as usize] += w;
                w *= p.step_decay;
            }
        }
    }
    let out = rows
        .into_iter()
        .enumerate()
        .map(|(a, row)| {
            let denom = totals[a] + p.prior;
            let mut v: Vec<(u32, f32)> = row.into_iter().map(|(b, c)| (b, c / denom)).collect();
            v.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            v.truncate(p.neighbors);
            v
        })
        .collect();
    Ok(ItemNeighbors::from_rows(data.items().to_vec(), out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Weighted;

    #[test]
    fn what_usually_comes_next_ranks_first() {
        let mut d = Interactions::new();
        for u in 0..10 {
            let user = format!("u{u}");
            d.add(&user, "ep1", 1);
            d.add(&user, "ep2", 2);
            d.add(&user, if u < 7 { "ep3" } else { "other" }, 3);
        }
        let m = fit_sequential(&d, &SequentialParams::default()).unwrap();
        let s = m.score(
            &[Weighted {
                item: "ep2",
                weight: 1.0,
            }],
            5,
        );
        assert_eq!(s[0].0, "ep3");
        assert_eq!(s[1].0, "other");
        // Nothing follows the last episode.
        assert!(m.neighbors("ep3").is_empty());
    }
}
