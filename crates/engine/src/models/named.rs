//! Named fitted sets: a set fitted with `sommelier fit --as NAME` (under
//! the configuration of that process, so a challenger can differ in any
//! `models.` setting) is saved beside the engine's own as
//! `fitted/sets/NAME/` and served only to the experiment variants whose
//! `models` override names it. The engine's set, `CURRENT` and the
//! engine's refits are not touched by it.
//!
//! A named set is loaded on first use (an experiment's declaration loads
//! it, so a missing or damaged one is refused then) and kept while the
//! engine runs; [`Engine::follow_models`] drops it when another process
//! fitted it again, so the next request loads the new one. A deletion of
//! events (privacy) makes every named set fitted before it unusable until
//! it is fitted again: it holds the deleted events, and unlike the
//! engine's own set nothing refits it on schedule.

use super::Models;
use super::files::{OWN_PREFIX, valid_set_name};
use crate::{Engine, EngineError, FitReport, Result};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
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
}

/// Whether `name` may name a set of its own: a valid folder name that is
/// not one the engine gives its own sets.
pub(crate) fn check_set_name(name: &str) -> std::result::Result<(), String> {
    if !valid_set_name(name) {
        return Err(format!(
            "{name:?} is not a set name: 1 to 100 letters, digits, `-`, `_` or `.`, not starting with `.`"
        ));
    }
    if name.starts_with(OWN_PREFIX) {
        return Err(format!(
            "{name:?}: names starting with `{OWN_PREFIX}` are the engine's own sets, which its refits replace; fit a named set with `sommelier fit --as NAME`"
        ));
    }
    Ok(())
}

impl Engine {
    /// Fits a set from the whole log under this engine's configuration and
    /// saves it as the named set `name`, replacing one of that name; the
    /// engine's own set and `CURRENT` stay as they are.
    pub fn fit_models_as(&self, name: &str) -> Result<FitReport> {
        check_set_name(name).map_err(EngineError::Usage)?;
        self.fit_models_inner(Some(name))
    }

    /// The named set `name`, loaded on first use. One that did not load
    /// answers the same error for [`RETRY_AFTER`] before it is tried again.
    pub(crate) fn named_models(&self, name: &str) -> Result<Arc<Models>> {
        if let Some(m) = self.named_sets.loaded.lock().get(name) {
            return Ok(m.clone());
        }
        if let Some(f) = self.named_sets.failed.lock().get(name)
            && f.at.elapsed() < RETRY_AFTER
        {
            return Err(EngineError::Model(f.why.clone()));
        }
        let loaded = self.load_named(name);
        match &loaded {
            Ok(m) => self.named_sets.put(name, m.clone()),
            Err(e) => {
                let failed = Failure {
                    at: Instant::now(),
                    why: e.to_string(),
                    version: self.version_on_disk(name),
                };
                self.named_sets
                    .failed
                    .lock()
                    .insert(name.to_string(), failed);
            }
        }
        loaded
    }

    /// Reads and checks the named set `name`.
    fn load_named(&self, name: &str) -> Result<Arc<Models>> {
        check_set_name(name).map_err(EngineError::Usage)?;
        let dir = self.set_dir(name);
        let refit = format!("fit it with `sommelier fit --as {name}`");
        if !dir.is_dir() {
            return Err(EngineError::Usage(format!(
                "no fitted set named {name:?} in {}; {refit}",
                dir.parent().unwrap_or(&dir).display()
            )));
        }
        let models = self
            .read_set(&dir)
            .map_err(|e| EngineError::Model(format!("the set named {name:?}: {e} ({refit})")))?
            .ok_or_else(|| {
                EngineError::Model(format!("the set named {name:?} is empty; {refit}"))
            })?;
        // The log as the fit read it, at the fit's start.
        if self.fitted_before_deletion(&models.report) {
            return Err(EngineError::Model(format!(
                "the set named {name:?} was fitted before events were deleted (privacy) and still holds them; {refit} again"
            )));
        }
        Ok(Arc::new(models))
    }

    /// Whether the fit read the log before the last deletion of events.
    fn fitted_before_deletion(&self, r: &FitReport) -> bool {
        // The log as the fit read it, at the fit's start.
        let read_at = r.fitted_at.0 - (r.seconds * 1e3) as i64;
        self.last_deletion()
            .is_some_and(|deleted| read_at <= deleted)
    }

    /// Unloads the named sets no experiment names any more.
    pub(crate) fn keep_named_sets<'a>(&self, named: impl Iterator<Item = &'a str>) {
        let keep: std::collections::HashSet<&str> = named.collect();
        self.named_sets
            .loaded
            .lock()
            .retain(|name, _| keep.contains(name.as_str()));
    }

    /// Records that events were deleted now: named sets fitted before are
    /// no longer served, and the ones loaded are dropped.
    pub(crate) fn named_sets_after_deletion(&self) -> Result<()> {
        let stamp = sommelier_types::Timestamp::now().0.to_string();
        super::replace_durably(
            &self.config().models_dir().join(LAST_DELETION),
            stamp.as_bytes(),
        )
        .map_err(|e| {
            EngineError::Model(format!(
                "cannot record the deletion for the named sets: {e}"
            ))
        })?;
        self.named_sets.loaded.lock().clear();
        self.named_sets.failed.lock().clear();
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
    /// The names dropped.
    pub(super) fn follow_named_sets(&self) -> Vec<String> {
        let mut loaded = self.named_sets.loaded.lock();
        let stale: Vec<String> = loaded
            .iter()
            .filter(|(name, m)| {
                if self.fitted_before_deletion(&m.report) {
                    return true;
                }
                self.version_on_disk(name).as_deref() != Some(m.report.version.as_str())
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in &stale {
            loaded.remove(name);
        }
        // A set that failed is tried again at once when it was fitted since.
        self.named_sets
            .failed
            .lock()
            .retain(|name, f| self.version_on_disk(name) == f.version);
        stale
    }

    /// The version of the set the folder of `name` holds now, if any.
    fn version_on_disk(&self, name: &str) -> Option<String> {
        let raw = std::fs::read(self.set_dir(name).join("fitted.json")).ok()?;
        Some(serde_json::from_slice::<FitReport>(&raw).ok()?.version)
    }
}
