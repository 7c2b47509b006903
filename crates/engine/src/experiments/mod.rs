//! Experiments in the engine: the definitions in force (the configuration's
//! `[[experiments]]` and those declared over the admin API, kept in the
//! store), the configuration each variant serves with, the assignment of a
//! request, and the report of an experiment from the exposure log and the
//! events that follow it.
//!
//! A variant changes the read path's settings only: keys under `fusion.`,
//! `rerank.` and `llm.` (the model of a role, the prompts folder, the
//! deadlines; not the cache), `ranker` (`learned` or `fusion`) and `models`
//! (a named fitted set, `sommelier fit --as NAME`, instead of the engine's).
//! Each is applied to the engine's configuration and checked like it when
//! the experiment is declared, and a variant's LLM layer and fitted set are
//! loaded then, so a bad override or a model that does not load is refused
//! then and never reaches a request.

mod report;

use crate::pipeline::{RankBy, RecommendRequest};
use crate::{Config, Engine, EngineError, Result};
use parking_lot::{Mutex, RwLock};
pub(crate) use report::shown_items;
use serde::Serialize;
use sommelier_experiments::{Assignment, Experiment, State, Surface};
use sommelier_types::Timestamp;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How long after a list a click, purchase or rating of one of its items
/// counts for the experiment, by default.
pub const ATTRIBUTION_WINDOW_MS: i64 = 24 * 3_600_000;

/// What a request is served with: the configuration, ranker and fitted
/// set of its variants (the engine's own where none changes them), and
/// the variants.
pub(crate) struct Served {
    pub(crate) setup: Setup,
    pub(crate) assignments: Vec<Assignment>,
    /// An interleaving experiment's two rankers, each list merged from both.
    pub(crate) interleave: Option<Box<[Arm; 2]>>,
}

/// One side of an interleaving experiment.
pub(crate) struct Arm {
    /// Its variant's name (the team its items are credited to).
    pub(crate) variant: String,
    pub(crate) setup: Setup,
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
    /// The configuration of each combination of variants met so far.
    combined: Mutex<HashMap<String, Arc<Served>>>,
}

/// The engine's experiments, loaded on first use.
#[derive(Default)]
pub(crate) struct Experiments {
    set: RwLock<Option<Arc<ExperimentSet>>>,
    /// Serialises declarations (read, check, store, swap).
    writing: Mutex<()>,
    /// A digest of the stored definitions as last followed: another replica
    /// over the same store that declares, starts or stops one changes it.
    followed: Mutex<Option<u64>>,
}

/// `[llm]` keys a variant may not set: the cache and the rules for loading
/// local models stay the engine's.
const FIXED_LLM_KEYS: [&str; 4] = [
    "cache_capacity",
    "cache_ttl_secs",
    "missing_model_is_off",
    "allow_unverified_model",
];

/// What a variant serves with.
#[derive(Debug, Clone)]
pub struct VariantConfig {
    /// The engine's configuration with the variant's overrides.
    pub config: Config,
    /// Its ranker (`ranker`), when it sets one.
    pub rank_by: Option<RankBy>,
    /// Its named fitted set (`models`), when it sets one.
    pub models: Option<String>,
}

