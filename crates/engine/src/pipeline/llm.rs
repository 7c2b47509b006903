//! Stage 7, the LLM (on request: `explain: "llm"`, every chat turn,
//! `sommelier eval --llm-sample`): the first candidates go to the large model
//! as numbered, grounded fields; it picks and explains by number under a
//! grammar; the gate (`llm::grounded::gate`) checks every pick. The page is
//! the model's valid picks first, with their sentences, then the classical
//! order — or the classical order alone, with the fallback named.
//!
//! Whatever the model does, the items come from the ranked, filtered,
//! available candidates: the model only chooses among numbers.

use super::{Pipeline, RecommendRequest, Recommendation};
use crate::Config;
use sommelier_llm::StageReport;
use sommelier_llm::grounded::{GroundedCandidate, Validated, clip};
use sommelier_types::Item;
use std::time::{Duration, Instant};

/// What the stage is asked when a request has no words of its own (a
/// "for you" list): "what should I have next?".
pub const DEFAULT_REQUEST: &str = "Something I would enjoy next";

/// What the LLM stage is asked for one list.
pub(crate) struct LlmAsk {
    /// The person's request, in words.
    pub(crate) request: String,
    /// What else is known (remembered preferences, exclusions), in words.
    pub(crate) signals: String,
    /// When the model must have answered.
    pub(crate) deadline: Instant,
}

impl LlmAsk {
    /// The ask of a `/v1/recommend` request: its query (or
    /// [`DEFAULT_REQUEST`]) under `llm.rerank_deadline_ms`.
    pub(crate) fn for_request(req: &RecommendRequest, config: &Config) -> Self {
        let request = req
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .unwrap_or(DEFAULT_REQUEST);
        Self {
            request: request.to_string(),
            signals: String::new(),
            deadline: Instant::now() + Duration::from_millis(config.llm.rerank_deadline_ms),
        }
    }
}

/// A list after the LLM stage.
pub(crate) struct LlmPage {
    /// The model's valid picks first (their sentences as rationale, source
    /// `llm`), then the classical order (source `signals`).
    pub(crate) items: Vec<Recommendation>,
    /// How the stage went.
    pub(crate) report: StageReport,
    /// Follow-up questions the model offered, checked by the gate.
    pub(crate) follow_ups: Vec<String>,
}

/// The fields the model sees of a candidate: what the catalog says, nothing
/// else.
pub(crate) fn grounded(i: &Item) -> GroundedCandidate {
    GroundedCandidate {
        item: i.id.as_str().to_string(),
        title: i.title.clone(),
        year: i.year(),
        price: i.price_amount(),
        categories: i.categories.clone(),
        summary: clip(i.description.as_deref().unwrap_or(""), 140),
        available: i.is_available(),
    }
}

/// The page order over `n` classical candidates: the model's valid picks
/// first (with their sentences), then the rest in classical order.
pub(crate) fn page_order(validated: Option<&Validated>, n: usize) -> Vec<(usize, Option<String>)> {
    let mut order: Vec<(usize, Option<String>)> = Vec::with_capacity(n);
    if let Some(v) = validated {
        for p in &v.picks {
            order.push((p.index, Some(p.why.clone())));
        }
    }
    for i in 0..n {
        if !order.iter().any(|(j, _)| *j == i) {
            order.push((i, None));
        }
    }
    order
}

/// The LLM stage over `recs` (best first). `on_token` sees the model's raw
/// answer as it is generated.
pub(crate) fn rerank(
    p: &Pipeline<'_>,
    recs: Vec<Recommendation>,
    ask: &LlmAsk,
    on_token: &mut dyn FnMut(&str),
) -> LlmPage {
    let Some(llm) = p.llm.as_deref() else {
        let page = page_order(None, recs.len());
        return LlmPage {
            items: assemble(recs, page),
            report: StageReport {
                used: false,
                model: "off".into(),
                prompt_version: String::new(),
                // `off`: the configuration (or the request's experiment
                // variant) turns the stage off.
                fallback: Some(
                    if p.config.llm.enabled {
                        "unavailable"
                    } else {
                        "off"
                    }
                    .into(),
                ),
                cached: false,
                ms: 0.0,
                order_changed: None,
            },
            follow_ups: Vec::new(),
        };
    };
    let cands: Vec<GroundedCandidate> = recs
        .iter()
        .take(llm.config().rerank_candidates)
        .filter_map(|r| p.snapshot.items.get(r.item.as_str()).map(|i| grounded(i)))
        .collect();
    let out = llm.rerank(&ask.request, &ask.signals, &cands, ask.deadline, on_token);
    let order = page_order(out.validated.as_ref(), recs.len());
    LlmPage {
        items: assemble(recs, order),
        follow_ups: out.validated.map(|v| v.follow_ups).unwrap_or_default(),
        report: out.llm,
    }
}

/// `recs` in page order, each saying who wrote its sentence.
fn assemble(recs: Vec<Recommendation>, order: Vec<(usize, Option<String>)>) -> Vec<Recommendation> {
    let mut slots: Vec<Option<Recommendation>> = recs.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(i, why)| {
            let mut r = slots.get_mut(i)?.take()?;
            match why {
                Some(w) => {
                    r.rationale = w;
                    r.rationale_source = Some("llm");
                }
                None => r.rationale_source = Some("signals"),
            }
            Some(r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sommelier_llm::grounded::ValidPick;

    #[test]
    fn picks_lead_and_the_rest_keep_their_order() {
        let v = Validated {
            picks: vec![
                ValidPick {
                    index: 2,
                    why: "x".into(),
                },
                ValidPick {
                    index: 0,
                    why: "y".into(),
                },
            ],
            follow_ups: vec![],
        };
        let order: Vec<usize> = page_order(Some(&v), 5)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(order, [2, 0, 1, 3, 4]);
        let plain: Vec<usize> = page_order(None, 3).into_iter().map(|(i, _)| i).collect();
        assert_eq!(plain, [0, 1, 2]);
    }
}
