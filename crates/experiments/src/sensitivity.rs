//! How much more sensitive interleaving is than a split on the same
//! traffic (`sommelier bench interleave`): two rankers order each user's
//! candidates by their true appeal plus their own noise (the better ranker
//! has less), and users click what they see with that appeal times a
//! position's chance of being looked at (`1 / position`). The same users
//! are run twice: split between the rankers by the real assignment, with
//! the A/B analysis of clicks per list, and shown the team-draft merge of
//! both lists, with the interleaving analysis. Many seeds give each
//! design's power at that number of users; with two equally good rankers
//! (an A/A run), each design's false-positive rate.

use crate::analysis::{Observation, Observed, Options, analyse};
use crate::assign::assign;
use crate::define::Surface;
use crate::interleave::{Interleaved, analyse_interleaving, team_draft};
use crate::simulate::{Rng, experiment};
use serde::Serialize;
use sommelier_types::mix64;

/// Two rankers of known quality and the traffic they are compared on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rankers {
    /// Users who may visit.
    pub users: usize,
    /// Days it runs.
    pub days: u32,
    /// Chance a user visits on a day (one list per visit).
    pub visit_rate: f64,
    /// Candidates per user that both rankers order.
    pub candidates: usize,
    /// Items per list.
    pub k: usize,
    /// Mean chance that a candidate shown at the top is clicked.
    pub base_ctr: f64,
    /// Concentration of the candidates' Beta appeal (higher: more alike).
    pub concentration: f64,
    /// Shape of the Gamma (mean 1) of how much more or less than others a
    /// user clicks anything: lower, users differ more. Interleaving
    /// compares both rankers within each list, so it does not pay for it.
    pub activity_shape: f64,
    /// Standard deviation of the first ranker's (the control's) error, on
    /// the logit of the appeal.
    pub noise_control: f64,
    /// The second ranker's: smaller is better, equal is an A/A run.
    pub noise_treatment: f64,
}

impl Default for Rankers {
    fn default() -> Self {
        Self {
            users: 2_000,
            days: 14,
            visit_rate: 0.3,
            candidates: 50,
            k: 10,
            base_ctr: 0.02,
            concentration: 5.0,
            activity_shape: 1.0,
            noise_control: 1.0,
            noise_treatment: 0.8,
        }
    }
}

/// What many seeds of both designs found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sensitivity {
    /// The rankers and traffic.
    pub rankers: Rankers,
    /// Seeds run.
    pub runs: usize,
    /// Expected clicks per list under each ranker (over every simulated
    /// user): the true effect the split measures.
    pub ctr: [f64; 2],
    /// Share of seeds where the split's fixed-horizon test on clicks per
    /// list, read once at the end, rejected.
    pub split_fixed: f64,
    /// Share of seeds where the split's sequential test, read daily, rejected.
    pub split_sequential: f64,
    /// Share of seeds where the interleaving test rejected.
    pub interleaved: f64,
    /// Mean preference for the second ranker over the seeds.
    pub mean_preference: f64,
    /// Lists shown per seed, on average (the same traffic for both designs).
    pub lists: f64,
}

impl Sensitivity {
    /// The second ranker's true relative lift in clicks per list.
    pub fn lift(&self) -> f64 {
        if self.ctr[0] > 0.0 {
            self.ctr[1] / self.ctr[0] - 1.0
        } else {
            0.0
        }
    }
}

/// One user: the appeal of each candidate and each ranker's top `k`
/// (candidate indices, best first).
struct User {
    /// The chance each candidate is clicked when looked at.
    appeal: Vec<f64>,
    lists: [Vec<usize>; 2],
}

fn user(r: &Rankers, rng: &mut Rng) -> User {
    let c = r.concentration;
    let activity = rng.gamma(r.activity_shape) / r.activity_shape;
    let appeal: Vec<f64> = (0..r.candidates)
        .map(|_| (activity * rng.beta(r.base_ctr * c, (1.0 - r.base_ctr) * c)).min(1.0))
        .collect();
    let logit = |p: f64| {
        let p = p.clamp(1e-9, 1.0 - 1e-9);
        (p / (1.0 - p)).ln()
    };
    let lists = [r.noise_control, r.noise_treatment].map(|noise| {
        let score: Vec<f64> = appeal
            .iter()
            .map(|p| logit(*p) + noise * rng.normal())
            .collect();
        let mut order: Vec<usize> = (0..appeal.len()).collect();
        order.sort_by(|a, b| score[*b].total_cmp(&score[*a]));
        order.truncate(r.k);
        order
    });
    User { appeal, lists }
}

/// The chance a list position (from 0) is looked at.
fn examined(position: usize) -> f64 {
    1.0 / (position + 1) as f64
}

/// Expected clicks on a list.
fn expected_clicks(appeal: &[f64], list: &[usize]) -> f64 {
    list.iter()
        .enumerate()
        .map(|(i, m)| appeal[*m] * examined(i))
        .sum()
}

/// What one seed of both designs found.
struct Seed {
    /// The split's fixed-horizon p-value on clicks per list.
    p_split: f64,
    /// Whether the split's sequential test rejected.
    sequential: bool,
    /// The interleaving test's p-value.
    p_interleaved: f64,
    /// The interleaving's preference for the second ranker.
    preference: f64,
    /// Lists shown (per design).
    lists: usize,
    /// Expected clicks per list of each ranker, summed over users.
    truth: [f64; 2],
}

