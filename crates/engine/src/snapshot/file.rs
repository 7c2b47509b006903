//! The catalog snapshot saved between starts (`data/catalog/snapshot.bin`):
//! every live item, each one's vector with its content hash, and the
//! position of the store's catalog log the snapshot reflects. Written
//! atomically (temporary file, fsync, rename) every
//! `server.catalog_save_secs` when the catalog changed, and at shutdown; the
//! log entries it reflects are then pruned. A start loads it, brings it up
//! to date with the items the log names after that position (the in-place
//! patch) and checks the saved vector graph against its hashes, instead of
//! reading the whole catalog from the store.
//!
//! Layout (little-endian, `sommelier_types::codec`): magic, format, the
//! configuration it was built under (vector model, content policy), the log
//! position, the vector size, the items (each in `Item::encode`'s binary
//! layout, length first), the content hash of each item's vector, the
//! vectors themselves (id, floats) only when the index is exact (an HNSW
//! graph saves its own, the one copy: `saved.rs`), the BM25 files, and a
//! checksum of everything before it. Any mismatch is a reason to read the
//! store instead, never an error of the start.

use super::build::Parts;
use super::patch::PATCH_MAX_ITEMS;
use super::{CatalogSnapshot, IdMap};
use crate::{Engine, EngineError, Result};
use sommelier_types::codec::{Damaged, Reader, Unopened, Writer};
use sommelier_types::{IdKey, Item};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const MAGIC: &[u8; 8] = b"SOMMCATL";
const FORMAT: u32 = 3;

/// How the catalog snapshot was made at start.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CatalogStart {
    /// `saved` (loaded and brought up to date) or `store` (read whole).
    pub source: &'static str,
    /// Why the save was not used (`None` when it was, or when saving is off).
    pub reason: Option<String>,
    /// Items in the snapshot.
    pub items: u64,
    /// Items the catalog log named after the save, read again from the store.
    pub changed_since_save: u64,
    /// Milliseconds to have the snapshot ready (items, vectors, indexes).
    pub ms: u64,
}

/// One save of the catalog snapshot.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CatalogSaved {
    /// The catalog log position the save reflects.
    pub position: u64,
    /// Items saved.
    pub items: u64,
    /// Size of the file.
    pub bytes: u64,
    /// Milliseconds to encode and write it.
    pub ms: u64,
}

/// Why a saved catalog was not loaded.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("not a saved catalog of format {FORMAT}")]
    Format,
    #[error("saved under another vector model or content policy")]
    Config,
    #[error("saved from another database, or from a later state of this one")]
    OtherStore,
    #[error("checksum mismatch: the file is damaged")]
    Checksum,
    #[error("damaged at byte {0}")]
    Damaged(usize),
    #[error("item {0}: {1}")]
    Item(usize, String),
}

impl From<Unopened> for FileError {
    fn from(u: Unopened) -> Self {
        match u {
            Unopened::Format => FileError::Format,
            Unopened::Checksum => FileError::Checksum,
        }
    }
}

impl From<Damaged> for FileError {
    fn from(d: Damaged) -> Self {
        FileError::Damaged(d.0)
    }
}

/// The configuration a save is only valid under.
fn config_key(engine: &Engine) -> String {
    let c = engine.config();
    format!("{}|{:?}", c.vectors.model, c.policy)
}

