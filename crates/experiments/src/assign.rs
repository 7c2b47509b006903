//! Which variant a unit gets. Two hashes, no state: a hash of (layer,
//! unit) names the unit's bucket in the layer, and so the one experiment
//! of the layer it may be in; a hash of (experiment, unit), independent of
//! the first, picks the variant by weight. The same unit gets the same
//! variant on every request, restart and replica, as long as the
//! definitions stay the same.

use crate::define::{BUCKETS, Experiment, INTERLEAVED, Mode, State, Surface, Unit};
use serde::Serialize;
use sommelier_types::{fnv1a, mix64};

/// One experiment's variant for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Assignment {
    /// The experiment.
    pub experiment: String,
    /// The variant served.
    pub variant: String,
}

impl Assignment {
    /// `experiment:variant`, as the exposure log keeps it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.experiment, self.variant)
    }
}

/// A hash of two strings with a separator no name may hold, spread over
/// all 64 bits.
fn hash(a: &str, b: &str) -> u64 {
    let mut s = String::with_capacity(a.len() + b.len() + 1);
    s.push_str(a);
    s.push('\u{1f}');
    s.push_str(b);
    mix64(fnv1a(&s))
}

/// The unit's bucket in a layer, `0..BUCKETS`.
pub fn bucket(layer: &str, unit: &str) -> u32 {
    (hash(layer, unit) % u64::from(BUCKETS)) as u32
}

/// The variant of `e` for `unit`, by weight (the unit is in the experiment).
pub fn variant_of<'a>(e: &'a Experiment, unit: &str) -> &'a str {
    let total: f64 = e.variants.iter().map(|v| v.weight).sum();
    // 53 bits: a uniform double in [0, 1).
    let u = (hash(&e.name, unit) >> 11) as f64 / (1u64 << 53) as f64 * total;
    let mut acc = 0.0;
    for v in &e.variants {
        acc += v.weight;
        if u < acc {
            return &v.name;
        }
    }
    &e.variants[e.variants.len() - 1].name
}

/// Every running experiment's variant for a request on `surface` by
/// `user` (and, in a chat, `session`): at most one per layer. Experiments
/// must have passed [`crate::check_all`] (placed, not overlapping).
pub fn assign(
    experiments: &[Experiment],
    surface: Surface,
    user: Option<&str>,
    session: Option<&str>,
) -> Vec<Assignment> {
    let mut out: Vec<Assignment> = Vec::new();
    for e in experiments {
        if e.state != State::Running || !e.surfaces.contains(&surface) {
            continue;
        }
        let unit = match e.unit {
            Unit::User => user,
            Unit::Session => session.or(user),
        };
        let (Some(unit), Some(range)) = (unit, e.range()) else {
            continue;
        };
        if range.contains(&bucket(&e.layer, unit)) {
            let variant = match e.mode {
                Mode::Split => variant_of(e, unit),
                Mode::Interleave => INTERLEAVED,
            };
            out.push(Assignment {
                experiment: e.name.clone(),
                variant: variant.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::define::check_all;
    use std::collections::BTreeMap;

    fn exp(name: &str, layer: &str, traffic: f64, weights: &[f64]) -> Experiment {
        let names: Vec<String> = (0..weights.len()).map(|i| format!("v{i}")).collect();
        let variants: Vec<(&str, f64)> = names
            .iter()
            .map(String::as_str)
            .zip(weights.iter().copied())
            .collect();
        crate::define::test_experiment(name, layer, traffic, &variants)
    }

    #[test]
    fn shares_follow_traffic_and_weights_and_layers_exclude() {
        let mut all = vec![
            exp("a", "ranking", 0.3, &[1.0, 1.0]),
            exp("b", "ranking", 0.5, &[3.0, 1.0]),
            exp("c", "llm", 1.0, &[1.0, 1.0, 2.0]),
        ];
        check_all(&mut all).unwrap();
        let n = 40_000;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..n {
            let user = format!("user-{i}");
            let got = assign(&all, Surface::Recommend, Some(&user), None);
            // One per layer at most; everyone is in `c`.
            assert!(got.iter().filter(|a| a.experiment != "c").count() <= 1);
            assert!(got.iter().any(|a| a.experiment == "c"));
            for a in got {
                *counts.entry(a.label()).or_default() += 1;
            }
        }
        let share = |k: &str| counts.get(k).copied().unwrap_or(0) as f64 / n as f64;
        let near = |k: &str, want: f64| {
            let got = share(k);
            assert!((got - want).abs() < 0.012, "{k}: {got} against {want}");
        };
        near("a:v0", 0.15);
        near("a:v1", 0.15);
        near("b:v0", 0.375);
        near("b:v1", 0.125);
        near("c:v0", 0.25);
        near("c:v2", 0.5);
    }

    #[test]
    fn assignment_is_sticky_and_needs_a_unit_a_surface_and_a_running_experiment() {
        let mut all = vec![exp("a", "l", 1.0, &[1.0, 1.0])];
        check_all(&mut all).unwrap();
        let first = assign(&all, Surface::Recommend, Some("u1"), None);
        for _ in 0..5 {
            assert_eq!(assign(&all, Surface::Recommend, Some("u1"), None), first);
        }
        // A fresh copy of the definitions (another replica, a restart).
        let mut again = vec![exp("a", "l", 1.0, &[1.0, 1.0])];
        check_all(&mut again).unwrap();
        assert_eq!(assign(&again, Surface::Recommend, Some("u1"), None), first);
        assert!(assign(&all, Surface::Recommend, None, Some("s")).is_empty());
        assert!(assign(&all, Surface::Chat, Some("u1"), None).is_empty());
        all[0].state = State::Stopped;
        assert!(assign(&all, Surface::Recommend, Some("u1"), None).is_empty());
    }

    #[test]
    fn session_units_fall_back_to_the_user() {
        let mut all = vec![exp("a", "l", 1.0, &[1.0, 1.0])];
        all[0].unit = Unit::Session;
        check_all(&mut all).unwrap();
        assert_eq!(assign(&all, Surface::Recommend, Some("u"), None).len(), 1);
        // Over many sessions of one user, both variants show up.
        let seen: std::collections::HashSet<String> = (0..50)
            .map(|i| {
                assign(&all, Surface::Recommend, Some("u"), Some(&format!("s{i}")))[0]
                    .variant
                    .clone()
            })
            .collect();
        assert_eq!(seen.len(), 2);
    }
}