/// One seed of both designs on the same users.
fn seed(r: &Rankers, seed: u64) -> Seed {
    let e = experiment();
    let all = std::slice::from_ref(&e);
    let mut rng = Rng(mix64(seed ^ 0x1e7e_a5e5));
    let mut split = Vec::new();
    let mut merged = Vec::new();
    let mut truth = [0.0; 2];
    for i in 0..r.users {
        let unit = format!("s{seed}-u{i}");
        let u = user(r, &mut rng);
        for (sum, list) in truth.iter_mut().zip(&u.lists) {
            *sum += expected_clicks(&u.appeal, list);
        }
        let variant = assign(all, Surface::Recommend, Some(&unit), None)
            .pop()
            .map(|a| a.variant);
        for day in 0..i64::from(r.days) {
            if rng.uniform() >= r.visit_rate {
                continue;
            }
            let at = day * 86_400_000 + (rng.uniform() * 86_000_000.0) as i64;
            // The split: the list of the user's variant.
            if let Some(v) = &variant {
                let list = &u.lists[usize::from(v != e.control())];
                split.push(Observation {
                    unit: unit.clone(),
                    variant: v.clone(),
                    at_ms: at,
                    kind: Observed::Exposure {
                        latency_ms: 5.0,
                        llm_fell_back: None,
                    },
                });
                for (pos, m) in list.iter().enumerate() {
                    if rng.uniform() < u.appeal[*m] * examined(pos) {
                        split.push(Observation {
                            unit: unit.clone(),
                            variant: v.clone(),
                            at_ms: at + 1_000,
                            kind: Observed::Click,
                        });
                    }
                }
            }
            // Interleaving: the same visit shown the merge of both.
            let list = team_draft(&u.lists[0], &u.lists[1], r.k, &format!("{unit}-{day}"));
            let mut clicks = [0u64; 2];
            for (pos, (m, team)) in list.iter().enumerate() {
                if rng.uniform() < u.appeal[*m] * examined(pos) {
                    clicks[*team] += 1;
                }
            }
            merged.push(Interleaved {
                unit: unit.clone(),
                clicks,
            });
        }
    }
    let o = Options::default();
    let report = analyse(&e, &split, &o);
    let (p_split, sequential) = report
        .comparisons
        .iter()
        .find(|c| c.metric == "ctr")
        .map_or((1.0, false), |c| (c.p_fixed, c.significant));
    let names = e
        .variants
        .iter()
        .map(|v| v.name.clone())
        .collect::<Vec<_>>();
    let il = analyse_interleaving([names[0].clone(), names[1].clone()], &merged, o.alpha);
    Seed {
        p_split,
        sequential,
        p_interleaved: il.p,
        preference: il.preference,
        lists: merged.len(),
        truth,
    }
}

/// Runs `runs` seeds (from `first_seed`) of both designs.
pub fn sensitivity(r: &Rankers, runs: usize, first_seed: u64) -> Sensitivity {
    let alpha = Options::default().alpha;
    let (mut fixed, mut sequential, mut interleaved) = (0usize, 0usize, 0usize);
    let (mut preference, mut lists, mut truth) = (0.0, 0usize, [0.0; 2]);
    for s in 0..runs as u64 {
        let x = seed(r, first_seed + s);
        fixed += usize::from(x.p_split < alpha);
        sequential += usize::from(x.sequential);
        interleaved += usize::from(x.p_interleaved < alpha);
        preference += x.preference;
        lists += x.lists;
        truth[0] += x.truth[0];
        truth[1] += x.truth[1];
    }
    let n = runs.max(1) as f64;
    let per_user = (runs * r.users).max(1) as f64;
    Sensitivity {
        rankers: *r,
        runs,
        ctr: truth.map(|t| t / per_user),
        split_fixed: fixed as f64 / n,
        split_sequential: sequential as f64 / n,
        interleaved: interleaved as f64 / n,
        mean_preference: preference / n,
        lists: lists as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_finds_a_better_ranker_with_fewer_users_than_a_split() {
        let r = Rankers {
            users: 2_500,
            days: 7,
            noise_control: 1.0,
            noise_treatment: 0.5,
            ..Rankers::default()
        };
        let s = sensitivity(&r, 30, 11);
        // The better ranker really is better, by a modest margin.
        assert!(s.lift() > 0.02 && s.lift() < 0.2, "{s:?}");
        assert!(s.mean_preference > 0.0, "{s:?}");
        // On the same traffic, interleaving rejects far more often.
        assert!(s.interleaved >= 0.8, "{s:?}");
        assert!(s.split_fixed + 0.4 <= s.interleaved, "{s:?}");
    }

    #[test]
    fn two_equal_rankers_are_rarely_told_apart_by_either_design() {
        let r = Rankers {
            users: 800,
            days: 7,
            noise_control: 1.0,
            noise_treatment: 1.0,
            ..Rankers::default()
        };
        let s = sensitivity(&r, 100, 5);
        assert!(s.lift().abs() < 0.02, "{s:?}");
        assert!(s.interleaved <= 0.12, "{s:?}");
        assert!(s.split_fixed <= 0.12, "{s:?}");
        assert!(s.mean_preference.abs() < 0.05, "{s:?}");
    }
}
