//! Vector search over the stored item embeddings: similar items, and search by
//! a query vector. The catalog snapshot (vector index, BM25 index, item rows)
//! is built from the store on first use; a change of a few items afterwards
//! is applied to it in place ([`Engine::catalog_changed_for`]), a large one
//! rebuilds it.

use crate::{Engine, EngineError, Result};
use parking_lot::{Mutex, RwLock};
use sommelier_embed::Embedder;
use sommelier_index::{
    ExactIndex, Filter, Hit, HnswIndex, HnswParams, ItemMeta, VectorIndexRead, VectorIndexWrite,
};
use sommelier_store::{CatalogRead, VectorRead};
use sommelier_types::{Item, ItemId, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// `GET /v1/items/{id}/similar`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimilarView {
    /// The item asked about.
    pub item: String,
    /// Embedding model whose vectors were compared.
    pub model: String,
    /// Closest items first.
    pub items: Vec<SimilarItem>,
}

/// One similar item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimilarItem {
    /// Item id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Cosine similarity.
    pub score: f32,
}

/// The filter fields of an item.
pub fn item_meta(item: &Item) -> ItemMeta {
    use chrono::Datelike;
    ItemMeta {
        kind: item.kind.as_str().to_string(),
        categories: item.categories.clone(),
        available: item.is_available(),
        price: item.price.as_ref().map(|p| p.amount),
        year: item.release_date.map(|d| d.year()),
    }
}

/// A vector index that can be searched and changed.
pub(crate) trait AnyIndex: VectorIndexRead + VectorIndexWrite + Send + Sync {}
impl<T: VectorIndexRead + VectorIndexWrite + Send + Sync> AnyIndex for T {}

/// The vector index of a snapshot, shared with the snapshots patched from it:
/// searches take the read lock, a patch takes the write lock per item.
pub(crate) type SharedIndex = Arc<RwLock<Box<dyn AnyIndex>>>;

/// A built index and the vectors it holds (for looking up an item's own vector).
pub(crate) struct Built {
    pub(crate) index: SharedIndex,
    /// Which index was built: `exact` (below `vectors.exact_below`) or `hnsw`.
    pub(crate) backend: &'static str,
    pub(crate) vectors: HashMap<String, Arc<[f32]>>,
    /// The newest live items (id, created at), newest first: the fresh source.
    pub(crate) newest: Vec<(String, Timestamp)>,
    /// Every live item, so the request path reads no rows from SQLite.
    pub(crate) items: HashMap<String, Arc<Item>>,
    /// BM25 over the live items' text (`None` if it could not be built),
    /// shared with the snapshots patched from this one.
    pub(crate) lexical: Option<Arc<sommelier_lexical::LexicalIndex>>,
    /// What chat reads of the whole catalog (category vocabulary, kinds),
    /// computed on the first turn of this snapshot.
    pub(crate) chat_catalog: std::sync::OnceLock<crate::chat::ChatCatalog>,
    /// Category counts and value ranges for browsing, computed on first use.
    pub(crate) facets: std::sync::OnceLock<crate::browse::Facets>,
}

impl Built {
    /// The `k` nearest vectors passing `filter`.
    pub(crate) fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.index
            .read()
            .search(query, k, filter)
            .map_err(index_err)
    }

    /// Vectors in the index.
    pub(crate) fn indexed(&self) -> usize {
        self.index.read().len()
    }
}

/// Newest items kept for the fresh source.
const NEWEST_KEPT: usize = 2_000;

/// Most items a change may touch to be applied to the snapshot in place; a
/// larger one (an import) rebuilds it.
const PATCH_MAX_ITEMS: usize = 10_000;

/// The catalog snapshot (with the catalog generation it was built from) and
/// the embedder for queries.
///
/// A catalog change bumps the generation; the snapshot is rebuilt by the next
/// caller that finds it stale, one build at a time, *without* holding the
/// snapshot's lock: while it builds, every other reader keeps answering from
/// the previous snapshot instead of waiting.
#[derive(Default)]
pub(crate) struct VectorState {
    built: RwLock<Option<(u64, Arc<Built>)>>,
    generation: AtomicU64,
    building: Mutex<()>,
    /// Held while a built graph is written to disk.
    saving: Arc<Mutex<()>>,
    embedder: RwLock<Option<Arc<dyn Embedder>>>,
}

