//! Team-draft interleaving (Radlinski, Kurup and Joachims, 2008): two
//! rankers' lists merged into one, each position credited to the ranker
//! ("team") that put it there; a click is a vote for its item's team. On
//! the same users and the same requests it needs far fewer of them than an
//! A/B split to tell two rankers apart, because each list is its own
//! comparison.

use crate::stats::{self, Estimate};
use serde::Serialize;
use sommelier_types::{fnv1a, mix64};
use std::collections::HashMap;

/// Merges `a` and `b` (ids, best first) into at most `k` ids by team
/// draft: in each round the team with fewer picks so far picks its best
/// item not yet taken (a coin, seeded by `seed` and the round, breaks a
/// tie), so neither ranker gets the top more often. Returns each id with
/// its team (0: `a`, 1: `b`). When one list runs out, the other fills up.
pub fn team_draft<T: Clone + Eq + std::hash::Hash>(
    a: &[T],
    b: &[T],
    k: usize,
    seed: &str,
) -> Vec<(T, usize)> {
    let lists = [a, b];
    let mut next = [0usize; 2];
    let mut picks = [0usize; 2];
    let mut taken: std::collections::HashSet<&T> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(k);
    let mut round = 0u64;
    while out.len() < k {
        // Skip what the other team already took.
        for t in 0..2 {
            while next[t] < lists[t].len() && taken.contains(&lists[t][next[t]]) {
                next[t] += 1;
            }
        }
        let left = [next[0] < lists[0].len(), next[1] < lists[1].len()];
        let team = match left {
            [false, false] => break,
            [true, false] => 0,
            [false, true] => 1,
            [true, true] => {
                if picks[0] != picks[1] {
                    usize::from(picks[0] > picks[1])
                } else {
                    (mix64(fnv1a(seed) ^ round) & 1) as usize
                }
            }
        };
        round += 1;
        let id = &lists[team][next[team]];
        taken.insert(id);
        out.push((id.clone(), team));
        picks[team] += 1;
        next[team] += 1;
    }
    out
}

/// One interleaved list: who saw it and how many clicks each team's items got.
#[derive(Debug, Clone, PartialEq)]
pub struct Interleaved {
    /// The user (or session).
    pub unit: String,
    /// Clicks on the first variant's items, then the second's.
    pub clicks: [u64; 2],
}

/// What an interleaving experiment found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InterleavingReport {
    /// The two rankers, in definition order (the first is the control).
    pub variants: [String; 2],
    /// Interleaved lists shown.
    pub lists: u64,
    /// Lists with at least one click.
    pub lists_with_clicks: u64,
    /// Lists each variant won (more clicks on its items), then ties.
    pub wins: [u64; 2],
    /// Lists with clicks on both teams' items alike.
    pub ties: u64,
    /// Units with a clicked list.
    pub units: usize,
    /// The second variant's preference: per unit, (its wins − the first's)
    /// over the unit's clicked lists, averaged over units; in [−1, 1], 0
    /// when neither is preferred.
    pub preference: f64,
    /// Its standard error over units.
    pub se: f64,
    /// 95 % interval of the preference (at `alpha`).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Two-sided p-value that the preference is 0.
    pub p: f64,
}

