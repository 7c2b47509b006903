//! Serialisable views of online features, for the API and the CLI.

use serde::Serialize;
use sommelier_features::{ItemFeatures, UserFeatures};
use sommelier_types::{EventKind, Timestamp};
use std::collections::BTreeMap;

/// An item id with a score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScoredItem {
    /// Item id.
    pub item: String,
    /// Score (meaning depends on the list).
    pub score: f64,
}

impl ScoredItem {
    pub(crate) fn list(v: Vec<(String, f64)>) -> Vec<Self> {
        v.into_iter()
            .map(|(item, score)| Self { item, score })
            .collect()
    }
}

/// `GET /v1/items/{id}/features`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ItemFeaturesView {
    /// Item id.
    pub item: String,
    /// Time the decays were measured at.
    pub as_of: String,
    /// Decayed popularity.
    pub popularity: f64,
    /// Trend ratio (above 1: rising).
    pub trend: f64,
    /// Decayed interactions in the short window.
    pub recent_activity: f64,
    /// Lifetime counts per event kind (kinds with no events are left out).
    pub counts: BTreeMap<&'static str, u64>,
    /// Newest event on the item.
    pub last_event: Option<String>,
    /// Positive events per part of the day and per device class: what the
    /// context features compare with the whole log.
    pub context: Option<sommelier_features::ContextSummary>,
}

impl ItemFeaturesView {
    pub(crate) fn new(
        item: &str,
        f: &ItemFeatures,
        context: Option<sommelier_features::ContextSummary>,
        now: Timestamp,
    ) -> Self {
        Self {
            item: item.to_string(),
            as_of: now.to_string(),
            popularity: f.popularity,
            trend: f.trend,
            recent_activity: f.recent_activity,
            counts: EventKind::ALL
                .into_iter()
                .filter(|k| f.count(*k) > 0)
                .map(|k| (k.as_str(), f.count(k)))
                .collect(),
            last_event: f.last_event.map(|t| t.to_string()),
            context,
        }
    }
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    /// Item id.
    pub item: String,
    /// Event kind.
    pub kind: EventKind,
    /// Value, if any.
    pub value: Option<f64>,
    /// When (RFC 3339).
    pub at: String,
}

/// `GET /v1/users/{id}/features`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserFeaturesView {
    /// User id.
    pub user: String,
    /// Time the decays were measured at.
    pub as_of: String,
    /// Lifetime events.
    pub events: u64,
    /// Recent interactions, newest first.
    pub recent: Vec<HistoryView>,
    /// Category affinity, strongest first.
    pub category_affinity: Vec<ScoredItem>,
}

impl UserFeaturesView {
    pub(crate) fn new(user: &str, f: UserFeatures, now: Timestamp) -> Self {
        Self {
            user: user.to_string(),
            as_of: now.to_string(),
            events: f.events,
            recent: f
                .recent
                .into_iter()
                .rev()
                .map(|h| HistoryView {
                    item: h.item,
                    kind: h.kind,
                    value: h.value,
                    at: h.timestamp.to_string(),
                })
                .collect(),
            category_affinity: ScoredItem::list(f.category_affinity),
        }
    }
}
