//! Named fitted sets: a set fitted with `sommelier fit --as NAME` (under
//! the configuration of that process, so a challenger can differ in any
//! `models.` setting) is saved beside the engine's own, as
//! `fitted/named/NAME/<fit-…>/` named by `fitted/named/NAME/CURRENT`, and
//! served only to the experiment variants whose `models` override names
//! it. The engine's set, its `CURRENT` and its refits are not touched by
//! it, and fitting NAME again writes a new folder before `CURRENT` is
//! switched, so a server never reads a half-written set.
//!
//! A named set is loaded once per process (an experiment's declaration
//! loads it, so a missing or damaged one is refused then; one load at a
//! time) and kept while an experiment names it; [`Engine::follow_models`]
//! drops it when another process fitted it again, so the next request
//! loads the new one. A deletion of events (privacy) makes every named
//! set fitted before it unusable until it is fitted again: it holds the
//! deleted events, and unlike the engine's own set nothing refits it on
//! schedule.

use super::files::valid_set_name;
use super::{Models, Target};
use crate::{Engine, EngineError, FitReport, Result};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The file that keeps when events were last deleted (milliseconds), for
/// the named sets fitted before.
const LAST_DELETION: &str = "last-deletion";

/// How long a named set that did not load is not tried again (each try
/// checks every file of the set against its manifest).
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The named sets loaded so far, and the ones that did not load lately.
#[derive(Default)]
pub(crate) struct NamedSets {
    loaded: Mutex<HashMap<String, Arc<Models>>>,
    failed: Mutex<HashMap<String, Failure>>,
    /// Held while a set loads: one load at a time, and requests that want
    /// the same set wait for it instead of loading it again.
    loading: Mutex<()>,
    /// Moves when the loaded sets are dropped (a deletion, an experiment
    /// gone): a load that started before is not kept.
    generation: AtomicU64,
}

/// A named set that did not load.
struct Failure {
    at: Instant,
    why: String,
    /// The version its folder held then.
    version: Option<String>,
}

impl NamedSets {
    pub(super) fn put(&self, name: &str, m: Arc<Models>) {
        self.failed.lock().remove(name);
        self.loaded.lock().insert(name.to_string(), m);
    }

    fn drop_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.loaded.lock().clear();
        self.failed.lock().clear();
    }
}

/// Whether `name` may name a set.
pub(crate) fn check_set_name(name: &str) -> std::result::Result<(), String> {
    if valid_set_name(name) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a set name: 1 to 100 letters, digits, `-`, `_` or `.`, not starting with `.`"
        ))
    }
}

/// What a named set that does not load asks for.
fn refit(name: &str) -> String {
    format!("fit it with `sommelier fit --as {name}`")
}

/// Whether the fit of `r` read the log at or before `deleted` (when events
/// were last deleted, if ever).
fn fitted_before(r: &FitReport, deleted: Option<i64>) -> bool {
    // The log as the fit read it, at the fit's start.
    let read_at = r.fitted_at.0 - (r.seconds * 1e3) as i64;
    deleted.is_some_and(|deleted| read_at <= deleted)
}

/// The report of the set in `dir`, read alone.
fn report_in(dir: &Path) -> Option<FitReport> {
    serde_json::from_slice(&std::fs::read(dir.join("fitted.json")).ok()?).ok()
}

impl Engine {
    /// Fits a set from the whole log under this engine's configuration and
    /// saves it as the named set `name`, replacing one of that name; the
    /// engine's own set and `CURRENT` stay as they are. It holds the
    /// folder's fit lock like any fit: the engine's refits wait for it.
    pub fn fit_models_as(&self, name: &str) -> Result<FitReport> {
        check_set_name(name).map_err(EngineError::Usage)?;
        self.fit_models_inner(Target::Named(name))
    }

    /// The named set `name`, loaded on first use. One that did not load
    /// answers the same error for [`RETRY_AFTER`] (or until it is fitted
    /// again) before it is tried again, and its failure is logged once
    /// per try.
    pub(crate) fn named_models(&self, name: &str) -> Result<Arc<Models>> {
        let sets = &self.named_sets;
        let cached = || -> Option<Result<Arc<Models>>> {
            if let Some(m) = sets.loaded.lock().get(name) {
                return Some(Ok(m.clone()));
            }
            let failed = sets.failed.lock();
            let f = failed.get(name)?;
            (f.at.elapsed() < RETRY_AFTER).then(|| Err(EngineError::Model(f.why.clone())))
        };
        if let Some(r) = cached() {
            return r;
        }
        let _one_load = sets.loading.lock();
        if let Some(r) = cached() {
            return r;
        }
        let generation = sets.generation.load(Ordering::Acquire);
        let loaded = self.load_named(name);
        if sets.generation.load(Ordering::Acquire) != generation {
            // Dropped while it loaded (a deletion): what was read may be
            // what the deletion ruled out; the next request reads again.
            return loaded;
        }
        match &loaded {
            Ok(m) => sets.put(name, m.clone()),
            Err(e) => {
                tracing::warn!(set = %name, error = %e, "a named fitted set does not load; the experiment variants naming it are not served until it does");
                let failed = Failure {
                    at: Instant::now(),
                    why: e.to_string(),
                    version: self.version_on_disk(name),
                };
                sets.failed.lock().insert(name.to_string(), failed);
            }
        }
        loaded
    }