/// Content hashes of the vectors a saved graph was built from.
const HASHES_FILE: &str = "hashes.json";

impl VectorState {
    /// The catalog or its vectors changed: the snapshot is stale from now on.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Engine {
    /// The current snapshot if one is built, fresh or stale; never builds.
    pub(crate) fn built_snapshot(&self) -> Option<Arc<Built>> {
        self.vectors.built.read().as_ref().map(|(_, b)| b.clone())
    }

    /// The catalog snapshot. Fresh when no change happened since it was built;
    /// otherwise this call rebuilds it, unless another call is already doing
    /// so, in which case the previous snapshot answers (no reader waits for a
    /// rebuild, only for the very first build).
    pub(crate) fn vector_index(&self) -> Result<Arc<Built>> {
        let wanted = self.vectors.generation.load(Ordering::SeqCst);
        let stale = match self.vectors.built.read().as_ref() {
            Some((g, b)) if *g == wanted => return Ok(b.clone()),
            Some((_, b)) => Some(b.clone()),
            None => None,
        };
        let _building = match (stale, self.vectors.building.try_lock()) {
            (_, Some(guard)) => guard,
            (Some(previous), None) => return Ok(previous),
            (None, None) => self.vectors.building.lock(),
        };
        // Another caller may have finished a build while this one waited.
        if let Some((g, b)) = self.vectors.built.read().as_ref()
            && *g == self.vectors.generation.load(Ordering::SeqCst)
        {
            return Ok(b.clone());
        }
        self.rebuild_snapshot()
    }

    /// Builds the snapshot of the current catalog generation and puts it in
    /// place. The caller holds `vectors.building`.
    fn rebuild_snapshot(&self) -> Result<Arc<Built>> {
        let wanted = self.vectors.generation.load(Ordering::SeqCst);
        let built = self.build_snapshot()?;
        *self.vectors.built.write() = Some((wanted, built.clone()));
        Ok(built)
    }

    /// A write changed the catalog or its vectors (already committed): marks
    /// the snapshot stale and, when one is in use, rebuilds it before
    /// returning, so the writer reads its own write. The rebuild lock is taken
    /// first, so readers meanwhile answer from the previous snapshot instead
    /// of starting a rebuild of their own.
    pub(crate) fn catalog_changed(&self) -> Result<()> {
        let _building = self.vectors.building.lock();
        self.vectors.invalidate();
        if self.vectors.built.read().is_some() {
            self.rebuild_snapshot()?;
        }
        Ok(())
    }

