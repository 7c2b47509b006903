//! An experiment's report from what happened to its units: per variant,
//! exposures, click-through, conversion, mean rating of what was consumed,
//! return rate, latency and LLM fallbacks; per treatment against the
//! control, the difference with its 95 % interval (delta method over units,
//! since one user's many exposures are not independent), a fixed-horizon
//! p-value, and an always-valid p-value (mSPRT) taken as the running
//! minimum over each day's close, which may be read every day without
//! inflating false positives; and the sample ratio mismatch check.

use crate::define::Experiment;
use crate::stats::{self, Estimate};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One thing that happened to a unit of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The unit (user or session).
    pub unit: String,
    /// Its variant.
    pub variant: String,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// What.
    pub kind: Observed,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observed {
    /// A list was shown; `llm`: whether the LLM stage was asked for and
    /// fell back (`Some(true)`), answered (`Some(false)`), or was not asked.
    Exposure {
        /// Time to answer.
        latency_ms: f64,
        /// The LLM stage's outcome, if asked.
        llm_fell_back: Option<bool>,
    },
    /// A click on a shown item.
    Click,
    /// A purchase (or other conversion) of a shown item.
    Conversion,
    /// A rating of a shown item.
    Rating(f64),
}

/// One unit's totals so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitTotals {
    /// Lists shown.
    pub exposures: u64,
    /// Clicks attributed.
    pub clicks: u64,
    /// Conversions attributed.
    pub conversions: u64,
    /// Sum and count of ratings attributed.
    pub rating_sum: f64,
    /// Ratings attributed.
    pub ratings: u64,
    /// Day (since the start) of the first exposure.
    pub first_day: Option<i64>,
    /// Seen again on a later day than the first exposure.
    pub returned: bool,
}

/// How to analyse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Length of a look (default one day).
    pub look_ms: i64,
    /// Error rate of the tests (default 0.05).
    pub alpha: f64,
    /// The mixture's spread as a share of the metric's value at the first
    /// look (default 0.1: effects of about 10 % are where the sequential
    /// test is most sensitive). Fixed after the first look.
    pub tau_relative: f64,
    /// Sample ratio mismatch is flagged below this p-value (default 0.001).
    pub srm_alpha: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            look_ms: 86_400_000,
            alpha: 0.05,
            tau_relative: 0.1,
            srm_alpha: 0.001,
        }
    }
}

/// A metric of one variant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Metric {
    /// The value.
    pub value: f64,
    /// Its standard error.
    pub se: f64,
}

impl From<Estimate> for Metric {
    fn from(e: Estimate) -> Self {
        Self {
            value: e.value,
            se: e.se,
        }
    }
}

/// Per variant.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VariantMetrics {
    /// Its name.
    pub variant: String,
    /// Units assigned that were shown something.
    pub units: usize,
    /// Its share of the experiment's units, and the share its weight asks for.
    pub share: f64,
    /// The share its weight asks for.
    pub expected_share: f64,
    /// Lists shown.
    pub exposures: u64,
    /// Clicks per list shown.
    pub ctr: Metric,
    /// Conversions per list shown.
    pub conversion: Metric,
    /// Mean rating of the shown items rated (over the units who rated).
    pub mean_rating: Metric,
    /// Share of units seen again on a later day than their first list.
    pub return_rate: Metric,
    /// Latency of its lists, median and 99th percentile, ms.
    pub latency_p50_ms: f64,
    /// 99th percentile.
    pub latency_p99_ms: f64,
    /// Share of LLM-stage requests that fell back to the classical answer
    /// (none: no request asked for the LLM stage).
    pub llm_fallback_rate: Option<f64>,
}

/// A treatment against the control on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// The treatment.
    pub variant: String,
    /// `ctr`, `conversion`, `mean_rating`, `return_rate`.
    pub metric: String,
    /// Treatment minus control.
    pub difference: f64,
    /// 95 % interval of the difference (at `alpha`).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The difference relative to the control's value.
    pub relative: f64,
    /// The fixed-horizon p-value: valid only read once, at a size fixed in advance.
    pub p_fixed: f64,
    /// The always-valid p-value: the running minimum of the mSPRT over the looks.
    pub p_sequential: f64,
    /// `p_sequential` below `alpha`.
    pub significant: bool,
    /// The always-valid p-value at each look (day), for the plot.
    pub looks: Vec<f64>,
    /// The fixed-horizon p-value at each look: what reading it every day
    /// would have seen (each below `alpha` would have been a claim).
    pub looks_fixed: Vec<f64>,
}

