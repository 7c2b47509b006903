//! Fitting a set from the log: the collaborative model (EASE, or iALS with
//! its graph's search breadth checked) and the next-item table, then the
//! learned ranker, trained on the pipeline's own candidates for each user's
//! held-out newest items, ranked as of when they were chosen.

use super::Models;
use super::timeline::Timeline;
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

/// Share of `models.sasrec.max_seconds` kept for the sequence model's
/// further epochs on the items held out for the ranker.
const MORE_EPOCHS_SHARE: f64 = 0.2;

/// Users with fewer distinct items do not teach the ranker (no history left
/// once their last item is held out).
pub(super) const RANKER_MIN_ITEMS: usize = 3;

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
    /// It never trains on the items `held` out for the ranker: each user's
    /// sequence ends at the first of them, its validation item (never
    /// trained on either), so the ranker learns how far to trust the model
    /// from choices the model has not seen.
    pub(super) fn fit_sasrec(
        &self,
        data: &Interactions,
        held: &[(String, Vec<String>)],
    ) -> Result<(Option<SasRec>, Option<TrainReport>)> {
        let m = &self.config().models;
        if m.sequential_model != SequentialModel::Sasrec {
            return Ok((None, None));
        }
        let later: HashMap<&str, usize> = held
            .iter()
            .map(|(user, items)| (user.as_str(), items.len().saturating_sub(1)))
            .collect();
        let sequences = data.sequences_trimmed(|u| later.get(u).copied().unwrap_or(0));
        let users = sequences.iter().filter(|s| s.len() >= 3).count();
        if users < SASREC_MIN_USERS {
            tracing::info!(
                users,
                "too few users with 3+ items for the sequence model; the transition table serves"
            );
            return Ok((None, None));
        }
        crate::memory::keep_freed_memory();
        // With items to learn afterwards, a share of the time is kept for them.
        let mut p = m.sasrec.clone();
        if m.sasrec.more_epochs > 0 && later.values().any(|n| *n > 0) {
            p.max_seconds *= 1.0 - MORE_EPOCHS_SHARE;
        }
        let (model, report) = sommelier_sequence::fit(&sequences, data.items(), &p)
            .map_err(|e| EngineError::Model(e.to_string()))?;
        Ok((Some(model), Some(report)))
    }

    /// Goes on fitting the sequence model on every user's whole sequence
    /// (the last item validating) until its patience ends it (at most
    /// `models.sasrec.more_epochs`), within
    /// what the first fit left of `models.sasrec.max_seconds` (at least a
    /// fifth of it): the items
    /// held out for the ranker are the newest, the ones a next request
    /// follows from. Never ends worse on that validation than it began.
    pub(super) fn fit_sasrec_more(
        &self,
        data: &Interactions,
        model: SasRec,
        first: &TrainReport,
    ) -> Result<(Option<SasRec>, Option<TrainReport>)> {
        let p = &self.config().models.sasrec;
        if p.more_epochs == 0 {
            return Ok((Some(model), None));
        }
        let more = sommelier_sequence::SasRecParams {
            max_epochs: p.more_epochs,
            max_seconds: (p.max_seconds - first.seconds).max(0.0),
            ..p.clone()
        };
        let (model, report) = sommelier_sequence::fit_more(&model, data.sequences(), &more)
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

    /// Learns the scorer's weights from the log: each user's newest items
    /// are `held` out (`rest` is the log without them), the models and
    /// features are rebuilt without them, the real candidate generation runs
    /// for that user as of the first of them, and a logistic regression
    /// learns which candidates were the ones they chose.
    pub(super) fn fit_ranker(
        &self,
        rest: &Interactions,
        mut held: Vec<(String, Vec<String>)>,
        sasrec: Option<&SasRec>,
    ) -> Result<(Option<LinearModel>, Option<RankerReport>)> {
        let started = Instant::now();
        let cfg = &self.config().models;
        // Every held-out event leaves the rebuilt features, sampled user or not.
        let all_held: HashSet<(String, String)> = held
            .iter()
            .flat_map(|(u, items)| items.iter().map(|i| (u.clone(), i.clone())))
            .collect();
        // A deterministic sample of users bounds the cost on large logs.
        if held.len() > cfg.ranker_users {
            held.sort_by_key(|(u, _)| fnv1a(u));
            held.truncate(cfg.ranker_users);
            held.sort();
        }
        let skipped = |why: &str| RankerReport {
            users: held.len(),
            users_with_positive: 0,
            positives: 0,
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
        let (collaborative, sequential) = self.fit_tables(rest)?;
        // Features as of the log without the held-out events; with
        // `ranker_point_in_time` the events are held back and applied in
        // time order, each example seeing those up to when it was asked.
        let point_in_time = cfg.ranker_point_in_time;
        let mut features = OnlineFeatures::new(self.config().feature_config());
        self.store().scan_items(&mut |item| {
            features.set_item_categories(item.id.as_str(), &item.categories)
        })?;
        let mut timeline = Timeline::default();
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
                if point_in_time {
                    timeline.push(&row);
                } else {
                    features.apply(row);
                }
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
        let mut timeline = timeline.sorted();
        let offset = self.config().features.utc_offset_minutes;
        let snapshot = self.snapshot()?;
        let settings = source_settings(self.config());
        // The sequence model was fitted without the held-out items.
        let models = Arc::new(Models::held_out(collaborative, sequential, sasrec.cloned()));
        // When each example is asked: when the first of its items was chosen.
        let mut asked: Vec<_> = held
            .iter()
            .map(|(user, items)| {
                let at = held_context.get(&(user.clone(), items[0].clone())).cloned();
                (at, user, items)
            })
            .collect();
        if point_in_time {
            asked.sort_by_key(|(at, user, _)| (at.as_ref().map_or(i64::MAX, |c| c.0), *user));
        }
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        let mut with_positive = 0;
        for (at, user, items) in asked {
            timeline.apply_until(&mut features, at.as_ref().map_or(i64::MAX, |c| c.0));
            // The serving pipeline over the held-out state.
            let pipeline = Pipeline {
                config: ConfigRef::Engine(self.config()),
                snapshot: snapshot.clone(),
                models: Some(models.clone()),
                features: FeatureAccess::Fixed(&features),
                embedder: None,
                settings: settings.clone(),
                exposure: None,
                metrics: None,
                llm: None,
            };
            let hour = at
                .as_ref()
                .map(|c| sommelier_features::context::local_hour(c.0, offset));
            let req = RecommendRequest {
                user_id: Some(user.clone()),
                context: RequestContext {
                    device: at.as_ref().and_then(|c| c.1.clone()),
                    hour,
                    asked_at: at.as_ref().map(|c| Timestamp(c.0)),
                },
                ..Default::default()
            };
            let pooled = pipeline.candidates(&req, hour)?;
            let mut negatives = 0;
            let mut chosen = Vec::new();
            let mut positive = Vec::new();
            let mut found = false;
            for c in &pooled.pool {
                let is_positive = items.contains(&c.item);
                if !is_positive {
                    // Negatives are sampled evenly down the pool.
                    if negatives >= cfg.ranker_negatives {
                        continue;
                    }
                    negatives += 1;
                } else {
                    found = true;
                }
                chosen.push(c);
                positive.push(is_positive);
            }
            with_positive += usize::from(found);
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
                    positives: labels.iter().filter(|l| **l).count(),
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
