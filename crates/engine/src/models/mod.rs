//! The fitted collaborative (EASE) and sequential models: fitted from the event
//! log as a batch job, saved under `DATA_DIR/fitted/`, and swapped in while the
//! engine serves (requests hold an `Arc` to the set they started with).

//!
//! `fit.rs` fits the tables and the learned ranker, `files.rs` saves and
//! loads a set.

mod files;
pub(crate) use files::replace_durably;
mod fit;
mod named;
mod similar;
mod timeline;

pub(crate) use named::{NamedSets, check_set_name};

pub use similar::PriorTrial;

use crate::collaborative::{AlsServing, Collaborative, GraphTrial, sample_histories, weighted};
use crate::{Engine, EngineError, Result};
use serde::{Deserialize, Serialize};
use sommelier_collab::{FactorModel, Interactions, ItemNeighbors};
use sommelier_rank::LinearModel;
use sommelier_types::Timestamp;
use std::sync::Arc;
use std::time::Instant;

/// What a fit produced; also saved beside the tables as `fitted.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FitReport {
    /// Version of this fit: `fit-<unix ms>-<log position>`.
    pub version: String,
    /// Log position the fit read up to.
    pub seq: u64,
    /// Positive interactions used.
    pub interactions: usize,
    /// Users seen.
    pub users: usize,
    /// The collaborative model: `ease` or `als`.
    #[serde(default = "ease_name")]
    pub collaborative: String,
    /// Items in the EASE model (0 with iALS).
    pub ease_items: usize,
    /// Stored item → item pairs of the EASE model.
    pub ease_pairs: usize,
    /// Items with iALS vectors (0 with EASE).
    #[serde(default)]
    pub als_items: usize,
    /// Dimensions of the iALS vectors.
    #[serde(default)]
    pub als_factors: usize,
    /// The iALS graph's search breadth, chosen by the fit (`None` without a
    /// graph: small models are scanned).
    #[serde(default)]
    pub als_search_ef: Option<usize>,
    /// The breadths the fit tried on the iALS graph: the share of the exact
    /// scan's top `fusion.per_source` items each found for a sample of users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub als_graph_check: Vec<GraphTrial>,
    /// Items with successors in the sequential model.
    pub sequential_pairs: usize,
    /// The self-attention sequence model's fit (`None`: not fitted, by
    /// configuration or for lack of data).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub sasrec: Option<sommelier_sequence::TrainReport>,
    /// The sequence model's further epochs on the items held out for the
    /// ranker, after the ranker's fit (`models.sasrec.more_epochs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub sasrec_more: Option<sommelier_sequence::TrainReport>,
    /// Stored (item, neighbour) pairs of the co-occurrence table behind
    /// item-to-item similarity.
    #[serde(default)]
    pub similar_pairs: usize,
    /// The blend's prior chosen by the fit (`None`: the default).
    #[serde(default)]
    pub similar_prior: Option<f64>,
    /// The priors tried, with their precision against the other half of the log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub similar_check: Vec<PriorTrial>,
    /// The learned scorer's fit, when there was enough data.
    pub ranker: Option<RankerReport>,
    /// Seconds the fit took.
    pub seconds: f64,
    /// When it finished.
    pub fitted_at: Timestamp,
    /// A first set fitted without the sequence model, served from memory
    /// (never saved) while the full fit runs: see [`Engine::fit_interim_models`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interim: bool,
}

/// Where a fit's set goes.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// Saved as the engine's own set and swapped in.
    Engine,
    /// Saved as the named set beside it.
    Named(&'a str),
    /// Swapped in without the sequence model and not saved.
    Interim,
}

/// How the learned scorer was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RankerReport {
    /// Users whose newest items (`models.ranker_future_items`) were held
    /// out to learn from.
    pub users: usize,
    /// Of which at least one held-out item was among the candidates.
    pub users_with_positive: usize,
    /// Held-out items found among the candidates (the positive examples).
    #[serde(default)]
    pub positives: usize,
    /// (candidate, label) examples.
    pub examples: usize,
    /// Mean log-loss on the examples.
    pub log_loss: f64,
    /// Seconds it took (the held-out refit included).
    pub seconds: f64,
    /// Or why none was fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

fn ease_name() -> String {
    "ease".into()
}