/// An experiment's report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// The experiment.
    pub experiment: String,
    /// The control variant.
    pub control: String,
    /// Per variant, in definition order.
    pub variants: Vec<VariantMetrics>,
    /// Each treatment against the control, per metric.
    pub comparisons: Vec<Comparison>,
    /// Sample ratio mismatch: the chi-square p-value of units per variant
    /// against the weights.
    pub srm_p: f64,
    /// `srm_p` below the threshold: the assignment or the logging is
    /// broken, and no difference should be trusted until it is explained.
    pub srm: bool,
    /// Looks (days) the sequential test was evaluated at.
    pub looks: usize,
    /// An interleaving experiment's result (its `variants` and
    /// `comparisons` are then empty: every unit saw both).
    pub interleaving: Option<crate::interleave::InterleavingReport>,
    /// The error rate of the tests.
    pub alpha: f64,
}

/// The metrics compared, and how each is read off a unit.
const COMPARED: [&str; 4] = ["ctr", "conversion", "mean_rating", "return_rate"];

fn estimate(metric: &str, units: &[&UnitTotals]) -> Estimate {
    match metric {
        "ctr" => stats::ratio(
            &units
                .iter()
                .map(|u| (u.clicks as f64, u.exposures as f64))
                .collect::<Vec<_>>(),
        ),
        "conversion" => stats::ratio(
            &units
                .iter()
                .map(|u| (u.conversions as f64, u.exposures as f64))
                .collect::<Vec<_>>(),
        ),
        "mean_rating" => stats::ratio(
            &units
                .iter()
                .filter(|u| u.ratings > 0)
                .map(|u| (u.rating_sum, u.ratings as f64))
                .collect::<Vec<_>>(),
        ),
        _ => stats::mean(
            &units
                .iter()
                .map(|u| f64::from(u8::from(u.returned)))
                .collect::<Vec<_>>(),
        ),
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The report of `experiment` from its observations (any order). Units
/// count from their first exposure: a click by a unit never shown a list
/// of the experiment is not its doing.
pub fn analyse(experiment: &Experiment, observations: &[Observation], o: &Options) -> Report {
    let names: Vec<&str> = experiment
        .variants
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    let mut sorted: Vec<&Observation> = observations
        .iter()
        .filter(|x| names.contains(&x.variant.as_str()))
        .collect();
    sorted.sort_by_key(|x| x.at_ms);
    let start = experiment
        .started_ms
        .or(sorted.first().map(|x| x.at_ms))
        .unwrap_or(0);
    let day_of = |at: i64| (at - start).div_euclid(o.look_ms.max(1));
    let mut units: Vec<HashMap<&str, UnitTotals>> = vec![HashMap::new(); names.len()];
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut llm: Vec<(u64, u64)> = vec![(0, 0); names.len()];
    // Per treatment and metric: the always-valid p at each look.
    let mut looks: BTreeMap<(usize, &str), Vec<f64>> = BTreeMap::new();
    let mut looks_fixed: BTreeMap<(usize, &str), Vec<f64>> = BTreeMap::new();
    let mut taus: HashMap<&str, f64> = HashMap::new();
    let mut next = 0;
    let last_day = sorted.last().map(|x| day_of(x.at_ms)).unwrap_or(0);
    for day in 0..=last_day {
        while next < sorted.len() && day_of(sorted[next].at_ms) <= day {
            let x = sorted[next];
            next += 1;
            let v = names.iter().position(|n| *n == x.variant).unwrap_or(0);
            let d = day_of(x.at_ms);
            if let Observed::Exposure {
                latency_ms,
                llm_fell_back,
            } = x.kind
            {
                latencies[v].push(latency_ms);
                if let Some(fell) = llm_fell_back {
                    llm[v].0 += 1;
                    llm[v].1 += u64::from(fell);
                }
                let u = units[v].entry(x.unit.as_str()).or_default();
                u.exposures += 1;
                match u.first_day {
                    None => u.first_day = Some(d),
                    Some(f) if d > f => u.returned = true,
                    _ => {}
                }
                continue;
            }
            let Some(u) = units[v].get_mut(x.unit.as_str()) else {
                continue;
            };
            if u.first_day.is_some_and(|f| d > f) {
                u.returned = true;
            }
            match x.kind {
                Observed::Click => u.clicks += 1,
                Observed::Conversion => u.conversions += 1,
                Observed::Rating(r) => {
                    u.rating_sum += r;
                    u.ratings += 1;
                }
                Observed::Exposure { .. } => {}
            }
        }
        // The day's close: one look of the sequential test.
        let control: Vec<&UnitTotals> = units[0].values().collect();
        for metric in COMPARED {
            let c = estimate(metric, &control);
            for (t, treated) in units.iter().enumerate().skip(1) {
                let treated: Vec<&UnitTotals> = treated.values().collect();
                let e = estimate(metric, &treated);
                let var = c.se * c.se + e.se * e.se;
                if c.units < 2 || e.units < 2 || var <= 0.0 {
                    continue;
                }
                let tau = *taus.entry(metric).or_insert_with(|| {
                    (o.tau_relative * (c.value + e.value) / 2.0).abs().max(1e-9)
                });
                looks.entry((t, metric)).or_default().push(stats::msprt_p(
                    e.value - c.value,
                    var,
                    tau * tau,
                ));
                looks_fixed
                    .entry((t, metric))
                    .or_default()
                    .push(stats::two_sided_p((e.value - c.value) / var.sqrt()));
            }
        }
    }
    let total_units: usize = units.iter().map(HashMap::len).sum();
    let weight_total: f64 = experiment.variants.iter().map(|v| v.weight).sum();
    let variants: Vec<VariantMetrics> = experiment
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let us: Vec<&UnitTotals> = units[i].values().collect();
            let mut lat = std::mem::take(&mut latencies[i]);
            lat.sort_by(f64::total_cmp);
            VariantMetrics {
                variant: v.name.clone(),
                units: us.len(),
                share: if total_units > 0 {
                    us.len() as f64 / total_units as f64
                } else {
                    0.0
                },
                expected_share: v.weight / weight_total,
                exposures: us.iter().map(|u| u.exposures).sum(),
                ctr: estimate("ctr", &us).into(),
                conversion: estimate("conversion", &us).into(),
                mean_rating: estimate("mean_rating", &us).into(),
                return_rate: estimate("return_rate", &us).into(),
                latency_p50_ms: percentile(&lat, 0.5),
                latency_p99_ms: percentile(&lat, 0.99),
                llm_fallback_rate: (llm[i].0 > 0).then(|| llm[i].1 as f64 / llm[i].0 as f64),
            }
        })
        .collect();
    let z = stats::normal_quantile(1.0 - o.alpha / 2.0);
    let control: Vec<&UnitTotals> = units[0].values().collect();
    let mut comparisons = Vec::new();
    for (t, treated) in units.iter().enumerate().skip(1) {
        let treated: Vec<&UnitTotals> = treated.values().collect();
        for metric in COMPARED {
            let c = estimate(metric, &control);
            let e = estimate(metric, &treated);
            let diff = e.value - c.value;
            let se = (c.se * c.se + e.se * e.se).sqrt();
            let seq = looks.remove(&(t, metric)).unwrap_or_default();
            let p_sequential = seq.iter().copied().fold(1.0, f64::min);
            comparisons.push(Comparison {
                variant: names[t].to_string(),
                metric: metric.to_string(),
                difference: diff,
                low: diff - z * se,
                high: diff + z * se,
                relative: if c.value != 0.0 { diff / c.value } else { 0.0 },
                p_fixed: if se > 0.0 {
                    stats::two_sided_p(diff / se)
                } else {
                    1.0
                },
                p_sequential,
                significant: p_sequential < o.alpha,
                looks: seq,
                looks_fixed: looks_fixed.remove(&(t, metric)).unwrap_or_default(),
            });
        }
    }
    let observed: Vec<u64> = units.iter().map(|u| u.len() as u64).collect();
    let shares: Vec<f64> = experiment.variants.iter().map(|v| v.weight).collect();
    let (_, srm_p) = stats::chi2_fit(&observed, &shares);
    Report {
        experiment: experiment.name.clone(),
        control: experiment.control().to_string(),
        variants,
        comparisons,
        srm_p,
        srm: srm_p < o.srm_alpha,
        looks: (last_day + 1).max(0) as usize,
        interleaving: None,
        alpha: o.alpha,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment(weights: &[f64]) -> Experiment {
        let names: Vec<String> = (0..weights.len())
            .map(|i| {
                if i == 0 {
                    "control".into()
                } else {
                    format!("t{i}")
                }
            })
            .collect();
        let variants: Vec<(&str, f64)> = names
            .iter()
            .map(String::as_str)
            .zip(weights.iter().copied())
            .collect();
        let mut e = crate::define::test_experiment("e", "l", 1.0, &variants);
        e.offset = Some(0);
        e.started_ms = Some(0);
        e
    }

    fn obs(unit: &str, variant: &str, at_ms: i64, kind: Observed) -> Observation {
        Observation {
            unit: unit.into(),
            variant: variant.into(),
            at_ms,
            kind,
        }
    }

    const SHOWN: Observed = Observed::Exposure {
        latency_ms: 10.0,
        llm_fell_back: None,
    };

    #[test]
    fn totals_follow_units_and_days() {
        let e = experiment(&[1.0, 1.0]);
        let day = 86_400_000;
        let x = vec![
            obs("a", "control", 10, SHOWN),
            obs("a", "control", 20, Observed::Click),
            obs("a", "control", day + 5, SHOWN),
            obs("b", "control", 30, SHOWN),
            obs("c", "t1", 40, SHOWN),
            obs("c", "t1", 50, Observed::Click),
            obs("c", "t1", 60, Observed::Conversion),
            obs("c", "t1", 70, Observed::Rating(4.0)),
            // Never shown a list: not the experiment's doing.
            obs("z", "t1", 80, Observed::Click),
        ];
        let r = analyse(&e, &x, &Options::default());
        assert_eq!(r.looks, 2);
        let c = &r.variants[0];
        assert_eq!((c.units, c.exposures), (2, 3));
        assert!((c.ctr.value - 1.0 / 3.0).abs() < 1e-12);
        assert!((c.return_rate.value - 0.5).abs() < 1e-12);
        let t = &r.variants[1];
        assert_eq!((t.units, t.exposures), (1, 1));
        assert_eq!(t.ctr.value, 1.0);
        assert_eq!(t.conversion.value, 1.0);
        assert_eq!(t.mean_rating.value, 4.0);
        assert_eq!(t.latency_p99_ms, 10.0);
        assert_eq!(t.llm_fallback_rate, None);
        assert_eq!(r.comparisons.len(), 4);
    }

    #[test]
    fn a_real_difference_is_found_and_a_skewed_split_is_flagged() {
        let e = experiment(&[1.0, 1.0]);
        let mut x = Vec::new();
        // 2,000 users per arm, 5 lists each over 5 days; 10 % against 15 % CTR.
        for i in 0..4000 {
            let (v, rate) = if i % 2 == 0 {
                ("control", 10)
            } else {
                ("t1", 15)
            };
            let u = format!("u{i}");
            for d in 0..5 {
                let at = d * 86_400_000 + i;
                x.push(obs(&u, v, at, SHOWN));
                if (i * 7 + d * 13) % 100 < rate {
                    x.push(obs(&u, v, at + 1, Observed::Click));
                }
            }
        }
        let r = analyse(&e, &x, &Options::default());
        let ctr = r.comparisons.iter().find(|c| c.metric == "ctr").unwrap();
        assert!(ctr.significant, "{ctr:?}");
        assert!(
            ctr.low > 0.0 && (ctr.difference - 0.05).abs() < 0.01,
            "{ctr:?}"
        );
        assert_eq!(ctr.looks.len(), 5);
        assert!(!r.srm, "{}", r.srm_p);
        // Drop a fifth of the treatment's users: the split no longer matches.
        let skewed: Vec<Observation> = x
            .into_iter()
            .filter(|o| !(o.variant == "t1" && o.unit[1..].parse::<usize>().unwrap() % 10 == 1))
            .collect();
        let r = analyse(&e, &skewed, &Options::default());
        assert!(r.srm, "{}", r.srm_p);
    }
}
