//! Storage traits, one per role. Backends implement the read traits on the store
//! itself and the write traits on a transaction ([`crate::Writer`]).

use crate::{Result, StoreError};
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

/// The catalog's change log: each write to an item or one of its vectors
/// moves the position forward and names the item, so a copy of the catalog
/// taken at one position is brought up to date by re-reading only the items
/// changed since.
pub trait CatalogLog {
    /// The newest position; it never goes back, also after pruning.
    fn catalog_position(&self) -> Result<u64>;
    /// A random id of this log, made with it: positions of another
    /// database's log mean nothing here.
    fn catalog_log_id(&self) -> Result<String>;
    /// The distinct items changed after `after`, with the position they
    /// reach; `None` when more than `limit` items changed (reading the whole
    /// catalog costs less), or when entries after `after` were pruned.
    fn catalog_changes(&self, after: u64, limit: usize) -> Result<Option<(Vec<String>, u64)>>;
    /// Drops the entries up to `upto`, which a saved copy already reflects.
    /// Returns how many were dropped.
    fn prune_catalog_changes(&self, upto: u64) -> Result<u64>;
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
    /// The events that name `request_id` in their context (those attributed
    /// to that served list), in log order.
    fn events_of_request(&self, request_id: &str) -> Result<Vec<Event>>;
    /// The events of one kind at or after `since_ms`, in log order, whole
    /// (with their context): for reports on a rare kind (`feedback`), not
    /// for the request path (it scans the log).
    fn events_of_kind(&self, kind: EventKind, since_ms: i64) -> Result<Vec<Event>>;
}

/// Appends to the event log, de-duplicated by event id.
pub trait EventWrite {
    /// Appends the event; returns false (and writes nothing) if its id is known.
    fn append_event(&mut self, event: &Event) -> Result<bool>;
    /// Appends the events in order; for each, whether it was new (false for
    /// an id already known, or seen earlier in `events`). A backend over the
    /// network sends them in one statement instead of one round trip each.
    fn append_events(&mut self, events: &[&Event]) -> Result<Vec<bool>> {
        events.iter().map(|e| self.append_event(e)).collect()
    }
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
    /// The stored vector of one item under `model`, with its content hash.
    fn vector(&self, item: &str, model: &str) -> Result<Option<(String, Vec<f32>)>>;
}

/// Nearest-neighbour search over the stored vectors, done by the database
/// itself (pgvector's HNSW) instead of an index in the process: for
/// catalogs whose vectors are too large to keep in every replica. Only the
/// PostgreSQL backend has it ([`Store::vector_search`]).
pub trait VectorSearch: Send + Sync {
    /// The dimension of `model`'s stored vectors; `None` when it has none.
    fn vector_dim(&self, model: &str) -> Result<Option<usize>>;
    /// Makes sure an HNSW index over `model`'s vectors (of dimension `dim`)
    /// exists, building it when it does not (without blocking writes;
    /// minutes on a large catalog). Replicas starting together build it
    /// once: the others wait for the first. True when it was built now.
    fn ensure_vector_index(&self, model: &str, dim: usize) -> Result<bool>;
    /// The `k` live items whose `model` vectors are closest (cosine) to
    /// `query` among those passing `filters`, with their cosine similarity,
    /// closest first. `ef` is the HNSW candidate list size; the index is
    /// scanned further while filters leave fewer than `k`.
    fn search_vectors(
        &self,
        model: &str,
        query: &[f32],
        k: usize,
        filters: &sommelier_types::api::Filters,
        ef: usize,
    ) -> Result<Vec<(String, f32)>>;
    /// The `model` vectors of `items` (those that have one), in one read.
    fn vectors_of(&self, model: &str, items: &[&str]) -> Result<Vec<(String, Vec<f32>)>>;
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
    /// What the store holds, from the counters kept with the data: no scan,
    /// whatever the size. Distinct users and items in the event log are not
    /// kept and are left 0 (the engine takes them from its online features;
    /// [`StatsRead::stats`] counts them).
    fn counters(&self) -> Result<StoreStats>;
    /// Distinct users and distinct items in the event log (one scan).
    fn distinct_in_events(&self) -> Result<(u64, u64)>;
    /// Every count from the stored rows themselves, kept counters ignored
    /// (full scans): what [`StatsRead::counters`] must agree with.
    fn recount(&self) -> Result<StoreStats>;
    /// Counts the rows again and keeps those counts in place of the kept
    /// ones (the repair after [`counter_differences`] found some).
    fn reset_counters(&self) -> Result<()>;
    /// What the store holds: the kept counters and the distinct counts.
    fn stats(&self) -> Result<StoreStats> {
        let mut s = self.counters()?;
        (s.event_users, s.event_items) = self.distinct_in_events()?;
        Ok(s)
    }
}

