//! Events.

use super::{DecodeOptions, no_unknown_fields, required_id, timestamp};
use crate::fields::{FieldError, Fields};
use sommelier_types::{Event, EventContext, EventId, EventKind, ItemId, Timestamp, UserId};

const KNOWN: &str = "id, user, item, kind, value, timestamp, context, device, locale, channel, location, session_id, request_id, position";

pub(super) fn decode(mut f: Fields, opts: &DecodeOptions) -> Result<Event, FieldError> {
    let id = f.id("id")?;
    let user = required_id(&mut f, "user", UserId::new)?;
    let item = required_id(&mut f, "item", ItemId::new)?;
    let kind_name = f.required_string("kind")?;
    let kind = EventKind::parse(kind_name.trim()).ok_or_else(|| {
        let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        FieldError::new(
            "kind",
            format!(
                "unknown event kind `{kind_name}` (expected one of {})",
                known.join(", ")
            ),
        )
    })?;
    let value = f.number("value")?;
    match (kind, value) {
        (EventKind::Rating, None) => {
            return Err(FieldError::new("value", "is required for a rating"));
        }
        (EventKind::Rating, Some(v)) if v < opts.rating_min || v > opts.rating_max => {
            return Err(FieldError::new(
                "value",
                format!(
                    "rating {v} is outside [{}, {}]",
                    opts.rating_min, opts.rating_max
                ),
            ));
        }
        (EventKind::Dwell, None) => {
            return Err(FieldError::new("value", "is required for dwell (seconds)"));
        }
        (EventKind::Dwell, Some(v)) if v < 0.0 => {
            return Err(FieldError::new(
                "value",
                "dwell seconds must not be negative",
            ));
        }
        (EventKind::Feedback, v) if v != Some(1.0) && v != Some(-1.0) => {
            return Err(FieldError::new(
                "value",
                "feedback is 1 (the reason helped) or -1 (the reason was wrong)",
            ));
        }
        _ => {}
    }
    let timestamp = timestamp(&mut f, "timestamp", opts)?.unwrap_or(opts.now);
    let mut context = EventContext::default();
    if let Some(mut c) = f.object("context")? {
        if let Some(p) = c.remove("position").filter(|p| !p.is_null()) {
            context.position = Some(position(&p, "context.position")?);
        }
        for (name, slot) in context_slots(&mut context) {
            match c.remove(name) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(s)) => *slot = Some(s),
                Some(_) => {
                    return Err(FieldError::new(
                        &format!("context.{name}"),
                        "expected a string",
                    ));
                }
            }
        }
        if let Some(k) = c.keys().next() {
            return Err(FieldError::new(
                &format!("context.{k}"),
                "unknown context field (known: device, locale, channel, location, session_id, request_id, position)",
            ));
        }
    }
    for (name, slot) in context_slots(&mut context) {
        if let Some(s) = f.string(name)? {
            *slot = Some(s);
        }
    }
    if let Some(p) = f.number("position")? {
        context.position = Some(position(&serde_json::json!(p), "position")?);
    }
    no_unknown_fields(&f, KNOWN)?;
    if kind == EventKind::Feedback && context.request_id.is_none() {
        return Err(FieldError::new(
            "request_id",
            "feedback judges the reason a served list gave: name the list by its request_id",
        ));
    }
    let id = match id {
        Some(raw) => EventId::new(raw).map_err(|e| FieldError::new("id", format!("id {e}")))?,
        None => content_id(&user, &item, kind, value, timestamp),
    };
    Ok(Event {
        id,
        user,
        item,
        kind,
        value,
        timestamp,
        context,
    })
}

fn context_slots(c: &mut EventContext) -> [(&'static str, &mut Option<String>); 6] {
    [
        ("device", &mut c.device),
        ("locale", &mut c.locale),
        ("channel", &mut c.channel),
        ("location", &mut c.location),
        ("session_id", &mut c.session_id),
        ("request_id", &mut c.request_id),
    ]
}

/// A position in a served list: a whole number from 1.
fn position(v: &serde_json::Value, field: &str) -> Result<u32, FieldError> {
    v.as_f64()
        .filter(|p| p.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(p))
        .map(|p| p as u32)
        .ok_or_else(|| FieldError::new(field, format!("expected a whole number from 1, got {v}")))
}

/// The id given to an event that has none: a hash of what it says, so importing
/// the same file twice does not double-count it.
pub fn content_id(
    user: &UserId,
    item: &ItemId,
    kind: EventKind,
    value: Option<f64>,
    t: Timestamp,
) -> EventId {
    // FNV-1a, 64 bits: stable across platforms and releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    feed(user.as_str().as_bytes());
    feed(item.as_str().as_bytes());
    feed(kind.as_str().as_bytes());
    feed(&value.map_or([0xff; 8], f64::to_le_bytes));
    feed(&t.0.to_le_bytes());
    EventId::new(format!("h{h:016x}")).expect("hex ids are valid")
}