fn encode(s: &CatalogSnapshot, key: &str, log_id: &str) -> Vec<u8> {
    // The index's read lock only for what is read from it: held while the
    // items are encoded (seconds at 1M), it kept every write waiting. An
    // HNSW graph is saved with its vectors; an exact index is not saved.
    let (dim, vectors) = {
        let index = s.index.read();
        let vectors: Vec<(&str, Arc<[f32]>)> = match s.backend == "exact" {
            true => s
                .hashes
                .keys()
                .filter_map(|id| Some((id.as_str(), index.vector(id.as_str())?)))
                .collect(),
            false => Vec::new(),
        };
        (index.dim(), vectors)
    };
    let mut w = Writer::image(
        MAGIC,
        FORMAT,
        64 + s.items.len() * 512 + s.hashes.len() * 48 + vectors.len() * (dim * 4 + 24),
    );
    w.str(key);
    w.str(log_id);
    w.u64(s.position);
    w.u32(dim as u32);
    w.len(s.items.len());
    let mut one = Writer::with_capacity(512);
    for item in s.items.values() {
        one.0.clear();
        item.encode(&mut one);
        w.len(one.0.len());
        w.bytes(&one.0);
    }
    w.len(s.hashes.len());
    for (id, h) in &s.hashes {
        w.str(id.as_str());
        w.str(h);
    }
    w.len(vectors.len());
    for (id, v) in &vectors {
        w.str(id);
        w.f32s(v);
    }
    // BM25 as its files, so a start does not index the catalog again.
    let lexical = s.lexical.as_ref().and_then(|l| match l.save() {
        Ok(saved) => Some(saved),
        Err(e) => {
            tracing::warn!(error = %e, "the lexical index is not saved with the catalog");
            None
        }
    });
    w.u8(lexical.is_some() as u8);
    if let Some(l) = lexical {
        w.len(l.files.len());
        for (name, bytes) in &l.files {
            w.str(name);
            w.len(bytes.len());
            w.bytes(bytes);
        }
        w.len(l.ids.len());
        for id in &l.ids {
            w.u8(id.is_some() as u8);
            w.str(id.as_deref().unwrap_or(""));
        }
    }
    w.seal()
}

/// The store's log as a save must match it: its id and its position.
struct Log<'a> {
    id: &'a str,
    position: u64,
}

/// The items, the hashes, the vectors (when saved), the BM25 files and the
/// position of a save.
fn decode(image: &[u8], key: &str, log: Log<'_>) -> std::result::Result<(u64, Parts), FileError> {
    // The checksum of a large save runs beside the decoding; nothing
    // decoded is used unless it matches.
    let (r, check) = Reader::open_unverified(image, MAGIC, FORMAT)?;
    let (decoded, verified) = std::thread::scope(|s| {
        let verified = s.spawn(move || check.verify());
        (
            decode_body(r, key, log),
            verified.join().expect("a checksum does not panic"),
        )
    });
    if !verified {
        return Err(FileError::Checksum);
    }
    decoded
}

/// [`decode`] after the header.
fn decode_body(
    mut r: Reader<'_>,
    key: &str,
    log: Log<'_>,
) -> std::result::Result<(u64, Parts), FileError> {
    if r.str()? != key {
        return Err(FileError::Config);
    }
    let log_id = r.str()?;
    let position = r.u64()?;
    if log_id != log.id || position > log.position {
        return Err(FileError::OtherStore);
    }
    let dim = r.u32()? as usize;
    let n = r.len(8)?;
    let mut texts: Vec<&[u8]> = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.len(1)?;
        texts.push(r.take(len)?);
    }
    let nh = r.len(16)?;
    let mut hashed: Vec<(&str, &str)> = Vec::with_capacity(nh);
    for _ in 0..nh {
        hashed.push((r.str()?, r.str()?));
    }
    let records = vector_records(&mut r, dim)?;
    // Two threads: this one makes the items, the other the hash and
    // vector maps.
    let mut items: IdMap<Arc<Item>> = IdMap::default();
    items.reserve(n);
    let (parsed, (hashes, vectors)) = std::thread::scope(|s| {
        let maps = s.spawn(|| {
            let mut hashes: IdMap<Arc<str>> = IdMap::default();
            hashes.reserve(hashed.len());
            for (id, h) in &hashed {
                hashes.insert(IdKey::new(id), (*h).into());
            }
            let vectors = (!records.is_empty()).then(|| {
                let mut vectors: IdMap<Arc<[f32]>> = IdMap::default();
                vectors.reserve(records.len());
                for rec in &records {
                    vectors.insert(IdKey::new(rec.id), rec.make(dim));
                }
                vectors
            });
            (hashes, vectors)
        });
        let parsed = parse_items(&texts, 0).map(|parsed| {
            for it in parsed {
                items.insert(it.id.as_str().into(), it);
            }
        });
        (parsed, maps.join().expect("decoding does not panic"))
    });
    parsed?;
    let lexical = match r.u8()? {
        0 => None,
        _ => {
            let nf = r.len(16)?;
            let mut files = Vec::with_capacity(nf);
            for _ in 0..nf {
                let name = r.str()?.to_string();
                let len = r.len(1)?;
                files.push((name, r.take(len)?.to_vec()));
            }
            let ni = r.len(9)?;
            let mut ids = Vec::with_capacity(ni);
            for _ in 0..ni {
                let some = r.u8()? != 0;
                let id = r.str()?;
                ids.push(some.then(|| id.to_string()));
            }
            Some(sommelier_lexical::SavedIndex { files, ids })
        }
    };
    if r.left() != 0 {
        return Err(FileError::Damaged(r.at()));
    }
    let parts = Parts {
        generation: 0,
        position,
        items,
        vectors,
        dim,
        hashes,
        lexical,
        graph: None,
    };
    Ok((n as u64, parts))
}

