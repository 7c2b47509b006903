//! Experiments in the engine: the definitions in force (the configuration's
//! `[[experiments]]` and those declared over the admin API, kept in the
//! store), the configuration each variant serves with, the assignment of a
//! request, and the report of an experiment from the exposure log and the
//! events that follow it.
//!
//! A variant changes the read path's settings only: keys under `fusion.`
//! and `rerank.`, `llm.enabled`, and `ranker` (`learned` or `fusion`).
//! Each is applied to the engine's configuration and checked like it, when
//! the experiment is declared, so a bad override is refused then and never
//! reaches a request.

use crate::pipeline::RankBy;
use crate::{Config, Engine, EngineError, Result};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use sommelier_experiments::analysis::{Observation, Observed, Options};
use sommelier_experiments::{Assignment, Experiment, Report, State, Surface};
use sommelier_types::{EventKind, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How long after a list a click, purchase or rating of one of its items
/// counts for the experiment, by default.
pub const ATTRIBUTION_WINDOW_MS: i64 = 24 * 3_600_000;

/// A (user, item) pair.
type UserItem = (String, String);

/// What one variant serves with.
#[derive(Debug, Clone, Default)]
struct VariantSettings {
    /// Its keys as (dotted key, value), in order.
    keys: Vec<(String, serde_json::Value)>,
}

/// What a request is served with: the configuration (the engine's own when
/// no assigned variant changes it), the ranker asked for, and the variants.
pub(crate) struct Served {
    pub(crate) config: Option<Arc<Config>>,
    pub(crate) rank_by: Option<RankBy>,
    pub(crate) assignments: Vec<Assignment>,
    /// An interleaving experiment's two rankers, each list merged from both.
    pub(crate) interleave: Option<Box<[Arm; 2]>>,
}

/// One side of an interleaving experiment.
pub(crate) struct Arm {
    /// Its variant's name (the team its items are credited to).
    pub(crate) variant: String,
    pub(crate) config: Option<Arc<Config>>,
    pub(crate) rank_by: Option<RankBy>,
}

/// One experiment as the API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExperimentView {
    /// The definition (with its buckets placed).
    #[serde(flatten)]
    pub definition: Experiment,
    /// `config` (the configuration file; change it there) or `api`.
    pub origin: &'static str,
}

/// The definitions in force and the configurations their variants serve.
#[derive(Default)]
pub(crate) struct ExperimentSet {
    views: Vec<ExperimentView>,
    /// The definitions alone, for assignment.
    defs: Vec<Experiment>,
    variants: HashMap<String, VariantSettings>,
    /// The configuration of each combination of variants met so far.
    combined: Mutex<HashMap<String, Arc<Served>>>,
}

/// The engine's experiments, loaded on first use.
#[derive(Default)]
pub(crate) struct Experiments {
    set: RwLock<Option<Arc<ExperimentSet>>>,
    /// Serialises declarations (read, check, store, swap).
    writing: Mutex<()>,
}