/// A fitted set, used whole by a request.
pub(crate) struct Models {
    pub(crate) report: FitReport,
    pub(crate) collaborative: Collaborative,
    pub(crate) sequential: ItemNeighbors,
    /// The self-attention sequence model, when one was fitted.
    pub(crate) sasrec: Option<sommelier_sequence::SasRec>,
    /// The learned scorer (`None`: the hand-set fusion ranks).
    pub(crate) ranker: Option<LinearModel>,
    /// Co-occurrence neighbours, the collaborative half of item similarity
    /// (`None` for a set saved before it existed).
    pub(crate) similar: Option<ItemNeighbors>,
}

impl Models {
    /// Whether this is a named set (`sommelier fit --as NAME`: its version
    /// is `NAME@fit-…`), not the engine's own.
    pub(crate) fn is_named(&self) -> bool {
        self.report.version.contains('@')
    }

    /// The blend's prior: the fitted one, else the default.
    pub(crate) fn similar_prior(&self) -> f64 {
        self.report
            .similar_prior
            .unwrap_or(crate::similarity::DEFAULT_PRIOR)
    }
}

impl Models {
    /// A set fitted on the log without each user's last item, for the
    /// ranker's training: never served, never saved.
    pub(crate) fn held_out(
        collaborative: Collaborative,
        sequential: ItemNeighbors,
        sasrec: Option<sommelier_sequence::SasRec>,
    ) -> Self {
        Self {
            report: FitReport {
                version: "held-out".into(),
                seq: 0,
                interactions: 0,
                users: 0,
                collaborative: collaborative.name().into(),
                ease_items: 0,
                ease_pairs: 0,
                als_items: 0,
                als_factors: 0,
                als_search_ef: None,
                als_graph_check: Vec::new(),
                sequential_pairs: sequential.pairs(),
                sasrec: None,
                sasrec_more: None,
                similar_pairs: 0,
                similar_prior: None,
                similar_check: Vec::new(),
                ranker: None,
                seconds: 0.0,
                fitted_at: Timestamp(0),
                interim: false,
            },
            collaborative,
            sequential,
            sasrec,
            ranker: None,
            similar: None,
        }
    }
}

impl Engine {
    /// Fits both models from the whole event log, saves them and swaps them in.
    pub fn fit_models(&self) -> Result<FitReport> {
        let marker = self.refit_required();
        let r = self.fit_models_inner(Target::Engine);
        self.metrics().fitted(r.is_ok());
        if r.is_ok() {
            // The fit read the log after the deletion that set the marker.
            self.clear_refit_marker(marker.as_deref());
        }
        r
    }

    /// The positive interactions of the whole log, and the log position read to.
    fn positive_interactions(&self) -> Result<(Interactions, u64)> {
        let mut data = Interactions::new();
        let seq = self.store().scan_events(0, &mut |row| {
            if row.kind.is_positive() {
                data.add(row.user, row.item, row.timestamp.0);
            }
        })?;
        Ok((data, seq))
    }

    /// Measures the saved iALS graph against the exact scan at each search
    /// breadth of `efs`, for `users` of the log's users asking for
    /// `fusion.per_source` items each (`sommelier bench als-graph`). Empty
    /// when the fitted model has no graph (EASE, or iALS small enough to scan).
    pub fn check_als_graph(&self, users: usize, efs: &[usize]) -> Result<Vec<GraphTrial>> {
        let dir = self
            .fitted_set_dir()
            .unwrap_or_else(|| self.config().models_dir());
        let path = dir.join("als.bin");
        if !path.exists() {
            return Err(EngineError::Usage(format!(
                "no iALS model in {} (run `sommelier fit` with models.collaborative = \"als\")",
                dir.display()
            )));
        }
        let model = FactorModel::load(&path).map_err(|e| EngineError::Model(e.to_string()))?;
        let mut serving = AlsServing::load(model, &dir, self.config().models.fit_threads, None)?;
        let (data, _) = self.positive_interactions()?;
        let histories = sample_histories(&data, users);
        let weighted = weighted(&histories);
        Ok(serving.trials(
            &weighted,
            self.config()
                .fusion
                .limit(sommelier_recall::Source::Collaborative),
            efs,
        ))
    }

    /// When no models are saved yet and the sequence model is configured
    /// (it trains for minutes: up to `models.sasrec.max_seconds`), fits
    /// everything else first, in seconds, and serves that set from memory
    /// until the full fit replaces it; it is never saved, so a process
    /// stopped before the full fit ends fits again at its next start.
    /// `None` when models are in use already or the sequence model is off;
    /// a set that comes while it fits is kept, and the interim one dropped.
    pub fn fit_interim_models(&self) -> Result<Option<FitReport>> {
        if self.config().models.sequential_model != crate::config::SequentialModel::Sasrec
            || self.current_models().is_some()
        {
            return Ok(None);
        }
        self.fit_models_inner(Target::Interim).map(Some)
    }

