//! Replaying a decision. Each exposure row keeps what its answer was asked
//! and the state it saw: a `/v1/recommend` row the request as asked (with
//! its clock); a `similar` or `search` row the item or query, `k` and the
//! filters; a chat turn that recommended, for a user who consented to
//! memory, the retrieval request its intent became and the candidates the
//! LLM stage picked from; every one the models version, the catalog log
//! position and the events applied. A replay runs the same through today's
//! engine, with the same variants' configuration, and compares; when the
//! lists differ it says what changed since: the models, the catalog, the
//! events, the variants' definitions.

use crate::experiments::{configured, ranked_by, shown_items};
use crate::exposures::{ChatDecision, Seen};
use crate::pipeline::{Pipeline, RecommendRequest};
use crate::{Engine, EngineError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sommelier_types::ItemId;
use sommelier_types::api::Filters;
use std::collections::BTreeMap;

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    /// The request replayed.
    pub request_id: String,
    /// The surface it was served on: `recommend`, `chat`, `similar`, `search`.
    pub surface: String,
    /// What is compared: `list` (the list served), or, for a chat turn,
    /// `candidates` (what retrieval gave the LLM stage, which picked the
    /// shown items from them; the LLM is not re-run).
    pub compared: String,
    /// The same items in the same order.
    pub reproduced: bool,
    /// The items served then, in order.
    pub served: Vec<String>,
    /// The items the same request gets now.
    pub now: Vec<String>,
    /// What differs between then and now (empty when nothing does).
    pub changed: Vec<String>,
}

/// What a replay ran against: the state it saw now.
struct Now {
    items: Vec<String>,
    seen: Seen,
    ranker: Option<String>,
}

impl Engine {
    /// Replays the answer logged under `request_id`.
    pub fn replay(&self, request_id: &str) -> Result<ReplayReport> {
        let row = self.logged_exposure(request_id)?.ok_or_else(|| {
            EngineError::NotFound(format!(
                "no list was logged under request id `{request_id}`"
            ))
        })?;
        let body: Value = serde_json::from_str(&row.body)
            .map_err(|e| EngineError::Model(format!("the logged row does not parse: {e}")))?;
        let mut changed = Vec::new();
        let variants = row.variant.as_deref().unwrap_or("");
        // `then`: where the row keeps the state its answer saw.
        let (compared, served, then, now) = match row.surface.as_str() {
            "recommend" => {
                let req: RecommendRequest = serde_json::from_value(body["request"].clone())
                    .map_err(|_| {
                        EngineError::Usage(format!(
                            "the row of `{request_id}` keeps no request (logged before replay was possible)"
                        ))
                    })?;
                let now = self.replay_request(req, None, variants, &mut changed)?;
                let served = shown_items(&body).map(str::to_string).collect();
                ("list", served, &body, now)
            }
            "chat" => {
                let decision: ChatDecision = serde_json::from_value(body["replay"].clone())
                    .map_err(|_| {
                        EngineError::Usage(format!(
                            "the chat turn `{request_id}` keeps nothing to replay: a turn's retrieval is kept only when it recommended and its user consented to memory"
                        ))
                    })?;
                let n = decision.candidates.len();
                let mut now = self.replay_request(
                    decision.request.clone(),
                    Some(decision.sort),
                    variants,
                    &mut changed,
                )?;
                now.items.truncate(n);
                if body["llm"]["used"].as_bool() == Some(true) {
                    changed.push("the LLM stage picked the shown items from these candidates; it is not re-run".into());
                }
                let then = &body["replay"];
                ("candidates", decision.candidates, then, now)
            }
            "similar" | "search" => {
                let now = self.replay_lookup(&body)?;
                let served = shown_items(&body).map(str::to_string).collect();
                ("list", served, &body, now)
            }
            other => {
                return Err(EngineError::Usage(format!(
                    "`{request_id}` was served on `{other}`, which is not replayed"
                )));
            }
        };
        changes(then, &now, &mut changed);
        Ok(ReplayReport {
            request_id: request_id.to_string(),
            surface: row.surface,
            compared: compared.into(),
            reproduced: served == now.items,
            served,
            now: now.items,
            changed,
        })
    }

