//! The fitted collaborative (EASE) and sequential models: fitted from the event
//! log as a batch job, saved under `DATA_DIR/fitted/`, and swapped in while the
//! engine serves (requests hold an `Arc` to the set they started with).

use crate::collaborative::{AlsServing, Collaborative, GraphTrial, sample_histories, weighted};
use crate::config::CollaborativeModel;
use crate::recommend::{Context, gather, pool, signals};
use crate::{Engine, EngineError, Result};
use serde::{Deserialize, Serialize};
use sommelier_collab::{
    AlsParams, EaseParams, FactorModel, Interactions, ItemNeighbors, SequentialParams,
};
use sommelier_features::{FeatureRead, OnlineFeatures};
use sommelier_rank::LinearModel;
use sommelier_store::CatalogRead;
use sommelier_store::EventRead;
use sommelier_types::{EventKind, Timestamp};
use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// The learned scorer's fit, when there was enough data.
    pub ranker: Option<RankerReport>,
    /// Seconds the fit took.
    pub seconds: f64,
    /// When it finished.
    pub fitted_at: Timestamp,
}

/// How the learned scorer was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankerReport {
    /// Users whose last item was held out to learn from.
    pub users: usize,
    /// Of which the held-out item was among the candidates.
    pub users_with_positive: usize,
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
    /// The learned scorer (`None`: the hand-set fusion ranks).
    pub(crate) ranker: Option<LinearModel>,
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
        let r = self.fit_models_inner();
        self.metrics().fitted(r.is_ok());
        r
    }

    /// The positive interactions of the whole log, and the log position read to.
    fn positive_interactions(&self) -> Result<(Interactions, u64)> {
        let mut data = Interactions::new();
        let seq = self.store().scan_events(0, &mut |row| {
            if is_positive(row.kind) {
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
        let dir = self.config().models_dir();
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

    fn fit_models_inner(&self) -> Result<FitReport> {
        let _one_at_a_time = self.models_fit.lock();
        let started = Instant::now();
        let (data, seq) = self.positive_interactions()?;
        let (collaborative, sequential) = self.fit_tables(&data)?;
        let (ranker, ranker_report) = match self.fit_ranker(&data) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "ranker not fitted; the hand-set fusion ranks");
                (None, None)
            }
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
            version: format!("fit-{}-{seq}", fitted_at.0),
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
            ranker: ranker_report,
            seconds: started.elapsed().as_secs_f64(),
            fitted_at,
        };
        let models = Models {
            report: report.clone(),
            collaborative,
            sequential,
            ranker,
        };
        self.save_models(&models)?;
        tracing::info!(
            version = %report.version,
            interactions = report.interactions,
            collaborative = %report.collaborative,
            ease_items = report.ease_items,
            als_items = report.als_items,
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
        *self.models.write() = Some(Arc::new(Models {
            report: report.clone(),
            collaborative,
            sequential,
            ranker,
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

/// Users with fewer distinct items do not teach the ranker (no history left
/// once their last item is held out).
const RANKER_MIN_ITEMS: usize = 3;

impl Engine {
    /// Fits the collaborative model (EASE or iALS, by `models.collaborative`)
    /// and the sequential table on `data`.
    fn fit_tables(&self, data: &Interactions) -> Result<(Collaborative, ItemNeighbors)> {
        let m = &self.config().models;
        let ease_params = EaseParams {
            lambda: m.ease_lambda,
            max_items: m.ease_max_items,
            neighbors: m.ease_neighbors,
            threads: m.fit_threads,
            ..EaseParams::default()
        };
        let als = match m.collaborative {
            CollaborativeModel::Als => true,
            CollaborativeModel::Ease => false,
            CollaborativeModel::Auto => {
                let counts = data.item_counts(data.sequences());
                let used = counts
                    .iter()
                    .filter(|c| **c >= ease_params.min_users)
                    .count();
                used > m.ease_max_items
            }
        };
        let started = Instant::now();
        let collaborative = if als {
            let model = sommelier_collab::fit_als(
                data,
                &AlsParams {
                    factors: m.als_factors,
                    iterations: m.als_iterations,
                    regularization: m.als_regularization,
                    alpha: m.als_alpha,
                    threads: m.fit_threads,
                    ..AlsParams::default()
                },
            )
            .map_err(|e| EngineError::Model(e.to_string()))?;
            let mut serving = AlsServing::new(model, m.fit_threads)?;
            serving.check = self.tune_als_graph(&mut serving, data);
            Collaborative::Als(Box::new(serving))
        } else {
            Collaborative::Ease(
                sommelier_collab::fit_ease(data, &ease_params)
                    .map_err(|e| EngineError::Model(e.to_string()))?,
            )
        };
        tracing::info!(
            model = collaborative.name(),
            interactions = data.len(),
            seconds = started.elapsed().as_secs_f64(),
            "collaborative model fitted"
        );
        let sequential = sommelier_collab::fit_sequential(
            data,
            &SequentialParams {
                window: m.sequential_window,
                neighbors: m.sequential_neighbors,
                step_decay: m.sequential_step_decay,
                prior: m.sequential_prior,
            },
        )
        .map_err(|e| EngineError::Model(e.to_string()))?;
        Ok((collaborative, sequential))
    }

    /// Chooses the iALS graph's search breadth: the narrowest that finds
    /// [`ALS_MIN_RECALL`](crate::collaborative::ALS_MIN_RECALL) of what the
    /// exact scan finds for a sample of the log's users, as many items as a
    /// request asks for. An inner-product graph over well-separated tastes
    /// can strand a search; this measures it on the real data at every fit.
    fn tune_als_graph(&self, m: &mut AlsServing, data: &Interactions) -> Vec<GraphTrial> {
        let histories = sample_histories(data, crate::collaborative::ALS_CHECK_USERS);
        let weighted = weighted(&histories);
        let started = Instant::now();
        let tried = m.tune(
            &weighted,
            self.config()
                .fusion
                .limit(sommelier_recall::Source::Collaborative),
        );
        let kept = m
            .search_ef()
            .and_then(|ef| tried.iter().find(|t| t.ef == ef));
        if let Some(&GraphTrial { ef, recall, .. }) = kept {
            let check_ms = started.elapsed().as_millis() as u64;
            if recall >= crate::collaborative::ALS_MIN_RECALL {
                tracing::info!(ef, recall, check_ms, "iALS graph search breadth chosen");
            } else {
                tracing::warn!(
                    ef,
                    recall,
                    check_ms,
                    "the iALS graph misses items the exact scan finds, and a wider search finds no more"
                );
            }
        }
        tried
    }

    /// Learns the scorer's weights from the log: each user's last item is held
    /// out, the models and features are rebuilt without it, the real candidate
    /// generation runs for that user, and a logistic regression learns which
    /// candidate was the one they chose.
    fn fit_ranker(
        &self,
        data: &Interactions,
    ) -> Result<(Option<LinearModel>, Option<RankerReport>)> {
        let started = Instant::now();
        let cfg = &self.config().models;
        let (rest, mut held) = data.split_last(RANKER_MIN_ITEMS);
        // Every held-out event leaves the rebuilt features, sampled user or not.
        let all_held: HashSet<(String, String)> = held.iter().cloned().collect();
        // A deterministic sample of users bounds the cost on large logs.
        if held.len() > cfg.ranker_users {
            held.sort_by_key(|(u, _)| fnv(u));
            held.truncate(cfg.ranker_users);
            held.sort();
        }
        let skipped = |why: &str| RankerReport {
            users: held.len(),
            users_with_positive: 0,
            examples: 0,
            log_loss: 0.0,
            seconds: started.elapsed().as_secs_f64(),
            skipped: Some(why.to_string()),
        };
        if held.len() < cfg.ranker_min_users {
            let why = format!(
                "{} users with {RANKER_MIN_ITEMS}+ items; at least {} needed",
                held.len(),
                cfg.ranker_min_users
            );
            return Ok((None, Some(skipped(&why))));
        }
        let (collaborative, sequential) = self.fit_tables(&rest)?;
        // Features as of the log without the held-out events.
        let mut features = OnlineFeatures::new(self.config().feature_config());
        self.store().scan_items(&mut |item| {
            features.set_item_categories(item.id.as_str(), &item.categories)
        })?;
        let mut probe = (String::new(), String::new());
        // When and on what each held-out choice was made: the context the
        // example is ranked in, so the context features learn from real choices.
        let mut held_context: HashMap<(String, String), (i64, Option<String>)> = HashMap::new();
        self.store().scan_events(0, &mut |row| {
            probe.0.clear();
            probe.0.push_str(row.user);
            probe.1.clear();
            probe.1.push_str(row.item);
            if !all_held.contains(&probe) {
                features.apply(row);
            } else if is_positive(row.kind) {
                let at = (row.timestamp.0, row.device.map(str::to_string));
                held_context
                    .entry(probe.clone())
                    .and_modify(|c| {
                        if at.0 >= c.0 {
                            *c = at.clone();
                        }
                    })
                    .or_insert(at);
            }
        })?;
        let offset = self.config().features.utc_offset_minutes;
        let vectors = self.vector_index()?;
        let weights = self.config().feature_config().weights;
        let mut ctx = Context {
            features: &features,
            now: features.clock().unwrap_or_else(Timestamp::now),
            collaborative: Some(&collaborative),
            sequential: Some(&sequential),
            vectors: &vectors,
            fusion: &self.config().fusion,
            weights: &weights,
            sequential_context: self.config().models.sequential_context,
            rerank: &self.config().rerank,
            wall_now: Timestamp::now(),
            hour: None,
        };
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        let mut with_positive = 0;
        let filter = sommelier_index::Filter::default();
        for (user, item) in &held {
            let at = held_context.get(&(user.clone(), item.clone()));
            ctx.hour = at.map(|c| sommelier_features::context::local_hour(c.0, offset));
            let req = crate::RecommendRequest {
                user_id: Some(user.clone()),
                context: crate::RequestContext {
                    device: at.and_then(|c| c.1.clone()),
                    hour: ctx.hour,
                },
                ..Default::default()
            };
            let mut timings = BTreeMap::new();
            let g = gather(&ctx, &req, Err("no query"), &filter, &mut timings)?;
            let pool = pool(&g, &ctx, false);
            let scales = signals::Scales::of(&g, ctx.fusion.per_source);
            let mut negatives = 0;
            let mut chosen = Vec::new();
            for c in &pool {
                let positive = &c.item == item;
                if !positive {
                    // Negatives are sampled evenly down the pool.
                    if negatives >= cfg.ranker_negatives {
                        continue;
                    }
                    negatives += 1;
                } else {
                    with_positive += 1;
                }
                chosen.push((c, positive));
            }
            let ids: Vec<&str> = chosen.iter().map(|(c, _)| c.item.as_str()).collect();
            let features = signals::lookup(&ids, &ctx, Some(user), &scales);
            for ((c, positive), f) in chosen.iter().zip(&features) {
                rows.push(signals::of(c, f, &scales));
                labels.push(*positive);
            }
        }
        let model =
            sommelier_rank::fit_logistic(signals::names(), &rows, &labels, cfg.ranker_l2, 1.0);
        match model {
            Ok((model, stats)) => {
                let report = RankerReport {
                    users: held.len(),
                    users_with_positive: with_positive,
                    examples: stats.examples,
                    log_loss: stats.log_loss,
                    seconds: started.elapsed().as_secs_f64(),
                    skipped: None,
                };
                Ok((Some(model), Some(report)))
            }
            Err(e) => Ok((None, Some(skipped(&e.to_string())))),
        }
    }
}

/// FNV-1a: a stable hash for sampling.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}
