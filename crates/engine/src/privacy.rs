//! Deletions that must leave no trace: forgetting a user, deleting an event.
//!
//! The store removes the rows (not tombstones) and scrubs its journal; the
//! engine then rebuilds what it derived from them (the online features),
//! drops the user's in-memory chat sessions and every cached LLM answer
//! (their keys are hashes, so whose words they hold cannot be told), and
//! marks the fitted models for a refit: they were fitted on the deleted
//! events, and the next scheduled check refits them whatever the number of
//! new events. The marker is a file, so a restart does not lose it.

use crate::{Engine, EngineError, Result};
use serde::Serialize;
use sommelier_store::ForgetCounts;
use sommelier_types::{EventId, UserId};
use std::path::PathBuf;

/// What forgetting a user did, for the caller to keep.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForgetReceipt {
    /// The user forgotten.
    pub user: String,
    /// When, RFC 3339.
    pub forgotten_at: String,
    /// What the store deleted.
    pub store: ForgetCounts,
    /// Chat sessions held in memory that were dropped.
    pub memory_sessions: usize,
    /// Cached LLM answers dropped.
    pub llm_cache_entries: usize,
    /// The online features were rebuilt without the user's events.
    pub features_rebuilt: bool,
    /// What happens to the fitted models.
    pub models: ModelsAfterForget,
}

/// The fitted models after a deletion.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelsAfterForget {
    /// The version in use (fitted before the deletion), if any.
    pub version_in_use: Option<String>,
    /// Whether they were refitted before this answer (`?refit=now`).
    pub refitted: bool,
    /// When they will be refitted without the deleted events, in words.
    pub refit: String,
}

impl Engine {
    fn refit_marker(&self) -> PathBuf {
        self.config().models_dir().join("refit-required")
    }

    /// Whether a deletion asked for a refit that has not run yet, and the
    /// marker's content (to clear it only if no new deletion came since).
    pub(crate) fn refit_required(&self) -> Option<String> {
        std::fs::read_to_string(self.refit_marker()).ok()
    }

    /// Clears the refit marker if it still holds `seen`.
    pub(crate) fn clear_refit_marker(&self, seen: Option<&str>) {
        if let Some(seen) = seen
            && self.refit_required().as_deref() == Some(seen)
        {
            let _ = std::fs::remove_file(self.refit_marker());
        }
    }

    fn mark_refit_required(&self) -> Result<()> {
        let stamp = sommelier_types::Timestamp::now().0.to_string();
        crate::models::replace_durably(&self.refit_marker(), stamp.as_bytes())
            .map_err(|e| EngineError::Model(format!("cannot mark the models for a refit: {e}")))
    }

    /// Rebuilds the online features from the log (after rows left it).
    fn rebuild_features(&self) -> Result<bool> {
        let features = self.built_features();
        // The saved features go first: no file may keep what was deleted.
        self.remove_saved_features(features)?;
        let Some(features) = features else {
            // Not built yet: the first build reads the log as it is now.
            return Ok(false);
        };
        {
            let mut seq = features.applied_seq.lock();
            let (state, at) = sommelier_features::OnlineFeatures::rebuild(
                self.config().feature_config(),
                self.store(),
            )?;
            *features.state.write() = state;
            *seq = at;
        }
        self.save_features(true)?;
        Ok(true)
    }

    /// Forgets a user everywhere: profile, events, chat turns and memory in
    /// the store; their in-memory sessions; features; cached LLM answers;
    /// and, at the next refit (or now with `refit_now`), the fitted models.
    pub fn forget_user(&self, id: &str, refit_now: bool) -> Result<ForgetReceipt> {
        let user = UserId::new(id).map_err(|e| EngineError::Usage(format!("user id {e}")))?;
        // Lists served to them and still queued are committed first, so the
        // deletion takes them too instead of their landing after it.
        self.flush_exposures(std::time::Duration::from_secs(5));
        self.remove_saved_features(self.built_features())?;
        let store = self.store().forget_user(user.as_str())?;
        let memory_sessions = self.sessions.forget_user(user.as_str());
        let features_rebuilt = self.rebuild_features()?;
        let llm_cache_entries = self.llm.get().map(|l| l.clear_cache()).unwrap_or(0);
        let models = self.after_deletion(store.events > 0, refit_now)?;
        Ok(ForgetReceipt {
            user: user.as_str().to_string(),
            forgotten_at: sommelier_types::Timestamp::now().to_string(),
            store,
            memory_sessions,
            llm_cache_entries,
            features_rebuilt,
            models,
        })
    }

    /// Deletes one event from the log and rebuilds what was derived from
    /// it; false when there was no such event.
    pub fn delete_event(&self, id: &EventId, refit_now: bool) -> Result<Option<ModelsAfterForget>> {
        self.remove_saved_features(self.built_features())?;
        if !self.store().delete_event(id)? {
            return Ok(None);
        }
        self.rebuild_features()?;
        Ok(Some(self.after_deletion(true, refit_now)?))
    }

    fn after_deletion(&self, events_deleted: bool, refit_now: bool) -> Result<ModelsAfterForget> {
        let version_in_use = self.models_report().map(|r| r.version);
        if events_deleted {
            // Both marks are tried before either failure is returned: the
            // events are gone already, and a retry would find none to
            // delete. Named sets (experiment variants) are not refitted on
            // schedule: the ones fitted before this are no longer served.
            let own = match version_in_use {
                Some(_) => self.mark_refit_required(),
                None => Ok(()),
            };
            let named = self.named_sets_after_deletion();
            own?;
            named?;
        }
        if !events_deleted || version_in_use.is_none() {
            return Ok(ModelsAfterForget {
                version_in_use,
                refitted: false,
                refit: "no fitted model holds the deleted events".into(),
            });
        }
        if refit_now {
            self.fit_models()?;
            return Ok(ModelsAfterForget {
                version_in_use,
                refitted: true,
                refit: "refitted before this answer".into(),
            });
        }
        let refit = match self.config().models.refit_interval_secs {
            0 => "at the next `sommelier fit` or POST /v1/admin/fit (no refit schedule is set)"
                .into(),
            s => format!(
                "at the next scheduled check, within {s} s (models.refit_interval_secs), or at the next restart"
            ),
        };
        Ok(ModelsAfterForget {
            version_in_use,
            refitted: false,
            refit,
        })
    }
}
