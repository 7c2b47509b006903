//! Approximate search on an HNSW graph, through the `usearch` crate.

use crate::error::{IndexError, Result};
use crate::flat::IndexVector;
use crate::int8::Int8;
use crate::meta::{Filter, ItemMeta, SavedFile, Slots};
use crate::{Hit, VectorIndexRead, VectorIndexWrite};
use sommelier_types::dot;
use std::path::Path;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// Graph parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HnswParams {
    /// Links per node (HNSW `M`).
    pub connectivity: usize,
    /// Candidate list size while inserting (`ef_construction`).
    pub expansion_add: usize,
    /// Candidate list size while searching (`ef`); raised to `k` when smaller.
    pub expansion_search: usize,
    /// Threads for bulk inserts.
    pub threads: usize,
    /// How the graph stores each vector.
    pub quantization: Quantization,
}

/// How the HNSW graph stores vectors. Queries and results stay `f32`; a
/// narrower kind makes each distance cheaper and the graph smaller, at a small
/// cost in recall (measured in docs/benchmarks.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// 4 bytes per coordinate: exact distances.
    #[default]
    F32,
    /// IEEE half precision, 2 bytes per coordinate.
    F16,
    /// 1 byte per coordinate: one scale for the whole graph, fitted to the
    /// first bulk load so that its largest coordinate maps to 127 (a global
    /// factor keeps the order of inner products). The graph's candidates are
    /// re-scored with a full-precision copy of the vectors, which the index
    /// keeps beside the graph.
    I8,
}

impl Quantization {
    /// The name used in configuration and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::I8 => "i8",
        }
    }

    fn scalar(self) -> ScalarKind {
        match self {
            Self::F32 => ScalarKind::F32,
            Self::F16 => ScalarKind::F16,
            Self::I8 => ScalarKind::I8,
        }
    }
}

impl std::str::FromStr for Quantization {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "i8" => Ok(Self::I8),
            other => Err(format!("unknown quantization `{other}` (f32, f16 or i8)")),
        }
    }
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            quantization: Quantization::F32,
        }
    }
}

/// Searches that may run at once. usearch keeps one search context per
/// reserved thread and fails a search when all are taken ("Reserve capacity
/// ahead of searches!"), so contexts are reserved for this many and a gate
/// makes any further concurrent search wait for a free one.
pub const SEARCH_CONTEXTS: usize = 64;

/// A counting gate over the search contexts.
#[derive(Default)]
struct Gate {
    busy: parking_lot::Mutex<usize>,
    freed: parking_lot::Condvar,
}

impl Gate {
    fn enter(&self) -> GateGuard<'_> {
        let mut busy = self.busy.lock();
        while *busy >= SEARCH_CONTEXTS {
            self.freed.wait(&mut busy);
        }
        *busy += 1;
        GateGuard(self)
    }
}

struct GateGuard<'a>(&'a Gate);

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock() -= 1;
        self.0.freed.notify_one();
    }
}

/// HNSW index over inner-product (cosine, for unit vectors) distance.
pub struct HnswIndex {
    slots: Slots,
    index: Index,
    params: HnswParams,
    gate: Gate,
    /// An `i8` graph's quantizer and full-precision copy, for re-scoring.
    int8: Option<Int8>,
}

/// Candidates an `i8` graph search returns per result wanted, re-scored with
/// the full-precision vectors: `k` plus an eighth of `k` (at least 8 more).
/// With the fitted scale a quarter more bought little: at k=100 on MiniLM
/// vectors recall@100 0.980 against 0.976 for an eighth, at 12 % fewer
/// queries per second (docs/benchmarks.md).
fn rescored_count(k: usize) -> usize {
    k + (k / 8).max(8)
}

fn contexts(p: &HnswParams) -> usize {
    p.threads.max(SEARCH_CONTEXTS)
}

fn hnsw_err(e: impl std::fmt::Display) -> IndexError {
    IndexError::Hnsw(e.to_string())
}

fn new_index(dim: usize, p: &HnswParams) -> Result<Index> {
    let options = IndexOptions {
        dimensions: dim,
        metric: MetricKind::IP,
        quantization: p.quantization.scalar(),
        connectivity: p.connectivity,
        expansion_add: p.expansion_add,
        expansion_search: p.expansion_search,
        multi: false,
    };
    let index = Index::new(&options).map_err(hnsw_err)?;
    index
        .reserve_capacity_and_threads(1024, contexts(p))
        .map_err(hnsw_err)?;
    Ok(index)
}

