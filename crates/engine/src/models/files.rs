//! A fitted set on disk, under `DATA_DIR/fitted/`: the collaborative table
//! or factors (and the iALS graph), the next-item table, the ranker, and
//! `fitted.json`, written last, which marks the set complete.

use super::Models;
use crate::collaborative::{AlsServing, Collaborative};
use crate::{Engine, EngineError, FitReport, Result};
use sommelier_collab::{FactorModel, ItemNeighbors};
use sommelier_rank::{LinearModel, signals};
use std::sync::Arc;

impl Engine {
    pub(super) fn save_models(&self, m: &Models) -> Result<()> {
        let dir = self.config().models_dir();
        let io = |e: std::io::Error| {
            EngineError::Model(format!("cannot save models in {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let collab = dir.join(m.collaborative.file());
        match &m.collaborative {
            Collaborative::Ease(t) => {
                t.save(&collab).map_err(io)?;
                crate::collaborative::remove_graph(&dir)?;
            }
            Collaborative::Als(f) => {
                f.model.save(&collab).map_err(io)?;
                f.save_index(&dir)?;
            }
        }
        // The other kind's file of an earlier fit would be stale.
        for stale in ["ease.bin", "als.bin"] {
            let p = dir.join(stale);
            if stale != m.collaborative.file() && p.exists() {
                std::fs::remove_file(&p).map_err(io)?;
            }
        }
        m.sequential.save(&dir.join("sequential.bin")).map_err(io)?;
        match &m.sasrec {
            Some(s) => s
                .save(&dir)
                .map_err(|e| EngineError::Model(format!("cannot save models: {e}")))?,
            None => sommelier_sequence::SasRec::remove(&dir).map_err(io)?,
        }
        if let Some(similar) = &m.similar {
            similar.save(&dir.join("similar.bin")).map_err(io)?;
        }
        let ranker = dir.join("ranker.json");
        match &m.ranker {
            Some(r) => std::fs::write(
                &ranker,
                serde_json::to_vec_pretty(r).expect("a model serialises"),
            )
            .map_err(io)?,
            None if ranker.exists() => std::fs::remove_file(&ranker).map_err(io)?,
            None => {}
        }
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
        let collaborative = match report.collaborative.as_str() {
            "als" => Collaborative::Als(Box::new(AlsServing::load(
                FactorModel::load(&dir.join("als.bin")).map_err(|e| bad(e.to_string()))?,
                &dir,
                self.config().models.fit_threads,
                report.als_search_ef,
            )?)),
            "ease" => Collaborative::Ease(
                ItemNeighbors::load(&dir.join("ease.bin")).map_err(|e| bad(e.to_string()))?,
            ),
            other => {
                return Err(bad(format!(
                    "{} names an unknown collaborative model `{other}`",
                    meta.display()
                )));
            }
        };
        let sequential =
            ItemNeighbors::load(&dir.join("sequential.bin")).map_err(|e| bad(e.to_string()))?;
        let sasrec = if report.sasrec.is_some() {
            sommelier_sequence::SasRec::load(&dir).map_err(|e| bad(e.to_string()))?
        } else {
            None
        };
        let ranker_path = dir.join("ranker.json");
        let ranker = if ranker_path.exists() {
            let raw = std::fs::read(&ranker_path)
                .map_err(|e| bad(format!("cannot read {}: {e}", ranker_path.display())))?;
            let model: LinearModel = serde_json::from_slice(&raw)
                .map_err(|e| bad(format!("{} is not a ranker: {e}", ranker_path.display())))?;
            if model.features != signals::names() || model.weights.len() != model.features.len() {
                // A ranker of an older feature set: the tables still serve,
                // ranked by fusion until the next fit.
                tracing::warn!(
                    path = %ranker_path.display(),
                    "the saved ranker was fitted on other features and is not used; run `sommelier fit` to refit"
                );
                None
            } else {
                Some(model)
            }
        } else {
            None
        };
        // A set saved before item similarity was fitted has no table: the
        // similarity is content alone until the next fit.
        let similar_path = dir.join("similar.bin");
        let similar = if similar_path.exists() {
            Some(ItemNeighbors::load(&similar_path).map_err(|e| bad(e.to_string()))?)
        } else {
            None
        };
        *self.models.write() = Some(Arc::new(Models {
            report: report.clone(),
            collaborative,
            sequential,
            sasrec,
            ranker,
            similar,
        }));
        Ok(Some(report))
    }
}
