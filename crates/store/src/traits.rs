//! Storage traits, one per role. Backends implement the read traits on the store
//! itself and the write traits on a transaction ([`crate::Writer`]).

use crate::Result;
use sommelier_types::api::StoreStats;
use sommelier_types::{Event, EventId, EventKind, Item, ItemId, Timestamp, User, UserId};

/// A stored item, with its tombstone if it was deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    /// The item as last written.
    pub item: Item,
    /// When it was deleted; `None` for live items.
    pub deleted_at: Option<Timestamp>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// The id was new.
    Inserted,
    /// The id existed and its content changed (or it was a tombstone and is live again).
    Updated,
    /// The id existed with exactly this content: nothing was written.
    Unchanged,
}

/// Reads of the catalog.
pub trait CatalogRead {
    /// The item with this id, live or tombstoned.
    fn item(&self, id: &ItemId) -> Result<Option<ItemRecord>>;
    /// Visits every live item in id order.
    fn scan_items(&self, visit: &mut dyn FnMut(Item)) -> Result<()>;
}

/// Writes to the catalog. Upserts are idempotent by id; deletes leave tombstones.
pub trait CatalogWrite {
    /// Inserts or replaces the item; a tombstoned id becomes live again.
    fn upsert_item(&mut self, item: &Item) -> Result<Upsert>;
    /// Marks the item deleted at `at`. Returns false when the id is unknown or
    /// already deleted.
    fn delete_item(&mut self, id: &ItemId, at: Timestamp) -> Result<bool>;
}

/// A stored event as seen by scans: borrowed strings, no context, for speed.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    /// Position in the log (1-based, increasing).
    pub seq: u64,
    /// User id.
    pub user: &'a str,
    /// Item id.
    pub item: &'a str,
    /// Event kind.
    pub kind: EventKind,
    /// Value, if any.
    pub value: Option<f64>,
    /// Event time.
    pub timestamp: Timestamp,
    /// The device class of the event's context (`mobile`, `tv`, …), if given.
    pub device: Option<&'a str>,
}

/// Reads of the event log.
pub trait EventRead {
    /// The event with this id.
    fn event(&self, id: &EventId) -> Result<Option<Event>>;
    /// Visits the events with `seq > after`, in log order; returns the last seq seen.
    fn scan_events(&self, after: u64, visit: &mut dyn FnMut(EventRow<'_>)) -> Result<u64>;
}

/// Appends to the event log, de-duplicated by event id.
pub trait EventWrite {
    /// Appends the event; returns false (and writes nothing) if its id is known.
    fn append_event(&mut self, event: &Event) -> Result<bool>;
}

/// Reads of user profiles.
pub trait UserRead {
    /// The user with this id.
    fn user(&self, id: &UserId) -> Result<Option<User>>;
}

/// Writes of user profiles.
pub trait UserWrite {
    /// Inserts or replaces the user.
    fn upsert_user(&mut self, user: &User) -> Result<Upsert>;
}

/// Reads of stored item vectors (embeddings), by model.
pub trait VectorRead {
    /// The content hash of every stored vector of `model`, by item id.
    fn vector_hashes(&self, model: &str) -> Result<std::collections::HashMap<String, String>>;
    /// Visits every stored vector of `model` as (item, content hash, vector);
    /// returns how many.
    fn scan_vectors(&self, model: &str, visit: &mut dyn FnMut(&str, &str, &[f32])) -> Result<u64>;
    /// The stored vector of one item under `model`.
    fn vector(&self, item: &str, model: &str) -> Result<Option<Vec<f32>>>;
}

/// Writes of item vectors.
pub trait VectorWrite {
    /// Stores (or replaces) the vector of `item` under `model`, with the hash of
    /// what it was computed from.
    fn put_vector(&mut self, item: &str, model: &str, hash: &str, vector: &[f32]) -> Result<()>;
    /// Removes the vector of `item` under `model`; false when there was none.
    fn delete_vector(&mut self, item: &str, model: &str) -> Result<bool>;
}

/// Summary counts.
pub trait StatsRead {
    /// What the store holds.
    fn stats(&self) -> Result<StoreStats>;
}
