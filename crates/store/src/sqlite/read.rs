//! The read traits on [`SqliteStore`].

use super::SqliteStore;
use crate::codec::{EventColumns, decode_timed, event_of, item, kind};
use crate::error::{Op, Result, StoreError};
use crate::traits::{CatalogRead, EventRead, EventRow, ItemRecord, UserRead, VectorRead};
use rusqlite::OptionalExtension;
use sommelier_types::{Event, EventId, EventKind, Item, ItemId, Timestamp, User, UserId};

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, i64)> {
    Ok((r.get("body")?, r.get("created_at")?, r.get("updated_at")?))
}

impl CatalogRead for SqliteStore {
    fn item(&self, id: &ItemId) -> Result<Option<ItemRecord>> {
        self.read(|c| {
            let row = c
                .prepare_cached(
                    "SELECT body, created_at, updated_at, deleted_at FROM items WHERE id = ?1",
                )
                .op("preparing an item read")?
                .query_row([id.as_str()], |r| {
                    Ok((item_from_row(r)?, r.get::<_, Option<i64>>(3)?))
                })
                .optional()
                .op("reading an item")?;
            row.map(|(row, deleted)| {
                Ok(ItemRecord {
                    item: item(row)?,
                    deleted_at: deleted.map(Timestamp),
                })
            })
            .transpose()
        })
    }

    fn scan_items(&self, visit: &mut dyn FnMut(Item)) -> Result<()> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT body, created_at, updated_at FROM items WHERE deleted_at IS NULL ORDER BY id",
                )
                .op("preparing an item scan")?;
            let mut rows = stmt.query([]).op("scanning items")?;
            while let Some(r) = rows.next().op("scanning items")? {
                visit(item(item_from_row(r).op("scanning items")?)?);
            }
            Ok(())
        })
    }
}

impl EventRead for SqliteStore {
    fn event(&self, id: &EventId) -> Result<Option<Event>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"))
                .op("preparing an event read")?
                .query_row([id.as_str()], event_columns)
                .optional()
                .op("reading an event")?
                .map(event_of)
                .transpose()
        })
    }

    fn events_of_request(&self, request_id: &str) -> Result<Vec<Event>> {
        self.read(|c| {
            // The partial index's own condition, so the planner takes it.
            let rows: Vec<EventColumns> = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE json_extract(ctx, '$.request_id') IS NOT NULL
                       AND json_extract(ctx, '$.request_id') = ?1 ORDER BY seq"
                ))
                .op("preparing an attribution read")?
                .query_map([request_id], event_columns)
                .op("reading the events of a request")?
                .collect::<std::result::Result<_, _>>()
                .op("reading the events of a request")?;
            rows.into_iter().map(event_of).collect()
        })
    }

    fn events_of_kind(&self, kind: EventKind, since_ms: i64) -> Result<Vec<Event>> {
        self.read(|c| {
            let rows: Vec<EventColumns> = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE kind = ?1 AND ts >= ?2 ORDER BY seq"
                ))
                .op("preparing a read of events by kind")?
                .query_map(rusqlite::params![kind.as_str(), since_ms], event_columns)
                .op("reading events by kind")?
                .collect::<std::result::Result<_, _>>()
                .op("reading events by kind")?;
            rows.into_iter().map(event_of).collect()
        })
    }

    fn scan_events(&self, after: u64, visit: &mut dyn FnMut(EventRow<'_>)) -> Result<u64> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, user, item, kind, value, ts, json_extract(ctx, '$.device') \
                     FROM events WHERE seq > ?1 ORDER BY seq",
                )
                .op("preparing an event scan")?;
            let mut rows = stmt.query([after as i64]).op("scanning events")?;
            let mut last = after;
            while let Some(r) = rows.next().op("scanning events")? {
                let seq: i64 = r.get(0).op("scanning events")?;
                let user = r
                    .get_ref(1)
                    .and_then(|v| Ok(v.as_str()?))
                    .op("scanning events")?;
                let item = r
                    .get_ref(2)
                    .and_then(|v| Ok(v.as_str()?))
                    .op("scanning events")?;
                let k = r
                    .get_ref(3)
                    .and_then(|v| Ok(v.as_str()?))
                    .op("scanning events")?;
                last = seq as u64;
                visit(EventRow {
                    seq: last,
                    user,
                    item,
                    kind: kind(k)?,
                    value: r.get(4).op("scanning events")?,
                    timestamp: Timestamp(r.get(5).op("scanning events")?),
                    device: r
                        .get_ref(6)
                        .and_then(|v| Ok(v.as_str_or_null()?))
                        .op("scanning events")?,
                });
            }
            Ok(last)
        })
    }
}