impl HnswIndex {
    /// An empty index of dimension `dim`.
    pub fn new(dim: usize, params: HnswParams) -> Result<Self> {
        Ok(Self {
            slots: Slots::new(dim),
            index: new_index(dim, &params)?,
            int8: (params.quantization == Quantization::I8).then(|| Int8::new(dim)),
            params,
            gate: Gate::default(),
        })
    }

    /// Loads an index saved with [`VectorIndexWrite::save`]; one saved with
    /// other storage than `params.quantization` is refused.
    pub fn load(dir: &Path, params: HnswParams) -> Result<Self> {
        Self::load_with(dir, params, true, &|_| None)
    }

    /// Loads a saved index with whatever storage it was saved with.
    pub fn load_as_saved(dir: &Path, params: HnswParams) -> Result<Self> {
        Self::load_with(dir, params, false, &|_| None)
    }

    /// Loads a saved index: refused when saved with other storage than
    /// `params.quantization` if `strict`, else with the storage it was saved
    /// with. For the full-precision copy an `i8` graph keeps, `share` may
    /// offer the caller's own vector by id: kept (by reference) where equal
    /// to the saved one, so the caller and the index hold one copy.
    pub fn load_with(
        dir: &Path,
        mut params: HnswParams,
        strict: bool,
        share: &dyn Fn(&str) -> Option<std::sync::Arc<[f32]>>,
    ) -> Result<Self> {
        let slots = Slots::load(dir)?;
        // Damage in the graph or its copy is found before usearch reads it.
        slots.verify_files(dir)?;
        let index = new_index(slots.dim, &params)?;
        let path = dir.join("graph.usearch");
        if !path.is_file() {
            return Err(IndexError::Io {
                path,
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        index.load(&path.to_string_lossy()).map_err(hnsw_err)?;
        index
            .reserve_capacity_and_threads(index.size().max(1024), contexts(&params))
            .map_err(hnsw_err)?;
        index.change_expansion_search(params.expansion_search);
        let saved = [Quantization::F32, Quantization::F16, Quantization::I8]
            .into_iter()
            .find(|q| q.scalar() == index.scalar_kind());
        if let (Some(q), false) = (saved, strict) {
            params.quantization = q;
        }
        if index.scalar_kind() != params.quantization.scalar() {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!(
                    "graph stores {:?} vectors where {} was asked for",
                    index.scalar_kind(),
                    params.quantization.name()
                ),
            });
        }
        let int8 = match params.quantization {
            Quantization::I8 => {
                let by_slot = |slot: u32| {
                    let s = &slots.slots[slot as usize];
                    if s.live { share(&s.id) } else { None }
                };
                Some(Int8::load(dir, slots.dim, slots.slots.len(), &by_slot)?)
            }
            _ => None,
        };
        let me = Self {
            slots,
            index,
            params,
            gate: Gate::default(),
            int8,
        };
        if me.index.size() != me.slots.live() {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!(
                    "graph holds {} vectors, the slot table {} live ids",
                    me.index.size(),
                    me.slots.live()
                ),
            });
        }
        Ok(me)
    }

    /// Adds many items, on `params.threads` threads. Shared vectors
    /// (`Arc<[f32]>`) are kept by reference where the index keeps a
    /// full-precision copy (`i8`); borrowed ones are copied.
    pub fn upsert_many<V: IndexVector>(&mut self, items: &[(&str, V, &ItemMeta)]) -> Result<()> {
        for (id, v, _) in items {
            self.slots.check(id, v.coords())?;
        }
        if let Some(int8) = &mut self.int8
            && self.index.size() == 0
        {
            int8.fit(items.iter().map(|(_, v, _)| v.coords()));
        }
        let mut todo = Vec::with_capacity(items.len());
        for (id, v, meta) in items {
            let (slot, existed) = self.slots.upsert(id, meta);
            if existed {
                self.index.remove(u64::from(slot)).map_err(hnsw_err)?;
            }
            if let Some(int8) = &mut self.int8 {
                int8.exact.set(slot, v);
            }
            todo.push((u64::from(slot), v.coords()));
        }
        let needed = self.index.size() + todo.len();
        if needed > self.index.capacity() {
            self.index
                .reserve_capacity_and_threads(needed.next_power_of_two(), contexts(&self.params))
                .map_err(hnsw_err)?;
        }
        let threads = self.params.threads.max(1);
        let per = todo.len().div_ceil(threads).max(1);
        let index = &self.index;
        let int8 = self.int8.as_ref();
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = todo
                .chunks(per)
                .map(|chunk| {
                    s.spawn(move || {
                        for (key, v) in chunk {
                            match int8 {
                                Some(q) => index.add(*key, &q.quantize(v)),
                                None => index.add(*key, v),
                            }
                            .map_err(hnsw_err)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("insert thread panicked"))
                .collect()
        });
        results.into_iter().collect()
    }

    /// The ids of the live vectors, in slot order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.slots
            .slots
            .iter()
            .filter(|s| s.live)
            .map(|s| s.id.as_str())
    }

    /// The filter fields of an indexed item; `None` when `id` is not indexed.
    pub fn meta(&self, id: &str) -> Option<&ItemMeta> {
        self.slots
            .live_slot(id)
            .map(|s| &self.slots.slots[s as usize].meta)
    }

    /// Replaces the filter fields of an indexed item without touching its
    /// vector or the graph; false when `id` is not indexed.
    pub fn set_meta(&mut self, id: &str, meta: crate::MetaRef<'_>) -> bool {
        self.slots.set_meta(id, meta)
    }

    /// The `k` nearest vectors other than `exclude`'s, skipped inside the
    /// graph search (asking for `k + |exclude|` and dropping them afterwards
    /// costs a wider search when many of the excluded are near).
    pub fn search_excluding(
        &self,
        query: &[f32],
        k: usize,
        exclude: &std::collections::HashSet<&str>,
    ) -> Result<Vec<Hit>> {
        self.slots.check("query", query)?;
        if k == 0 || self.index.size() == 0 {
            return Ok(Vec::new());
        }
        // Slot numbers, sorted: the graph checks every node it visits, and a
        // binary search over a few hundred integers beats hashing its id.
        let mut skip: Vec<u32> = exclude
            .iter()
            .filter_map(|id| self.slots.live_slot(id))
            .collect();
        skip.sort_unstable();
        let slots = &self.slots;
        let keep =
            |key: u64| slots.is_live(key as u32) && skip.binary_search(&(key as u32)).is_err();
        let matches = self.graph_search(query, self.graph_count(k), Some(keep))?;
        Ok(self.hits(query, k, &matches, keep))
    }

    /// The graph's `count` nearest to `query` that `keep` accepts (all, for
    /// none), the query quantized for an `i8` graph.
    fn graph_search(
        &self,
        query: &[f32],
        count: usize,
        keep: Option<impl Fn(u64) -> bool>,
    ) -> Result<usearch::ffi::Matches> {
        let _context = self.gate.enter();
        match (&self.int8, keep) {
            (Some(_), Some(keep)) => {
                self.index
                    .filtered_search(&Int8::quantize_query(query), count, keep)
            }
            (Some(_), None) => self.index.search(&Int8::quantize_query(query), count),
            (None, Some(keep)) => self.index.filtered_search(query, count, keep),
            (None, None) => self.index.search(query, count),
        }
        .map_err(hnsw_err)
    }

    /// How many candidates to ask the graph for, to return `k`.
    fn graph_count(&self, k: usize) -> usize {
        if self.int8.is_some() {
            rescored_count(k)
        } else {
            k
        }
    }

    /// The graph's matches that `keep` accepts, as hits: re-scored with the
    /// full-precision vectors and cut to `k` for an `i8` graph.
    fn hits(
        &self,
        query: &[f32],
        k: usize,
        matches: &usearch::ffi::Matches,
        keep: impl Fn(u64) -> bool,
    ) -> Vec<Hit> {
        let mut scored: Vec<(f32, u32)> = matches
            .keys
            .iter()
            .zip(&matches.distances)
            .filter(|(key, _)| keep(**key))
            .map(|(&key, &d)| match &self.int8 {
                Some(q) => (dot(q.exact.get(key as u32), query), key as u32),
                None => (1.0 - d, key as u32),
            })
            .collect();
        if self.int8.is_some() {
            scored = crate::top_k(scored, k);
        }
        scored
            .into_iter()
            .map(|(score, slot)| Hit {
                id: self.slots.slots[slot as usize].id.clone(),
                score,
            })
            .collect()
    }

    /// How the graph stores its vectors.
    pub fn quantization(&self) -> Quantization {
        self.params.quantization
    }

    /// Recall@`k` of the graph against exact search, with `samples` of its
    /// own live vectors (evenly spaced) as queries, each query's own item
    /// left out of both answers. `None` for a graph without a full-precision
    /// copy (only `i8` keeps one). This tells whether `i8` storage suits the
    /// data: where neighbours differ by less than the quantization step the
    /// graph's walk goes wrong, which re-scoring cannot mend.
    pub fn sampled_recall(&self, samples: usize, k: usize) -> Result<Option<f64>> {
        let Some(exact) = self.int8.as_ref().map(|q| &q.exact) else {
            return Ok(None);
        };
        let live: Vec<u32> = (0..self.slots.slots.len() as u32)
            .filter(|&s| self.slots.is_live(s))
            .collect();
        if live.len() <= k || samples == 0 {
            return Ok(Some(1.0));
        }
        let step = (live.len() / samples).max(1);
        let queries: Vec<u32> = live.iter().step_by(step).take(samples).copied().collect();
        let per = queries.len().div_ceil(self.params.threads.max(1));
        let truth: Vec<Vec<u32>> = std::thread::scope(|s| {
            let handles: Vec<_> = queries
                .chunks(per)
                .map(|chunk| {
                    let live = &live;
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|&q| {
                                let v = exact.get(q);
                                let scored: Vec<(f32, u32)> = live
                                    .iter()
                                    .filter(|&&o| o != q)
                                    .map(|&o| (dot(exact.get(o), v), o))
                                    .collect();
                                crate::top_k(scored, k)
                                    .into_iter()
                                    .map(|(_, o)| o)
                                    .collect()
                            })
                            .collect::<Vec<Vec<u32>>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("recall thread panicked"))
                .collect()
        });
        let mut found = 0usize;
        let mut total = 0usize;
        for (&q, truth) in queries.iter().zip(&truth) {
            let own = &self.slots.slots[q as usize].id;
            let got: std::collections::HashSet<String> = self
                .search(exact.get(q), k + 1, &Filter::default())?
                .into_iter()
                .map(|h| h.id)
                .filter(|id| id != own)
                .collect();
            total += truth.len();
            found += truth
                .iter()
                .filter(|&&o| got.contains(&self.slots.slots[o as usize].id))
                .count();
        }
        Ok(Some(found as f64 / total.max(1) as f64))
    }

    /// The search candidate list size (`ef`).
    pub fn expansion_search(&self) -> usize {
        self.params.expansion_search
    }

    /// Sets the search candidate list size (`ef`).
    pub fn set_expansion_search(&mut self, ef: usize) {
        self.params.expansion_search = ef;
        self.index.change_expansion_search(ef);
    }
}