/// The saved file mapped read-only: its pages come from the page cache
/// instead of being copied into gigabytes of fresh heap.
#[allow(unsafe_code)]
fn map(path: &std::path::Path) -> std::io::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the file is only ever replaced whole (written to a temporary
    // file, then renamed over it), never changed in place, so the mapped
    // pages cannot change under the reader; the map is dropped before the
    // snapshot is used.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(map)
}

/// Items from their saved bytes; `from` numbers the first, for errors.
fn parse_items(texts: &[&[u8]], from: usize) -> std::result::Result<Vec<Arc<Item>>, FileError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut r = Reader::new(t, 0);
            match Item::decode(&mut r) {
                Ok(item) if r.left() == 0 => Ok(Arc::new(item)),
                Ok(_) => Err(FileError::Item(from + i, "bytes after its end".into())),
                Err(e) => Err(FileError::Item(from + i, e.to_string())),
            }
        })
        .collect()
}

/// One saved vector, not decoded yet.
struct VectorRecord<'a> {
    id: &'a str,
    raw: &'a [u8],
}

impl VectorRecord<'_> {
    /// The vector, read straight into its shared slice.
    fn make(&self, dim: usize) -> Arc<[f32]> {
        debug_assert_eq!(self.raw.len(), dim * 4);
        // An exact-size iterator: one allocation, no intermediate Vec.
        self.raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect()
    }
}

/// The vectors section's records, checked for length.
fn vector_records<'a>(
    r: &mut Reader<'a>,
    dim: usize,
) -> std::result::Result<Vec<VectorRecord<'a>>, FileError> {
    let nv = r.len(8 + dim * 4)?;
    let mut records = Vec::with_capacity(nv);
    for _ in 0..nv {
        records.push(VectorRecord {
            id: r.str()?,
            raw: r.take(dim * 4)?,
        });
    }
    Ok(records)
}

impl Engine {
    /// Where the catalog snapshot is saved between starts.
    pub fn saved_catalog_path(&self) -> PathBuf {
        self.config().data_dir.join("catalog").join("snapshot.bin")
    }

