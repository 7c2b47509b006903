//! A full build of the catalog snapshot: the store's vectors and live items
//! read once, the vector index (exact, or an HNSW graph loaded from a save or
//! built and checked), the BM25 index, the newest items.

use super::in_database::DatabaseIndex;
use super::saved::OpenedGraph;
use super::{AnyIndex, CatalogSnapshot, IdMap, NEWEST_KEPT, PGVECTOR, SharedIndex, index_err};
use crate::{Engine, EngineError, GraphStorage, Result, VectorIndexKind};
use parking_lot::RwLock;
use sommelier_index::{
    ExactIndex, HnswIndex, HnswParams, ItemMeta, Quantization, VectorIndexWrite,
};
use sommelier_types::Item;
use std::sync::Arc;
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

/// What a snapshot is assembled from: the live items and the content hashes
/// of their vectors, read from the store or from the saved catalog, and the
/// vectors themselves where they were read.
pub(super) struct Parts {
    pub(super) generation: u64,
    /// The catalog log position the items and vectors reflect.
    pub(super) position: u64,
    pub(super) items: IdMap<Arc<Item>>,
    /// The vectors, by the ids `hashes` holds; `None` when they were not
    /// read (a saved catalog over a saved graph): the graph holds them, and
    /// those it lacks are read from the store.
    pub(super) vectors: Option<IdMap<Arc<[f32]>>>,
    /// The vectors' dimension (0 when there are none).
    pub(super) dim: usize,
    pub(super) hashes: IdMap<Arc<str>>,
    /// The BM25 index as saved with them; `None`: indexed from the items.
    pub(super) lexical: Option<sommelier_lexical::SavedIndex>,
    /// The saved graph, when it was read beside the parts; `None`: read
    /// (if there is one) when the snapshot is assembled.
    pub(super) graph: Option<OpenedGraph>,
}

impl Engine {
    /// Reads the catalog and its vectors from the store and builds the
    /// indexes (seconds on a large catalog; called with no lock held on the
    /// current snapshot).
    pub(super) fn build_snapshot(&self, generation: u64) -> Result<CatalogSnapshot> {
        let started = Instant::now();
        // The log position first: a change committed during the scans lies
        // after it, and the next patch reads it again.
        let position = self.store().catalog_position()?;
        if self.config().vectors.index == VectorIndexKind::Pgvector {
            return self.build_snapshot_over_database(generation, position, started);
        }
        let mut vectors: IdMap<Arc<[f32]>> = IdMap::default();
        // Content hashes come with the same scan: a saved graph is checked
        // against them, a new one is saved with them. They are gathered in
        // one buffer and allocated after the scan: allocated one by one
        // between the vectors, the few live bytes of each kept nearly every
        // page of the vectors (which go to the index and are freed here)
        // from being handed back (1.6 GB of RSS at 1M items).
        let mut text = String::new();
        let mut ends: Vec<usize> = Vec::new();
        self.store()
            .scan_vectors(&self.config().vectors.model, &mut |id, hash, v| {
                vectors.insert(sommelier_types::IdKey::new(id), v.into());
                text.push_str(id);
                ends.push(text.len());
                text.push_str(hash);
                ends.push(text.len());
            })?;
        let mut hashes: IdMap<Arc<str>> = IdMap::default();
        hashes.reserve(ends.len() / 2);
        let mut from = 0;
        for pair in ends.chunks_exact(2) {
            let id = &text[from..pair[0]];
            hashes.insert(
                sommelier_types::IdKey::new(id),
                text[pair[0]..pair[1]].into(),
            );
            from = pair[1];
        }
        drop((text, ends));
        let items = self.live_items()?;
        tracing::info!(
            items = items.len(),
            vectors = vectors.len(),
            ms = started.elapsed().as_millis() as u64,
            "catalog read from the store"
        );
        let dim = vectors.values().next().map_or(0, |v| v.len());
        self.assemble_snapshot(Parts {
            generation,
            position,
            items,
            vectors: Some(vectors),
            dim,
            hashes,
            lexical: None,
            graph: None,
        })
    }