impl VectorIndexRead for HnswIndex {
    fn dim(&self) -> usize {
        self.slots.dim
    }

    fn len(&self) -> usize {
        self.index.size()
    }

    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.slots.check("query", query)?;
        if k == 0 || self.index.size() == 0 {
            return Ok(Vec::new());
        }
        let count = self.graph_count(k);
        let slots = &self.slots;
        let check = slots.prepare(filter);
        let keep = |key: u64| slots.passes(key as u32, &check);
        // Where every node passes, no per-node check: a call back into Rust
        // for each visited node was a tenth of the search (docs/benchmarks.md).
        let matches = self.graph_search(query, count, (!check.unchecked).then_some(keep))?;
        Ok(self.hits(query, k, &matches, keep))
    }

    fn vector(&self, id: &str) -> Option<std::sync::Arc<[f32]>> {
        let slot = self.slots.live_slot(id)?;
        if let Some(int8) = &self.int8 {
            return Some(int8.exact.shared(slot));
        }
        // The graph's own copy, widened to `f32` straight into the shared
        // slice (an exact-size iterator: one allocation, no copy).
        let mut v: std::sync::Arc<[f32]> = std::iter::repeat_n(0f32, self.slots.dim).collect();
        let buffer = std::sync::Arc::get_mut(&mut v).expect("not shared yet");
        match self.index.get(u64::from(slot), buffer) {
            Ok(1) => Some(v),
            _ => None,
        }
    }
}

