//! Serde types of the HTTP API and of command reports. They are the wire shape,
//! kept apart from the domain types and from how the store lays data out.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where a rejected record came from and why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordError {
    /// File name for file imports; absent for HTTP batches.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    /// 1-based line in the file, or 0-based index in an HTTP batch.
    pub line: u64,
    /// The offending field, when one field is to blame.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    /// What is wrong, in words for the person who sent the data.
    pub reason: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file}:{}: ", self.line)?,
            None => write!(f, "record {}: ", self.line)?,
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Outcome of an ingest call (file or HTTP batch).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestReport {
    /// Records written (new or changed).
    pub accepted: u64,
    /// Records already present with the same id (events) and skipped.
    pub duplicates: u64,
    /// Records refused; see `errors`.
    pub rejected: u64,
    /// True when `atomic` was asked for and a rejection rolled everything back.
    #[serde(default)]
    pub rolled_back: bool,
    /// One entry per rejected record (HTTP responses cap the list; the count is exact).
    pub errors: Vec<RecordError>,
}

impl IngestReport {
    /// Adds another report's counts and errors to this one.
    pub fn merge(&mut self, other: IngestReport) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected += other.rejected;
        self.rolled_back |= other.rolled_back;
        self.errors.extend(other.errors);
    }
}

/// Who is to blame for an API error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The request was wrong; fix it and retry.
    User,
    /// The server could not serve it now (disk, overload); retry later.
    Runtime,
    /// A defect in Sommelier; please report it.
    Bug,
}

/// Body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiError {
    /// Machine-readable code, e.g. `invalid_json`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Who should act.
    pub fault: Fault,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
    /// Crate version.
    pub version: String,
}

/// What the store holds (`sommelier stats`, `GET /v1/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreStats {
    /// Items that are not deleted.
    pub items: u64,
    /// Items of those that are available.
    pub items_available: u64,
    /// Deleted items kept as tombstones.
    pub items_deleted: u64,
    /// Live items per kind.
    pub items_by_kind: BTreeMap<String, u64>,
    /// Users with a profile record.
    pub users: u64,
    /// Events stored.
    pub events: u64,
    /// Events per kind.
    pub events_by_kind: BTreeMap<String, u64>,
    /// Distinct users seen in events.
    pub event_users: u64,
    /// Distinct items seen in events.
    pub event_items: u64,
    /// Earliest event time (RFC 3339), if any.
    pub first_event: Option<String>,
    /// Latest event time (RFC 3339), if any.
    pub last_event: Option<String>,
    /// Stored item vectors per embedding model.
    #[serde(default)]
    pub vectors: BTreeMap<String, u64>,
    /// Size of the database files on disk, in bytes.
    pub disk_bytes: u64,
}

/// Catalog filters of a request: what `/v1/recommend`, `/v1/search` and a
/// chat intent restrict the candidates to. Every surface converts into this
/// one shape; the vector index reads it as its own filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Allowed kinds (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Any of these categories (empty: any).
    #[serde(default)]
    pub categories: Vec<String>,
    /// None of these categories.
    #[serde(default)]
    pub exclude_categories: Vec<String>,
    /// Lowest price, inclusive.
    #[serde(default)]
    pub price_min: Option<f64>,
    /// Highest price, inclusive.
    #[serde(default)]
    pub price_max: Option<f64>,
    /// Earliest release year, inclusive.
    #[serde(default)]
    pub year_min: Option<i32>,
    /// Latest release year, inclusive.
    #[serde(default)]
    pub year_max: Option<i32>,
    /// Include unavailable items (default: no).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_unavailable: bool,
}
