//! Fitting a set from the log: the collaborative model (EASE, or iALS with
//! its graph's search breadth checked) and the next-item table, then the
//! learned ranker, trained on the pipeline's own candidates for each user's
//! held-out last item.

use super::Models;
use crate::collaborative::{AlsServing, Collaborative, GraphTrial, sample_histories, weighted};
use crate::config::{CollaborativeModel, SequentialModel};
use crate::pipeline::{
    ConfigRef, FeatureAccess, Pipeline, RecommendRequest, RequestContext, source_settings,
};
use crate::{Engine, EngineError, RankerReport, Result};
use sommelier_collab::{AlsParams, EaseParams, Interactions, ItemNeighbors, SequentialParams};
use sommelier_features::OnlineFeatures;
use sommelier_rank::{LinearModel, signals};
use sommelier_sequence::{SasRec, TrainReport};
use sommelier_types::{Timestamp, fnv1a};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// Fewest users with 3+ items to fit the sequence model on.
const SASREC_MIN_USERS: usize = 20;

/// Users with fewer distinct items do not teach the ranker (no history left
/// once their last item is held out).
const RANKER_MIN_ITEMS: usize = 3;

impl Engine {
    /// Fits the collaborative model (EASE or iALS, by `models.collaborative`)
    /// and the sequential table on `data`.
    pub(super) fn fit_tables(&self, data: &Interactions) -> Result<(Collaborative, ItemNeighbors)> {
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

    /// Fits the self-attention sequence model, when the configuration asks
    /// for it and enough users have a history to learn from and validate on.
    /// Each user's last item is its validation (never trained on), which is
    /// also the item the ranker's fit holds out.
    pub(super) fn fit_sasrec(
        &self,
        data: &Interactions,
    ) -> Result<(Option<SasRec>, Option<TrainReport>)> {
        let m = &self.config().models;
        if m.sequential_model != SequentialModel::Sasrec {
            return Ok((None, None));
        }
        let users = data.sequences().iter().filter(|s| s.len() >= 3).count();
        if users < SASREC_MIN_USERS {
            tracing::info!(
                users,
                "too few users with 3+ items for the sequence model; the transition table serves"
            );
            return Ok((None, None));
        }
        crate::memory::keep_freed_memory();
        let (model, report) = sommelier_sequence::fit(data.sequences(), data.items(), &m.sasrec)
            .map_err(|e| EngineError::Model(e.to_string()))?;
        Ok((Some(model), Some(report)))
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
    pub(super) fn fit_ranker(
        &self,
        data: &Interactions,
        sasrec: Option<&SasRec>,
    ) -> Result<(Option<LinearModel>, Option<RankerReport>)> {
        let started = Instant::now();
        let cfg = &self.config().models;
        let (rest, mut held) = data.split_last(RANKER_MIN_ITEMS);
        // Every held-out event leaves the rebuilt features, sampled user or not.
        let all_held: HashSet<(String, String)> = held.iter().cloned().collect();
        // A deterministic sample of users bounds the cost on large logs.
        if held.len() > cfg.ranker_users {
            held.sort_by_key(|(u, _)| fnv1a(u));
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
            } else if row.kind.is_positive() {
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
        // The serving pipeline over the held-out state.
        let pipeline = Pipeline {
            config: ConfigRef::Engine(self.config()),
            snapshot: self.snapshot()?,
            // The sequence model was fitted without each user's last item
            // (its validation), the same items held out here.
            models: Some(Arc::new(Models::held_out(
                collaborative,
                sequential,
                sasrec.cloned(),
            ))),
            features: FeatureAccess::Fixed(&features),
            embedder: None,
            settings: source_settings(self.config()),
            exposure: None,
            metrics: None,
            llm: None,
        };
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        let mut with_positive = 0;
        for (user, item) in &held {
            let at = held_context.get(&(user.clone(), item.clone()));
            let hour = at.map(|c| sommelier_features::context::local_hour(c.0, offset));
            let req = RecommendRequest {
                user_id: Some(user.clone()),
                context: RequestContext {
                    device: at.and_then(|c| c.1.clone()),
                    hour,
                    asked_at: at.map(|c| Timestamp(c.0)),
                },
                ..Default::default()
            };
            let pooled = pipeline.candidates(&req, hour)?;
            let mut negatives = 0;
            let mut chosen = Vec::new();
            let mut positive = Vec::new();
            for c in &pooled.pool {
                let is_positive = &c.item == item;
                if !is_positive {
                    // Negatives are sampled evenly down the pool.
                    if negatives >= cfg.ranker_negatives {
                        continue;
                    }
                    negatives += 1;
                } else {
                    with_positive += 1;
                }
                chosen.push(c);
                positive.push(is_positive);
            }
            rows.extend(pipeline.signals(&chosen, user, &pooled));
            labels.extend(positive);
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
