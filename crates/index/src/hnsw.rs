//! Approximate search on an HNSW graph, through the `usearch` crate.

use crate::error::{IndexError, Result};
use crate::meta::{Filter, ItemMeta, Slots};
use crate::{Hit, VectorIndexRead, VectorIndexWrite};
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
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
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
        quantization: ScalarKind::F32,
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
            params,
            gate: Gate::default(),
        })
    }

    /// Loads an index saved with [`VectorIndexWrite::save`].
    pub fn load(dir: &Path, params: HnswParams) -> Result<Self> {
        let slots = Slots::load(dir)?;
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
        let me = Self {
            slots,
            index,
            params,
            gate: Gate::default(),
        };
        if me.index.size() != me.slots.live() {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!(
                    "graph holds {} vectors, slots.json {} live ids",
                    me.index.size(),
                    me.slots.live()
                ),
            });
        }
        Ok(me)
    }

    /// Adds many items, on `params.threads` threads.
    pub fn upsert_many(&mut self, items: &[(&str, &[f32], &ItemMeta)]) -> Result<()> {
        let mut todo = Vec::with_capacity(items.len());
        for (id, v, meta) in items {
            self.slots.check(id, v)?;
            let (slot, existed) = self.slots.upsert(id, meta);
            if existed {
                self.index.remove(u64::from(slot)).map_err(hnsw_err)?;
            }
            todo.push((u64::from(slot), *v));
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
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = todo
                .chunks(per)
                .map(|chunk| {
                    s.spawn(move || {
                        for (key, v) in chunk {
                            index.add(*key, v).map_err(hnsw_err)?;
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

    /// Replaces the filter fields of an indexed item without touching its
    /// vector or the graph; false when `id` is not indexed.
    pub fn set_meta(&mut self, id: &str, meta: &ItemMeta) -> bool {
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
        let _context = self.gate.enter();
        let slots = &self.slots;
        let keep = |key: u64| {
            slots
                .slots
                .get(key as usize)
                .is_some_and(|s| s.live && !exclude.contains(s.id.as_str()))
        };
        let matches = self
            .index
            .filtered_search(query, k, keep)
            .map_err(hnsw_err)?;
        Ok(matches
            .keys
            .iter()
            .zip(&matches.distances)
            .filter(|(key, _)| keep(**key))
            .map(|(key, d)| Hit {
                id: self.slots.slots[*key as usize].id.clone(),
                score: 1.0 - d,
            })
            .collect())
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
        let _context = self.gate.enter();
        let matches = if filter.is_open() {
            self.index.search(query, k)
        } else {
            let slots = &self.slots;
            self.index
                .filtered_search(query, k, |key: u64| slots.passes(key as u32, filter))
        }
        .map_err(hnsw_err)?;
        Ok(matches
            .keys
            .iter()
            .zip(&matches.distances)
            .filter(|(key, _)| self.slots.passes(**key as u32, filter))
            .map(|(key, d)| Hit {
                id: self.slots.slots[*key as usize].id.clone(),
                score: 1.0 - d,
            })
            .collect())
    }
}

impl VectorIndexWrite for HnswIndex {
    fn upsert(&mut self, id: &str, vector: &[f32], meta: &ItemMeta) -> Result<()> {
        self.upsert_many(&[(id, vector, meta)])
    }

    fn remove(&mut self, id: &str) -> Result<bool> {
        match self.slots.remove(id) {
            Some(slot) => {
                self.index.remove(u64::from(slot)).map_err(hnsw_err)?;
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
        self.slots.save(dir)
    }
}
