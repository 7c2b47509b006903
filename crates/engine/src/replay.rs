//! Replaying a decision: a `/v1/recommend` answer's exposure row keeps the
//! request as asked (with the clock it was answered at), the variants that
//! served it, the models version, and the catalog log position and events
//! applied it saw. A replay runs the same request through today's engine,
//! with the same variants' configuration, and compares the lists; when
//! they differ it says what changed since: the models, the catalog, the
//! events, the variants' definitions.

use crate::experiments::{configured, ranked_by, shown_items};
use crate::pipeline::RecommendRequest;
use crate::{Engine, EngineError, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    /// The request replayed.
    pub request_id: String,
    /// The same items in the same order.
    pub reproduced: bool,
    /// The items served then, in order.
    pub served: Vec<String>,
    /// The items the same request gets now.
    pub now: Vec<String>,
    /// What differs between then and now (empty when nothing does).
    pub changed: Vec<String>,
}

impl Engine {
    /// Replays the `/v1/recommend` answer logged under `request_id`.
    pub fn replay(&self, request_id: &str) -> Result<ReplayReport> {
        let row = self.logged_exposure(request_id)?.ok_or_else(|| {
            EngineError::NotFound(format!(
                "no list was logged under request id `{request_id}`"
            ))
        })?;
        if row.surface != "recommend" {
            return Err(EngineError::Usage(format!(
                "`{request_id}` was served on `{}`; only /v1/recommend answers are replayed",
                row.surface
            )));
        }
        let body: serde_json::Value = serde_json::from_str(&row.body)
            .map_err(|e| EngineError::Model(format!("the logged row does not parse: {e}")))?;
        let req: RecommendRequest =
            serde_json::from_value(body["request"].clone()).map_err(|_| {
                EngineError::Usage(format!(
                    "the row of `{request_id}` keeps no request (logged before replay was possible)"
                ))
            })?;
        let mut changed = Vec::new();
        // The same variants' configuration, as far as they are still declared.
        let mut overrides = BTreeMap::new();
        for label in row
            .variant
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|l| !l.is_empty())
        {
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
        let (config, rank_by) = configured(self.config(), &overrides)?;
        let pipeline = self.pipeline_for(false, config)?;
        let mut again = req.clone();
        // The LLM stage is not replayed: its model may answer otherwise.
        if again.explain == crate::Explain::Llm {
            again.explain = crate::Explain::Signals;
            changed.push("the LLM stage was asked for; the replay ranks without it".into());
        }
        let now = self.recommend_on(&pipeline, &ranked_by(&again, rank_by))?;
        let served: Vec<String> = shown_items(&body).map(str::to_string).collect();
        let items: Vec<String> = now.items.iter().map(|i| i.item.clone()).collect();
        let then_models = body["models_version"].as_str().map(str::to_string);
        if then_models != now.models_version {
            changed.push(format!(
                "models: {} then, {} now",
                then_models.as_deref().unwrap_or("none"),
                now.models_version.as_deref().unwrap_or("none")
            ));
        }
        let (catalog, events) = now.state;
        let then_catalog = body["catalog_position"].as_u64().unwrap_or(0);
        if catalog != then_catalog {
            changed.push(format!(
                "catalog: log position {then_catalog} then, {catalog} now"
            ));
        }
        let then_events = body["events_applied"].as_u64().unwrap_or(0);
        if events != then_events {
            changed.push(format!(
                "events: {then_events} applied then, {events} now ({} since)",
                events.saturating_sub(then_events)
            ));
        }
        if body["ranker"].as_str() != Some(now.ranker.as_str()) {
            changed.push(format!(
                "ranker: {} then, {} now",
                body["ranker"].as_str().unwrap_or("?"),
                now.ranker
            ));
        }
        Ok(ReplayReport {
            request_id: request_id.to_string(),
            reproduced: served == items,
            served,
            now: items,
            changed,
        })
    }
}
