//! Synthetic traffic with a known effect (`sommelier bench ab`): users
//! with their own click propensity (a Beta around the base rate, so users
//! differ as real ones do), assigned by the real [`crate::assign`], who
//! visit on some days and click what they are shown with their propensity,
//! raised by a known relative lift in the treatment. Many seeds show
//! whether the analysis finds a true effect as often as its spread says it
//! should (power), and how often it claims one that is not there (an A/A
//! run: the false-positive rate, for the fixed-horizon test read once,
//! read every day, and the sequential test read every day).

use crate::analysis::{Observation, Observed, Options, analyse};
use crate::assign::assign;
use crate::define::{Experiment, State, Surface, Unit, Variant, check_all};
use crate::stats;
use serde::Serialize;
use sommelier_types::mix64;

/// One simulated experiment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Simulation {
    /// Users who may visit.
    pub users: usize,
    /// Days it runs (one look each).
    pub days: u32,
    /// Chance a user visits on a day (one list per visit).
    pub visit_rate: f64,
    /// The control's mean click propensity per list.
    pub base_ctr: f64,
    /// The treatment's relative lift of every user's propensity (0: A/A).
    pub lift: f64,
    /// Concentration of the users' Beta propensities (higher: more alike).
    pub concentration: f64,
    /// Share of the treatment's users whose lists never reach the log (a
    /// variant that fails more often): the sample ratio check should flag it.
    pub lost: f64,
}

impl Default for Simulation {
    fn default() -> Self {
        Self {
            users: 4_000,
            days: 14,
            visit_rate: 0.3,
            base_ctr: 0.05,
            lift: 0.1,
            concentration: 20.0,
            lost: 0.0,
        }
    }
}

/// What many seeds of a simulation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Power {
    /// The simulation.
    pub simulation: Simulation,
    /// Seeds run.
    pub runs: usize,
    /// The true CTR difference (treatment − control), in expectation.
    pub true_difference: f64,
    /// Mean estimated difference over the seeds.
    pub mean_difference: f64,
    /// Spread (standard deviation) of the estimated difference over the seeds.
    pub spread: f64,
    /// Mean standard error the delta method gave: should match `spread`.
    pub mean_se: f64,
    /// The fixed-horizon test's power that `spread` implies.
    pub expected_power: f64,
    /// Share of seeds where the fixed-horizon test, read once at the end, rejected.
    pub rejected_fixed: f64,
    /// Share of seeds where reading the fixed-horizon p-value every day
    /// would have rejected on some day.
    pub rejected_fixed_daily: f64,
    /// Share of seeds where the sequential test, read every day, rejected.
    pub rejected_sequential: f64,
    /// Share of 95 % intervals that held the true difference.
    pub coverage: f64,
    /// Share of seeds flagged for sample ratio mismatch (should be about 0.001).
    pub srm_flagged: f64,
}

/// A small, fast generator: SplitMix64 over a counter.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
    pub(crate) fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    pub(crate) fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// Gamma(shape, 1) by Marsaglia and Tsang.
    pub(crate) fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0) * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v > 0.0 && self.uniform().ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }
    pub(crate) fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        x / (x + self.gamma(b))
    }
}

/// The two-variant experiment the simulator assigns with.
pub fn experiment() -> Experiment {
    let mut e = vec![Experiment {
        name: "simulated".into(),
        description: "bench ab".into(),
        surfaces: vec![Surface::Recommend],
        layer: "default".into(),
        traffic: 1.0,
        unit: Unit::User,
        mode: crate::define::Mode::Split,
        variants: ["control", "treatment"]
            .map(|n| Variant {
                name: n.into(),
                weight: 1.0,
                overrides: Default::default(),
            })
            .to_vec(),
        state: State::Running,
        offset: None,
        started_ms: Some(0),
        stopped_ms: None,
    }];
    check_all(&mut e).expect("the simulated experiment is valid");
    e.pop().expect("one experiment")
}