const EVENT_COLUMNS: &str = "id, user, item, kind, value, ts, ctx";

fn event_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

impl UserRead for SqliteStore {
    fn user(&self, id: &UserId) -> Result<Option<User>> {
        self.read(|c| {
            let row: Option<(String, i64)> = c
                .prepare_cached("SELECT body, updated_at FROM users WHERE id = ?1")
                .op("preparing a user read")?
                .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .op("reading a user")?;
            row.map(|(b, t)| decode_timed("user", &b, &[("updated_at", t)]))
                .transpose()
        })
    }
}

impl VectorRead for SqliteStore {
    fn vector_hashes(&self, model: &str) -> Result<std::collections::HashMap<String, String>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT item, hash FROM item_vectors WHERE model = ?1")
                .op("preparing a vector hash scan")?;
            let rows = stmt
                .query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))
                .op("scanning vector hashes")?;
            rows.collect::<std::result::Result<_, _>>()
                .op("scanning vector hashes")
        })
    }

    fn scan_vectors(&self, model: &str, visit: &mut dyn FnMut(&str, &str, &[f32])) -> Result<u64> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT item, hash, vector FROM item_vectors WHERE model = ?1 ORDER BY item",
                )
                .op("preparing a vector scan")?;
            let mut rows = stmt.query([model]).op("scanning vectors")?;
            let mut n = 0;
            let mut v = Vec::new();
            while let Some(r) = rows.next().op("scanning vectors")? {
                let item = r
                    .get_ref(0)
                    .and_then(|x| Ok(x.as_str()?))
                    .op("scanning vectors")?;
                let hash = r
                    .get_ref(1)
                    .and_then(|x| Ok(x.as_str()?))
                    .op("scanning vectors")?;
                let bytes = r
                    .get_ref(2)
                    .and_then(|x| Ok(x.as_blob()?))
                    .op("scanning vectors")?;
                decode_vector(item, bytes, &mut v)?;
                visit(item, hash, &v);
                n += 1;
            }
            Ok(n)
        })
    }

    fn vector(&self, item: &str, model: &str) -> Result<Option<(String, Vec<f32>)>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT vector, hash FROM item_vectors WHERE item = ?1 AND model = ?2",
                )
                .op("preparing a vector read")?;
            let mut rows = stmt.query([item, model]).op("reading a vector")?;
            let Some(r) = rows.next().op("reading a vector")? else {
                return Ok(None);
            };
            let bytes = r
                .get_ref(0)
                .and_then(|x| Ok(x.as_blob()?))
                .op("reading a vector")?;
            let mut v = Vec::new();
            decode_vector(item, bytes, &mut v)?;
            let hash: String = r.get(1).op("reading a vector")?;
            Ok(Some((hash, v)))
        })
    }
}

/// Little-endian f32s, as `put_vector` writes them.
fn decode_vector(item: &str, bytes: &[u8], out: &mut Vec<f32>) -> Result<()> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt {
            what: "item vector",
            detail: format!("{} bytes for item `{item}`", bytes.len()),
        });
    }
    out.clear();
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
    Ok(())
}