/// `overrides` applied to `base`: the variant's configuration and its ranker
/// choice, or what is wrong with them.
pub fn variant_config(
    base: &Config,
    overrides: &BTreeMap<String, serde_json::Value>,
) -> std::result::Result<(Config, Option<RankBy>), String> {
    let mut config = base.clone();
    config.experiments = Vec::new();
    let mut fusion = serde_json::to_value(&base.fusion).map_err(|e| e.to_string())?;
    let mut rerank = serde_json::to_value(&base.rerank).map_err(|e| e.to_string())?;
    let mut rank_by = None;
    for (key, value) in overrides {
        let (section, rest) = key.split_once('.').unwrap_or((key.as_str(), ""));
        let table = match (section, rest) {
            ("fusion", r) if !r.is_empty() => &mut fusion,
            ("rerank", r) if !r.is_empty() => &mut rerank,
            ("llm", "enabled") => {
                let on = value
                    .as_bool()
                    .ok_or_else(|| format!("`llm.enabled` is true or false, not {value}"))?;
                if on && !base.llm.enabled {
                    return Err(
                        "`llm.enabled = true` needs the LLM on in the configuration (the model loaded); a variant can only turn it off".into(),
                    );
                }
                config.llm.enabled = on;
                continue;
            }
            ("ranker", "") => {
                rank_by = Some(match value.as_str() {
                    Some("learned") => RankBy::Auto,
                    Some("fusion") => RankBy::Fusion,
                    _ => return Err(format!("`ranker` is `learned` or `fusion`, not {value}")),
                });
                continue;
            }
            _ => {
                return Err(format!(
                    "`{key}` cannot vary per request; a variant may set keys under fusion. and rerank., llm.enabled and ranker"
                ));
            }
        };
        let parts: Vec<&str> = rest.split('.').collect();
        let mut at = table;
        for p in &parts[..parts.len() - 1] {
            at = at
                .get_mut(*p)
                .filter(|v| v.is_object())
                .ok_or_else(|| format!("`{key}`: `{section}` has no section `{p}`"))?;
        }
        // An unknown key is refused by the section's own
        // `deny_unknown_fields` below; a map's (fusion.candidates) new
        // entry is allowed.
        at.as_object_mut()
            .ok_or_else(|| format!("`{key}`: not a section"))?
            .insert(parts[parts.len() - 1].to_string(), value.clone());
    }
    config.fusion = serde_json::from_value(fusion).map_err(|e| format!("fusion: {e}"))?;
    config.rerank = serde_json::from_value(rerank).map_err(|e| format!("rerank: {e}"))?;
    config.validate().map_err(|e| e.to_string())?;
    Ok((config, rank_by))
}

/// Checks every variant's overrides against `base`, and that experiments
/// of different layers (which may both serve one request) do not set the
/// same key.
pub(crate) fn check_overrides(
    base: &Config,
    experiments: &[Experiment],
) -> std::result::Result<(), String> {
    let mut keys_by_layer: BTreeMap<&str, (String, Vec<&str>)> = BTreeMap::new();
    for e in experiments {
        for v in &e.variants {
            variant_config(base, &v.overrides)
                .map_err(|m| format!("experiment {:?}, variant {:?}: {m}", e.name, v.name))?;
        }
        let keys: Vec<&str> = e
            .variants
            .iter()
            .flat_map(|v| v.overrides.keys().map(String::as_str))
            .collect();
        for (layer, (other, their)) in &keys_by_layer {
            if *layer != e.layer
                && let Some(k) = keys.iter().find(|k| their.contains(k))
            {
                return Err(format!(
                    "experiments {:?} and {other:?} are in different layers, so one request may be in both, and both set `{k}`; put them in one layer",
                    e.name
                ));
            }
        }
        let entry = keys_by_layer
            .entry(e.layer.as_str())
            .or_insert_with(|| (e.name.clone(), Vec::new()));
        entry.1.extend(keys);
    }
    Ok(())
}

impl ExperimentSet {
    fn build(views: Vec<ExperimentView>) -> Self {
        let mut variants = HashMap::new();
        for view in &views {
            for v in &view.definition.variants {
                variants.insert(
                    format!("{}:{}", view.definition.name, v.name),
                    VariantSettings {
                        keys: v
                            .overrides
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    },
                );
            }
        }
        Self {
            defs: views.iter().map(|v| v.definition.clone()).collect(),
            views,
            variants,
            combined: Mutex::new(HashMap::new()),
        }
    }
}

impl Engine {
    /// The experiments in force, loaded from the configuration and the store
    /// on first use.
    pub(crate) fn experiment_set(&self) -> Result<Arc<ExperimentSet>> {
        if let Some(s) = self.experiments.set.read().as_ref() {
            return Ok(s.clone());
        }
        let _w = self.experiments.writing.lock();
        if let Some(s) = self.experiments.set.read().as_ref() {
            return Ok(s.clone());
        }
        let set = Arc::new(ExperimentSet::build(self.load_experiments()?));
        *self.experiments.set.write() = Some(set.clone());
        Ok(set)
    }