/// Where the kept counters (`kept`, from [`StatsRead::stats`]) differ from a
/// count of the rows (`rows`, from [`StatsRead::recount`]), one line each.
pub fn counter_differences(kept: &StoreStats, rows: &StoreStats) -> Vec<String> {
    let mut out = Vec::new();
    let mut same = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what}: kept {a}, rows {b}"));
        }
    };
    same("items", kept.items.to_string(), rows.items.to_string());
    let pairs = [
        (
            "available items",
            kept.items_available,
            rows.items_available,
        ),
        ("deleted items", kept.items_deleted, rows.items_deleted),
        ("users", kept.users, rows.users),
        ("events", kept.events, rows.events),
        ("users with events", kept.event_users, rows.event_users),
        ("items with events", kept.event_items, rows.event_items),
    ];
    for (what, a, b) in pairs {
        same(what, a.to_string(), b.to_string());
    }
    same(
        "first event",
        format!("{:?}", kept.first_event),
        format!("{:?}", rows.first_event),
    );
    same(
        "last event",
        format!("{:?}", kept.last_event),
        format!("{:?}", rows.last_event),
    );
    let maps = [
        ("items of kind", &kept.items_by_kind, &rows.items_by_kind),
        ("events of kind", &kept.events_by_kind, &rows.events_by_kind),
        ("vectors of model", &kept.vectors, &rows.vectors),
    ];
    for (what, a, b) in maps {
        for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
            let (x, y) = (
                a.get(key).copied().unwrap_or(0),
                b.get(key).copied().unwrap_or(0),
            );
            same(&format!("{what} `{key}`"), x.to_string(), y.to_string());
        }
    }
    out
}

/// One stored chat turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTurnRow {
    /// Position in the session, from 1.
    pub turn: i64,
    /// Who spoke, when known.
    pub user_id: Option<String>,
    /// When, milliseconds since the epoch.
    pub at_ms: i64,
    /// The turn as JSON.
    pub body: String,
}

/// Reads of chat sessions and of what users let the assistant remember.
pub trait SessionRead {
    /// The last `n` turns of `session`, oldest first.
    fn chat_turns(&self, session: &str, n: usize) -> Result<Vec<ChatTurnRow>>;
    /// A user's remembered preferences (one JSON document), if any.
    fn user_memory(&self, user_id: &str) -> Result<Option<String>>;
}

/// Writes of chat sessions and memory; each call is its own durable write.
pub trait SessionWrite {
    /// Appends a turn to `session` and returns its number (from 1).
    fn append_chat_turn(
        &self,
        session: &str,
        user_id: Option<&str>,
        at_ms: i64,
        body: &str,
    ) -> Result<i64>;
    /// Replaces a user's remembered preferences.
    fn put_user_memory(&self, user_id: &str, body: &str, at_ms: i64) -> Result<()>;
    /// Forgets a user's remembered preferences; false when there were none.
    fn delete_user_memory(&self, user_id: &str) -> Result<bool>;
}

/// One list served (`/v1/recommend`, chat, similar items, search), as the
/// exposure log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureRow {
    /// The id the answer carried.
    pub request_id: String,
    /// When it was served, milliseconds since the epoch.
    pub at_ms: i64,
    /// Who it was served to (none for a visitor). Like the event log's,
    /// the id itself: forgetting the user deletes their exposures, and what
    /// the API shows of the log carries keyed pseudonyms instead.
    pub user_id: Option<String>,
    /// `recommend`, `chat`, `similar` or `search`.
    pub surface: String,
    /// The experiment variant that served it, if any.
    pub variant: Option<String>,
    /// The rest as JSON: the items with their positions and sources, the
    /// ranker, the LLM stage, the latency, the versions that decided it.
    pub body: String,
}

/// The exposure log: appended in batches, read back by request id or user.
pub trait ExposureLog {
    /// Appends `rows` in one transaction; a request id already logged keeps
    /// its first row.
    fn append_exposures(&self, rows: &[ExposureRow]) -> Result<()>;
    /// The list served under `request_id`.
    fn exposure(&self, request_id: &str) -> Result<Option<ExposureRow>>;
    /// Up to `n` lists served to `user_id`, newest first (request ids sort
    /// by time). Not indexed by user: it scans back from the newest list,
    /// for operators, not for the request path.
    fn exposures_of(&self, user_id: &str, n: usize) -> Result<Vec<ExposureRow>>;
    /// Every list served at or after `from_ms`, oldest first (request ids
    /// sort by time, so this is a range of the primary key): what an
    /// experiment's report reads.
    fn scan_exposures(&self, from_ms: i64, f: &mut dyn FnMut(ExposureRow)) -> Result<()>;
}

/// Experiments declared over the admin API, kept as their JSON definition
/// by name (the engine checks them; the store only keeps them).
pub trait ExperimentStore {
    /// Every stored definition, by name.
    fn experiment_definitions(&self) -> Result<Vec<(String, String)>>;
    /// Adds or replaces the definition named `name`.
    fn put_experiment_definition(&self, name: &str, body: &str) -> Result<()>;
    /// Deletes it; false when there was none.
    fn delete_experiment_definition(&self, name: &str) -> Result<bool>;
}

