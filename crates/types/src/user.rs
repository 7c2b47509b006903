//! Users and what they consent to.

use crate::{Attributes, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// What a user allows Sommelier to do with their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Consent {
    /// Use this user's history to personalise recommendations.
    pub personalization: bool,
    /// Remember preferences across sessions (long-term memory).
    pub long_term_memory: bool,
    /// Use this user's events in aggregate statistics and model training.
    pub analytics: bool,
}

impl Default for Consent {
    fn default() -> Self {
        Self {
            personalization: true,
            long_term_memory: false,
            analytics: true,
        }
    }
}

/// A user of the surface that asks for recommendations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// Caller-chosen identifier.
    pub id: UserId,
    /// Free attributes (age band, plan, …).
    #[schema(value_type = Object)]
    pub attributes: Attributes,
    /// Consent flags.
    pub consent: Consent,
    /// Last change.
    pub updated_at: Timestamp,
}