    /// The live items the content policy lets in (an item it excludes is,
    /// for every surface, not in the catalog).
    fn live_items(&self) -> Result<IdMap<Arc<Item>>> {
        let mut items = IdMap::default();
        let policy = &self.config().policy;
        self.store().scan_items(&mut |item| {
            if !policy.excludes(&item) {
                items.insert(item.id.as_str().into(), Arc::new(item));
            }
        })?;
        Ok(items)
    }

    /// [`Engine::build_snapshot`] with `vectors.index = "pgvector"`: the
    /// vectors stay in the database; only which items have one (and the
    /// content hashes) is read.
    fn build_snapshot_over_database(
        &self,
        generation: u64,
        position: u64,
        started: Instant,
    ) -> Result<CatalogSnapshot> {
        let hashes: IdMap<Arc<str>> = self
            .store()
            .vector_hashes(&self.config().vectors.model)?
            .into_iter()
            .map(|(id, hash)| (sommelier_types::IdKey::new(&id), hash.into()))
            .collect();
        let items = self.live_items()?;
        tracing::info!(
            items = items.len(),
            vectors = hashes.len(),
            ms = started.elapsed().as_millis() as u64,
            "catalog read from the store (vectors searched in the database)"
        );
        self.assemble_snapshot(Parts {
            generation,
            position,
            items,
            vectors: None,
            dim: 0,
            hashes,
            lexical: None,
            graph: None,
        })
    }

    /// The snapshot of `parts`: the newest items, the vector index (exact,
    /// or an HNSW graph loaded from its save and brought up to date, or
    /// built and checked) and, on a second thread beside it, the BM25 index.
    pub(super) fn assemble_snapshot(&self, parts: Parts) -> Result<CatalogSnapshot> {
        let Parts {
            generation,
            position,
            items,
            mut vectors,
            dim,
            mut hashes,
            lexical: saved_lexical,
            graph,
        } = parts;
        // Side by side: both maps hold the same ids (as read), so each keeps
        // those of live items.
        let newest = std::thread::scope(|s| {
            s.spawn(|| hashes.retain(|id, _| items.contains_key(id.as_str())));
            if let Some(vectors) = &mut vectors {
                s.spawn(|| vectors.retain(|id, _| items.contains_key(id.as_str())));
            }
            newest_items(&items)
        });
        debug_assert!(vectors.as_ref().is_none_or(|v| v.len() == hashes.len()));
        let (built, lexical) = std::thread::scope(|s| {
            let lexical = s.spawn(|| lexical_index(&items, saved_lexical));
            // The vectors go to the index, which keeps the one copy.
            let built = self.vector_index(&items, vectors, dim, &hashes, graph);
            (
                built,
                lexical.join().expect("the lexical index does not panic"),
            )
        });
        let built = built?;
        let index: SharedIndex = Arc::new(RwLock::new(built.index));
        if built.save {
            self.save_index_later(index.clone(), hashes.clone());
        }
        Ok(CatalogSnapshot {
            generation,
            position,
            hashes,
            index,
            backend: built.backend,
            storage: built.storage,
            newest,
            items,
            lexical,
        })
    }