    /// Fits a set from the whole log and puts it where `target` says.
    fn fit_models_inner(&self, target: Target<'_>) -> Result<FitReport> {
        let _one_at_a_time = self.models_fit.lock();
        // And one at a time across the processes sharing the folder.
        let _one_across = self.lock_models_dir()?;
        let started = Instant::now();
        let (data, seq) = self.positive_interactions()?;
        let (collaborative, sequential) = self.fit_tables(&data)?;
        let (similar, similar_prior, similar_check) = self.fit_similar(&data)?;
        // The ranker's examples: each user's newest items, held out.
        let (rest, held) = data.split_last(
            fit::RANKER_MIN_ITEMS,
            self.config().models.ranker_future_items.max(1),
            (self.config().models.ranker_visit_gap_secs as i64).saturating_mul(1_000),
        );
        let (sasrec, sasrec_report) = match target {
            Target::Interim => (None, None),
            Target::Engine | Target::Named(_) => self.fit_sasrec(&data, &held)?,
        };
        let trimmed = held.iter().any(|(_, items)| items.len() > 1);
        let (ranker, ranker_report) = match self.fit_ranker(&rest, held, sasrec.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "ranker not fitted; the hand-set fusion ranks");
                (None, None)
            }
        };
        // The ranker has learned from the items the sequence model has not
        // seen; now the model learns them too.
        let (sasrec, sasrec_more) = match (sasrec, &sasrec_report) {
            (Some(model), Some(first)) if trimmed => self.fit_sasrec_more(&data, model, first)?,
            (model, _) => (model, None),
        };
        let fitted_at = Timestamp::now();
        // The sizes of the model that was fitted; the other kind's are 0.
        let (ease_items, ease_pairs, als_items, als_factors) = match &collaborative {
            Collaborative::Ease(m) => (m.items(), m.pairs(), 0, 0),
            Collaborative::Als(m) => (0, 0, m.model.items(), m.model.factors()),
        };
        let (als_search_ef, als_graph_check) = match &collaborative {
            Collaborative::Als(m) => (m.search_ef(), m.check.clone()),
            Collaborative::Ease(_) => (None, Vec::new()),
        };
        let report = FitReport {
            version: match target {
                Target::Engine => format!("fit-{}-{seq}", fitted_at.0),
                Target::Named(n) => format!("{n}@fit-{}-{seq}", fitted_at.0),
                Target::Interim => format!("interim-{}-{seq}", fitted_at.0),
            },
            seq,
            interactions: data.len(),
            users: data.users(),
            collaborative: collaborative.name().into(),
            ease_items,
            ease_pairs,
            als_items,
            als_factors,
            als_search_ef,
            als_graph_check,
            sequential_pairs: sequential.pairs(),
            sasrec: sasrec_report,
            sasrec_more,
            similar_pairs: similar.pairs(),
            similar_prior,
            similar_check,
            ranker: ranker_report,
            seconds: started.elapsed().as_secs_f64(),
            fitted_at,
            interim: matches!(target, Target::Interim),
        };
        let models = Models {
            report: report.clone(),
            collaborative,
            sequential,
            sasrec,
            ranker,
            similar: Some(similar),
        };
        match target {
            Target::Engine => self.save_models(&models, None)?,
            Target::Named(n) => self.save_models(&models, Some(n))?,
            Target::Interim => {}
        }
        tracing::info!(
            version = %report.version,
            interactions = report.interactions,
            collaborative = %report.collaborative,
            ease_items = report.ease_items,
            als_items = report.als_items,
            seconds = report.seconds,
            interim = report.interim,
            "models fitted"
        );
        match target {
            Target::Engine => *self.models.write() = Some(Arc::new(models)),
            Target::Named(n) => self.named_sets.put(n, Arc::new(models)),
            Target::Interim => {
                // Only while no set is in use: a full set that came during
                // this fit (one a fit asked over the API swapped in, or one
                // another replica saved and this one loaded) stays.
                let mut current = self.models.write();
                if current.is_none() {
                    *current = Some(Arc::new(models));
                }
            }
        }
        Ok(report)
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
            if row.kind.is_positive() {
                n += 1;
            }
        })?;
        Ok(n)
    }
}
