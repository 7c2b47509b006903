//! Domain types of Sommelier (items, users, events, time) and the serde types of
//! the HTTP API. This crate does no I/O: it is shared by every other crate.

pub mod api;
pub mod codec;
mod event;
mod hash;
mod ids;
mod item;
mod key;
mod time;
mod user;
mod vector;

pub use event::{Event, EventContext, EventKind};
pub use hash::{fnv1a, mix64};
pub use ids::{EventId, IdError, ItemId, ItemKind, UserId};
pub use item::{Availability, Item, Price};
pub use key::IdKey;
pub use time::Timestamp;
pub use user::{Consent, User};
pub use vector::{dot, normalize};

/// Free-form attributes attached to items and users (JSON object).
pub type Attributes = serde_json::Map<String, serde_json::Value>;