    /// The vector index over the items with vectors (those `hashes` holds):
    /// exact below `vectors.exact_below`, else the saved graph (`graph` when
    /// it was read already) brought up to date, or a new graph built and
    /// checked. `vectors` (read from the store when `None` and needed) are
    /// handed to the index: it is the one copy kept.
    fn vector_index(
        &self,
        items: &IdMap<Arc<Item>>,
        vectors: Option<IdMap<Arc<[f32]>>>,
        dim: usize,
        hashes: &IdMap<Arc<str>>,
        graph: Option<OpenedGraph>,
    ) -> Result<BuiltIndex> {
        let cfg = &self.config().vectors;
        let started = Instant::now();
        if cfg.index == VectorIndexKind::Pgvector {
            return self.database_index(hashes.len());
        }
        let exact = hashes.len() < cfg.exact_below;
        let mut built = BuiltIndex {
            index: Box::new(ExactIndex::new(dim)),
            backend: if exact { "exact" } else { "hnsw" },
            storage: None,
            save: false,
        };
        if exact {
            let vectors = self.vectors_or_read(vectors, hashes)?;
            let dim = vectors.values().next().map_or(dim, |v| v.len());
            let mut ix = ExactIndex::new(dim);
            for it in by_id(items, Some(&vectors)) {
                let id = it.id.as_str();
                ix.upsert_shared(id, vectors[id].clone(), &ItemMeta::of(it))
                    .map_err(index_err)?;
            }
            built.index = Box::new(ix);
        } else {
            let all: Vec<&Item> = items.values().map(|it| &**it).collect();
            let loaded = self.load_saved_index(dim, &all, vectors.as_ref(), hashes, graph);
            let ix = match loaded {
                Some((ix, older_layout)) => {
                    built.save = older_layout;
                    ix
                }
                None => {
                    drop(all);
                    built.save = true;
                    let vectors = self.vectors_or_read(vectors, hashes)?;
                    let dim = vectors.values().next().map_or(dim, |v| v.len());
                    self.build_graph(dim, &by_id(items, Some(&vectors)), &vectors)?
                }
            };
            built.storage = Some(ix.quantization().name());
            built.index = Box::new(ix);
        }
        tracing::info!(
            vectors = hashes.len(),
            model = %cfg.model,
            ms = started.elapsed().as_millis() as u64,
            "vector index built"
        );
        Ok(built)
    }

    /// The index inside the store's database, its HNSW index built first
    /// when it is not there yet (once for all replicas).
    fn database_index(&self, len: usize) -> Result<BuiltIndex> {
        let cfg = &self.config().vectors;
        let search = self.store().vector_search().ok_or_else(|| {
            EngineError::Config(crate::ConfigError::Invalid(format!(
                "vectors.index = \"pgvector\" needs the postgres store; this one is {}",
                self.store().backend()
            )))
        })?;
        let dim = search.vector_dim(&cfg.model)?.unwrap_or(0);
        if dim > 0 {
            let started = Instant::now();
            if search.ensure_vector_index(&cfg.model, dim)? {
                tracing::info!(
                    model = %cfg.model,
                    dim,
                    ms = started.elapsed().as_millis() as u64,
                    "pgvector HNSW index built"
                );
            }
        }
        Ok(BuiltIndex {
            index: Box::new(DatabaseIndex::new(
                self.store_arc(),
                &cfg.model,
                dim,
                len,
                cfg.ef_search,
                cfg.cache_vectors,
            )),
            backend: PGVECTOR,
            storage: None,
            save: false,
        })
    }

    /// `vectors`, or when they were not read, the store's vectors of the
    /// items `hashes` holds (a saved catalog whose graph could not be used).
    fn vectors_or_read(
        &self,
        vectors: Option<IdMap<Arc<[f32]>>>,
        hashes: &IdMap<Arc<str>>,
    ) -> Result<IdMap<Arc<[f32]>>> {
        if let Some(v) = vectors {
            return Ok(v);
        }
        let started = Instant::now();
        let mut read: IdMap<Arc<[f32]>> = IdMap::default();
        read.reserve(hashes.len());
        self.store()
            .scan_vectors(&self.config().vectors.model, &mut |id, _, v| {
                if hashes.contains_key(id) {
                    read.insert(sommelier_types::IdKey::new(id), v.into());
                }
            })?;
        tracing::info!(
            vectors = read.len(),
            ms = started.elapsed().as_millis() as u64,
            "vectors read from the store"
        );
        Ok(read)
    }

    /// A new graph over `live` (in id order), `i8` where its recall check
    /// passes with `vectors.quantization = auto`, else `f16`.
    fn build_graph(
        &self,
        dim: usize,
        live: &[&Item],
        vectors: &IdMap<Arc<[f32]>>,
    ) -> Result<HnswIndex> {
        let cfg = &self.config().vectors;
        let params = self.hnsw_params();
        let metas: Vec<ItemMeta> = live.iter().map(|it| ItemMeta::of(it)).collect();
        let batch = graph_batch(live, &metas, vectors);
        let mut ix = HnswIndex::new(dim, params).map_err(index_err)?;
        ix.upsert_many(&batch).map_err(index_err)?;
        let checking = Instant::now();
        if cfg.quantization == GraphStorage::Auto
            && let Some(recall) = ix.sampled_recall(RECALL_SAMPLES, 10).map_err(index_err)?
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
        Ok(ix)
    }

