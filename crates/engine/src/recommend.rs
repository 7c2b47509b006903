//! The read path's entry points: the engine hands out a [`Pipeline`] per
//! request over its current state, and answers `/v1/recommend` through it.

use crate::experiments::{Arm, Served, Setup, ranked_by};
use crate::pipeline::llm::{LlmAsk, rerank};
use crate::pipeline::{
    ConfigRef, Explain, FeatureAccess, Pipeline, RecommendRequest, RecommendResponse,
    Recommendation, source_settings,
};
use crate::{Engine, EngineError, Result};
use sommelier_llm::StageReport;
use std::time::{Duration, Instant};

/// Why the personal sources did not run for a user who declined.
const NO_CONSENT: &str = "the user declined personalisation (consent)";
/// Why a user's history went unused while the store could not say whether
/// they consent.
const NO_PROFILE: &str =
    "the store is unavailable, so the user's consent is unknown: answered as a visitor";

/// A list re-ranked by the LLM stage.
#[derive(Debug, Clone)]
pub struct LlmReranked {
    /// Item ids: the model's valid picks first, then the classical order.
    pub items: Vec<String>,
    /// How the stage went (used, fallback reason, ms).
    pub report: StageReport,
}

impl Engine {
    /// The pipeline over the engine's current state: the catalog snapshot,
    /// the models in use, the live features. `llm`: also the LLM layer, for
    /// requests that ask for the LLM stage.
    pub(crate) fn pipeline(&self, llm: bool) -> Result<Pipeline<'_>> {
        self.pipeline_for(llm, None)
    }

    /// [`Engine::pipeline`] with the configuration and the named fitted
    /// set of the experiment variants a request was assigned, if they
    /// change them. A named set that does not load (damaged since it was
    /// declared, or holding events deleted since) is not served: the
    /// engine's set is, with a warning.
    pub(crate) fn pipeline_for(&self, llm: bool, variant: Option<&Setup>) -> Result<Pipeline<'_>> {
        let config = match variant.and_then(|s| s.config.clone()) {
            Some(c) => ConfigRef::Variant(c),
            None => ConfigRef::Engine(self.config()),
        };
        let models = variant.and_then(|s| s.models.as_deref());
        let llm = if llm && config.llm.enabled {
            match self.llm_for(&config.llm) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "LLM layer unavailable; the LLM stage steps aside");
                    None
                }
            }
        } else {
            None
        };
        Ok(Pipeline {
            settings: source_settings(&config),
            config,
            snapshot: self.snapshot()?,
            models: match models {
                None => self.current_models(),
                Some(name) => match self.named_models(name) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::warn!(set = %name, error = %e, "a variant's fitted set is not served; using the engine's");
                        self.current_models()
                    }
                },
            },
            features: FeatureAccess::Live(&self.features()?.state),
            embedder: self.query_embedder(),
            exposure: Some(&self.exposure),
            metrics: Some(&self.metrics),
            llm,
        })
    }

    /// Whether a user's history may shape their recommendations: their
    /// profile's `consent.personalization` (yes when they have no profile).
    pub fn personalization_allowed(&self, user: &str) -> Result<bool> {
        let Ok(id) = sommelier_types::UserId::new(user) else {
            return Ok(true); // no profile can exist under an invalid id
        };
        Ok(self
            .store()
            .user(&id)?
            .is_none_or(|u| u.consent.personalization))
    }

    /// Recommends items for a user and/or a query.
    pub fn recommend(&self, req: &RecommendRequest) -> Result<RecommendResponse> {
        req.check_limits()?;
        let served = self.served_with(
            sommelier_experiments::Surface::Recommend,
            req.user_id.as_deref(),
            None,
        )?;
        if let Some(s) = served.as_deref()
            && let Some(arms) = s.interleave.as_deref()
        {
            let answer = self.recommend_interleaved(req, s, arms)?;
            self.log_recommendation(req, &answer);
            return Ok(answer);
        }
        let pipeline = self.pipeline_for(
            req.explain == Explain::Llm,
            served.as_deref().map(|s| &s.setup),
        )?;
        let mut answer = self.recommend_on(
            &pipeline,
            &ranked_by(req, served.as_deref().and_then(|s| s.setup.rank_by)),
        )?;
        if let Some(s) = served {
            answer.experiments = s.assignments.clone();
        }
        self.log_recommendation(req, &answer);
        Ok(answer)
    }

    /// An interleaving experiment's answer: both rankers' lists, merged by
    /// team draft (seeded by the request id, so a replay draws the same),
    /// each item remembering which ranker placed it.
    fn recommend_interleaved(
        &self,
        req: &RecommendRequest,
        served: &Served,
        arms: &[Arm; 2],
    ) -> Result<RecommendResponse> {
        let started = Instant::now();
        let k = req.k.unwrap_or(10).clamp(1, 100);
        let mut answers = Vec::with_capacity(2);
        for arm in arms {
            let pipeline = self.pipeline_for(req.explain == Explain::Llm, Some(&arm.setup))?;
            answers.push(self.recommend_on(&pipeline, &ranked_by(req, arm.setup.rank_by))?);
        }
        let ids = |r: &RecommendResponse| -> Vec<String> {
            r.items.iter().map(|i| i.item.clone()).collect()
        };
        let merged = sommelier_experiments::interleave::team_draft(
            &ids(&answers[0]),
            &ids(&answers[1]),
            k,
            &answers[0].request_id,
        );
        let b = answers.pop().expect("two answers");
        let mut answer = answers.pop().expect("two answers");
        let mut from: [Vec<Recommendation>; 2] = [std::mem::take(&mut answer.items), b.items];
        for (id, team) in merged {
            if let Some(i) = from[team].iter().position(|r| r.item == id) {
                answer.items.push(from[team].swap_remove(i));
                answer.teams.push(arms[team].variant.clone());
            }
        }
        answer.experiments = served.assignments.clone();
        answer
            .timings_ms
            .insert("total", started.elapsed().as_secs_f64() * 1e3);
        Ok(answer)
    }

    /// [`Engine::recommend`] through a pipeline the caller holds (a chat
    /// turn retrieves and re-ranks through one).
    pub(crate) fn recommend_on(
        &self,
        pipeline: &Pipeline<'_>,
        req: &RecommendRequest,
    ) -> Result<RecommendResponse> {
        // While the store is away (a PostgreSQL outage), the profile and its
        // consent cannot be read: the answer is a visitor's, which needs no
        // consent, rather than an error or a guess.
        let (declined, why) = match req.user_id.as_deref() {
            Some(u) => match self.personalization_allowed(u) {
                Ok(allowed) => (!allowed, NO_CONSENT),
                Err(EngineError::Store(e)) if e.fault() == sommelier_types::api::Fault::Runtime => {
                    tracing::warn!(error = %e, "no profile to check consent against; answering as a visitor");
                    (true, NO_PROFILE)
                }
                Err(e) => return Err(e),
            },
            None => (false, NO_CONSENT),
        };
        if !declined {
            return pipeline.recommend(req);
        }
        // Answered as a visitor: no history, no personal sources, no
        // consumed-items filter; the answer says why.
        let mut r = pipeline.recommend(&RecommendRequest {
            user_id: None,
            ..req.clone()
        })?;
        for s in &mut r.sources {
            if s.skipped.as_deref() == Some("no history") {
                s.skipped = Some(why.into());
            }
        }
        Ok(r)
    }

    /// Re-ranks `items` (a classical answer's ids, best first) for `request`
    /// through the LLM stage, as a chat turn would: the first
    /// `llm.rerank_candidates` go to the large model under the re-rank
    /// deadline, its picks pass the gate or the classical order stands
    /// (`sommelier eval --llm-sample`).
    pub fn llm_rerank(&self, request: &str, items: &[String]) -> Result<LlmReranked> {
        let llm = self.llm()?;
        let mut pipeline = self.pipeline(false)?;
        pipeline.llm = Some(llm.clone());
        let recs: Vec<Recommendation> = items
            .iter()
            .map(|id| Recommendation {
                item: id.clone(),
                title: pipeline
                    .snapshot
                    .items
                    .get(id.as_str())
                    .map(|i| i.title.clone())
                    .unwrap_or_default(),
                score: 0.0,
                provenance: Vec::new(),
                why: Vec::new(),
                rationale: String::new(),
                rationale_source: None,
            })
            .collect();
        let ask = LlmAsk {
            request: request.to_string(),
            signals: String::new(),
            deadline: Instant::now() + Duration::from_millis(llm.config().rerank_deadline_ms),
        };
        let page = rerank(&pipeline, recs, &ask, &mut |_| {});
        Ok(LlmReranked {
            items: page.items.into_iter().map(|r| r.item).collect(),
            report: page.report,
        })
    }
}
