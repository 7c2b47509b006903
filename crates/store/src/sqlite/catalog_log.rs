//! The catalog's change log (schema V7): filled by triggers on items and
//! item vectors, read by whoever keeps a copy of the catalog.

use super::SqliteStore;
use crate::CatalogLog;
use crate::error::{Op, Result};
use rusqlite::Connection;

fn position(c: &Connection) -> Result<u64> {
    let seq: Option<i64> = c
        .query_row(
            "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'catalog_changes')",
            [],
            |r| r.get(0),
        )
        .op("reading the catalog's change position")?;
    Ok(seq.unwrap_or(0).max(0) as u64)
}

impl CatalogLog for SqliteStore {
    fn catalog_position(&self) -> Result<u64> {
        self.read(position)
    }

    fn catalog_log_id(&self) -> Result<String> {
        self.read(|c| {
            c.query_row("SELECT log_id FROM catalog_pruned", [], |r| r.get(0))
                .op("reading the catalog log's id")
        })
    }

    fn catalog_changes(&self, after: u64, limit: usize) -> Result<Option<(Vec<String>, u64)>> {
        self.read(|c| {
            // One read transaction: the position and the entries agree.
            let tx = c
                .unchecked_transaction()
                .op("beginning a read of the catalog's changes")?;
            let pruned: i64 = tx
                .query_row("SELECT upto FROM catalog_pruned", [], |r| r.get(0))
                .op("reading the catalog log's pruned position")?;
            if (after as i64) < pruned {
                return Ok(None);
            }
            let to = position(&tx)?;
            let mut stmt = tx
                .prepare_cached(
                    "SELECT DISTINCT item FROM catalog_changes WHERE seq > ?1 AND seq <= ?2 LIMIT ?3",
                )
                .op("preparing a read of the catalog's changes")?;
            let ids = stmt
                .query_map(
                    rusqlite::params![after as i64, to as i64, limit.min(1 << 40) as i64 + 1],
                    |r| r.get::<_, String>(0),
                )
                .op("reading the catalog's changes")?
                .collect::<std::result::Result<Vec<_>, _>>()
                .op("reading the catalog's changes")?;
            drop(stmt);
            tx.finish().op("ending a read of the catalog's changes")?;
            Ok((ids.len() <= limit).then_some((ids, to)))
        })
    }

    fn prune_catalog_changes(&self, upto: u64) -> Result<u64> {
        let conn = self.writer.lock();
        let tx = conn
            .unchecked_transaction()
            .op("beginning to prune the catalog's changes")?;
        let n = tx
            .execute("DELETE FROM catalog_changes WHERE seq <= ?1", [upto as i64])
            .op("pruning the catalog's changes")?;
        tx.execute(
            "UPDATE catalog_pruned SET upto = MAX(upto, ?1)",
            [upto as i64],
        )
        .op("pruning the catalog's changes")?;
        tx.commit()
            .op("committing a prune of the catalog's changes")?;
        Ok(n as u64)
    }
}
