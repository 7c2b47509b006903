//! The read traits and the catalog's change log on [`PostgresStore`].
//! Scans read in pages of [`PAGE`] rows by key, so a million events never
//! sit in memory at once.

use super::{Conn, PAGE, PostgresStore};
use crate::codec::{EventColumns, decode_timed, event_of, item, kind};
use crate::error::{Result, StoreError};
use crate::traits::{
    CatalogLog, CatalogRead, EventRead, EventRow, ItemRecord, UserRead, VectorRead,
};
use sommelier_types::{Event, EventId, EventKind, Item, ItemId, Timestamp, User, UserId};
use tokio_postgres::Row;

fn item_of(r: &Row) -> Result<Item> {
    item((r.get("body"), r.get("created_at"), r.get("updated_at")))
}

fn event_columns(r: &Row) -> EventColumns {
    (
        r.get(0),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
    )
}

fn events(rows: Vec<Row>) -> Result<Vec<Event>> {
    rows.iter().map(|r| event_of(event_columns(r))).collect()
}

impl CatalogRead for PostgresStore {
    fn item(&self, id: &ItemId) -> Result<Option<ItemRecord>> {
        self.with(|c| {
            c.query_opt(
                "SELECT body, created_at, updated_at, deleted_at FROM items WHERE id = $1",
                &[&id.as_str()],
                "reading an item",
            )?
            .map(|r| {
                Ok(ItemRecord {
                    item: item_of(&r)?,
                    deleted_at: r.get::<_, Option<i64>>(3).map(Timestamp),
                })
            })
            .transpose()
        })
    }

    fn scan_items(&self, visit: &mut dyn FnMut(Item)) -> Result<()> {
        let mut after = String::new();
        loop {
            let rows = self.with(|c| {
                c.query(
                    "SELECT id, body, created_at, updated_at FROM items
                     WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2",
                    &[&after, &PAGE],
                    "scanning items",
                )
            })?;
            for r in &rows {
                visit(item_of(r)?);
            }
            match rows.last() {
                Some(r) if rows.len() as i64 == PAGE => after = r.get(0),
                _ => return Ok(()),
            }
        }
    }
}

/// The catalog log's position: its newest entry, or where it was pruned to.
fn catalog_position(c: &mut Conn) -> Result<u64> {
    let r = c.query_opt(
        "SELECT GREATEST((SELECT MAX(seq) FROM catalog_changes), (SELECT upto FROM catalog_pruned))",
        &[],
        "reading the catalog's change position",
    )?;
    Ok(r.and_then(|r| r.get::<_, Option<i64>>(0))
        .unwrap_or(0)
        .max(0) as u64)
}

impl CatalogLog for PostgresStore {
    fn catalog_position(&self) -> Result<u64> {
        self.with(catalog_position)
    }

    fn catalog_log_id(&self) -> Result<String> {
        self.with(|c| {
            c.query_opt(
                "SELECT log_id FROM catalog_pruned",
                &[],
                "reading the catalog log's id",
            )?
            .map(|r| r.get(0))
            .ok_or(StoreError::Corrupt {
                what: "catalog log",
                detail: "no id".into(),
            })
        })
    }

    fn catalog_changes(&self, after: u64, limit: usize) -> Result<Option<(Vec<String>, u64)>> {
        self.with(|c| {
            // One snapshot: the position and the entries agree.
            c.batch(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                "beginning a read of the catalog's changes",
            )?;
            let out = (|| {
                let pruned: i64 = c
                    .query_opt("SELECT upto FROM catalog_pruned", &[], "reading the catalog log's pruned position")?
                    .map_or(0, |r| r.get(0));
                if (after as i64) < pruned {
                    return Ok(None);
                }
                let to = catalog_position(c)? as i64;
                let ids: Vec<String> = c
                    .query(
                        "SELECT DISTINCT item FROM catalog_changes WHERE seq > $1 AND seq <= $2 LIMIT $3",
                        &[&(after as i64), &to, &(limit.min(1 << 40) as i64 + 1)],
                        "reading the catalog's changes",
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                Ok((ids.len() <= limit).then_some((ids, to as u64)))
            })();
            c.batch("COMMIT", "ending a read of the catalog's changes")?;
            out
        })
    }

    fn prune_catalog_changes(&self, upto: u64) -> Result<u64> {
        self.write_locked(|c| {
            let n = c.execute(
                "DELETE FROM catalog_changes WHERE seq <= $1",
                &[&(upto as i64)],
                "pruning the catalog's changes",
            )?;
            c.execute(
                "UPDATE catalog_pruned SET upto = GREATEST(upto, $1)",
                &[&(upto as i64)],
                "pruning the catalog's changes",
            )?;
            Ok(n)
        })
    }
}

impl EventRead for PostgresStore {
    fn event(&self, id: &EventId) -> Result<Option<Event>> {
        self.with(|c| {
            c.query_opt(
                "SELECT id, user_id, item, kind, value, ts, ctx FROM events WHERE id = $1",
                &[&id.as_str()],
                "reading an event",
            )?
            .map(|r| event_of(event_columns(&r)))
            .transpose()
        })
    }

