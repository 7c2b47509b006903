//! The online features saved between starts (`data/features/online.bin`):
//! written with the log position they reflect (temporary file, fsync,
//! rename), loaded at the next start and advanced from that position, so a
//! restart reads only the events written since the save instead of the whole
//! log. After loading, the events the features hold must equal the events the
//! store counts; when they do not (the log lost events, or changed while the
//! server was down), the save is not trusted: a log line, a metric, and a
//! rebuild from the log.

use crate::online::Features;
use crate::{Engine, Result};
use sommelier_features::OnlineFeatures;
use std::path::PathBuf;
use std::time::Instant;

/// How the online features were made at start.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FeaturesStart {
    /// `saved` (loaded and advanced) or `log` (rebuilt from the whole log).
    pub source: &'static str,
    /// Why the saved features were not used (`None` when they were, or when
    /// saving is off).
    pub reason: Option<String>,
    /// Events read from the log: those after the saved position, or all.
    pub events_read: u64,
    /// Milliseconds to have the features ready.
    pub ms: u64,
}

/// One save of the online features.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FeaturesSaved {
    /// The log position (event seq) the save reflects.
    pub position: u64,
    /// Events the features held.
    pub events: u64,
    /// Size of the file.
    pub bytes: u64,
    /// Milliseconds to encode and write it.
    pub ms: u64,
}

impl Engine {
    /// Where the online features are saved between starts.
    pub fn saved_features_path(&self) -> PathBuf {
        self.config().data_dir.join("features").join("online.bin")
    }

    /// The features for a start: the saved ones advanced along the log when
    /// they can be trusted, else a rebuild from the log. Returns the state,
    /// the log position it reflects, and how it was made.
    pub(crate) fn start_features(&self) -> Result<(OnlineFeatures, u64, FeaturesStart)> {
        let started = Instant::now();
        let config = self.config().feature_config();
        let events_in_log = self.store().counters()?.events;
        let reason = if self.config().server.features_save_secs == 0 {
            None
        } else {
            match std::fs::read(self.saved_features_path()) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Some("nothing saved".to_string())
                }
                Err(e) => Some(format!("cannot read the saved features: {e}")),
                Ok(bytes) => match OnlineFeatures::load_bytes(config.clone(), &bytes) {
                    Err(e) => {
                        if !matches!(e, sommelier_features::SavedError::Config) {
                            self.metrics().damage_found("saved_features");
                        }
                        Some(format!("saved features not loaded: {e}"))
                    }
                    Ok((mut state, position)) => {
                        let before = state.applied();
                        let seq = self
                            .store()
                            .scan_events(position, &mut |row| state.apply(row))?;
                        if state.applied() == events_in_log {
                            let start = FeaturesStart {
                                source: "saved",
                                reason: None,
                                events_read: state.applied() - before,
                                ms: started.elapsed().as_millis() as u64,
                            };
                            return Ok((state, seq, start));
                        }
                        self.metrics().damage_found("features_vs_log");
                        Some(format!(
                            "the saved features and the log disagree: {} events after following the log from position {position}, the log holds {events_in_log}",
                            state.applied()
                        ))
                    }
                },
            }
        };
        if let Some(r) = &reason
            && r != "nothing saved"
        {
            tracing::warn!(reason = %r, "online features rebuilt from the whole log");
        }
        let (state, seq) = OnlineFeatures::rebuild(config, self.store())?;
        if state.applied() != events_in_log {
            // The log was read whole: the kept counters are what is wrong.
            self.metrics().damage_found("store_counters");
            tracing::warn!(
                counted = events_in_log,
                read = state.applied(),
                "the store's kept event counter differs from the log; run `sommelier stats --check --repair`"
            );
        }
        let start = FeaturesStart {
            source: "log",
            reason,
            events_read: state.applied(),
            ms: started.elapsed().as_millis() as u64,
        };
        Ok((state, seq, start))
    }

    /// Saves the online features when they changed since the last save and
    /// `features_save_secs` passed (`force`: whenever they changed). `None`
    /// when nothing was due, saving is off, or the features are not built.
    pub fn save_features(&self, force: bool) -> Result<Option<FeaturesSaved>> {
        let every = self.config().server.features_save_secs;
        if every == 0 {
            return Ok(None);
        }
        let Some(features) = self.built_features() else {
            return Ok(None);
        };
        // The position lock first, as catch-up takes it: no event is applied
        // between reading the state and reading its position.
        let seq = features.applied_seq.lock();
        let mut last = features.saved.lock();
        let due = match *last {
            None => true,
            Some((at, position)) => position != *seq && (force || at.elapsed().as_secs() >= every),
        };
        if !due {
            return Ok(None);
        }
        let started = Instant::now();
        let state = features.state.read();
        let bytes = state.save_bytes(*seq);
        let events = state.applied();
        drop(state);
        let position = *seq;
        drop(seq);
        crate::models::replace_durably(&self.saved_features_path(), &bytes).map_err(|e| {
            crate::EngineError::Io {
                path: self.saved_features_path(),
                source: e,
            }
        })?;
        *last = Some((Instant::now(), position));
        let saved = FeaturesSaved {
            position,
            events,
            bytes: bytes.len() as u64,
            ms: started.elapsed().as_millis() as u64,
        };
        tracing::debug!(?saved, "online features saved");
        Ok(Some(saved))
    }

    /// Removes the saved features (before a deletion: a save must never hold
    /// what was deleted).
    pub(crate) fn remove_saved_features(&self, features: Option<&Features>) -> Result<()> {
        if let Some(f) = features {
            *f.saved.lock() = None;
        }
        let path = self.saved_features_path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(crate::EngineError::Io { path, source }),
        }
    }
}