/// A stored API key. The secret is never stored: `hash` is the SHA-256 of
/// the whole key as the client sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRow {
    /// Public id (shown in lists, audit entries and the key's prefix).
    pub id: String,
    /// What the operator called it.
    pub name: String,
    /// Comma-separated scopes (`read`, `ingest`, `admin`).
    pub scopes: String,
    /// Lower-case hex SHA-256 of the key.
    pub hash: String,
    /// Requests per second this key may make (`None`: the server's default).
    pub rate: Option<f64>,
    /// When it was created, milliseconds since the epoch.
    pub created_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// One entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the log (assigned on append).
    pub seq: i64,
    /// When, milliseconds since the epoch.
    pub at_ms: i64,
    /// Who: `key:<id>`, `user:<pseudonym>` or `cli`.
    pub actor: String,
    /// What, e.g. `POST /v1/admin/fit` or `keys.create`.
    pub action: String,
    /// On what (ids of users appear as keyed pseudonyms).
    pub target: String,
    /// How it ended: the HTTP status, or `ok`.
    pub outcome: String,
}

/// API keys and the audit log; each call is its own durable write.
pub trait AccessStore {
    /// Every key, revoked ones included, oldest first.
    fn api_keys(&self) -> Result<Vec<ApiKeyRow>>;
    /// Stores a new key.
    fn insert_api_key(&self, key: &ApiKeyRow) -> Result<()>;
    /// Revokes the key with this id at `at_ms`; false when it is unknown or
    /// already revoked.
    fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool>;
    /// Appends an entry (its `seq` is ignored) and returns its position.
    fn append_audit(&self, entry: &AuditEntry) -> Result<i64>;
    /// Up to `n` entries after position `after`, oldest first.
    fn audit_log(&self, after: i64, n: usize) -> Result<Vec<AuditEntry>>;
}

/// What forgetting a user removed from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ForgetCounts {
    /// The profile was deleted.
    pub profile: bool,
    /// Events by the user deleted from the log.
    pub events: u64,
    /// Chat turns of the user's sessions deleted.
    pub chat_turns: u64,
    /// Long-term memory deleted.
    pub memory: bool,
    /// Lists served to the user deleted from the exposure log.
    pub exposures: u64,
}

/// Deletions that must leave no trace: rows are removed (not tombstoned)
/// in one transaction, and the backend's journal is scrubbed so the bytes
/// leave the disk too.
pub trait PrivacyWrite {
    /// Deletes everything stored about `user`: profile, events, chat turns,
    /// memory.
    fn forget_user(&self, user: &str) -> Result<ForgetCounts>;
    /// Deletes one event from the log; false when the id is unknown.
    fn delete_event(&self, id: &EventId) -> Result<bool>;
}

/// The writes of one transaction, every role.
pub trait Transaction: CatalogWrite + EventWrite + UserWrite + VectorWrite {}
impl<T: CatalogWrite + EventWrite + UserWrite + VectorWrite> Transaction for T {}

/// A storage backend: every read role on the store itself, writes in
/// transactions ([`Store::transaction`], or the typed [`dyn Store::write`]).
/// The engine, ingestion and the data-set importers see only this trait, so
/// a backend is added beside the embedded SQLite one without touching them;
/// `tests/store.rs` is the suite every backend passes.
pub trait Store:
    CatalogRead
    + CatalogLog
    + EventRead
    + UserRead
    + VectorRead
    + StatsRead
    + SessionRead
    + SessionWrite
    + ExposureLog
    + ExperimentStore
    + AccessStore
    + PrivacyWrite
    + Send
    + Sync
{
    /// Runs `f` in one write transaction: committed when `f` returns `Ok`,
    /// rolled back when it returns `Err`. An `Ok` from here is an
    /// acknowledged, durable write.
    fn transaction(&self, f: &mut dyn FnMut(&mut dyn Transaction) -> Result<()>) -> Result<()>;
    /// The backend's name (`sqlite`, …).
    fn backend(&self) -> &'static str;
    /// Where the data lives (a path, or a URL without credentials), for logs
    /// and messages.
    fn location(&self) -> String;
    /// Search of the vectors inside the database, where the backend has it.
    fn vector_search(&self) -> Option<&dyn VectorSearch> {
        None
    }
}

impl dyn Store + '_ {
    /// [`Store::transaction`] with a typed result and error: `f`'s error
    /// rolls the transaction back and is returned as it is.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn Transaction) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut f = Some(f);
        let mut out: Option<std::result::Result<T, E>> = None;
        let done = self.transaction(&mut |tx| {
            let f = f.take().ok_or(StoreError::Aborted)?;
            let r = f(tx);
            let failed = r.is_err();
            out = Some(r);
            if failed {
                Err(StoreError::Aborted)
            } else {
                Ok(())
            }
        });
        match (done, out) {
            (Ok(()), Some(Ok(v))) => Ok(v),
            (_, Some(Err(e))) => Err(e),
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(StoreError::Aborted.into()),
        }
    }
}
