//! The write transaction and the write traits.

use crate::codec::{body_without_times, encode};
use crate::error::{Op, Result};
use crate::traits::{CatalogWrite, EventWrite, Upsert, UserWrite, VectorWrite};
use rusqlite::{OptionalExtension, Transaction, params};
use sommelier_types::{Event, Item, ItemId, Timestamp, User};

/// One open write transaction; see [`crate::SqliteStore::write`].
pub struct Writer<'c> {
    tx: Transaction<'c>,
    /// Events appended in this transaction, per kind, and the bounds of their
    /// times: added to the kept counters once, at commit (schema V6).
    appended: Vec<(&'static str, i64)>,
    bounds: Option<(i64, i64)>,
}

impl<'c> Writer<'c> {
    pub(crate) fn new(tx: Transaction<'c>) -> Self {
        Self {
            tx,
            appended: Vec::new(),
            bounds: None,
        }
    }

    pub(crate) fn commit(mut self) -> Result<()> {
        self.count_appended()?;
        self.tx.commit().op("committing")
    }

    /// Adds this transaction's appended events to the kept counters.
    fn count_appended(&mut self) -> Result<()> {
        let Some((first, last)) = self.bounds else {
            return Ok(());
        };
        let total: i64 = self.appended.iter().map(|a| a.1).sum();
        let mut add = self
            .tx
            .prepare_cached(
                "INSERT INTO counters (name, n) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET n = n + excluded.n",
            )
            .op("preparing a counter update")?;
        add.execute(params!["events", total])
            .op("counting events")?;
        for (kind, n) in &self.appended {
            add.execute(params![format!("events.kind.{kind}"), n])
                .op("counting events")?;
        }
        drop(add);
        self.tx
            .prepare_cached(
                "INSERT INTO counters (name, n) VALUES ('events.first_ts', ?1), ('events.last_ts', ?2)
                 ON CONFLICT(name) DO UPDATE SET n = CASE name
                     WHEN 'events.first_ts' THEN MIN(n, excluded.n) ELSE MAX(n, excluded.n) END",
            )
            .op("preparing a counter update")?
            .execute(params![first, last])
            .op("counting events")?;
        Ok(())
    }
}

impl CatalogWrite for Writer<'_> {
    fn upsert_item(&mut self, item: &Item) -> Result<Upsert> {
        let body = body_without_times(item);
        let existed: Option<(String, Option<i64>)> = self
            .tx
            .prepare_cached("SELECT body, deleted_at FROM items WHERE id = ?1")
            .op("preparing an item lookup")?
            .query_row([item.id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .op("looking up an item")?;
        let outcome = match existed {
            None => Upsert::Inserted,
            Some((old, None)) if old == body => return Ok(Upsert::Unchanged),
            Some(_) => Upsert::Updated,
        };
        self.tx
            .prepare_cached(
                "INSERT INTO items (id, kind, available, created_at, updated_at, deleted_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6)
                 ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, available = excluded.available,
                   created_at = MIN(items.created_at, excluded.created_at),
                   updated_at = excluded.updated_at, deleted_at = NULL, body = excluded.body",
            )
            .op("preparing an item upsert")?
            .execute(params![
                item.id.as_str(),
                item.kind.as_str(),
                item.is_available(),
                item.created_at.0,
                item.updated_at.0,
                body
            ])
            .op("writing an item")?;
        Ok(outcome)
    }

    fn delete_item(&mut self, id: &ItemId, at: Timestamp) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached("UPDATE items SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL")
            .op("preparing an item delete")?
            .execute(params![id.as_str(), at.0])
            .op("deleting an item")?;
        Ok(n > 0)
    }
}

impl EventWrite for Writer<'_> {
    fn append_event(&mut self, e: &Event) -> Result<bool> {
        let ctx = (!e.context.is_empty()).then(|| encode(&e.context));
        let n = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO events (id, user, item, kind, value, ts, ctx)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .op("preparing an event insert")?
            .execute(params![
                e.id.as_str(),
                e.user.as_str(),
                e.item.as_str(),
                e.kind.as_str(),
                e.value,
                e.timestamp.0,
                ctx
            ])
            .op("appending an event")?;
        if n > 0 {
            let kind = e.kind.as_str();
            match self.appended.iter_mut().find(|a| a.0 == kind) {
                Some(a) => a.1 += 1,
                None => self.appended.push((kind, 1)),
            }
            let t = e.timestamp.0;
            self.bounds = Some(self.bounds.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        }
        Ok(n > 0)
    }
}

impl UserWrite for Writer<'_> {
    fn upsert_user(&mut self, user: &User) -> Result<Upsert> {
        let body = body_without_times(user);
        let old: Option<String> = self
            .tx
            .prepare_cached("SELECT body FROM users WHERE id = ?1")
            .op("preparing a user lookup")?
            .query_row([user.id.as_str()], |r| r.get(0))
            .optional()
            .op("looking up a user")?;
        let outcome = match old {
            None => Upsert::Inserted,
            Some(old) if old == body => return Ok(Upsert::Unchanged),
            Some(_) => Upsert::Updated,
        };
        self.tx
            .prepare_cached(
                "INSERT INTO users (id, updated_at, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body",
            )
            .op("preparing a user upsert")?
            .execute(params![user.id.as_str(), user.updated_at.0, body])
            .op("writing a user")?;
        Ok(outcome)
    }
}

impl VectorWrite for Writer<'_> {
    fn put_vector(&mut self, item: &str, model: &str, hash: &str, vector: &[f32]) -> Result<()> {
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tx
            .prepare_cached(
                "INSERT INTO item_vectors (item, model, hash, vector) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(item, model) DO UPDATE SET hash = excluded.hash, vector = excluded.vector",
            )
            .op("preparing a vector write")?
            .execute(params![item, model, hash, bytes])
            .op("writing a vector")?;
        Ok(())
    }

    fn delete_vector(&mut self, item: &str, model: &str) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM item_vectors WHERE item = ?1 AND model = ?2")
            .op("preparing a vector delete")?
            .execute(params![item, model])
            .op("deleting a vector")?;
        Ok(n > 0)
    }
}
