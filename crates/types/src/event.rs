//! Interaction events.

use crate::{EventId, ItemId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a user did with an item.
///
/// Invariants kept by every constructor in the workspace: `Rating` events carry a
/// value inside the configured rating range, `Dwell` events carry a non-negative
/// number of seconds; other kinds may carry a value (e.g. a purchase amount).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The item was shown or opened.
    View,
    /// The item was clicked.
    Click,
    /// The item was put in a cart.
    AddToCart,
    /// The item was bought.
    Purchase,
    /// An explicit rating, with its value.
    Rating,
    /// Thumbs up.
    Like,
    /// Thumbs down.
    Dislike,
    /// Skipped (e.g. a track or a card swiped away).
    Skip,
    /// Time spent on the item, in seconds.
    Dwell,
    /// A verdict on the reason a served list gave for the item, not on the
    /// item: value 1 (the reason helped) or −1 (it was wrong), naming the
    /// list by its `request_id`. No model or feature learns from it.
    Feedback,
}

impl EventKind {
    /// Whether the event says the user wanted the item (what the models
    /// learn from): everything but explicit negatives. A rating of any value
    /// means the item was consumed, which is what the next-item and
    /// co-occurrence models predict.
    pub fn is_positive(self) -> bool {
        !matches!(
            self,
            EventKind::Dislike | EventKind::Skip | EventKind::Feedback
        )
    }

    /// All kinds, in a fixed order (used to index per-kind counters).
    pub const ALL: [EventKind; 10] = [
        EventKind::View,
        EventKind::Click,
        EventKind::AddToCart,
        EventKind::Purchase,
        EventKind::Rating,
        EventKind::Like,
        EventKind::Dislike,
        EventKind::Skip,
        EventKind::Dwell,
        EventKind::Feedback,
    ];

    /// The wire name (`add_to_cart`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::Click => "click",
            EventKind::AddToCart => "add_to_cart",
            EventKind::Purchase => "purchase",
            EventKind::Rating => "rating",
            EventKind::Like => "like",
            EventKind::Dislike => "dislike",
            EventKind::Skip => "skip",
            EventKind::Dwell => "dwell",
            EventKind::Feedback => "feedback",
        }
    }

    /// Parses a wire name; `None` for unknown kinds.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Position of the kind in [`EventKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the kind requires a value.
    pub fn needs_value(self) -> bool {
        matches!(self, EventKind::Rating | EventKind::Dwell)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and how an event happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EventContext {
    /// Device class: `mobile`, `desktop`, `tv`, …
    pub device: Option<String>,
    /// BCP 47 locale, e.g. `en-GB`.
    pub locale: Option<String>,
    /// Surface or channel: `web`, `app`, `email`, `voice`, …
    pub channel: Option<String>,
    /// Coarse location (country or region), never precise coordinates.
    pub location: Option<String>,
    /// Session the event belongs to.
    pub session_id: Option<String>,
    /// The `request_id` of the answer that showed the item: the event is
    /// attributed to that list in the exposure log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Where that answer showed the item, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

impl EventContext {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One interaction of a user with an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// De-duplication key.
    pub id: EventId,
    /// Who.
    pub user: UserId,
    /// With what.
    pub item: ItemId,
    /// What they did.
    pub kind: EventKind,
    /// Rating value, dwell seconds, or an optional amount.
    pub value: Option<f64>,
    /// When.
    pub timestamp: Timestamp,
    /// Context of the interaction.
    pub context: EventContext,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_index_in_order() {
        for (i, k) in EventKind::ALL.into_iter().enumerate() {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(k.index(), i);
        }
        assert_eq!(EventKind::parse("teleport"), None);
    }
}
