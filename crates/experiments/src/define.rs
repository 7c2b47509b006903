//! What an experiment is, and the checks a set of them passes before it
//! serves.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Each layer's units fall into this many buckets; an experiment takes a
/// contiguous range of them (its traffic share).
pub const BUCKETS: u32 = 10_000;

/// Most variants per experiment.
pub const MAX_VARIANTS: usize = 8;

/// One experiment: variants of the configuration, shown to a share of a
/// layer's users or sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Unique name: letters, digits, `-`, `_`, `.`; at most 64.
    pub name: String,
    /// What it tests, for the people reading the report.
    #[serde(default)]
    pub description: String,
    /// Where it applies (default: `recommend` and `chat`).
    #[serde(default = "default_surfaces")]
    pub surfaces: Vec<Surface>,
    /// Experiments of one layer never share a unit; different layers are
    /// independent of each other (default: `default`).
    #[serde(default = "default_layer")]
    pub layer: String,
    /// Share of the layer's units in the experiment, above 0 and at most 1.
    pub traffic: f64,
    /// What is assigned: a user (default) or a chat session.
    #[serde(default)]
    pub unit: Unit,
    /// `split` (default): each unit gets one variant. `interleave`: every
    /// unit in the experiment gets both of its two variants' lists merged
    /// by team draft, and clicks vote for the variant that placed the item.
    #[serde(default)]
    pub mode: Mode,
    /// The first is the control the others are compared with.
    pub variants: Vec<Variant>,
    /// Running or stopped; a stopped experiment serves the configuration
    /// as it is, and keeps its buckets so that a restart reshuffles no one.
    #[serde(default)]
    pub state: State,
    /// The first of the layer's buckets it takes; chosen when it is first
    /// accepted (the lowest free range) and kept.
    #[serde(default)]
    pub offset: Option<u32>,
    /// When it started serving (ms since the epoch; set on start).
    #[serde(default)]
    pub started_ms: Option<i64>,
    /// When it was stopped (ms since the epoch).
    #[serde(default)]
    pub stopped_ms: Option<i64>,
}

/// One variant: a name, a weight within the experiment, and the
/// configuration keys it changes (`"rerank.mmr_lambda" = 0.5`,
/// `"ranker" = "fusion"`, `"llm.enabled" = false`); the engine checks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Unique within the experiment.
    pub name: String,
    /// Relative share of the experiment's units (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// Dotted configuration keys and the values this variant serves with.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub overrides: BTreeMap<String, serde_json::Value>,
}

/// Where a list is served.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// `POST /v1/recommend`.
    Recommend,
    /// A chat turn's picks.
    Chat,
    /// `GET /v1/items/{id}/similar`: its lists are logged under this name,
    /// but no experiment may name it ([`Experiment::check`]).
    Similar,
    /// `GET /v1/search`: as `Similar`.
    Search,
}

impl Surface {
    /// The name the exposure log uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Recommend => "recommend",
            Surface::Chat => "chat",
            Surface::Similar => "similar",
            Surface::Search => "search",
        }
    }
}

/// What an experiment assigns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// The user id (requests without one are not in the experiment).
    #[default]
    User,
    /// The chat session (other surfaces fall back to the user id).
    Session,
}

/// How an experiment compares its variants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// An A/B(/n) split: one variant per unit.
    #[default]
    Split,
    /// Team-draft interleaving of exactly two variants in every list.
    Interleave,
}

/// The variant name an interleaving experiment's units are assigned.
pub const INTERLEAVED: &str = "interleaved";

/// Whether an experiment serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Assigning and serving its variants.
    #[default]
    Running,
    /// Serving nobody; kept for its report and its buckets.
    Stopped,
}

fn default_surfaces() -> Vec<Surface> {
    vec![Surface::Recommend, Surface::Chat]
}

fn default_layer() -> String {
    "default".into()
}

fn one() -> f64 {
    1.0
}

