//! The write traits on a PostgreSQL write transaction.

use super::Conn;
use crate::codec::{body_without_times, encode};
use crate::error::Result;
use crate::traits::{CatalogWrite, EventWrite, Upsert, UserWrite, VectorWrite};
use sommelier_types::{Event, Item, ItemId, Timestamp, User};

/// One open write transaction (it holds the store's write lock).
pub(crate) struct PgWriter<'c> {
    pub(crate) conn: &'c mut Conn,
}

impl CatalogWrite for PgWriter<'_> {
    fn upsert_item(&mut self, item: &Item) -> Result<Upsert> {
        let body = body_without_times(item);
        let existed = self.conn.query_opt(
            "SELECT body, deleted_at FROM items WHERE id = $1",
            &[&item.id.as_str()],
            "looking up an item",
        )?;
        let outcome = match existed {
            None => Upsert::Inserted,
            Some(r) if r.get::<_, &str>(0) == body && r.get::<_, Option<i64>>(1).is_none() => {
                return Ok(Upsert::Unchanged);
            }
            Some(_) => Upsert::Updated,
        };
        self.conn.execute(
            "INSERT INTO items (id, kind, available, created_at, updated_at, deleted_at, body,
                                categories, price, year, filters_ok)
             VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, true)
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, available = excluded.available,
               created_at = LEAST(items.created_at, excluded.created_at),
               updated_at = excluded.updated_at, deleted_at = NULL, body = excluded.body,
               categories = excluded.categories, price = excluded.price, year = excluded.year,
               filters_ok = true",
            &[
                &item.id.as_str(),
                &item.kind.as_str(),
                &item.is_available(),
                &item.created_at.0,
                &item.updated_at.0,
                &body,
                &item.categories,
                &item.price_amount(),
                &item.year(),
            ],
            "writing an item",
        )?;
        Ok(outcome)
    }

    fn delete_item(&mut self, id: &ItemId, at: Timestamp) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE items SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
            &[&id.as_str(), &at.0],
            "deleting an item",
        )?;
        Ok(n > 0)
    }
}

impl EventWrite for PgWriter<'_> {
    fn append_event(&mut self, e: &Event) -> Result<bool> {
        Ok(self.append_events(&[e])?[0])
    }

    fn append_events(&mut self, events: &[&Event]) -> Result<Vec<bool>> {
        // One statement: arrays of the columns, unnested in order. A row
        // whose id is already stored, or came earlier in the batch, is
        // skipped; the ids inserted come back.
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let users: Vec<&str> = events.iter().map(|e| e.user.as_str()).collect();
        let items: Vec<&str> = events.iter().map(|e| e.item.as_str()).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let values: Vec<Option<f64>> = events.iter().map(|e| e.value).collect();
        let ts: Vec<i64> = events.iter().map(|e| e.timestamp.0).collect();
        let ctx: Vec<Option<String>> = events
            .iter()
            .map(|e| (!e.context.is_empty()).then(|| encode(&e.context)))
            .collect();
        let devices: Vec<Option<&str>> =
            events.iter().map(|e| e.context.device.as_deref()).collect();
        let requests: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.context.request_id.as_deref())
            .collect();
        let inserted = self.conn.query(
            "INSERT INTO events (id, user_id, item, kind, value, ts, ctx, device, request_id)
             SELECT id, user_id, item, kind, value, ts, ctx, device, request_id
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[],
                         $6::int8[], $7::text[], $8::text[], $9::text[])
               WITH ORDINALITY AS b(id, user_id, item, kind, value, ts, ctx, device, request_id, n)
             ORDER BY n
             ON CONFLICT (id) DO NOTHING RETURNING id",
            &[
                &ids, &users, &items, &kinds, &values, &ts, &ctx, &devices, &requests,
            ],
            "appending events",
        )?;
        let mut new: std::collections::HashSet<String> =
            inserted.iter().map(|r| r.get::<_, String>(0)).collect();
        // The first of repeated ids in the batch is the one stored.
        Ok(ids.iter().map(|id| new.remove(*id)).collect())
    }
}

impl UserWrite for PgWriter<'_> {
    fn upsert_user(&mut self, user: &User) -> Result<Upsert> {
        let body = body_without_times(user);
        let old = self.conn.query_opt(
            "SELECT body FROM users WHERE id = $1",
            &[&user.id.as_str()],
            "looking up a user",
        )?;
        let outcome = match old {
            None => Upsert::Inserted,
            Some(r) if r.get::<_, &str>(0) == body => return Ok(Upsert::Unchanged),
            Some(_) => Upsert::Updated,
        };
        self.conn.execute(
            "INSERT INTO users (id, updated_at, body) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body",
            &[&user.id.as_str(), &user.updated_at.0, &body],
            "writing a user",
        )?;
        Ok(outcome)
    }
}

impl VectorWrite for PgWriter<'_> {
    fn put_vector(&mut self, item: &str, model: &str, hash: &str, vector: &[f32]) -> Result<()> {
        let v = pgvector::Vector::from(vector.to_vec());
        self.conn.execute(
            "INSERT INTO item_vectors (item, model, hash, vector) VALUES ($1, $2, $3, $4)
             ON CONFLICT (item, model) DO UPDATE SET hash = excluded.hash, vector = excluded.vector",
            &[&item, &model, &hash, &v],
            "writing a vector",
        )?;
        Ok(())
    }

    fn delete_vector(&mut self, item: &str, model: &str) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM item_vectors WHERE item = $1 AND model = $2",
            &[&item, &model],
            "deleting a vector",
        )?;
        Ok(n > 0)
    }
}