    /// [`Engine::catalog_changed`] for a change of the items `ids` (rows or
    /// vectors, already committed): when the snapshot in use is current and the
    /// change is small, it is applied in place — the vector and BM25 indexes
    /// updated item by item, the item maps copied with the change — so the
    /// cost follows the change, not the catalog. Otherwise a full rebuild.
    pub(crate) fn catalog_changed_for(&self, ids: &[&str]) -> Result<()> {
        let _building = self.vectors.building.lock();
        let before = self.vectors.generation.load(Ordering::SeqCst);
        self.vectors.invalidate();
        let current = self.vectors.built.read().clone();
        let old = match current {
            None => return Ok(()),
            Some((g, old)) if g == before => old,
            Some(_) => return self.rebuild_snapshot().map(drop),
        };
        let wanted = self.vectors.generation.load(Ordering::SeqCst);
        match self.patch_snapshot(&old, ids) {
            Ok(Some(new)) => {
                *self.vectors.built.write() = Some((wanted, new));
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
    fn patch_snapshot(&self, old: &Built, ids: &[&str]) -> Result<Option<Arc<Built>>> {
        let started = Instant::now();
        if ids.len() > PATCH_MAX_ITEMS || ids.len() * 10 > old.items.len().max(10) {
            return Ok(None);
        }
        let model = &self.config().vectors.model;
        let mut items = old.items.clone();
        let mut vectors = old.vectors.clone();
        let mut upserts: Vec<(String, Arc<[f32]>, ItemMeta)> = Vec::new();
        let mut removed: Vec<&str> = Vec::new();
        let mut unique: Vec<&str> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        for &id in &unique {
            let live = match ItemId::new(id) {
                Ok(iid) => self.store().item(&iid)?.filter(|r| r.deleted_at.is_none()),
                Err(_) => None,
            };
            let vector = match &live {
                Some(_) => self.store().vector(id, model)?,
                None => None,
            };
            match (live, vector) {
                (Some(r), Some(v)) => {
                    let v: Arc<[f32]> = v.into();
                    upserts.push((id.to_string(), v.clone(), item_meta(&r.item)));
                    vectors.insert(id.to_string(), v);
                    items.insert(id.to_string(), Arc::new(r.item));
                }
                (Some(r), None) => {
                    removed.push(id);
                    vectors.remove(id);
                    items.insert(id.to_string(), Arc::new(r.item));
                }
                (None, _) => {
                    removed.push(id);
                    vectors.remove(id);
                    items.remove(id);
                }
            }
        }
        let backend = if vectors.len() < self.config().vectors.exact_below {
            "exact"
        } else {
            "hnsw"
        };
        let dim_ok = match vectors.values().next() {
            Some(v) => upserts.iter().all(|(_, u, _)| u.len() == v.len()),
            None => true,
        };
        if backend != old.backend || !dim_ok {
            return Ok(None);
        }
        for (id, v, meta) in &upserts {
            // One item per write lock: searches interleave with a long patch.
            old.index.write().upsert(id, v, meta).map_err(index_err)?;
        }
        for id in &removed {
            old.index.write().remove(id).map_err(index_err)?;
        }
        if let Some(lexical) = &old.lexical {
            let changed: Vec<&Arc<Item>> = upserts
                .iter()
                .filter_map(|(id, ..)| items.get(id))
                .chain(removed.iter().filter_map(|id| items.get(*id)))
                .collect();
            let bodies: Vec<Vec<&str>> = changed.iter().map(|it| lexical_body(it)).collect();
            let docs: Vec<sommelier_lexical::Doc<'_>> = changed
                .iter()
                .zip(&bodies)
                .map(|(it, body)| sommelier_lexical::Doc {
                    id: it.id.as_str(),
                    title: &it.title,
                    body,
                })
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
        Ok(Some(Arc::new(Built {
            index: old.index.clone(),
            backend,
            vectors,
            newest,
            items,
            lexical: old.lexical.clone(),
            chat_catalog: std::sync::OnceLock::new(),
            facets: std::sync::OnceLock::new(),
        })))
    }

    /// Reads the catalog and its vectors and builds the indexes (seconds on
    /// a large catalog; called with no lock held on the current snapshot).
    fn build_snapshot(&self) -> Result<Arc<Built>> {
        let started = Instant::now();
        let cfg = &self.config().vectors;
        let mut vectors: HashMap<String, Arc<[f32]>> = HashMap::new();
        self.store().scan_vectors(&cfg.model, &mut |id, v| {
            vectors.insert(id.to_string(), v.into());
        })?;
        let mut live = Vec::new();
        let mut newest = Vec::new();
        let mut items = HashMap::new();
        self.store().scan_items(&mut |item| {
            if item.is_available() {
                newest.push((item.id.as_str().to_string(), item.created_at));
            }
            if vectors.contains_key(item.id.as_str()) {
                live.push((item.id.as_str().to_string(), item_meta(&item)));
            }
            items.insert(item.id.as_str().to_string(), Arc::new(item));
        })?;
        newest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        newest.truncate(NEWEST_KEPT);
        let live_ids: std::collections::HashSet<&str> =
            live.iter().map(|(id, _)| id.as_str()).collect();
        vectors.retain(|id, _| live_ids.contains(id.as_str()));
        let dim = vectors.values().next().map_or(0, |v| v.len());
        // Set when a graph was built from scratch: it is saved for the next start.
        let mut saved_hashes: Option<HashMap<String, String>> = None;
        let backend = if live.len() < cfg.exact_below {
            "exact"
        } else {
            "hnsw"
        };
        let index: Box<dyn AnyIndex> = if backend == "exact" {
            let mut ix = ExactIndex::new(dim);
            for (id, meta) in &live {
                ix.upsert(id, &vectors[id], meta).map_err(index_err)?;
            }
            Box::new(ix)
        } else {
            let params = HnswParams {
                expansion_search: cfg.ef_search,
                ..HnswParams::default()
            };
            let hashes = self.store().vector_hashes(&cfg.model)?;
            match self.load_saved_index(dim, &live, &vectors, &hashes, params) {
                Some(ix) => Box::new(ix),
                None => {
                    let mut ix = HnswIndex::new(dim, params).map_err(index_err)?;
                    let batch: Vec<(&str, &[f32], &ItemMeta)> = live
                        .iter()
                        .map(|(id, m)| (id.as_str(), &*vectors[id], m))
                        .collect();
                    ix.upsert_many(&batch).map_err(index_err)?;
                    saved_hashes = Some(hashes);
                    Box::new(ix)
                }
            }
        };
        tracing::info!(
            vectors = live.len(),
            model = %cfg.model,
            ms = started.elapsed().as_millis() as u64,
            "vector index built"
        );
        let t = Instant::now();
        let mut sorted: Vec<&Arc<Item>> = items.values().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        let bodies: Vec<Vec<&str>> = sorted.iter().map(|it| lexical_body(it)).collect();
        let lexical =
            sommelier_lexical::LexicalIndex::build(sorted.iter().zip(&bodies).map(|(it, body)| {
                sommelier_lexical::Doc {
                    id: it.id.as_str(),
                    title: &it.title,
                    body,
                }
            }));
        let lexical = match lexical {
            Ok(ix) => {
                tracing::info!(
                    items = ix.len(),
                    ms = t.elapsed().as_millis() as u64,
                    "lexical index built"
                );
                Some(Arc::new(ix))
            }
            Err(e) => {
                tracing::warn!(error = %e, "lexical index not built; the lexical source is off");
                None
            }
        };
        let index: SharedIndex = Arc::new(RwLock::new(index));
        if let Some(hashes) = saved_hashes {
            self.save_index_later(index.clone(), hashes);
        }
        let built = Arc::new(Built {
            index,
            backend,
            vectors,
            newest,
            items,
            lexical,
            chat_catalog: std::sync::OnceLock::new(),
            facets: std::sync::OnceLock::new(),
        });
        Ok(built)
    }

    /// Where the HNSW graph of `vectors.model` is saved between starts.
    fn saved_index_dir(&self) -> std::path::PathBuf {
        self.config()
            .data_dir
            .join("index")
            .join(&self.config().vectors.model)
    }

    /// The graph an earlier build saved, brought up to date with the store:
    /// vectors whose content hash changed or that are new are inserted,
    /// those of items no longer live removed, every item's filter fields
    /// refreshed. `None` (and a full build) when nothing usable is saved or
    /// more than a tenth of the catalog differs.
    fn load_saved_index(
        &self,
        dim: usize,
        live: &[(String, ItemMeta)],
        vectors: &HashMap<String, Arc<[f32]>>,
        hashes: &HashMap<String, String>,
        params: HnswParams,
    ) -> Option<HnswIndex> {
        let started = Instant::now();
        let dir = self.saved_index_dir();
        let saved: HashMap<String, String> =
            serde_json::from_slice(&std::fs::read(dir.join(HASHES_FILE)).ok()?).ok()?;
        let mut ix = match HnswIndex::load(&dir, params) {
            Ok(ix) if ix.dim() == dim => ix,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "saved vector index not loaded; building it");
                return None;
            }
        };
        let wanted: std::collections::HashSet<&str> =
            live.iter().map(|(id, _)| id.as_str()).collect();
        let gone: Vec<String> = ix
            .ids()
            .filter(|id| !wanted.contains(id))
            .map(str::to_string)
            .collect();
        let mut changed: Vec<(&str, &[f32], &ItemMeta)> = Vec::new();
        for (id, meta) in live {
            let same = saved.get(id).is_some_and(|h| hashes.get(id) == Some(h));
            if !(same && ix.set_meta(id, meta)) {
                changed.push((id.as_str(), &*vectors[id], meta));
            }
        }
        if (changed.len() + gone.len()) * 10 > live.len() {
            tracing::info!(
                changed = changed.len(),
                removed = gone.len(),
                "saved vector index too far behind; building it"
            );
            return None;
        }
        for id in &gone {
            ix.remove(id).ok()?;
        }
        ix.upsert_many(&changed).ok()?;
        tracing::info!(
            vectors = live.len(),
            changed = changed.len(),
            removed = gone.len(),
            ms = started.elapsed().as_millis() as u64,
            "vector index loaded from its last save and brought up to date"
        );
        Some(ix)
    }

    /// Saves a freshly built graph on a background thread (1.7 GB at 1M
    /// vectors: seconds, against minutes to build), with the content hash of
    /// every vector it was built from, written last: a save without it is
    /// incomplete and ignored.
    fn save_index_later(&self, index: SharedIndex, hashes: HashMap<String, String>) {
        let dir = self.saved_index_dir();
        let saving = self.vectors.saving.clone();
        std::thread::spawn(move || {
            let Some(_one) = saving.try_lock() else {
                return; // another save is under way; the next build saves again
            };
            let started = Instant::now();
            let hashes_path = dir.join(HASHES_FILE);
            let result = (|| -> std::result::Result<(), String> {
                match std::fs::remove_file(&hashes_path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.to_string()),
                }
                index.read().save(&dir).map_err(|e| e.to_string())?;
                let tmp = dir.join("hashes.json.tmp");
                std::fs::write(
                    &tmp,
                    serde_json::to_vec(&hashes).map_err(|e| e.to_string())?,
                )
                .map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, &hashes_path).map_err(|e| e.to_string())
            })();
            match result {
                Ok(()) => tracing::info!(
                    dir = %dir.display(),
                    ms = started.elapsed().as_millis() as u64,
                    "vector index saved"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, dir = %dir.display(), "vector index not saved")
                }
            }
        });
    }

    /// The `k` items whose embeddings are closest to the item's own, passing
    /// `filter` (the item itself excluded). `None` when the item has no vector.
    pub fn similar_items(
        &self,
        id: &ItemId,
        k: usize,
        filter: &Filter,
    ) -> Result<Option<Vec<Hit>>> {
        let built = self.vector_index()?;
        let Some(v) = built.vectors.get(id.as_str()) else {
            return Ok(None);
        };
        let hits = built.search(v, k + 1, filter)?;
        Ok(Some(
            hits.into_iter()
                .filter(|h| h.id != id.as_str())
                .take(k)
                .collect(),
        ))
    }

    /// [`Engine::similar_items`] with each hit's title, for the API.
    pub fn similar_view(
        &self,
        id: &ItemId,
        k: usize,
        filter: &Filter,
    ) -> Result<Option<SimilarView>> {
        let Some(hits) = self.similar_items(id, k, filter)? else {
            return Ok(None);
        };
        let items = self.titled(hits);
        Ok(Some(SimilarView {
            item: id.as_str().to_string(),
            model: self.config().vectors.model.clone(),
            items,
        }))
    }

    /// Sets the embedder that turns query text into vectors; its model id must be
    /// `vectors.model`, the model the stored item vectors come from.
    pub fn set_query_embedder(&self, embedder: Arc<dyn Embedder>) -> Result<()> {
        let want = &self.config().vectors.model;
        if embedder.model_id() != want {
            return Err(EngineError::Usage(format!(
                "query embedder is `{}` but item vectors are searched for `{want}` (vectors.model)",
                embedder.model_id()
            )));
        }
        *self.vectors.embedder.write() = Some(embedder);
        Ok(())
    }

    /// The embedder for query text, when one was set.
    pub(crate) fn query_embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.vectors.embedder.read().clone()
    }

    /// Semantic search: the `k` items closest to the embedding of `text`.
    pub fn search_text(&self, text: &str, k: usize, filter: &Filter) -> Result<Vec<SimilarItem>> {
        let embedder = self.query_embedder().ok_or_else(|| {
            EngineError::Usage("semantic search needs the embedding model (sommelier models fetch all-minilm-l6-v2)".into())
        })?;
        let query = embedder.embed(&[text])?.remove(0);
        let hits = self.search_vector(&query, k, filter)?;
        Ok(self.titled(hits))
    }

    pub(crate) fn titled(&self, hits: Vec<Hit>) -> Vec<SimilarItem> {
        hits.into_iter()
            .map(|h| {
                let title = ItemId::new(h.id.as_str())
                    .ok()
                    .and_then(|i| self.store().item(&i).ok().flatten())
                    .map(|r| r.item.title)
                    .unwrap_or_default();
                SimilarItem {
                    id: h.id,
                    title,
                    score: h.score,
                }
            })
            .collect()
    }

    /// The `k` items closest to a query vector, passing `filter`.
    pub fn search_vector(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        let built = self.vector_index()?;
        if built.indexed() == 0 {
            return Ok(Vec::new());
        }
        built.search(query, k, filter)
    }
}