    fn scan_events(&self, after: u64, visit: &mut dyn FnMut(EventRow<'_>)) -> Result<u64> {
        let mut last = after as i64;
        loop {
            let rows = self.with(|c| {
                c.query(
                    "SELECT seq, user_id, item, kind, value, ts, device FROM events
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&last, &PAGE],
                    "scanning events",
                )
            })?;
            for r in &rows {
                last = r.get(0);
                visit(EventRow {
                    seq: last as u64,
                    user: r.get(1),
                    item: r.get(2),
                    kind: kind(r.get(3))?,
                    value: r.get(4),
                    timestamp: Timestamp(r.get(5)),
                    device: r.get(6),
                });
            }
            if (rows.len() as i64) < PAGE {
                return Ok(last as u64);
            }
        }
    }

    fn events_of_request(&self, request_id: &str) -> Result<Vec<Event>> {
        self.with(|c| {
            events(c.query(
                "SELECT id, user_id, item, kind, value, ts, ctx FROM events
                 WHERE request_id = $1 ORDER BY seq",
                &[&request_id],
                "reading the events of a request",
            )?)
        })
    }

    fn events_of_kind(&self, kind: EventKind, since_ms: i64) -> Result<Vec<Event>> {
        self.with(|c| {
            events(c.query(
                "SELECT id, user_id, item, kind, value, ts, ctx FROM events
                 WHERE kind = $1 AND ts >= $2 ORDER BY seq",
                &[&kind.as_str(), &since_ms],
                "reading events by kind",
            )?)
        })
    }
}

impl UserRead for PostgresStore {
    fn user(&self, id: &UserId) -> Result<Option<User>> {
        self.with(|c| {
            c.query_opt(
                "SELECT body, updated_at FROM users WHERE id = $1",
                &[&id.as_str()],
                "reading a user",
            )?
            .map(|r| decode_timed("user", r.get(0), &[("updated_at", r.get(1))]))
            .transpose()
        })
    }
}

impl VectorRead for PostgresStore {
    fn vector_hashes(&self, model: &str) -> Result<std::collections::HashMap<String, String>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT item, hash FROM item_vectors WHERE model = $1",
                &[&model],
                "scanning vector hashes",
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn scan_vectors(&self, model: &str, visit: &mut dyn FnMut(&str, &str, &[f32])) -> Result<u64> {
        let (mut after, mut n) = (String::new(), 0);
        loop {
            let rows = self.with(|c| {
                c.query(
                    "SELECT item, hash, vector FROM item_vectors
                     WHERE model = $1 AND item > $2 ORDER BY item LIMIT $3",
                    &[&model, &after, &PAGE],
                    "scanning vectors",
                )
            })?;
            for r in &rows {
                let v: pgvector::Vector = r.get(2);
                visit(r.get(0), r.get(1), v.as_slice());
                n += 1;
            }
            match rows.last() {
                Some(r) if rows.len() as i64 == PAGE => after = r.get(0),
                _ => return Ok(n),
            }
        }
    }

    fn vector(&self, item: &str, model: &str) -> Result<Option<(String, Vec<f32>)>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT hash, vector FROM item_vectors WHERE item = $1 AND model = $2",
                &[&item, &model],
                "reading a vector",
            )?
            .map(|r| (r.get(0), r.get::<_, pgvector::Vector>(1).to_vec())))
        })
    }
}
