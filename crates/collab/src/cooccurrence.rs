//! Item-to-item similarity from co-occurrence: the cosine of two items'
//! user sets, `c(i, j) / √(n(i) · n(j))` (binary interactions; each user's
//! newest `max_history` items), kept as each item's best `neighbors`. It is
//! the collaborative half of the engine's item-to-item similarity ("more
//! like this", `/v1/items/{id}/similar`): the plain item-kNN that people's
//! co-ratings support, without the personalisation of EASE's weights.

use crate::neighbors::ItemNeighbors;
use crate::{FitError, Interactions};

/// Co-occurrence settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CooccurrenceParams {
    /// Neighbors kept per item.
    pub neighbors: usize,
    /// Pairs seen together by fewer users are left out (one user is chance).
    pub min_together: u32,
    /// Each user's newest items counted (bounds the pair count of heavy users).
    pub max_history: usize,
    /// Threads.
    pub threads: usize,
}

impl Default for CooccurrenceParams {
    fn default() -> Self {
        Self {
            neighbors: 50,
            min_together: 2,
            max_history: 1000,
            threads: 2,
        }
    }
}

/// Fits the cosine co-occurrence table on `data`.
pub fn fit_cooccurrence(
    data: &Interactions,
    p: &CooccurrenceParams,
) -> Result<ItemNeighbors, FitError> {
    if p.neighbors == 0 || p.max_history == 0 || p.threads == 0 {
        return Err(FitError::Params(
            "co-occurrence neighbors, max_history and threads must be ≥ 1".into(),
        ));
    }
    let seqs = data.sequences();
    let n = data.items().len();
    // Each user's newest items, and the users of each item.
    let histories: Vec<&[u32]> = seqs
        .iter()
        .map(|s| &s[s.len().saturating_sub(p.max_history)..])
        .collect();
    let mut users_of: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (u, h) in histories.iter().enumerate() {
        for &i in *h {
            users_of[i as usize].push(u as u32);
        }
    }
    let count: Vec<f32> = users_of.iter().map(|u| u.len() as f32).collect();
    let rows = std::sync::Mutex::new(vec![Vec::new(); n]);
    let chunk = n.div_ceil(p.threads).max(1);
    std::thread::scope(|scope| {
        for start in (0..n).step_by(chunk) {
            let (histories, users_of, count, rows) = (&histories, &users_of, &count, &rows);
            scope.spawn(move || {
                let mut together = vec![0u32; n];
                let mut touched: Vec<u32> = Vec::new();
                let mut mine = Vec::with_capacity(chunk);
                for i in start..(start + chunk).min(n) {
                    for &u in &users_of[i] {
                        for &j in histories[u as usize] {
                            if j as usize == i {
                                continue;
                            }
                            if together[j as usize] == 0 {
                                touched.push(j);
                            }
                            together[j as usize] += 1;
                        }
                    }
                    let mut row: Vec<(u32, f32)> = touched
                        .iter()
                        .filter(|&&j| together[j as usize] >= p.min_together)
                        .map(|&j| {
                            let c = together[j as usize] as f32;
                            (j, c / (count[i] * count[j as usize]).sqrt())
                        })
                        .collect();
                    for &j in &touched {
                        together[j as usize] = 0;
                    }
                    touched.clear();
                    if row.len() > p.neighbors {
                        row.select_nth_unstable_by(p.neighbors, |a, b| b.1.total_cmp(&a.1));
                        row.truncate(p.neighbors);
                    }
                    row.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    mine.push((i, row));
                }
                let mut all = rows.lock().unwrap_or_else(|e| e.into_inner());
                for (i, row) in mine {
                    all[i] = row;
                }
            });
        }
    });
    let rows = rows.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(ItemNeighbors::from_rows(data.items().to_vec(), rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_chosen_by_the_same_people_are_each_others_neighbours() {
        let mut d = Interactions::new();
        // a and b go together; c is with everyone once.
        for u in 0..10 {
            let user = format!("u{u}");
            d.add(&user, "a", 1);
            d.add(&user, "b", 2);
            if u < 2 {
                d.add(&user, "c", 3);
            }
        }
        d.add("solo", "d", 1);
        d.add("solo", "a", 2);
        let m = fit_cooccurrence(&d, &CooccurrenceParams::default()).unwrap();
        let a = m.neighbors("a");
        assert_eq!(a[0].0, "b");
        // cosine(a, b) = 10 / √(11 · 10)
        assert!((a[0].1 - 10.0 / (110f32).sqrt()).abs() < 1e-6, "{a:?}");
        // d and a were seen together once: below min_together.
        assert!(!a.iter().any(|(j, _)| *j == "d"));
        // c's two users also chose a (11 users) and b (10): b is the closer.
        let c: Vec<&str> = m.neighbors("c").iter().map(|x| x.0).collect();
        assert_eq!(c, ["b", "a"]);
        // Threads do not change the table.
        let one = fit_cooccurrence(
            &d,
            &CooccurrenceParams {
                threads: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(one, m);
    }
}
