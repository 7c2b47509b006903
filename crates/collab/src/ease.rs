//! EASE (Steck, 2019): a closed-form item-item model. With the item Gram matrix
//! `G = XᵀX + λI` and `P = G⁻¹`, the weights are `B = −P / diag(P)` with a zero
//! diagonal; a user's scores are `x·B` over their interaction vector `x`.
//!
//! Exact and strong on catalogs up to some ten thousand items; the fit is one
//! SPD inverse (≈1.3·n³ flops). Larger catalogs keep the `max_items` most
//! interacted-with items (the long tail has too few interactions to learn
//! from anyway) and the rest gets no collaborative candidates. Each item
//! keeps its `neighbors` weights largest in magnitude, negative ones too:
//! an item its history speaks against is pushed down, as in the dense model.

use crate::linalg::{Mat, spd_inverse};
use crate::neighbors::{ItemNeighbors, strongest_of_row};
use crate::{FitError, Interactions};

/// EASE settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EaseParams {
    /// L2 regularisation λ.
    pub lambda: f32,
    /// Most items in the model (by interaction count).
    pub max_items: usize,
    /// Weights kept per item: the largest in magnitude, negative included.
    pub neighbors: usize,
    /// Items need at least this many users to enter the model.
    pub min_users: u32,
    /// Threads for the matrix work.
    pub threads: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        Self {
            lambda: 100.0,
            max_items: 10_000,
            neighbors: 200,
            min_users: 2,
            threads: 2,
        }
    }
}

/// Fits EASE on the interactions.
pub fn fit_ease(data: &Interactions, p: &EaseParams) -> Result<ItemNeighbors, FitError> {
    if p.lambda.is_nan() || p.lambda <= 0.0 {
        return Err(FitError::Params(format!(
            "ease lambda must be > 0 (got {})",
            p.lambda
        )));
    }
    let seqs = data.sequences();
    let counts = data.item_counts(seqs);
    // The modelled items: most users first, ties by id.
    let mut chosen: Vec<u32> = (0..counts.len() as u32)
        .filter(|i| counts[*i as usize] >= p.min_users)
        .collect();
    chosen.sort_by(|a, b| {
        counts[*b as usize]
            .cmp(&counts[*a as usize])
            .then_with(|| data.items()[*a as usize].cmp(&data.items()[*b as usize]))
    });
    chosen.truncate(p.max_items);
    let n = chosen.len();
    let ids: Vec<String> = chosen
        .iter()
        .map(|i| data.items()[*i as usize].clone())
        .collect();
    if n == 0 {
        return Ok(ItemNeighbors::from_rows(ids, Vec::new()));
    }
    let mut local = vec![u32::MAX; counts.len()];
    for (k, i) in chosen.iter().enumerate() {
        local[*i as usize] = k as u32;
    }
    // Gram matrix by pair counting over each user's items.
    let mut g = Mat::zeros(n, n);
    let mut row: Vec<usize> = Vec::new();
    for s in seqs {
        row.clear();
        row.extend(
            s.iter()
                .map(|i| local[*i as usize])
                .filter(|k| *k != u32::MAX)
                .map(|k| k as usize),
        );
        for &a in &row {
            let base = a * n;
            for &b in &row {
                g.data[base + b] += 1.0;
            }
        }
    }
    for i in 0..n {
        g.data[i * n + i] += p.lambda;
    }
    let pinv = spd_inverse(&g, p.threads).map_err(FitError::Numeric)?;
    drop(g);
    let diag: Vec<f32> = (0..n).map(|j| pinv.at(j, j)).collect();
    let mut rows = Vec::with_capacity(n);
    let mut buf = vec![0f32; n];
    for i in 0..n {
        for j in 0..n {
            buf[j] = -pinv.at(i, j) / diag[j];
        }
        rows.push(strongest_of_row(&buf, p.neighbors, i));
    }
    Ok(ItemNeighbors::from_rows(ids, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Weighted;

    /// EASE with a small λ, for the few users of these tests.
    fn fit_small(d: &Interactions) -> ItemNeighbors {
        fit_ease(
            d,
            &EaseParams {
                lambda: 1.0,
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn items_bought_together_recommend_each_other() {
        let mut d = Interactions::new();
        // Two clusters: {a, b, c} and {x, y, z}.
        for u in 0..30 {
            let user = format!("u{u}");
            let cluster = if u % 2 == 0 {
                ["a", "b", "c"]
            } else {
                ["x", "y", "z"]
            };
            for (t, item) in cluster.iter().enumerate() {
                if (u + t) % 5 != 0 {
                    d.add(&user, item, t as i64);
                }
            }
        }
        let m = fit_small(&d);
        let s = m.score(
            &[Weighted {
                item: "a",
                weight: 1.0,
            }],
            10,
        );
        let top: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            &top[..2]
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>(),
            &["b", "c"].into_iter().collect()
        );
        assert!(!top.contains(&"x"), "{s:?}");
    }

    #[test]
    fn an_item_the_history_speaks_against_is_pushed_down() {
        // Users who have `a` also have `b` and `c`, never `z`; users who have
        // `z` have `b` and `c` too. `b, c` alone suggest `z`; adding `a` must
        // lower it, which only a kept negative weight a → z can do.
        let mut d = Interactions::new();
        for u in 0..40 {
            let user = format!("u{u}");
            let items: &[&str] = if u % 2 == 0 {
                &["a", "b", "c"]
            } else {
                &["b", "c", "z"]
            };
            for (t, item) in items.iter().enumerate() {
                d.add(&user, item, t as i64);
            }
            // A third group keeps `a` and `z` from being perfectly explained.
            if u % 5 == 0 {
                d.add(&user, "d", 9);
            }
        }
        let m = fit_small(&d);
        let a_to_z = m.neighbors("a").into_iter().find(|(j, _)| *j == "z");
        assert!(
            a_to_z.is_some_and(|(_, w)| w < 0.0),
            "{:?}",
            m.neighbors("a")
        );
        let history = |items: &[&'static str]| -> Vec<Weighted<'static>> {
            items
                .iter()
                .map(|item| Weighted { item, weight: 1.0 })
                .collect()
        };
        let z_of = |h: &[Weighted<'_>]| {
            m.score(h, 10)
                .into_iter()
                .find(|(j, _)| j == "z")
                .map_or(0.0, |(_, s)| s)
        };
        let without = z_of(&history(&["b", "c"]));
        let with = z_of(&history(&["a", "b", "c"]));
        assert!(without > 0.0 && with < without, "{without} then {with}");
    }

    #[test]
    fn a_bad_lambda_is_refused() {
        let e = fit_ease(
            &Interactions::new(),
            &EaseParams {
                lambda: 0.0,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("lambda"), "{e}");
    }
}