impl VectorIndexWrite for HnswIndex {
    fn upsert(&mut self, id: &str, vector: &[f32], meta: &ItemMeta) -> Result<()> {
        self.upsert_many(&[(id, vector, meta)])
    }

    fn upsert_shared(
        &mut self,
        id: &str,
        vector: std::sync::Arc<[f32]>,
        meta: &ItemMeta,
    ) -> Result<()> {
        self.upsert_many(&[(id, vector, meta)])
    }

    fn remove(&mut self, id: &str) -> Result<bool> {
        match self.slots.remove(id) {
            Some(slot) => {
                self.index.remove(u64::from(slot)).map_err(hnsw_err)?;
                if let Some(int8) = &mut self.int8 {
                    int8.exact.clear(slot);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(IndexError::io(dir))?;
        let path = dir.join("graph.usearch");
        let tmp = dir.join("graph.usearch.tmp");
        self.index.save(&tmp.to_string_lossy()).map_err(hnsw_err)?;
        std::fs::rename(&tmp, &path).map_err(IndexError::io(&path))?;
        let mut files = vec![SavedFile::of(dir, "graph.usearch")?];
        if let Some(int8) = &self.int8 {
            files.extend(int8.save(dir)?);
        }
        // Written last, with the checksum of every file before it.
        self.slots.save(dir, &files)
    }
}