fn index_err(e: sommelier_index::IndexError) -> EngineError {
    EngineError::Index(e)
}

/// What BM25 reads of an item besides its title.
fn lexical_body(it: &Item) -> Vec<&str> {
    let mut b: Vec<&str> = it.categories.iter().map(String::as_str).collect();
    b.extend(it.tags.iter().map(String::as_str));
    b.extend(it.description.as_deref());
    b
}

/// The newest-items list after a change of `changed`: their old entries
/// out, the live and available ones back in at their creation time. When
/// removals leave it short of a catalog that has more, it is recomputed.
fn patch_newest(
    old: &[(String, Timestamp)],
    changed: &[&str],
    items: &HashMap<String, Arc<Item>>,
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

#[cfg(test)]
mod tests {
    use crate::{Config, Engine, RecordKind};
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn readers_answer_from_the_previous_snapshot_while_one_rebuilds() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        })
        .unwrap();
        engine
            .ingest_batch(
                RecordKind::Items,
                vec![json!({"id": "a", "title": "A"})],
                false,
            )
            .unwrap();
        let first = engine.vector_index().unwrap();
        assert!(
            Arc::ptr_eq(&first, &engine.vector_index().unwrap()),
            "fresh: reused"
        );

        // A catalog change while a rebuild is under way elsewhere: this reader
        // does not wait, it gets the previous snapshot.
        let rebuilding = engine.vectors.building.lock();
        engine.vectors.invalidate();
        let during = engine.vector_index().unwrap();
        assert!(Arc::ptr_eq(&first, &during));
        drop(rebuilding);

        // A write refreshes the snapshot before it returns: the writer reads
        // its own item.
        engine
            .ingest_batch(
                RecordKind::Items,
                vec![json!({"id": "b", "title": "B"})],
                false,
            )
            .unwrap();
        let after = engine.vector_index().unwrap();
        assert!(!Arc::ptr_eq(&first, &after));
        assert!(after.items.contains_key("b") && after.items.contains_key("a"));
    }

    /// Waits for the background save of the graph (its hashes file is written last).
    fn saved(dir: &std::path::Path) -> std::time::SystemTime {
        let hashes = dir.join("index/all-MiniLM-L6-v2/hashes.json");
        for _ in 0..200 {
            if let Ok(m) = std::fs::metadata(&hashes) {
                return m.modified().unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the graph was not saved");
    }

    #[test]
    fn the_graph_is_saved_and_the_next_start_loads_it_with_the_changes_applied() {
        use sommelier_index::Filter;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.vectors.exact_below = 10;
        let engine = Engine::open(config.clone()).unwrap();
        put(&engine, &(0..60).collect::<Vec<_>>());
        assert_eq!(engine.vector_index().unwrap().backend, "hnsw");
        let first_save = saved(dir.path());
        drop(engine);

        // While the server is down: a new item, a deletion, an item made
        // unavailable (its filter fields change, its vector does not).
        let engine = Engine::open(config.clone()).unwrap();
        put(&engine, &[60]);
        assert!(
            engine
                .delete_item(&sommelier_types::ItemId::new("i5").unwrap())
                .unwrap()
        );
        engine
            .ingest_batch(
                RecordKind::Items,
                vec![json!({"id": "i7", "title": "Item number7", "available": false})],
                false,
            )
            .unwrap();
        drop(engine);

        let engine = Engine::open(config.clone()).unwrap();
        let b = engine.vector_index().unwrap();
        assert_eq!(b.indexed(), 60);
        let open = Filter::default();
        let available = Filter {
            available_only: true,
            ..Filter::default()
        };
        assert_eq!(
            engine.search_vector(&unit(60), 1, &open).unwrap()[0].id,
            "i60"
        );
        let all = engine.search_vector(&unit(5), 60, &open).unwrap();
        assert!(all.iter().all(|h| h.id != "i5"), "deleted");
        assert!(all.iter().any(|h| h.id == "i7"));
        let avail = engine.search_vector(&unit(7), 60, &available).unwrap();
        assert!(avail.iter().all(|h| h.id != "i7"), "unavailable now");
        // Loaded, not rebuilt: a rebuild would have saved again.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(saved(dir.path()), first_save);
        drop(engine);

        // A change of more than a tenth of the catalog: built again and saved.
        let engine = Engine::open(config.clone()).unwrap();
        let model = engine.config().vectors.model.clone();
        engine
            .store()
            .write(|w| {
                use sommelier_store::VectorWrite;
                for i in 10..30 {
                    w.put_vector(&format!("i{i}"), &model, "h2", &unit(i + 1))?;
                }
                Ok::<_, sommelier_store::StoreError>(())
            })
            .unwrap();
        drop(engine);
        let engine = Engine::open(config).unwrap();
        assert_eq!(engine.vector_index().unwrap().indexed(), 60);
        let mut second = saved(dir.path());
        for _ in 0..100 {
            if second != first_save {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            second = saved(dir.path());
        }
        assert_ne!(second, first_save, "rebuilt and saved again");
    }

    fn unit(i: usize) -> Vec<f32> {
        let mut v = [0.05f32; 8];
        v[i % 8] = 1.0;
        v[(i / 8) % 8] += 0.5;
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    /// Writes items with vectors through the public write path.
    fn put(engine: &Engine, ids: &[usize]) {
        use sommelier_store::VectorWrite;
        let model = engine.config().vectors.model.clone();
        engine
            .store()
            .write(|w| {
                for &i in ids {
                    w.put_vector(&format!("i{i}"), &model, "h", &unit(i))?;
                }
                Ok::<_, sommelier_store::StoreError>(())
            })
            .unwrap();
        let items = ids
            .iter()
            .map(|i| json!({"id": format!("i{i}"), "title": format!("Item number{i}")}))
            .collect();
        engine
            .ingest_batch(RecordKind::Items, items, false)
            .unwrap();
    }

    #[test]
    fn a_small_change_is_applied_in_place_and_a_large_one_rebuilds() {
        // Exact search and the HNSW graph alike.
        for exact_below in [5_000, 10] {
            small_and_large_changes(exact_below);
        }
    }

    fn small_and_large_changes(exact_below: usize) {
        use sommelier_index::Filter;
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.vectors.exact_below = exact_below;
        let engine = Engine::open(config).unwrap();
        put(&engine, &(0..40).collect::<Vec<_>>());
        let first = engine.vector_index().unwrap();
        assert_eq!(first.indexed(), 40);
        assert_eq!(
            first.backend,
            if exact_below > 40 { "exact" } else { "hnsw" }
        );

        // One new item: the same index object, updated; the new item is found
        // by vector and by its words, and the old snapshot is left as it was.
        put(&engine, &[40]);
        let patched = engine.vector_index().unwrap();
        assert!(!Arc::ptr_eq(&first, &patched));
        assert!(
            Arc::ptr_eq(&first.index, &patched.index),
            "patched in place"
        );
        assert_eq!(patched.indexed(), 41);
        let hits = engine
            .search_vector(&unit(40), 1, &Filter::default())
            .unwrap();
        assert_eq!(hits[0].id, "i40");
        let lexical = patched.lexical.as_ref().unwrap();
        assert_eq!(lexical.search("number40", 5).unwrap()[0].0, "i40");
        assert!(patched.items.contains_key("i40") && !first.items.contains_key("i40"));
        assert!(patched.newest.iter().any(|(id, _)| id == "i40"));

        // A deletion leaves every part of the snapshot.
        let id = sommelier_types::ItemId::new("i3").unwrap();
        assert!(engine.delete_item(&id).unwrap());
        let after = engine.vector_index().unwrap();
        assert!(Arc::ptr_eq(&first.index, &after.index));
        assert_eq!(after.indexed(), 40);
        assert!(!after.items.contains_key("i3") && !after.vectors.contains_key("i3"));
        assert!(
            after
                .lexical
                .as_ref()
                .unwrap()
                .search("number3", 5)
                .unwrap()
                .is_empty()
        );
        let near = engine
            .search_vector(&unit(3), 40, &Filter::default())
            .unwrap();
        assert!(near.iter().all(|h| h.id != "i3"));

        // A change of more than a tenth of the catalog rebuilds everything.
        put(&engine, &(100..110).collect::<Vec<_>>());
        let rebuilt = engine.vector_index().unwrap();
        assert!(!Arc::ptr_eq(&first.index, &rebuilt.index), "rebuilt");
        assert_eq!(rebuilt.indexed(), 50);
    }
}