/// One seed's observations.
pub fn observations(sim: &Simulation, e: &Experiment, seed: u64) -> Vec<Observation> {
    let mut rng = Rng(mix64(seed ^ 0x5eed));
    let k = sim.concentration;
    let mut out = Vec::new();
    let all = std::slice::from_ref(e);
    for i in 0..sim.users {
        let unit = format!("s{seed}-u{i}");
        let Some(a) = assign(all, Surface::Recommend, Some(&unit), None).pop() else {
            continue;
        };
        let p = rng.beta(sim.base_ctr * k, (1.0 - sim.base_ctr) * k);
        let treated = a.variant != e.control();
        if treated && rng.uniform() < sim.lost {
            continue;
        }
        let p = if treated {
            (p * (1.0 + sim.lift)).min(1.0)
        } else {
            p
        };
        for day in 0..i64::from(sim.days) {
            if rng.uniform() >= sim.visit_rate {
                continue;
            }
            let at = day * 86_400_000 + (rng.uniform() * 86_000_000.0) as i64;
            out.push(Observation {
                unit: unit.clone(),
                variant: a.variant.clone(),
                at_ms: at,
                kind: Observed::Exposure {
                    latency_ms: 5.0,
                    llm_fell_back: None,
                },
            });
            if rng.uniform() < p {
                out.push(Observation {
                    unit: unit.clone(),
                    variant: a.variant.clone(),
                    at_ms: at + 1_000,
                    kind: Observed::Click,
                });
            }
        }
    }
    out
}

/// Runs `runs` seeds (from `first_seed`) and summarises what the analysis found.
pub fn power(sim: &Simulation, runs: usize, first_seed: u64) -> Power {
    let e = experiment();
    let o = Options::default();
    let mut diffs = Vec::with_capacity(runs);
    let (mut se_sum, mut fixed, mut daily, mut seq, mut covered, mut srm) = (0.0, 0, 0, 0, 0, 0);
    let truth = sim.base_ctr * sim.lift;
    for s in 0..runs as u64 {
        let x = observations(sim, &e, first_seed + s);
        let r = analyse(&e, &x, &o);
        srm += usize::from(r.srm);
        let Some(c) = r.comparisons.iter().find(|c| c.metric == "ctr") else {
            continue;
        };
        diffs.push(c.difference);
        se_sum += (c.high - c.low) / (2.0 * stats::normal_quantile(1.0 - o.alpha / 2.0));
        fixed += usize::from(c.p_fixed < o.alpha);
        daily += usize::from(c.looks_fixed.iter().any(|p| *p < o.alpha));
        seq += usize::from(c.significant);
        covered += usize::from(c.low <= truth && truth <= c.high);
    }
    let n = diffs.len().max(1) as f64;
    let m = diffs.iter().sum::<f64>() / n;
    let spread = (diffs.iter().map(|d| (d - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let z = stats::normal_quantile(1.0 - o.alpha / 2.0);
    let expected_power = if spread > 0.0 {
        stats::normal_cdf(truth.abs() / spread - z) + stats::normal_cdf(-truth.abs() / spread - z)
    } else {
        0.0
    };
    Power {
        simulation: *sim,
        runs,
        true_difference: truth,
        mean_difference: m,
        spread,
        mean_se: se_sum / n,
        expected_power,
        rejected_fixed: fixed as f64 / n,
        rejected_fixed_daily: daily as f64 / n,
        rejected_sequential: seq as f64 / n,
        coverage: covered as f64 / n,
        srm_flagged: srm as f64 / runs.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_true_lift_is_found_at_the_power_its_spread_implies() {
        let sim = Simulation {
            users: 3_000,
            days: 7,
            lift: 0.3,
            ..Simulation::default()
        };
        let p = power(&sim, 60, 1);
        // The delta method's standard error matches the real spread.
        assert!((p.mean_se / p.spread - 1.0).abs() < 0.25, "{p:?}");
        assert!(
            (p.mean_difference - p.true_difference).abs() < 2.0 * p.spread / 60f64.sqrt() + 1e-3,
            "{p:?}"
        );
        // Power as expected (within the noise of 60 seeds).
        assert!((p.rejected_fixed - p.expected_power).abs() < 0.2, "{p:?}");
        assert!(p.rejected_sequential <= p.rejected_fixed + 0.05, "{p:?}");
        assert!(p.coverage > 0.85, "{p:?}");
    }

    #[test]
    fn an_a_a_run_claims_few_differences() {
        let sim = Simulation {
            users: 2_000,
            days: 7,
            lift: 0.0,
            ..Simulation::default()
        };
        let p = power(&sim, 100, 7);
        assert!(p.rejected_fixed <= 0.12, "{p:?}");
        assert!(p.rejected_sequential <= 0.08, "{p:?}");
        assert!(p.rejected_fixed_daily >= p.rejected_fixed, "{p:?}");
        assert!(p.srm_flagged <= 0.03, "{p:?}");
    }

    #[test]
    fn losing_a_tenth_of_one_variant_is_flagged_as_a_sample_ratio_mismatch() {
        let sim = Simulation {
            users: 20_000,
            days: 7,
            lift: 0.0,
            lost: 0.1,
            ..Simulation::default()
        };
        let p = power(&sim, 10, 3);
        assert!(p.srm_flagged >= 0.9, "{p:?}");
    }
}