    /// The snapshot from the last save, brought up to date with the catalog
    /// log; `None` (with the reason) when there is no usable save or too
    /// much changed since, and the caller reads the store.
    pub(super) fn snapshot_from_save(
        &self,
        generation: u64,
    ) -> Result<std::result::Result<Arc<CatalogSnapshot>, String>> {
        let started = Instant::now();
        let path = self.saved_catalog_path();
        let image = match map(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err("nothing saved".into()));
            }
            Err(e) => return Ok(Err(format!("cannot read {}: {e}", path.display()))),
        };
        let read_ms = started.elapsed().as_millis() as u64;
        let log = Log {
            id: &self.store().catalog_log_id()?,
            position: self.store().catalog_position()?,
        };
        let key = config_key(self);
        // The saved graph's files (with the vectors) are read beside the
        // decoding.
        let (result, graph) = std::thread::scope(|s| {
            let graph = s.spawn(|| self.open_saved_graph(&|_| None));
            let result = decode(&image, &key, log);
            (
                result,
                graph.join().expect("reading the graph does not panic"),
            )
        });
        let (n, mut parts) = match result {
            Ok(x) => x,
            Err(e) => {
                if !matches!(e, FileError::Config | FileError::OtherStore) {
                    self.metrics().damage_found("saved_catalog");
                }
                return Ok(Err(format!("saved catalog not loaded: {e}")));
            }
        };
        drop(image);
        let decoded_ms = started.elapsed().as_millis() as u64;
        parts.graph = graph;
        parts.generation = generation;
        let before = parts.position;
        let Some((changed, _)) = self.store().catalog_changes(before, PATCH_MAX_ITEMS)? else {
            return Ok(Err(format!(
                "more of the catalog changed since the save (position {before}) than a patch applies, or the log was pruned past it"
            )));
        };
        let changed = changed.len() as u64;
        let saved = Arc::new(self.assemble_snapshot(parts)?);
        let current = if changed == 0 {
            saved
        } else {
            match self.patch_snapshot(&saved, &[], generation)? {
                Some(current) => current,
                None => {
                    return Ok(Err(format!(
                        "more of the catalog changed since the save (position {before}) than a patch applies"
                    )));
                }
            }
        };
        // What is on disk is this snapshot's position: no save is due
        // until the catalog moves.
        *self.snapshots.catalog_saved.lock() = Some((Instant::now(), before));
        tracing::info!(
            items = n,
            changed_since_save = changed,
            read_ms,
            decoded_ms,
            ms = started.elapsed().as_millis() as u64,
            "catalog snapshot loaded from its last save"
        );
        *self.snapshots.start.lock() = Some(CatalogStart {
            source: "saved",
            reason: None,
            items: current.items.len() as u64,
            changed_since_save: changed,
            ms: started.elapsed().as_millis() as u64,
        });
        Ok(Ok(current))
    }

    /// Saves the catalog snapshot in use when it moved past the last save
    /// and `server.catalog_save_secs` passed (or `force`), then prunes the
    /// catalog log up to the saved position. `None` when nothing was due.
    pub fn save_catalog(&self, force: bool) -> Result<Option<CatalogSaved>> {
        let every = self.config().server.catalog_save_secs;
        if every == 0 {
            return Ok(None);
        }
        let Some(snapshot) = self.built_snapshot() else {
            return Ok(None);
        };
        let mut last = self.snapshots.catalog_saved.lock();
        let due = match *last {
            None => true,
            Some((at, position)) => {
                position != snapshot.position && (force || at.elapsed().as_secs() >= every)
            }
        };
        if !due {
            return Ok(None);
        }
        let started = Instant::now();
        let bytes = encode(
            &snapshot,
            &config_key(self),
            &self.store().catalog_log_id()?,
        );
        let path = self.saved_catalog_path();
        crate::models::replace_durably(&path, &bytes).map_err(|source| EngineError::Io {
            path: path.clone(),
            source,
        })?;
        *last = Some((Instant::now(), snapshot.position));
        drop(last);
        let pruned = self.store().prune_catalog_changes(snapshot.position)?;
        let saved = CatalogSaved {
            position: snapshot.position,
            items: snapshot.items.len() as u64,
            bytes: bytes.len() as u64,
            ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(
            position = saved.position,
            items = saved.items,
            bytes = saved.bytes,
            pruned,
            ms = saved.ms,
            "catalog snapshot saved"
        );
        Ok(Some(saved))
    }

    /// How the catalog snapshot was made at start; `None` before the first
    /// build.
    pub fn catalog_start(&self) -> Option<CatalogStart> {
        self.snapshots.start.lock().clone()
    }
}