/// A definition that cannot serve, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefineError {
    /// Something about one experiment.
    #[error("experiment {experiment:?}: {reason}")]
    Invalid {
        /// Its name.
        experiment: String,
        /// What is wrong.
        reason: String,
    },
    /// Two experiments with one name.
    #[error("two experiments are named {0:?}")]
    Duplicate(String),
    /// A layer asked for more than all of its traffic.
    #[error(
        "layer {layer:?} has no free range of {needed} buckets for experiment {experiment:?} (its experiments already take {taken} of {BUCKETS}); lower its traffic or use another layer"
    )]
    LayerFull {
        /// The layer.
        layer: String,
        /// The experiment that did not fit.
        experiment: String,
        /// Buckets it needs.
        needed: u32,
        /// Buckets the others take.
        taken: u32,
    },
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Experiment {
    /// How many of its layer's buckets it takes.
    pub fn buckets(&self) -> u32 {
        ((self.traffic * f64::from(BUCKETS)).round() as u32).clamp(1, BUCKETS)
    }

    /// Its range of the layer's buckets, once placed.
    pub fn range(&self) -> Option<std::ops::Range<u32>> {
        self.offset.map(|o| o..o + self.buckets())
    }

    /// The control variant (the first).
    pub fn control(&self) -> &str {
        &self.variants[0].name
    }

    /// Checks one definition on its own (names, traffic, variants).
    pub fn check(&self) -> Result<(), DefineError> {
        let bad = |reason: String| DefineError::Invalid {
            experiment: self.name.clone(),
            reason,
        };
        if !valid_name(&self.name) {
            return Err(bad(
                "the name must be 1–64 letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if !valid_name(&self.layer) {
            return Err(bad(format!(
                "layer {:?}: 1–64 letters, digits, '-', '_' or '.'",
                self.layer
            )));
        }
        if !(self.traffic > 0.0 && self.traffic <= 1.0) {
            return Err(bad(format!(
                "traffic must be above 0 and at most 1, not {}",
                self.traffic
            )));
        }
        if self.surfaces.is_empty() {
            return Err(bad("it applies to no surface".into()));
        }
        if let Some(s) = self
            .surfaces
            .iter()
            .find(|s| matches!(s, Surface::Similar | Surface::Search))
        {
            return Err(bad(format!(
                "surface {:?}: experiments run on `recommend` and `chat` only; a `similar` or `search` request names no user to assign, and its list is logged with no variant",
                s.as_str()
            )));
        }
        if !(2..=MAX_VARIANTS).contains(&self.variants.len()) {
            return Err(bad(format!(
                "it needs 2 to {MAX_VARIANTS} variants (the first is the control), not {}",
                self.variants.len()
            )));
        }
        if self.mode == Mode::Interleave && self.variants.len() != 2 {
            return Err(bad(format!(
                "interleaving compares exactly 2 variants, not {}",
                self.variants.len()
            )));
        }
        let mut seen = HashSet::new();
        for v in &self.variants {
            if v.name == INTERLEAVED {
                return Err(bad(format!(
                    "{INTERLEAVED:?} is the name an interleaved list is logged under; name the variant otherwise"
                )));
            }
            if !valid_name(&v.name) {
                return Err(bad(format!(
                    "variant {:?}: the name must be 1–64 letters, digits, '-', '_' or '.'",
                    v.name
                )));
            }
            if !seen.insert(v.name.as_str()) {
                return Err(bad(format!("two variants are named {:?}", v.name)));
            }
            if !(v.weight.is_finite() && v.weight > 0.0) {
                return Err(bad(format!(
                    "variant {:?}: the weight must be above 0, not {}",
                    v.name, v.weight
                )));
            }
        }
        if let Some(o) = self.offset
            && o + self.buckets() > BUCKETS
        {
            return Err(bad(format!(
                "offset {o} + {} buckets passes the layer's {BUCKETS}",
                self.buckets()
            )));
        }
        Ok(())
    }

    /// The variant named `name`.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }
}

/// Checks a whole set and places the experiments that have no offset yet,
/// in order, at the lowest free range of their layer. Experiments keep
/// their range whether running or stopped, so placing a new one never
/// moves a unit of another.
pub fn check_all(experiments: &mut [Experiment]) -> Result<(), DefineError> {
    let mut names = HashSet::new();
    for e in experiments.iter() {
        e.check()?;
        if !names.insert(e.name.clone()) {
            return Err(DefineError::Duplicate(e.name.clone()));
        }
    }
    // Placed ranges per layer, then the unplaced in order.
    let mut taken: BTreeMap<String, Vec<std::ops::Range<u32>>> = BTreeMap::new();
    for e in experiments.iter() {
        if let Some(r) = e.range() {
            let ranges = taken.entry(e.layer.clone()).or_default();
            if let Some(clash) = ranges.iter().find(|x| x.start < r.end && r.start < x.end) {
                return Err(DefineError::Invalid {
                    experiment: e.name.clone(),
                    reason: format!(
                        "its buckets {}..{} overlap another experiment's {}..{} in layer {:?}",
                        r.start, r.end, clash.start, clash.end, e.layer
                    ),
                });
            }
            ranges.push(r);
        }
    }
    for e in experiments.iter_mut().filter(|e| e.offset.is_none()) {
        let ranges = taken.entry(e.layer.clone()).or_default();
        ranges.sort_by_key(|r| r.start);
        let needed = e.buckets();
        let mut at = 0;
        for r in ranges.iter() {
            if r.start >= at + needed {
                break;
            }
            at = at.max(r.end);
        }
        if at + needed > BUCKETS {
            return Err(DefineError::LayerFull {
                layer: e.layer.clone(),
                experiment: e.name.clone(),
                needed,
                taken: ranges.iter().map(|r| r.end - r.start).sum(),
            });
        }
        e.offset = Some(at);
        ranges.push(at..at + needed);
    }
    Ok(())
}

/// A running split experiment on `recommend` with these variants, for tests.
#[cfg(test)]
pub(crate) fn test_experiment(
    name: &str,
    layer: &str,
    traffic: f64,
    variants: &[(&str, f64)],
) -> Experiment {
    Experiment {
        name: name.into(),
        description: String::new(),
        surfaces: vec![Surface::Recommend],
        layer: layer.into(),
        traffic,
        unit: Unit::User,
        mode: Mode::Split,
        variants: variants
            .iter()
            .map(|(n, w)| Variant {
                name: n.to_string(),
                weight: *w,
                overrides: BTreeMap::new(),
            })
            .collect(),
        state: State::Running,
        offset: None,
        started_ms: None,
        stopped_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(name: &str, layer: &str, traffic: f64) -> Experiment {
        test_experiment(
            name,
            layer,
            traffic,
            &[("control", 1.0), ("treatment", 1.0)],
        )
    }

    #[test]
    fn experiments_of_a_layer_get_ranges_that_do_not_overlap() {
        let mut all = vec![
            exp("a", "ranking", 0.3),
            exp("b", "ranking", 0.5),
            exp("c", "llm", 1.0),
        ];
        check_all(&mut all).unwrap();
        assert_eq!(all[0].range(), Some(0..3000));
        assert_eq!(all[1].range(), Some(3000..8000));
        assert_eq!(all[2].range(), Some(0..10_000));
        // A third in the full-ish layer takes the gap that is left…
        all.push(exp("d", "ranking", 0.2));
        check_all(&mut all).unwrap();
        assert_eq!(all[3].range(), Some(8000..10_000));
        // …and one more does not fit, saying why.
        all.push(exp("e", "ranking", 0.1));
        let err = check_all(&mut all).unwrap_err();
        assert!(err.to_string().contains("no free range of 1000"), "{err}");
    }

    #[test]
    fn removing_one_frees_its_range_without_moving_the_others() {
        let mut all = vec![exp("a", "l", 0.3), exp("b", "l", 0.3)];
        check_all(&mut all).unwrap();
        all.remove(0);
        all.push(exp("c", "l", 0.2));
        check_all(&mut all).unwrap();
        assert_eq!(all[0].range(), Some(3000..6000));
        assert_eq!(all[1].range(), Some(0..2000));
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        let mut e = exp("x", "l", 0.0);
        assert!(e.check().unwrap_err().to_string().contains("traffic"));
        e.traffic = 0.5;
        e.variants.truncate(1);
        assert!(
            e.check()
                .unwrap_err()
                .to_string()
                .contains("2 to 8 variants")
        );
        let mut e = exp("x y", "l", 0.5);
        assert!(e.check().unwrap_err().to_string().contains("the name"));
        e.name = "x".into();
        e.variants[1].name = "control".into();
        assert!(e.check().unwrap_err().to_string().contains("two variants"));
        let mut all = vec![exp("a", "l", 0.5), exp("a", "m", 0.5)];
        assert_eq!(
            check_all(&mut all).unwrap_err(),
            DefineError::Duplicate("a".into())
        );
        let mut all = vec![exp("a", "l", 0.5), exp("b", "l", 0.5)];
        all[0].offset = Some(0);
        all[1].offset = Some(4000);
        assert!(
            check_all(&mut all)
                .unwrap_err()
                .to_string()
                .contains("overlap")
        );
    }

    #[test]
    fn a_definition_reads_from_toml_like_json_with_defaults() {
        let e: Experiment = serde_json::from_value(serde_json::json!({
            "name": "mmr", "traffic": 0.5,
            "variants": [{"name": "control"}, {"name": "low", "overrides": {"rerank.mmr_lambda": 0.5}}]
        }))
        .unwrap();
        assert_eq!(e.layer, "default");
        assert_eq!(e.surfaces, vec![Surface::Recommend, Surface::Chat]);
        assert_eq!(e.variants[1].weight, 1.0);
        assert_eq!(e.state, State::Running);
        assert!(
            serde_json::from_value::<Experiment>(serde_json::json!({
                "name": "x", "traffic": 1, "variants": [], "colour": 1
            }))
            .is_err()
        );
    }

    /// `similar` and `search` requests carry no user: an experiment naming
    /// them would never be shown to anyone, so it is refused with why.
    #[test]
    fn an_experiment_on_similar_or_search_is_refused() {
        for surface in ["similar", "search"] {
            let e: Experiment = serde_json::from_value(serde_json::json!({
                "name": "s", "traffic": 1.0, "surfaces": ["recommend", surface],
                "variants": [{"name": "control"}, {"name": "b"}]
            }))
            .unwrap();
            let err = e.check().unwrap_err().to_string();
            assert!(
                err.contains(&format!("surface \"{surface}\""))
                    && err.contains("no user to assign"),
                "{err}"
            );
        }
    }
}