    /// Reads and checks the named set `name`: its report first (a set
    /// fitted before a deletion is refused without reading its tables).
    fn load_named(&self, name: &str) -> Result<Arc<Models>> {
        check_set_name(name).map_err(EngineError::Usage)?;
        let Some(dir) = self.named_set_dir(name) else {
            return Err(EngineError::Usage(format!(
                "no fitted set named {name:?} in {}; {}",
                self.config().models_dir().join("named").display(),
                refit(name)
            )));
        };
        // A version's folder is written once, so the report read alone is
        // the one `read_set` then checks against the manifest.
        let report = report_in(&dir).ok_or_else(|| {
            EngineError::Model(format!(
                "the set named {name:?} has no readable fitted.json; {}",
                refit(name)
            ))
        })?;
        if self.fitted_before_deletion(&report) {
            return Err(EngineError::Model(format!(
                "the set named {name:?} was fitted before events were deleted (privacy) and still holds them; {} again",
                refit(name)
            )));
        }
        let models = self
            .read_set(&dir, &refit(name))
            .map_err(|e| EngineError::Model(format!("the set named {name:?}: {e}")))?
            .ok_or_else(|| {
                EngineError::Model(format!("the set named {name:?} is empty; {}", refit(name)))
            })?;
        Ok(Arc::new(models))
    }

    /// Whether the fit read the log before the last deletion of events.
    fn fitted_before_deletion(&self, r: &FitReport) -> bool {
        fitted_before(r, self.last_deletion())
    }

    /// Unloads the named sets no experiment names any more.
    pub(crate) fn keep_named_sets(&self, named: &[&str]) {
        let keep: std::collections::HashSet<&str> = named.iter().copied().collect();
        let sets = &self.named_sets;
        let mut loaded = sets.loaded.lock();
        if loaded.keys().any(|k| !keep.contains(k.as_str())) {
            sets.generation.fetch_add(1, Ordering::AcqRel);
            loaded.retain(|name, _| keep.contains(name.as_str()));
        }
    }

    /// Records that events were deleted now: named sets fitted before are
    /// no longer served, and the ones loaded are dropped. The time kept
    /// never goes back (another process's clock may be behind).
    pub(crate) fn named_sets_after_deletion(&self) -> Result<()> {
        let now = sommelier_types::Timestamp::now().0;
        let stamp = self.last_deletion().map_or(now, |t| t.max(now));
        super::replace_durably(
            &self.config().models_dir().join(LAST_DELETION),
            stamp.to_string().as_bytes(),
        )
        .map_err(|e| {
            EngineError::Model(format!(
                "cannot record the deletion for the named sets: {e}"
            ))
        })?;
        self.named_sets.drop_all();
        Ok(())
    }

    /// When events were last deleted (milliseconds), if ever.
    fn last_deletion(&self) -> Option<i64> {
        std::fs::read_to_string(self.config().models_dir().join(LAST_DELETION))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Drops each loaded named set that was fitted again since, or that
    /// events deleted since are in (by this process or another sharing
    /// the folder), so its next use loads the new one or refuses it.
    /// The names dropped. The sets' files are read outside the locks that
    /// requests take.
    pub(super) fn follow_named_sets(&self) -> Vec<String> {
        let sets = &self.named_sets;
        let loaded: Vec<(String, Arc<Models>)> = sets
            .loaded
            .lock()
            .iter()
            .map(|(name, m)| (name.clone(), m.clone()))
            .collect();
        let deleted = self.last_deletion();
        let stale: Vec<(String, Arc<Models>)> = loaded
            .into_iter()
            .filter(|(name, m)| {
                fitted_before(&m.report, deleted)
                    || self.version_on_disk(name).as_deref() != Some(m.report.version.as_str())
            })
            .collect();
        let mut dropped = Vec::new();
        let mut loaded = sets.loaded.lock();
        for (name, m) in stale {
            // Unless it was loaded again meanwhile.
            if loaded.get(&name).is_some_and(|now| Arc::ptr_eq(now, &m)) {
                loaded.remove(&name);
                dropped.push(name);
            }
        }
        drop(loaded);
        // A set that failed is tried again at once when it was fitted since.
        let failed: Vec<(String, Instant, Option<String>)> = sets
            .failed
            .lock()
            .iter()
            .map(|(name, f)| (name.clone(), f.at, f.version.clone()))
            .collect();
        let refitted: Vec<(String, Instant)> = failed
            .into_iter()
            .filter(|(name, _, version)| self.version_on_disk(name) != *version)
            .map(|(name, at, _)| (name, at))
            .collect();
        if !refitted.is_empty() {
            let mut failed = sets.failed.lock();
            for (name, at) in refitted {
                // Unless it failed again meanwhile.
                if failed.get(&name).is_some_and(|f| f.at == at) {
                    failed.remove(&name);
                }
            }
        }
        dropped
    }

    /// The version of the named set `name` its `CURRENT` names now.
    fn version_on_disk(&self, name: &str) -> Option<String> {
        Some(report_in(&self.named_set_dir(name)?)?.version)
    }
}