    /// The configuration's experiments, then the stored ones; a stored one
    /// that no longer fits beside the others (the configuration changed)
    /// is left out with a warning.
    fn load_experiments(&self) -> Result<Vec<ExperimentView>> {
        let mut defs = self.config().experiments.clone();
        sommelier_experiments::check_all(&mut defs).map_err(|e| {
            EngineError::Usage(format!("[[experiments]] in the configuration: {e}"))
        })?;
        let mut views: Vec<ExperimentView> = defs
            .into_iter()
            .map(|definition| ExperimentView {
                definition,
                origin: "config",
            })
            .collect();
        for (name, body) in self.store().experiment_definitions()? {
            let parsed: std::result::Result<Experiment, String> =
                serde_json::from_str(&body).map_err(|e| e.to_string());
            let mut trial: Vec<Experiment> = views.iter().map(|v| v.definition.clone()).collect();
            let fits = parsed.and_then(|e| {
                trial.push(e);
                sommelier_experiments::check_all(&mut trial).map_err(|e| e.to_string())?;
                check_overrides(self.config(), &trial)?;
                Ok(trial.pop().expect("pushed"))
            });
            match fits {
                Ok(definition) => views.push(ExperimentView {
                    definition,
                    origin: "api",
                }),
                Err(e) => {
                    tracing::warn!(experiment = %name, error = %e, "stored experiment left out")
                }
            }
        }
        Ok(views)
    }

    /// Every experiment, running or stopped.
    pub fn experiments(&self) -> Result<Vec<ExperimentView>> {
        Ok(self.experiment_set()?.views.clone())
    }