/// `overrides` applied to `base`: the variant's configuration, its ranker
/// choice and its fitted set, or what is wrong with them.
pub fn variant_config(
    base: &Config,
    overrides: &BTreeMap<String, serde_json::Value>,
) -> std::result::Result<VariantConfig, String> {
    let mut config = base.clone();
    config.experiments = Vec::new();
    let mut fusion = serde_json::to_value(&base.fusion).map_err(|e| e.to_string())?;
    let mut rerank = serde_json::to_value(&base.rerank).map_err(|e| e.to_string())?;
    let mut llm = serde_json::to_value(&base.llm).map_err(|e| e.to_string())?;
    let mut rank_by = None;
    let mut models = None;
    for (key, value) in overrides {
        let (section, rest) = key.split_once('.').unwrap_or((key.as_str(), ""));
        let table = match (section, rest) {
            ("fusion", r) if !r.is_empty() => &mut fusion,
            ("rerank", r) if !r.is_empty() => &mut rerank,
            ("llm", r) if FIXED_LLM_KEYS.contains(&r) => {
                return Err(format!(
                    "`{key}` is the engine's, not a variant's: a variant's LLM layer shares the engine's cache and model checks"
                ));
            }
            ("llm", r) if !r.is_empty() => &mut llm,
            ("ranker", "") => {
                rank_by = Some(match value.as_str() {
                    Some("learned") => RankBy::Auto,
                    Some("fusion") => RankBy::Fusion,
                    _ => return Err(format!("`ranker` is `learned` or `fusion`, not {value}")),
                });
                continue;
            }
            ("models", "") => {
                let name = value
                    .as_str()
                    .ok_or_else(|| format!("`models` names a fitted set, not {value}"))?;
                crate::models::check_set_name(name).map_err(|e| format!("`models`: {e}"))?;
                models = Some(name.to_string());
                continue;
            }
            _ => {
                return Err(format!(
                    "`{key}` cannot vary per request; a variant may set keys under fusion., rerank. and llm., ranker and models"
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
    config.llm = serde_json::from_value(llm).map_err(|e| format!("llm: {e}"))?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(VariantConfig {
        config,
        rank_by,
        models,
    })
}

/// What a set of overrides serves with (each `None`: the engine's own).
#[derive(Default)]
pub(crate) struct Setup {
    pub(crate) config: Option<Arc<Config>>,
    pub(crate) rank_by: Option<RankBy>,
    /// The named fitted set.
    pub(crate) models: Option<String>,
}

/// What a set of overrides serves with: its configuration (none when the
/// set is empty: the engine's own), its ranker and its fitted set.
pub(crate) fn configured(
    base: &Config,
    overrides: &BTreeMap<String, serde_json::Value>,
) -> Result<Setup> {
    if overrides.is_empty() {
        return Ok(Setup::default());
    }
    let v = variant_config(base, overrides).map_err(EngineError::Usage)?;
    Ok(Setup {
        config: Some(Arc::new(v.config)),
        rank_by: v.rank_by,
        models: v.models,
    })
}

/// `req` ranked by a variant's ranker, unless it names its own.
pub(crate) fn ranked_by(req: &RecommendRequest, by: Option<RankBy>) -> Cow<'_, RecommendRequest> {
    match by {
        Some(by) if req.rank_by == RankBy::Auto => Cow::Owned(RecommendRequest {
            rank_by: by,
            ..req.clone()
        }),
        _ => Cow::Borrowed(req),
    }
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
        Self {
            defs: views.iter().map(|v| v.definition.clone()).collect(),
            views,
            combined: Mutex::new(HashMap::new()),
        }
    }

    /// The definition named `name`.
    fn definition(&self, name: &str) -> Option<&Experiment> {
        self.defs.iter().find(|e| e.name == name)
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
        self.experiment_set_locked()
    }

    /// [`Engine::experiment_set`] for a caller that holds `writing`.
    fn experiment_set_locked(&self) -> Result<Arc<ExperimentSet>> {
        if let Some(s) = self.experiments.set.read().as_ref() {
            return Ok(s.clone());
        }
        self.reload_experiments()
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
        // Fitted sets are loaded first: a load may take seconds, and the
        // lock below holds up the following of other replicas' changes.
        self.load_variant_sets(&e)?;
        let _w = self.experiments.writing.lock();
        let set = self.experiment_set_locked()?;
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
        self.load_variant_llms(&e)?;
        let body = serde_json::to_string(&e).map_err(|err| EngineError::Model(err.to_string()))?;
        self.store().put_experiment_definition(&e.name, &body)?;
        self.reload_experiments()?;
        self.experiment(&e.name)
    }

    /// Loads the LLM layer of each of `e`'s variants that changes `llm.`
    /// keys, so a model or prompts folder that does not load is refused at
    /// declaration, and the first request of the variant does not wait.
    fn load_variant_llms(&self, e: &Experiment) -> Result<()> {
        for v in &e.variants {
            let config = variant_config(self.config(), &v.overrides)
                .map_err(EngineError::Usage)?
                .config;
            if config.llm != self.config().llm {
                self.llm_for(&config.llm).map_err(|err| {
                    EngineError::Usage(format!(
                        "experiment {:?}, variant {:?}: its LLM layer does not load: {err}",
                        e.name, v.name
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// Loads the named fitted set of each of `e`'s variants that names
    /// one, so a set that is missing, damaged or holds deleted events is
    /// refused at declaration.
    fn load_variant_sets(&self, e: &Experiment) -> Result<()> {
        for v in &e.variants {
            let Some(name) = variant_config(self.config(), &v.overrides)
                .map_err(EngineError::Usage)?
                .models
            else {
                continue;
            };
            self.named_models(&name).map_err(|err| {
                EngineError::Usage(format!(
                    "experiment {:?}, variant {:?}: its fitted set does not load: {err}",
                    e.name, v.name
                ))
            })?;
        }
        Ok(())
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
        self.reload_experiments().map(|_| ())
    }

    /// Reads the definitions (at first use, and again after a declaration
    /// here; another replica's shows up at its next load).
    /// Loads the experiments again when their stored definitions changed
    /// since the last call — declared, started or stopped by another
    /// process over the same store (a replica, the CLI) — so every replica
    /// assigns alike. True when it reloaded for such a change.
    pub fn follow_experiments(&self) -> Result<bool> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.store().experiment_definitions()?.hash(&mut h);
        let digest = h.finish();
        let _w = self.experiments.writing.lock();
        let before = *self.experiments.followed.lock();
        if before == Some(digest) {
            return Ok(false);
        }
        self.reload_experiments()?;
        *self.experiments.followed.lock() = Some(digest);
        Ok(before.is_some())
    }

    fn reload_experiments(&self) -> Result<Arc<ExperimentSet>> {
        let set = Arc::new(ExperimentSet::build(self.load_experiments()?));
        let variants: Vec<VariantConfig> = set
            .defs
            .iter()
            .flat_map(|e| &e.variants)
            .filter_map(|v| variant_config(self.config(), &v.overrides).ok())
            .collect();
        let llms: Vec<sommelier_llm::LlmConfig> =
            variants.iter().map(|v| v.config.llm.clone()).collect();
        self.keep_variant_llms(&llms);
        let sets: Vec<&str> = variants
            .iter()
            .filter_map(|v| v.models.as_deref())
            .collect();
        self.keep_named_sets(&sets);
        // Loaded now rather than by a request; one that does not load (an
        // experiment of the configuration file, or a set damaged since) is
        // logged, and its variants' requests are served outside the
        // experiment (`served_with`).
        for name in sets {
            let _ = self.named_models(name);
        }
        *self.experiments.set.write() = Some(set.clone());
        Ok(set)
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
        let cached = set.combined.lock().get(&key).cloned();
        if let Some(s) = cached {
            return Ok(self.sets_load(&s).then_some(s));
        }
        let mut overrides = BTreeMap::new();
        let mut interleaving = None;
        for a in &assignments {
            let Some(e) = set.definition(&a.experiment) else {
                continue;
            };
            if a.variant == sommelier_experiments::define::INTERLEAVED {
                interleaving = Some(e);
            } else if let Some(v) = e.variant(&a.variant) {
                overrides.extend(v.overrides.clone());
            }
        }
        let setup = configured(self.config(), &overrides)?;
        let interleave = match interleaving {
            Some(e) => {
                let arm = |v: &sommelier_experiments::Variant| -> Result<Arm> {
                    let mut o = overrides.clone();
                    o.extend(v.overrides.iter().map(|(k, x)| (k.clone(), x.clone())));
                    Ok(Arm {
                        variant: v.name.clone(),
                        setup: configured(self.config(), &o)?,
                    })
                };
                let vs = &e.variants;
                Some(Box::new([arm(&vs[0])?, arm(&vs[1])?]))
            }
            None => None,
        };
        let served = Arc::new(Served {
            setup,
            assignments,
            interleave,
        });
        set.combined.lock().insert(key, served.clone());
        Ok(self.sets_load(&served).then_some(served))
    }

    /// Whether the named fitted sets `served` needs load. When one does
    /// not (damaged or removed since it was declared, or holding events
    /// deleted since), the request is served outside its experiments, as
    /// the engine serves it: labelled with the variant it would be
    /// counted for what it was not shown (the report's sample ratio check
    /// shows the missing share).
    fn sets_load(&self, served: &Served) -> bool {
        let arms = served.interleave.as_deref().into_iter().flatten();
        std::iter::once(&served.setup)
            .chain(arms.map(|a| &a.setup))
            .filter_map(|s| s.models.as_deref())
            .all(|name| self.named_models(name).is_ok())
    }
}
