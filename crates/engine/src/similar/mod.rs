//! Vector search over the stored item embeddings: similar items, and search by
//! a query vector. The catalog snapshot (vector index, BM25 index, item rows)
//! is built from the store on first use; a change of a few items afterwards
//! is applied to it in place ([`Engine::catalog_changed_for`]), a large one
//! rebuilds it.

mod patch;
mod saved;

use crate::{Engine, EngineError, GraphStorage, Result};
use parking_lot::{Mutex, RwLock};
use sommelier_embed::Embedder;
use sommelier_index::{
    ExactIndex, Filter, Hit, HnswIndex, HnswParams, ItemMeta, Quantization, VectorIndexRead,
    VectorIndexWrite,
};
use sommelier_store::{CatalogRead, VectorRead};
use sommelier_types::{Item, ItemId, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// `vectors.quantization = auto` keeps an `i8` graph whose recall@10 against
/// exact search, sampled on its own vectors, reaches this, and builds `f16`
/// otherwise (docs/benchmarks.md). With the scale fitted to the catalog the
/// check reads 0.98 on MiniLM vectors and 0.94 on the hardest synthetic set
/// (1M vectors packed in tight clusters), where the `i8` graph still finds
/// more than `f16` (recall@10 0.975 against 0.954 at ef=64); below 0.9 (the
/// tests' packed vectors: 0.78) `f16` finds more.
const I8_MIN_RECALL: f64 = 0.90;

/// Vectors the recall check queries with (an exact scan of the catalog each:
/// about 3 s per million vectors on 2 threads).
const RECALL_SAMPLES: usize = 64;

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
    let m = item_meta_ref(item);
    ItemMeta {
        kind: m.kind.to_string(),
        categories: m.categories.to_vec(),
        available: m.available,
        price: m.price,
        year: m.year,
    }
}

/// [`item_meta`], borrowed from the item: for checking a filter per candidate.
pub fn item_meta_ref(item: &Item) -> sommelier_index::MetaRef<'_> {
    use chrono::Datelike;
    sommelier_index::MetaRef {
        kind: item.kind.as_str(),
        categories: &item.categories,
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

/// Catalog snapshot tables by item id. foldhash: each request looks up every
/// history item and every candidate it keeps, and SipHash over the id showed
/// in profiles at 1M items; inline keys ([`sommelier_types::IdKey`]), so a
/// lookup does not follow a pointer to compare the id.
pub(crate) type IdMap<V> = foldhash::HashMap<sommelier_types::IdKey, V>;

/// A built index and the vectors it holds (for looking up an item's own vector).
pub(crate) struct Built {
    pub(crate) index: SharedIndex,
    /// Which index was built: `exact` (below `vectors.exact_below`) or `hnsw`.
    pub(crate) backend: &'static str,
    /// How an HNSW graph stores its vectors (`i8`, `f16`, `f32`).
    pub(crate) storage: Option<&'static str>,
    pub(crate) vectors: IdMap<Arc<[f32]>>,
    /// The newest live items (id, created at), newest first: the fresh source.
    pub(crate) newest: Vec<(String, Timestamp)>,
    /// Every live item, so the request path reads no rows from SQLite.
    pub(crate) items: IdMap<Arc<Item>>,
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
pub(super) const NEWEST_KEPT: usize = 2_000;

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

    /// Reads the catalog and its vectors and builds the indexes (seconds on
    /// a large catalog; called with no lock held on the current snapshot).
    fn build_snapshot(&self) -> Result<Arc<Built>> {
        let started = Instant::now();
        let cfg = &self.config().vectors;
        let mut vectors: IdMap<Arc<[f32]>> = IdMap::default();
        // Content hashes come with the same scan: a saved graph is checked
        // against them, a new one is saved with them.
        let mut hashes: HashMap<String, String> = HashMap::new();
        self.store().scan_vectors(&cfg.model, &mut |id, hash, v| {
            vectors.insert(sommelier_types::IdKey::new(id), v.into());
            hashes.insert(id.to_string(), hash.to_string());
        })?;
        let mut live = Vec::new();
        let mut newest = Vec::new();
        let mut items = IdMap::default();
        self.store().scan_items(&mut |item| {
            if item.is_available() {
                newest.push((item.id.as_str().to_string(), item.created_at));
            }
            if vectors.contains_key(item.id.as_str()) {
                live.push((item.id.as_str().to_string(), item_meta(&item)));
            }
            items.insert(item.id.as_str().into(), Arc::new(item));
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
        let mut storage = None;
        let index: Box<dyn AnyIndex> = if backend == "exact" {
            let mut ix = ExactIndex::new(dim);
            for (id, meta) in &live {
                ix.upsert(id, &vectors[id.as_str()], meta)
                    .map_err(index_err)?;
            }
            Box::new(ix)
        } else {
            let params = HnswParams {
                expansion_search: cfg.ef_search,
                quantization: match cfg.quantization {
                    GraphStorage::Auto | GraphStorage::I8 => Quantization::I8,
                    GraphStorage::F16 => Quantization::F16,
                    GraphStorage::F32 => Quantization::F32,
                },
                ..HnswParams::default()
            };
            match self.load_saved_index(dim, &live, &vectors, &hashes, params) {
                Some(ix) => {
                    storage = Some(ix.quantization().name());
                    Box::new(ix)
                }
                None => {
                    let batch: Vec<(&str, &[f32], &ItemMeta)> = live
                        .iter()
                        .map(|(id, m)| (id.as_str(), &*vectors[id.as_str()], m))
                        .collect();
                    let mut ix = HnswIndex::new(dim, params).map_err(index_err)?;
                    ix.upsert_many(&batch).map_err(index_err)?;
                    let checking = Instant::now();
                    if cfg.quantization == GraphStorage::Auto
                        && let Some(recall) =
                            ix.sampled_recall(RECALL_SAMPLES, 10).map_err(index_err)?
                    {
                        let check_ms = checking.elapsed().as_millis() as u64;
                        if recall < I8_MIN_RECALL {
                            tracing::warn!(
                                recall,
                                check_ms,
                                "i8 graph storage loses neighbours on these vectors; building the graph in f16"
                            );
                            ix = HnswIndex::new(
                                dim,
                                HnswParams {
                                    quantization: Quantization::F16,
                                    ..params
                                },
                            )
                            .map_err(index_err)?;
                            ix.upsert_many(&batch).map_err(index_err)?;
                        } else {
                            tracing::info!(recall, check_ms, "i8 graph storage kept");
                        }
                    }
                    saved_hashes = Some(hashes);
                    storage = Some(ix.quantization().name());
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
        let lexical =
            sommelier_lexical::LexicalIndex::build(sorted.iter().map(|it| lexical_doc(it)));
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
            storage,
            vectors,
            newest,
            items,
            lexical,
            chat_catalog: std::sync::OnceLock::new(),
            facets: std::sync::OnceLock::new(),
        });
        Ok(built)
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

pub(super) fn index_err(e: sommelier_index::IndexError) -> EngineError {
    EngineError::Index(e)
}

/// What BM25 reads of an item: its title, and as body its categories, tags
/// and description.
pub(super) fn lexical_doc(it: &Item) -> sommelier_lexical::Doc<'_> {
    let mut body: Vec<&str> = it.categories.iter().map(String::as_str).collect();
    body.extend(it.tags.iter().map(String::as_str));
    body.extend(it.description.as_deref());
    sommelier_lexical::Doc {
        id: it.id.as_str(),
        title: &it.title,
        body,
    }
}

#[cfg(test)]
mod tests;