    /// One experiment.
    pub fn experiment(&self, name: &str) -> Result<ExperimentView> {
        self.experiment_set()?
            .views
            .iter()
            .find(|v| v.definition.name == name)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("no experiment named {name:?}")))
    }

    /// Declares (or replaces) an experiment over the API: checked beside the
    /// others, its overrides applied to the configuration, then stored. A
    /// replaced experiment keeps its buckets when its layer and traffic stay.
    pub fn put_experiment(&self, mut e: Experiment) -> Result<ExperimentView> {
        let _w = self.experiments.writing.lock();
        let set = self.loaded_for_write()?;
        let mut others = Vec::new();
        for v in &set.views {
            if v.definition.name != e.name {
                others.push(v.definition.clone());
                continue;
            }
            if v.origin == "config" {
                return Err(EngineError::Usage(format!(
                    "experiment {:?} is declared in the configuration file; change it there",
                    e.name
                )));
            }
            let old = &v.definition;
            if old.layer == e.layer && old.buckets() == e.buckets() && e.offset.is_none() {
                e.offset = old.offset;
            }
            e.started_ms = e.started_ms.or(old.started_ms);
        }
        if e.state == State::Running && e.started_ms.is_none() {
            e.started_ms = Some(Timestamp::now().0);
        }
        others.push(e);
        sommelier_experiments::check_all(&mut others)
            .map_err(|err| EngineError::Usage(err.to_string()))?;
        check_overrides(self.config(), &others).map_err(EngineError::Usage)?;
        let e = others.pop().expect("pushed");
        let body = serde_json::to_string(&e).map_err(|err| EngineError::Model(err.to_string()))?;
        self.store().put_experiment_definition(&e.name, &body)?;
        self.reload_experiments()?;
        self.experiment(&e.name)
    }

    /// Starts or stops an experiment declared over the API.
    pub fn set_experiment_state(&self, name: &str, state: State) -> Result<ExperimentView> {
        let mut e = self.experiment(name)?;
        if e.origin == "config" {
            return Err(EngineError::Usage(format!(
                "experiment {name:?} is declared in the configuration file; set its state there"
            )));
        }
        let now = Timestamp::now().0;
        match state {
            State::Running => {
                e.definition.started_ms = e.definition.started_ms.or(Some(now));
                e.definition.stopped_ms = None;
            }
            State::Stopped => e.definition.stopped_ms = Some(now),
        }
        e.definition.state = state;
        self.put_experiment(e.definition)
    }

    /// Deletes an experiment declared over the API (its exposures stay in
    /// the log); its buckets are free for the next.
    pub fn delete_experiment(&self, name: &str) -> Result<()> {
        let e = self.experiment(name)?;
        if e.origin == "config" {
            return Err(EngineError::Usage(format!(
                "experiment {name:?} is declared in the configuration file; remove it there"
            )));
        }
        let _w = self.experiments.writing.lock();
        self.store().delete_experiment_definition(name)?;
        self.reload_experiments()
    }

    fn loaded_for_write(&self) -> Result<Arc<ExperimentSet>> {
        if let Some(s) = self.experiments.set.read().as_ref() {
            return Ok(s.clone());
        }
        let set = Arc::new(ExperimentSet::build(self.load_experiments()?));
        *self.experiments.set.write() = Some(set.clone());
        Ok(set)
    }

    /// Reads the definitions again (after a declaration here; another
    /// replica's shows up at its next load).
    fn reload_experiments(&self) -> Result<()> {
        let set = Arc::new(ExperimentSet::build(self.load_experiments()?));
        *self.experiments.set.write() = Some(set);
        Ok(())
    }

    /// What a request on `surface` by `user` (in `session`) is served with;
    /// none when it is in no running experiment.
    pub(crate) fn served_with(
        &self,
        surface: Surface,
        user: Option<&str>,
        session: Option<&str>,
    ) -> Result<Option<Arc<Served>>> {
        let set = self.experiment_set()?;
        if set.defs.is_empty() {
            return Ok(None);
        }
        let assignments = sommelier_experiments::assign(&set.defs, surface, user, session);
        if assignments.is_empty() {
            return Ok(None);
        }
        let key: Vec<String> = assignments.iter().map(Assignment::label).collect();
        let key = key.join(",");
        if let Some(s) = set.combined.lock().get(&key) {
            return Ok(Some(s.clone()));
        }
        let mut overrides = BTreeMap::new();
        let mut interleaving = None;
        for a in &assignments {
            if a.variant == sommelier_experiments::define::INTERLEAVED {
                interleaving = set.views.iter().find(|v| v.definition.name == a.experiment);
            } else if let Some(v) = set.variants.get(&a.label()) {
                overrides.extend(v.keys.iter().cloned());
            }
        }
        let configured = |overrides: &BTreeMap<String, serde_json::Value>| -> Result<_> {
            if overrides.is_empty() {
                return Ok((None, None));
            }
            let (c, r) = variant_config(self.config(), overrides).map_err(EngineError::Usage)?;
            Ok((Some(Arc::new(c)), r))
        };
        let (config, rank_by) = configured(&overrides)?;
        let interleave = match interleaving {
            Some(view) => {
                let arm = |v: &sommelier_experiments::Variant| -> Result<Arm> {
                    let mut o = overrides.clone();
                    o.extend(v.overrides.iter().map(|(k, x)| (k.clone(), x.clone())));
                    let (config, rank_by) = configured(&o)?;
                    Ok(Arm {
                        variant: v.name.clone(),
                        config,
                        rank_by,
                    })
                };
                let vs = &view.definition.variants;
                Some(Box::new([arm(&vs[0])?, arm(&vs[1])?]))
            }
            None => None,
        };
        let served = Arc::new(Served {
            config,
            rank_by,
            assignments,
            interleave,
        });
        set.combined.lock().insert(key, served.clone());
        Ok(Some(served))
    }

    /// The report of experiment `name`: its lists from the exposure log
    /// (from its start), and the clicks, purchases and ratings of their
    /// items by the same users within `window_ms` after a list showed them.
    pub fn experiment_report(&self, name: &str, window_ms: i64, o: &Options) -> Result<Report> {
        let e = self.experiment(name)?.definition;
        if e.mode == sommelier_experiments::Mode::Interleave {
            let mut r = sommelier_experiments::analyse(&e, &[], o);
            // Every unit saw both: no split to compare or check.
            r.variants.clear();
            r.comparisons.clear();
            r.interleaving = Some(self.interleaving_report(&e, window_ms, o.alpha)?);
            return Ok(r);
        }
        let prefix = format!("{name}:");
        let mut observations = Vec::new();
        // (user, item) → the times and variants of the lists that showed it.
        let mut shown: HashMap<(String, String), Vec<(i64, String)>> = HashMap::new();
        self.store()
            .scan_exposures(e.started_ms.unwrap_or(0), &mut |row| {
                let Some(variant) = row.variant.as_deref().and_then(|v| {
                    v.split(',')
                        .find_map(|l| l.strip_prefix(prefix.as_str()))
                        .map(str::to_string)
                }) else {
                    return;
                };
                let Some(user) = row.user_id else { return };
                let body: serde_json::Value = serde_json::from_str(&row.body).unwrap_or_default();
                let llm = body.get("llm").filter(|l| l.is_object());
                observations.push(Observation {
                    unit: user.clone(),
                    variant: variant.clone(),
                    at_ms: row.at_ms,
                    kind: Observed::Exposure {
                        latency_ms: body["latency_ms"].as_f64().unwrap_or(0.0),
                        llm_fell_back: llm.map(|l| !l["used"].as_bool().unwrap_or(false)),
                    },
                });
                for item in body["items"].as_array().into_iter().flatten() {
                    if let Some(id) = item["item"].as_str() {
                        shown
                            .entry((user.clone(), id.to_string()))
                            .or_default()
                            .push((row.at_ms, variant.clone()));
                    }
                }
            })?;
        let mut key = (String::new(), String::new());
        self.store().scan_events(0, &mut |row| {
            let kind = match row.kind {
                EventKind::Click => Observed::Click,
                EventKind::Purchase => Observed::Conversion,
                EventKind::Rating => Observed::Rating(row.value.unwrap_or(0.0)),
                _ => return,
            };
            key.0.clear();
            key.0.push_str(row.user);
            key.1.clear();
            key.1.push_str(row.item);
            let Some(lists) = shown.get(&key) else { return };
            let at = row.timestamp.0;
            // The latest list that showed it before the event, within the window.
            if let Some((_, variant)) = lists
                .iter()
                .filter(|(t, _)| *t <= at && at - *t <= window_ms)
                .max_by_key(|(t, _)| *t)
            {
                observations.push(Observation {
                    unit: row.user.to_string(),
                    variant: variant.clone(),
                    at_ms: at,
                    kind,
                });
            }
        })?;
        Ok(sommelier_experiments::analyse(&e, &observations, o))
    }

    /// An interleaving experiment's lists from the exposure log, each
    /// credited with the clicks on its items by the same user within the
    /// window (the latest list that showed the item takes the click).
    fn interleaving_report(
        &self,
        e: &Experiment,
        window_ms: i64,
        alpha: f64,
    ) -> Result<sommelier_experiments::interleave::InterleavingReport> {
        use sommelier_experiments::interleave::{Interleaved, analyse_interleaving};
        let label = format!("{}:{}", e.name, sommelier_experiments::define::INTERLEAVED);
        let teams = [e.variants[0].name.as_str(), e.variants[1].name.as_str()];
        let mut lists: Vec<Interleaved> = Vec::new();
        // (user, item) → (time, list, team) of each list that showed it.
        let mut shown: HashMap<UserItem, Vec<(i64, usize, usize)>> = HashMap::new();
        self.store()
            .scan_exposures(e.started_ms.unwrap_or(0), &mut |row| {
                if !row
                    .variant
                    .as_deref()
                    .is_some_and(|v| v.split(',').any(|l| l == label))
                {
                    return;
                }
                let Some(user) = row.user_id else { return };
                let body: serde_json::Value = serde_json::from_str(&row.body).unwrap_or_default();
                let at = lists.len();
                for item in body["items"].as_array().into_iter().flatten() {
                    let team = item["team"]
                        .as_str()
                        .and_then(|t| teams.iter().position(|x| *x == t));
                    if let (Some(id), Some(team)) = (item["item"].as_str(), team) {
                        shown
                            .entry((user.clone(), id.to_string()))
                            .or_default()
                            .push((row.at_ms, at, team));
                    }
                }
                lists.push(Interleaved {
                    unit: user,
                    clicks: [0, 0],
                });
            })?;
        let mut key = (String::new(), String::new());
        self.store().scan_events(0, &mut |row| {
            if row.kind != EventKind::Click {
                return;
            }
            key.0.clear();
            key.0.push_str(row.user);
            key.1.clear();
            key.1.push_str(row.item);
            let at = row.timestamp.0;
            if let Some((_, list, team)) = shown.get(&key).and_then(|v| {
                v.iter()
                    .filter(|(t, _, _)| *t <= at && at - *t <= window_ms)
                    .max_by_key(|(t, _, _)| *t)
            }) {
                lists[*list].clicks[*team] += 1;
            }
        })?;
        Ok(analyse_interleaving(
            [teams[0].to_string(), teams[1].to_string()],
            &lists,
            alpha,
        ))
    }
}