    /// The graph parameters `[vectors]` asks for.
    pub(super) fn hnsw_params(&self) -> HnswParams {
        let cfg = &self.config().vectors;
        HnswParams {
            expansion_search: cfg.ef_search,
            quantization: match cfg.quantization {
                GraphStorage::Auto | GraphStorage::I8 => Quantization::I8,
                GraphStorage::F16 => Quantization::F16,
                GraphStorage::F32 => Quantization::F32,
            },
            ..HnswParams::default()
        }
    }
}

/// `items` (with `metas`, their filter fields) as a graph's bulk insert takes
/// them. Shared: an `i8` graph keeps these very vectors for re-scoring
/// instead of a copy.
pub(super) fn graph_batch<'a>(
    items: &[&'a Item],
    metas: &'a [ItemMeta],
    vectors: &IdMap<Arc<[f32]>>,
) -> Vec<(&'a str, Arc<[f32]>, &'a ItemMeta)> {
    items
        .iter()
        .zip(metas)
        .map(|(it, m)| (it.id.as_str(), vectors[it.id.as_str()].clone(), m))
        .collect()
}

/// A snapshot's vector index as [`Engine::vector_index`] made it.
struct BuiltIndex {
    index: Box<dyn AnyIndex>,
    backend: &'static str,
    storage: Option<&'static str>,
    /// A graph built (or loaded from an older layout): saved for the next start.
    save: bool,
}

/// The items in id order, as the store scans them (only those with a vector
/// when `vectors` is given): a graph or BM25 index is built in the same order
/// whichever way the parts were read. Loading saved ones needs no order.
fn by_id<'a, V>(items: &'a IdMap<Arc<Item>>, vectors: Option<&IdMap<V>>) -> Vec<&'a Item> {
    let mut v: Vec<&Item> = items
        .values()
        .map(|it| &**it)
        .filter(|it| vectors.is_none_or(|v| v.contains_key(it.id.as_str())))
        .collect();
    v.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    v
}

/// BM25 over the items: loaded from its save when there is one, else
/// indexed; `None` (the lexical source off) when neither works.
fn lexical_index(
    items: &IdMap<Arc<Item>>,
    saved: Option<sommelier_lexical::SavedIndex>,
) -> Option<Arc<sommelier_lexical::LexicalIndex>> {
    let t = Instant::now();
    let lexical = match saved.map(sommelier_lexical::LexicalIndex::load) {
        Some(Ok(ix)) => Ok(ix),
        loaded => {
            if let Some(Err(e)) = loaded {
                tracing::warn!(error = %e, "saved lexical index not loaded; indexing the catalog");
            }
            sommelier_lexical::LexicalIndex::build(
                by_id::<()>(items, None).into_iter().map(lexical_doc),
            )
        }
    };
    match lexical {
        Ok(ix) => {
            tracing::info!(
                items = ix.len(),
                ms = t.elapsed().as_millis() as u64,
                "lexical index ready"
            );
            Some(Arc::new(ix))
        }
        Err(e) => {
            tracing::warn!(error = %e, "lexical index not built; the lexical source is off");
            None
        }
    }
}

/// The newest available items (at most [`NEWEST_KEPT`]), newest first,
/// ties by id: a partial selection, not a sort of the whole catalog.
fn newest_items(items: &IdMap<Arc<Item>>) -> Vec<(String, sommelier_types::Timestamp)> {
    type Entry<'a> = (&'a str, sommelier_types::Timestamp);
    let order = |a: &Entry<'_>, b: &Entry<'_>| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    let mut all: Vec<Entry<'_>> = items
        .values()
        .filter(|it| it.is_available())
        .map(|it| (it.id.as_str(), it.created_at))
        .collect();
    if all.len() > NEWEST_KEPT {
        all.select_nth_unstable_by(NEWEST_KEPT, order);
        all.truncate(NEWEST_KEPT);
    }
    all.sort_unstable_by(order);
    all.into_iter().map(|(id, t)| (id.to_string(), t)).collect()
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
