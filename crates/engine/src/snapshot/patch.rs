//! Catalog changes applied to the snapshot in place: the vector and BM25
//! indexes updated item by item, the item and hash maps copied with the
//! change.

use super::build::lexical_doc;
use super::{CatalogSnapshot, NEWEST_KEPT, index_err};
use crate::{Engine, EngineError, Result};
use sommelier_index::ItemMeta;
use sommelier_types::{Item, ItemId, Timestamp};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Most items a change may touch to be applied to the snapshot in place; a
/// larger one (an import) rebuilds it.
pub(super) const PATCH_MAX_ITEMS: usize = 10_000;

impl Engine {
    /// [`Engine::catalog_changed`] for a change of the items `ids` (rows or
    /// vectors, already committed): when the snapshot in use is current and the
    /// change is small, it is applied in place — the vector and BM25 indexes
    /// updated item by item, the item maps copied with the change — so the
    /// cost follows the change, not the catalog. Otherwise a full rebuild.
    pub(crate) fn catalog_changed_for(&self, ids: &[&str]) -> Result<()> {
        let _building = self.snapshots.building.lock();
        let current = self.snapshots.current.read().clone();
        // Following the log (no ids): another caller may have applied it
        // while this one waited for the lock.
        if ids.is_empty()
            && let Some(c) = &current
            && c.generation == self.snapshots.generation.load(Ordering::SeqCst)
            && self.store().catalog_position()? <= c.position
        {
            return Ok(());
        }
        let before = self.snapshots.generation.load(Ordering::SeqCst);
        self.snapshots.invalidate();
        let old = match current {
            None => return Ok(()),
            Some(old) if old.generation == before => old,
            Some(_) => return self.rebuild_snapshot().map(drop),
        };
        let wanted = self.snapshots.generation.load(Ordering::SeqCst);
        match self.patch_snapshot(&old, ids, wanted) {
            Ok(Some(new)) => {
                *self.snapshots.current.write() = Some(new);
                Ok(())
            }
            Ok(None) => self.rebuild_snapshot().map(drop),
            Err(e) => {
                tracing::warn!(error = %e, "catalog change not applied in place; rebuilding the snapshot");
                self.rebuild_snapshot().map(drop)
            }
        }
    }

    /// The snapshot `old` with the items `ids` re-read from the store, or
    /// `None` when the change is too large or moves the catalog across
    /// `vectors.exact_below` (another index kind).
    pub(super) fn patch_snapshot(
        &self,
        old: &CatalogSnapshot,
        ids: &[&str],
        generation: u64,
    ) -> Result<Option<Arc<CatalogSnapshot>>> {
        let started = Instant::now();
        let limit = PATCH_MAX_ITEMS.min(old.items.len().max(10) / 10);
        // Every item the catalog log names since the snapshot's position,
        // written by this process or another: the patched snapshot reflects
        // the log up to `position`.
        let Some((logged, position)) = self.store().catalog_changes(old.position, limit)? else {
            return Ok(None);
        };
        let mut unique: Vec<&str> = ids
            .iter()
            .copied()
            .chain(logged.iter().map(String::as_str))
            .collect();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() > limit {
            return Ok(None);
        }
        let model = &self.config().vectors.model;
        let mut items = old.items.clone();
        let mut hashes = old.hashes.clone();
        let mut upserts: Vec<(String, Arc<[f32]>, ItemMeta)> = Vec::new();
        let mut removed: Vec<&str> = Vec::new();
        for &id in &unique {
            let live = match ItemId::new(id) {
                Ok(iid) => self
                    .store()
                    .item(&iid)?
                    .filter(|r| r.deleted_at.is_none() && !self.config().policy.excludes(&r.item)),
                Err(_) => None,
            };
            let vector = match &live {
                Some(_) => self.store().vector(id, model)?,
                None => None,
            };
            match (live, vector) {
                (Some(r), Some((hash, v))) => {
                    let v: Arc<[f32]> = v.into();
                    upserts.push((id.to_string(), v, ItemMeta::of(&r.item)));
                    hashes.insert(sommelier_types::IdKey::new(id), hash.into());
                    items.insert(sommelier_types::IdKey::new(id), Arc::new(r.item));
                }
                (Some(r), None) => {
                    removed.push(id);
                    hashes.remove(id);
                    items.insert(sommelier_types::IdKey::new(id), Arc::new(r.item));
                }
                (None, _) => {
                    removed.push(id);
                    hashes.remove(id);
                    items.remove(id);
                }
            }
        }
        let backend = if old.backend == super::PGVECTOR {
            super::PGVECTOR
        } else if hashes.len() < self.config().vectors.exact_below {
            "exact"
        } else {
            "hnsw"
        };
        let dim_ok = {
            let index = old.index.read();
            let fits = upserts.iter().all(|(_, u, _)| u.len() == index.dim());
            // The database's index is made for one dimension at the build
            // (none while the catalog had no vectors): a rebuild makes it.
            fits || (backend != super::PGVECTOR && index.is_empty())
        };
        if backend != old.backend || !dim_ok {
            return Ok(None);
        }
        for (id, v, meta) in &upserts {
            // One item per write lock: searches interleave with a long patch.
            old.index
                .write()
                .upsert_shared(id, v.clone(), meta)
                .map_err(index_err)?;
        }
        for id in &removed {
            old.index.write().remove(id).map_err(index_err)?;
        }
        if let Some(lexical) = &old.lexical {
            // Every item still live is (re)indexed, with a vector or without.
            let docs: Vec<sommelier_lexical::Doc<'_>> = upserts
                .iter()
                .map(|(id, ..)| id.as_str())
                .chain(removed.iter().copied())
                .filter_map(|id| items.get(id))
                .map(|it| lexical_doc(it))
                .collect();
            let gone: Vec<&str> = removed
                .iter()
                .copied()
                .filter(|id| !items.contains_key(*id))
                .collect();
            lexical
                .update(&docs, &gone)
                .map_err(|e| EngineError::Model(e.to_string()))?;
        }
        let newest = patch_newest(&old.newest, &unique, &items);
        tracing::info!(
            items = unique.len(),
            ms = started.elapsed().as_millis() as u64,
            "catalog snapshot patched in place"
        );
        Ok(Some(Arc::new(CatalogSnapshot {
            generation,
            position,
            hashes,
            index: old.index.clone(),
            backend,
            storage: old.storage,
            newest,
            items,
            lexical: old.lexical.clone(),
        })))
    }
}

/// The newest-items list after a change of `changed`: their old entries
/// out, the live and available ones back in at their creation time. When
/// removals leave it short of a catalog that has more, it is recomputed.
fn patch_newest(
    old: &[(String, Timestamp)],
    changed: &[&str],
    items: &super::IdMap<Arc<Item>>,
) -> Vec<(String, Timestamp)> {
    let touched: std::collections::HashSet<&str> = changed.iter().copied().collect();
    let mut newest: Vec<(String, Timestamp)> = old
        .iter()
        .filter(|(id, _)| !touched.contains(id.as_str()))
        .cloned()
        .collect();
    for id in changed {
        if let Some(it) = items.get(*id).filter(|it| it.is_available()) {
            newest.push((id.to_string(), it.created_at));
        }
    }
    let available = || items.values().filter(|it| it.is_available()).count();
    if newest.len() < NEWEST_KEPT && old.len() >= NEWEST_KEPT && available() > newest.len() {
        newest = items
            .values()
            .filter(|it| it.is_available())
            .map(|it| (it.id.as_str().to_string(), it.created_at))
            .collect();
    }
    newest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    newest.truncate(NEWEST_KEPT);
    newest
}
