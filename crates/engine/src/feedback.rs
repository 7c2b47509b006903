//! Feedback on explanations: a person says the reason given for a pick
//! helped or was wrong. It is stored as an event of kind `feedback` (value
//! 1 or −1) naming the served list by its request id, so it lives and is
//! forgotten with the rest of the user's events; no model or feature learns
//! from it. The report joins each verdict with the exposure log's row of
//! that list, to read who wrote the reason (`llm` or `signals`), with which
//! prompt version, on which surface.

use crate::{Engine, EngineError, RecordKind, Result};
use serde::Serialize;
use sommelier_types::EventKind;
use std::collections::BTreeMap;

/// Verdicts for one kind of reason.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeedbackRow {
    /// Who wrote the reason: `llm` or `signals`.
    pub rationale: String,
    /// The prompt version of the LLM stage (`–` when it did not run).
    pub prompt_version: String,
    /// `recommend` or `chat`.
    pub surface: String,
    /// "This reason helped".
    pub helped: u64,
    /// "This reason was wrong".
    pub wrong: u64,
    /// helped / (helped + wrong).
    pub helpful_share: f64,
    /// Its 95 % Wilson interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Every verdict since a time, by kind of reason.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeedbackReport {
    /// By rationale source, prompt version and surface.
    pub rows: Vec<FeedbackRow>,
    /// Verdicts whose list or item is not in the exposure log (logged
    /// off, or the item was not on that list).
    pub unmatched: u64,
}

/// The 95 % Wilson score interval of `k` successes in `n`.
fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.959_963_984_540_054);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt() / (1.0 + z * z / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

impl Engine {
    /// Records that `user` found the reason for `item` in the list served
    /// under `request_id` helpful (`helped`) or not: a `feedback` event,
    /// through the same checks as any event. The list must be in the
    /// exposure log and must have shown the item.
    pub fn explanation_feedback(
        &self,
        user: &str,
        request_id: &str,
        item: &str,
        helped: bool,
    ) -> Result<()> {
        let row = self.logged_exposure(request_id)?.ok_or_else(|| {
            EngineError::NotFound(format!(
                "no list was logged under request id `{request_id}` (server.exposure_log on?)"
            ))
        })?;
        let body: serde_json::Value = serde_json::from_str(&row.body).unwrap_or_default();
        let position = body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["item"] == item)
            .and_then(|i| i["position"].as_u64())
            .ok_or_else(|| {
                EngineError::Usage(format!(
                    "the list `{request_id}` did not show item `{item}`"
                ))
            })?;
        let event = serde_json::json!({
            "id": format!("feedback-{request_id}-{item}-{user}"),
            "user": user, "item": item, "kind": "feedback",
            "value": if helped { 1 } else { -1 },
            "context": {"request_id": request_id, "position": position},
        });
        let report = self.ingest_batch(RecordKind::Events, vec![event], false)?;
        if let Some(e) = report.errors.first() {
            return Err(EngineError::Usage(e.to_string()));
        }
        Ok(())
    }

    /// Every verdict at or after `since_ms`, joined with the list it judged.
    pub fn explanation_feedback_report(&self, since_ms: i64) -> Result<FeedbackReport> {
        let mut counts: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
        let mut unmatched = 0;
        let mut lists: BTreeMap<String, Option<(String, serde_json::Value)>> = BTreeMap::new();
        for e in self.store().events_of_kind(EventKind::Feedback, since_ms)? {
            let Some(id) = e.context.request_id.as_deref() else {
                unmatched += 1;
                continue;
            };
            if !lists.contains_key(id) {
                let row = self.store().exposure(id)?.map(|r| {
                    (
                        r.surface,
                        serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
                    )
                });
                lists.insert(id.to_string(), row);
            }
            let Some((surface, body)) = lists[id].as_ref() else {
                unmatched += 1;
                continue;
            };
            let Some(shown) = body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["item"] == e.item.as_str())
            else {
                unmatched += 1;
                continue;
            };
            let rationale = shown["why"].as_str().unwrap_or("signals").to_string();
            let prompt = body["llm"]["prompt_version"]
                .as_str()
                .filter(|p| !p.is_empty() && rationale == "llm")
                .unwrap_or("–")
                .to_string();
            let c = counts
                .entry((rationale, prompt, surface.clone()))
                .or_default();
            if e.value.unwrap_or(0.0) > 0.0 {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
        let rows = counts
            .into_iter()
            .map(|((rationale, prompt_version, surface), (helped, wrong))| {
                let (low, high) = wilson(helped, helped + wrong);
                FeedbackRow {
                    rationale,
                    prompt_version,
                    surface,
                    helped,
                    wrong,
                    helpful_share: helped as f64 / (helped + wrong).max(1) as f64,
                    low,
                    high,
                }
            })
            .collect();
        Ok(FeedbackReport { rows, unmatched })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wilson_interval_matches_a_known_case() {
        // 8 of 10: [0.4902, 0.9433].
        let (lo, hi) = super::wilson(8, 10);
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(super::wilson(0, 0), (0.0, 1.0));
    }
}
