//! How rows' JSON bodies and columns become domain values, and back; the
//! same for every backend, so a row written by one reads the same in all.

use crate::error::{Result, StoreError};
use sommelier_types::{Event, EventContext, EventId, EventKind, Item, ItemId, Timestamp, UserId};

pub(crate) fn decode<T: serde::de::DeserializeOwned>(what: &'static str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// Puts the timestamp columns back into a stored body and decodes it.
pub(crate) fn decode_timed<T: serde::de::DeserializeOwned>(
    what: &'static str,
    body: &str,
    times: &[(&str, i64)],
) -> Result<T> {
    let mut v: serde_json::Value = decode(what, body)?;
    let m = v.as_object_mut().ok_or_else(|| StoreError::Corrupt {
        what,
        detail: "body is not an object".into(),
    })?;
    for (k, t) in times {
        m.insert((*k).to_string(), (*t).into());
    }
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// An item from its body and its created and updated times.
pub(crate) fn item((body, created, updated): (String, i64, i64)) -> Result<Item> {
    decode_timed(
        "item",
        &body,
        &[("created_at", created), ("updated_at", updated)],
    )
}

pub(crate) fn kind(s: &str) -> Result<EventKind> {
    EventKind::parse(s).ok_or_else(|| StoreError::Corrupt {
        what: "event",
        detail: format!("unknown kind `{s}`"),
    })
}

pub(crate) fn id<T>(
    what: &'static str,
    r: std::result::Result<T, sommelier_types::IdError>,
) -> Result<T> {
    r.map_err(|e| StoreError::Corrupt {
        what,
        detail: format!("id {e}"),
    })
}

pub(crate) fn encode<T: serde::Serialize>(v: &T) -> String {
    // Serialising our own plain data types to a String cannot fail.
    serde_json::to_string(v).expect("domain types serialise to JSON")
}

/// The stored body: the record without its timestamps, which live in columns, so
/// that writing the same content again is recognised as unchanged.
pub(crate) fn body_without_times<T: serde::Serialize>(v: &T) -> String {
    let mut value = serde_json::to_value(v).expect("domain types serialise to JSON");
    if let Some(m) = value.as_object_mut() {
        m.remove("created_at");
        m.remove("updated_at");
    }
    value.to_string()
}

/// An event's stored columns: id, user, item, kind, value, time, context.
pub(crate) type EventColumns = (
    String,
    String,
    String,
    String,
    Option<f64>,
    i64,
    Option<String>,
);

/// An event from its stored columns.
pub(crate) fn event_of((id, user, item, k, value, ts, ctx): EventColumns) -> Result<Event> {
    let context: EventContext = match ctx {
        Some(c) => decode("event context", &c)?,
        None => EventContext::default(),
    };
    Ok(Event {
        id: self::id("event", EventId::new(id))?,
        user: self::id("event", UserId::new(user))?,
        item: self::id("event", ItemId::new(item))?,
        kind: kind(&k)?,
        value,
        timestamp: Timestamp(ts),
        context,
    })
}

/// The first key of the exposure log's request ids at `from_ms` (they
/// begin with the time in ms shifted by 16 bits, in hex).
pub(crate) fn request_id_floor(from_ms: i64) -> String {
    format!("{:016x}", (from_ms.max(0) as u64) << 16)
}