    /// Runs a recommendation request as the variants in `labels`
    /// (`experiment:variant`, comma-joined) configure it today.
    /// A chat turn's candidates are put in the order its intent asked (`sort`).
    fn replay_request(
        &self,
        mut req: RecommendRequest,
        sort: Option<sommelier_llm::intent::Sort>,
        labels: &str,
        changed: &mut Vec<String>,
    ) -> Result<Now> {
        let mut overrides = BTreeMap::new();
        for label in labels.split(',').filter(|l| !l.is_empty()) {
            let (exp, variant) = label.split_once(':').unwrap_or((label, ""));
            match self.experiment(exp) {
                Ok(e) => match e.definition.variant(variant) {
                    Some(v) => overrides.extend(v.overrides.clone()),
                    None if variant == sommelier_experiments::define::INTERLEAVED => changed.push(format!(
                        "it was an interleaved list of experiment `{exp}`; replayed with the configuration as it is"
                    )),
                    None => changed.push(format!("experiment `{exp}` no longer has variant `{variant}`")),
                },
                Err(_) => changed.push(format!("experiment `{exp}` is no longer declared")),
            }
        }
        let setup = configured(self.config(), &overrides)?;
        let pipeline: Pipeline<'_> = self.pipeline_for(false, Some(&setup))?;
        // The LLM stage is not replayed: its model may answer otherwise.
        if req.explain == crate::Explain::Llm {
            req.explain = crate::Explain::Signals;
            changed.push("the LLM stage was asked for; the replay ranks without it".into());
        }
        let now = self.recommend_on(&pipeline, &ranked_by(&req, setup.rank_by))?;
        let seen = Seen::of(&now);
        let mut items = now.items;
        if let Some(sort) = sort {
            crate::chat::sort_by(&mut items, sort, &pipeline.snapshot);
        }
        Ok(Now {
            items: items.into_iter().map(|i| i.item).collect(),
            seen,
            ranker: Some(now.ranker),
        })
    }

    /// Runs a logged `similar` or `search` answer again.
    fn replay_lookup(&self, body: &Value) -> Result<Now> {
        let k = body["k"].as_u64().ok_or_else(|| {
            EngineError::Usage("the row keeps no `k` (logged before replay was possible)".into())
        })? as usize;
        let filters: Filters = serde_json::from_value(body["filters"].clone()).unwrap_or_default();
        let filter = sommelier_index::Filter::from(&filters);
        let items = match (body["item"].as_str(), body["query"].as_str()) {
            (Some(item), _) => {
                let id = ItemId::new(item)
                    .map_err(|e| EngineError::Model(format!("the logged item id: {e}")))?;
                self.similar_items(&id, k, &filter)?
                    .map(|(hits, _)| hits.into_iter().map(|h| h.id).collect())
                    .unwrap_or_default()
            }
            (None, Some(query)) => self
                .search_text(query, k, &filter)?
                .into_iter()
                .map(|h| h.id)
                .collect(),
            (None, None) => {
                return Err(EngineError::Model(
                    "the row names neither an item nor a query".into(),
                ));
            }
        };
        Ok(Now {
            items,
            seen: self.state_seen(),
            ranker: None,
        })
    }

    /// The models version, catalog log position and events applied that an
    /// answer given now sees.
    pub(crate) fn state_seen(&self) -> Seen {
        Seen {
            models_version: self.current_models().map(|m| m.report.version.clone()),
            catalog_position: self.snapshot().map(|s| s.position).unwrap_or(0),
            events_applied: self
                .features()
                .map(|f| f.state.read().applied())
                .unwrap_or(0),
        }
    }
}

/// What differs between the state a row saw (`then`, the part of the row
/// that keeps it) and the replay's.
fn changes(then: &Value, now: &Now, changed: &mut Vec<String>) {
    // A row logged before it kept the state reads as having seen nothing.
    let seen = Seen::deserialize(then).unwrap_or_default();
    let now_seen = &now.seen;
    if seen.models_version != now_seen.models_version {
        changed.push(format!(
            "models: {} then, {} now",
            seen.models_version.as_deref().unwrap_or("none"),
            now_seen.models_version.as_deref().unwrap_or("none")
        ));
    }
    if now_seen.catalog_position != seen.catalog_position {
        changed.push(format!(
            "catalog: log position {} then, {} now",
            seen.catalog_position, now_seen.catalog_position
        ));
    }
    if now_seen.events_applied != seen.events_applied {
        changed.push(format!(
            "events: {} applied then, {} now ({} since)",
            seen.events_applied,
            now_seen.events_applied,
            now_seen.events_applied.saturating_sub(seen.events_applied)
        ));
    }
    if let Some(ranker) = &now.ranker
        && then["ranker"].as_str().is_some_and(|r| r != ranker)
    {
        changed.push(format!(
            "ranker: {} then, {ranker} now",
            then["ranker"].as_str().unwrap_or("?")
        ));
    }
}
