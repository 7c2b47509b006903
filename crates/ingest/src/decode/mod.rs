//! Decoding of one record into a domain value, with every rule checked.

mod event;
mod item;
mod user;

pub use event::content_id;

use crate::fields::{FieldError, Fields};
use sommelier_types::{Event, Item, ItemId, ItemKind, Timestamp, User};
use std::str::FromStr;

/// What a file or batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Catalog items (upserts, or deletes with `"deleted": true`).
    Items,
    /// Interaction events.
    Events,
    /// User profiles.
    Users,
}

impl FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "items" => Ok(Self::Items),
            "events" => Ok(Self::Events),
            "users" => Ok(Self::Users),
            _ => Err(format!(
                "unknown record kind `{s}` (expected items, events or users)"
            )),
        }
    }
}

/// A change to the catalog.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // deletes are rare; boxing every upsert costs more
pub enum ItemOp {
    /// Insert or replace.
    Upsert(Item),
    /// Delete (tombstone) at a time.
    Delete(ItemId, Timestamp),
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A catalog change.
    Item(ItemOp),
    /// An event.
    Event(Event),
    /// A user profile.
    User(User),
}

/// Rules and defaults for decoding.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Inclusive range of valid rating values.
    pub rating_min: f64,
    /// Inclusive upper bound of rating values.
    pub rating_max: f64,
    /// Kind given to items that name none.
    pub default_item_kind: ItemKind,
    /// Time used for missing timestamps.
    pub now: Timestamp,
    /// Timestamps more than this many seconds after `now` are refused
    /// (`None`: any date is accepted).
    pub max_future_secs: Option<u64>,
    /// Longest text of one field, bytes.
    pub max_field_bytes: usize,
    /// Largest record, bytes of JSON.
    pub max_record_bytes: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            rating_min: 0.0,
            rating_max: 5.0,
            default_item_kind: ItemKind::generic(),
            now: Timestamp::now(),
            max_future_secs: Some(300),
            max_field_bytes: 64 * 1024,
            max_record_bytes: 256 * 1024,
        }
    }
}

impl DecodeOptions {
    /// Checks the options themselves.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.rating_min.is_finite() && self.rating_max.is_finite())
            || self.rating_min >= self.rating_max
        {
            return Err(format!(
                "rating range [{}, {}] is empty or not finite",
                self.rating_min, self.rating_max
            ));
        }
        Ok(())
    }
}

/// Decodes one record of the given kind.
pub fn decode(
    kind: RecordKind,
    fields: Fields,
    opts: &DecodeOptions,
) -> Result<Record, FieldError> {
    fields.check_sizes(opts.max_field_bytes, opts.max_record_bytes)?;
    match kind {
        RecordKind::Items => item::decode(fields, opts).map(Record::Item),
        RecordKind::Events => event::decode(fields, opts).map(Record::Event),
        RecordKind::Users => user::decode(fields, opts).map(Record::User),
    }
}

/// A timestamp field: a number is Unix seconds; a string is RFC 3339 or a date,
/// or (from CSV) a number of seconds.
pub(crate) fn timestamp(
    f: &mut Fields,
    field: &str,
    opts: &DecodeOptions,
) -> Result<Option<Timestamp>, FieldError> {
    let t = parse_timestamp(f, field)?;
    if let (Some(t), Some(max)) = (t, opts.max_future_secs) {
        let ahead = t.0 / 1000 - opts.now.0 / 1000;
        if ahead > max as i64 {
            return Err(FieldError::new(
                field,
                format!(
                    "{t} is {ahead} s after the server's clock; at most {max} s ahead is accepted (ingest.max_future_secs)"
                ),
            ));
        }
    }
    Ok(t)
}

fn parse_timestamp(f: &mut Fields, field: &str) -> Result<Option<Timestamp>, FieldError> {
    use serde_json::Value;
    let bad = || FieldError::new(field, "expected Unix seconds or an RFC 3339 date-time");
    match f.take(field) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(Timestamp::from_secs_f64)
            .map(Some)
            .ok_or_else(bad),
        Some(Value::String(s)) => Timestamp::parse(&s)
            .or_else(|| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(Timestamp::from_secs_f64)
            })
            .map(Some)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("`{s}` is neither Unix seconds nor an RFC 3339 date-time"),
                )
            }),
        Some(_) => Err(bad()),
    }
}

/// A required identifier, checked.
pub(crate) fn required_id<T>(
    f: &mut Fields,
    field: &str,
    make: impl FnOnce(String) -> Result<T, sommelier_types::IdError>,
) -> Result<T, FieldError> {
    let raw = f
        .id(field)?
        .ok_or_else(|| FieldError::new(field, "is required"))?;
    make(raw).map_err(|e| FieldError::new(field, format!("id {e}")))
}

/// Fails on fields nobody consumed.
pub(crate) fn no_unknown_fields(f: &Fields, known: &str) -> Result<(), FieldError> {
    match f.remaining().next() {
        None => Ok(()),
        Some(name) => Err(FieldError::new(
            name,
            format!("unknown field (known: {known}; rename columns with --map target=source)"),
        )),
    }
}
