//! The fitted collaborative (EASE) and sequential models: fitted from the event
//! log as a batch job, saved under `DATA_DIR/fitted/`, and swapped in while the
//! engine serves (requests hold an `Arc` to the set they started with).

use crate::{Engine, EngineError, Result};
use serde::{Deserialize, Serialize};
use sommelier_collab::{EaseParams, Interactions, ItemNeighbors, SequentialParams};
use sommelier_store::EventRead;
use sommelier_types::{EventKind, Timestamp};
use std::sync::Arc;
use std::time::Instant;

/// What a fit produced; also saved beside the tables as `fitted.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Version of this fit: `fit-<unix ms>-<log position>`.
    pub version: String,
    /// Log position the fit read up to.
    pub seq: u64,
    /// Positive interactions used.
    pub interactions: usize,
    /// Users seen.
    pub users: usize,
    /// Items in the EASE model.
    pub ease_items: usize,
    /// Stored item → item pairs of the EASE model.
    pub ease_pairs: usize,
    /// Items with successors in the sequential model.
    pub sequential_pairs: usize,
    /// Seconds the fit took.
    pub seconds: f64,
    /// When it finished.
    pub fitted_at: Timestamp,
}

/// A fitted set, used whole by a request.
pub(crate) struct Models {
    pub(crate) report: FitReport,
    pub(crate) ease: ItemNeighbors,
    pub(crate) sequential: ItemNeighbors,
}

/// Whether an event says the user wanted the item (what the models learn from):
/// everything but explicit negatives. A rating of any value means the item was
/// consumed, which is what the next-item and co-occurrence models predict.
pub fn is_positive(kind: EventKind) -> bool {
    !matches!(kind, EventKind::Dislike | EventKind::Skip)
}

impl Engine {
    /// Fits both models from the whole event log, saves them and swaps them in.
    pub fn fit_models(&self) -> Result<FitReport> {
        let _one_at_a_time = self.models_fit.lock();
        let started = Instant::now();
        let mut data = Interactions::new();
        let seq = self.store().scan_events(0, &mut |row| {
            if is_positive(row.kind) {
                data.add(row.user, row.item, row.timestamp.0);
            }
        })?;
        let m = &self.config().models;
        let ease = sommelier_collab::fit_ease(
            &data,
            &EaseParams {
                lambda: m.ease_lambda,
                max_items: m.ease_max_items,
                neighbors: m.ease_neighbors,
                threads: m.fit_threads,
                ..EaseParams::default()
            },
        )
        .map_err(|e| EngineError::Model(e.to_string()))?;
        let sequential = sommelier_collab::fit_sequential(
            &data,
            &SequentialParams {
                window: m.sequential_window,
                neighbors: m.sequential_neighbors,
                ..SequentialParams::default()
            },
        )
        .map_err(|e| EngineError::Model(e.to_string()))?;
        let fitted_at = Timestamp::now();
        let report = FitReport {
            version: format!("fit-{}-{seq}", fitted_at.0),
            seq,
            interactions: data.len(),
            users: data.users(),
            ease_items: ease.items(),
            ease_pairs: ease.pairs(),
            sequential_pairs: sequential.pairs(),
            seconds: started.elapsed().as_secs_f64(),
            fitted_at,
        };
        let models = Models {
            report: report.clone(),
            ease,
            sequential,
        };
        self.save_models(&models)?;
        tracing::info!(
            version = %report.version,
            interactions = report.interactions,
            ease_items = report.ease_items,
            seconds = report.seconds,
            "models fitted"
        );
        *self.models.write() = Some(Arc::new(models));
        Ok(report)
    }

    fn save_models(&self, m: &Models) -> Result<()> {
        let dir = self.config().models_dir();
        let io = |e: std::io::Error| {
            EngineError::Model(format!("cannot save models in {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        m.ease.save(&dir.join("ease.bin")).map_err(io)?;
        m.sequential.save(&dir.join("sequential.bin")).map_err(io)?;
        // Written last: its presence means the tables beside it are complete.
        let json = serde_json::to_vec_pretty(&m.report).expect("a report serialises");
        let tmp = dir.join("fitted.json.tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, dir.join("fitted.json")).map_err(io)?;
        Ok(())
    }

    /// Loads the saved models if there are any. Returns their report.
    pub fn load_models(&self) -> Result<Option<FitReport>> {
        let dir = self.config().models_dir();
        let meta = dir.join("fitted.json");
        if !meta.exists() {
            return Ok(None);
        }
        let bad =
            |what: String| EngineError::Model(format!("{what}; run `sommelier fit` to refit"));
        let report: FitReport = serde_json::from_slice(
            &std::fs::read(&meta)
                .map_err(|e| bad(format!("cannot read {}: {e}", meta.display())))?,
        )
        .map_err(|e| bad(format!("{} is not a fit report: {e}", meta.display())))?;
        let ease = ItemNeighbors::load(&dir.join("ease.bin")).map_err(|e| bad(e.to_string()))?;
        let sequential =
            ItemNeighbors::load(&dir.join("sequential.bin")).map_err(|e| bad(e.to_string()))?;
        *self.models.write() = Some(Arc::new(Models {
            report: report.clone(),
            ease,
            sequential,
        }));
        Ok(Some(report))
    }

    /// The report of the models in use, if any.
    pub fn models_report(&self) -> Option<FitReport> {
        self.current_models().map(|m| m.report.clone())
    }

    /// The models in use; the first call loads the saved ones, if any (a broken
    /// file is logged and treated as no model, so serving goes on).
    pub(crate) fn current_models(&self) -> Option<Arc<Models>> {
        self.models_loaded.get_or_init(|| {
            if self.models.read().is_none()
                && let Err(e) = self.load_models()
            {
                tracing::warn!(error = %e, "saved models not loaded");
            }
        });
        self.models.read().clone()
    }

    /// Positive events committed after the models in use were fitted (all of
    /// them when none are): how stale the models are.
    pub fn events_since_fit(&self) -> Result<u64> {
        let after = self.current_models().map_or(0, |m| m.report.seq);
        let mut n = 0;
        self.store().scan_events(after, &mut |row| {
            if is_positive(row.kind) {
                n += 1;
            }
        })?;
        Ok(n)
    }
}