/// Credits each clicked list to the team with more clicks, then averages
/// the second variant's net wins per unit (units, not lists, are
/// independent).
pub fn analyse_interleaving(
    variants: [String; 2],
    lists: &[Interleaved],
    alpha: f64,
) -> InterleavingReport {
    let (mut wins, mut ties, mut clicked) = ([0u64; 2], 0u64, 0u64);
    let mut per_unit: HashMap<&str, (f64, f64)> = HashMap::new();
    for l in lists {
        if l.clicks == [0, 0] {
            continue;
        }
        clicked += 1;
        let net = match l.clicks[1].cmp(&l.clicks[0]) {
            std::cmp::Ordering::Greater => {
                wins[1] += 1;
                1.0
            }
            std::cmp::Ordering::Less => {
                wins[0] += 1;
                -1.0
            }
            std::cmp::Ordering::Equal => {
                ties += 1;
                0.0
            }
        };
        let u = per_unit.entry(l.unit.as_str()).or_default();
        u.0 += net;
        u.1 += 1.0;
    }
    let scores: Vec<f64> = per_unit.values().map(|(n, c)| n / c).collect();
    let Estimate { value, se, units } = stats::mean(&scores);
    let z = stats::normal_quantile(1.0 - alpha / 2.0);
    InterleavingReport {
        variants,
        lists: lists.len() as u64,
        lists_with_clicks: clicked,
        wins,
        ties,
        units,
        preference: value,
        se,
        low: value - z * se,
        high: value + z * se,
        // Every unit alike: no spread, so any preference is certain.
        p: if se > 0.0 {
            stats::two_sided_p(value / se)
        } else if value != 0.0 {
            0.0
        } else {
            1.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_draft_alternates_teams_skips_duplicates_and_fills_from_the_longer_list() {
        let a = ids(&["x", "y", "z", "w"]);
        let b = ids(&["y", "v", "x", "u"]);
        let merged = team_draft(&a, &b, 6, "req-1");
        let got: Vec<&str> = merged.iter().map(|(i, _)| i.as_str()).collect();
        // No item twice; every item from one of the lists.
        let set: std::collections::HashSet<&&str> = got.iter().collect();
        assert_eq!(set.len(), got.len());
        // Teams stay within one pick of each other.
        let mut count = [0i64; 2];
        for (_, t) in &merged {
            count[*t] += 1;
            assert!((count[0] - count[1]).abs() <= 1, "{merged:?}");
        }
        // Each team's items keep their own ranker's order.
        for t in 0..2 {
            let list = if t == 0 { &a } else { &b };
            let pos: Vec<usize> = merged
                .iter()
                .filter(|(_, x)| *x == t)
                .map(|(i, _)| list.iter().position(|y| y == i).unwrap())
                .collect();
            assert!(pos.windows(2).all(|w| w[0] < w[1]), "{merged:?}");
        }
        // The same seed, the same list; over seeds both teams lead.
        assert_eq!(team_draft(&a, &b, 6, "req-1"), merged);
        let leads: std::collections::HashSet<usize> = (0..20)
            .map(|i| team_draft(&a, &b, 4, &format!("r{i}"))[0].1)
            .collect();
        assert_eq!(leads.len(), 2);
        // One list empty: the other alone.
        assert_eq!(team_draft(&a, &[], 3, "s").len(), 3);
    }

    #[test]
    fn a_ranker_whose_items_get_more_clicks_is_preferred() {
        let mut lists = Vec::new();
        for u in 0..200 {
            for j in 0..5 {
                // The second team's items are clicked in 3 of 5 lists, the
                // first's in 1; a quarter of the users the other way round.
                let mut clicks = match (u + j) % 5 {
                    0..=2 => [0, 1],
                    3 => [1, 0],
                    _ => [0, 0],
                };
                if u % 4 == 0 {
                    clicks.reverse();
                }
                lists.push(Interleaved {
                    unit: format!("u{u}"),
                    clicks,
                });
            }
        }
        let r = analyse_interleaving(["a".into(), "b".into()], &lists, 0.05);
        assert_eq!(r.lists, 1000);
        assert_eq!((r.wins, r.ties, r.lists_with_clicks), ([300, 500], 0, 800));
        assert!((r.preference - 0.25).abs() < 1e-9, "{r:?}");
        assert!(r.p < 1e-6 && r.low > 0.0, "{r:?}");
        let even: Vec<Interleaved> = lists
            .iter()
            .map(|l| Interleaved {
                unit: l.unit.clone(),
                clicks: [l.clicks[1], l.clicks[1]],
            })
            .collect();
        let r = analyse_interleaving(["a".into(), "b".into()], &even, 0.05);
        assert_eq!((r.preference, r.p), (0.0, 1.0));
    }
}
