//! Fitted sets on disk. A fit writes a new folder `DATA_DIR/fitted/sets/<version>/`
//! — the collaborative table or factors (and the iALS graph), the next-item
//! table, the sequence model, item similarity, the ranker, `fitted.json` and
//! `manifest.json` (the SHA-256 of every file) — fsyncs it, and only then
//! switches `fitted/CURRENT` (written to a temporary file, fsynced, renamed)
//! to name it. A fit killed at any point leaves `CURRENT` naming the previous
//! complete set; the loader checks every file against the manifest before a
//! table is read. The set before the current one is kept (a manual
//! rollback is editing `CURRENT`); older ones and unfinished ones are removed
//! after the switch. A named set (`sommelier fit --as NAME`, for experiment
//! variants: `named.rs`) is written the same way in a folder of its own,
//! `named/NAME/<fit-…>/`, with its own `named/NAME/CURRENT`: the engine's
//! `CURRENT` is left alone, and a refit of the named set never rewrites
//! the folder a server reads. A flat `fitted/` of an older release still
//! loads (no manifest) until the next fit.

use super::Models;
use crate::collaborative::{AlsServing, Collaborative};
use crate::{Engine, EngineError, FitReport, Result};
use sommelier_collab::{FactorModel, ItemNeighbors};
use sommelier_rank::{LinearModel, signals};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file naming the set in use.
const CURRENT: &str = "CURRENT";
/// The folder of the sets.
const SETS: &str = "sets";
/// Checksums of a set's files.
const MANIFEST: &str = "manifest.json";
/// The folder of the named sets.
const NAMED: &str = "named";
/// What a damaged or unreadable set of the engine's own asks for.
pub(super) const REFIT: &str = "run `sommelier fit` to refit";

/// A set's name as `CURRENT` may hold it.
pub(super) fn valid_set_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 100
        && !v.starts_with('.')
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// fsyncs a file or a folder.
fn sync(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Replaces `path` with `bytes` so that a crash leaves the old content or
/// the new, never part of either: a temporary file beside it, fsynced,
/// renamed over it, and the folder fsynced.
pub(crate) fn replace_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    sync(&tmp)?;
    std::fs::rename(&tmp, path)?;
    sync(dir)
}

impl Engine {
    /// The folder of the fitted set in use: the one `fitted/CURRENT` names,
    /// or the flat `fitted/` of an older release; `None` when nothing was
    /// fitted.
    pub fn fitted_set_dir(&self) -> Option<PathBuf> {
        let root = self.config().models_dir();
        match std::fs::read_to_string(root.join(CURRENT)) {
            Ok(v) if valid_set_name(v.trim()) => Some(root.join(SETS).join(v.trim())),
            Ok(v) => {
                tracing::warn!(current = %v.trim(), "fitted/CURRENT names no valid set; no models are loaded");
                None
            }
            Err(_) => root.join("fitted.json").exists().then_some(root),
        }
    }

    /// The folder of the named set `name`'s versions and its `CURRENT`.
    fn named_root(&self, name: &str) -> PathBuf {
        self.config().models_dir().join(NAMED).join(name)
    }

    /// The folder of the version of the named set `name` its `CURRENT`
    /// names (`None`: never fitted, or not completely).
    pub(super) fn named_set_dir(&self, name: &str) -> Option<PathBuf> {
        let root = self.named_root(name);
        let v = std::fs::read_to_string(root.join(CURRENT)).ok()?;
        valid_set_name(v.trim()).then(|| root.join(v.trim()))
    }

    /// Writes a set's checksums and fsyncs its files and folder; then
    /// points the `CURRENT` in `pointer` at it and removes the sets beside
    /// it other than it and the one before.
    fn commit_set(&self, set: &Path, version: &str, pointer: &Path) -> std::io::Result<()> {
        let root = self.config().models_dir();
        let mut files = serde_json::Map::new();
        for rel in files_under(set)? {
            let p = set.join(&rel);
            sync(&p)?;
            files.insert(
                rel.to_string_lossy().to_string(),
                sommelier_datasets::sha256_file(&p)?.into(),
            );
        }
        let manifest = serde_json::json!({ "version": version, "files": files });
        let mpath = set.join(MANIFEST);
        std::fs::write(&mpath, serde_json::to_vec_pretty(&manifest).expect("json"))?;
        sync(&mpath)?;
        sync(set)?;
        let beside = set.join("..").canonicalize()?;
        sync(&beside)?;
        let folder = set.file_name().unwrap_or_default().to_string_lossy();
        let previous = std::fs::read_to_string(pointer.join(CURRENT)).ok();
        replace_durably(&pointer.join(CURRENT), folder.as_bytes())?;
        // Keep the set in use and the one before it.
        let keep = [
            Some(folder.to_string()),
            previous.map(|p| p.trim().to_string()),
        ];
        for e in std::fs::read_dir(&beside)?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() && !keep.iter().flatten().any(|k| *k == name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        if pointer != root {
            return Ok(());
        }
        // The flat files of an older release are superseded.
        for legacy in [
            "fitted.json",
            "ease.bin",
            "als.bin",
            "sequential.bin",
            "similar.bin",
            "ranker.json",
            "sequence.safetensors",
            "sequence.json",
        ] {
            let _ = std::fs::remove_file(root.join(legacy));
        }
        let _ = std::fs::remove_dir_all(root.join("als-index"));
        Ok(())
    }

    /// Checks every file of a set against its manifest; `fix` says what
    /// to do when one does not match.
    fn verify_set(dir: &Path, fix: &str) -> Result<()> {
        let bad = |what: String| {
            EngineError::Model(format!(
                "the fitted set in {} is damaged: {what}; {fix}",
                dir.display()
            ))
        };
        match sommelier_datasets::verify_manifest(dir, MANIFEST, &format!("no {MANIFEST}")) {
            Ok(_) => Ok(()),
            Err(sommelier_datasets::DatasetError::Checksum { path, .. }) => {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                Err(bad(format!(
                    "{} does not match its checksum (changed after the fit)",
                    rel.display()
                )))
            }
            Err(e) => Err(bad(e.to_string())),
        }
    }

    /// Saves `m` as the engine's set and switches to it, or as the named
    /// set `name` (the engine's `CURRENT` unchanged).
    pub(super) fn save_models(&self, m: &Models, name: Option<&str>) -> Result<()> {
        let root = self.config().models_dir();
        let (pointer, dir) = match name {
            None => (root.clone(), root.join(SETS).join(&m.report.version)),
            // `NAME@fit-…`: the version's folder is `fit-…`.
            Some(n) => {
                let named = self.named_root(n);
                let folder = m.report.version.split_once('@').map_or("", |(_, f)| f);
                (named.clone(), named.join(folder))
            }
        };
        let io = |e: std::io::Error| {
            EngineError::Model(format!("cannot save models in {}: {e}", dir.display()))
        };
        if dir.exists() {
            // An unfinished earlier try under the same name.
            std::fs::remove_dir_all(&dir).map_err(io)?;
        }
        std::fs::create_dir_all(&dir).map_err(io)?;
        let collab = dir.join(m.collaborative.file());
        match &m.collaborative {
            Collaborative::Ease(t) => {
                t.save(&collab).map_err(io)?;
                crate::collaborative::remove_graph(&dir)?;
            }
            Collaborative::Als(f) => {
                f.model.save(&collab).map_err(io)?;
                f.save_index(&dir)?;
            }
        }
        m.sequential.save(&dir.join("sequential.bin")).map_err(io)?;
        match &m.sasrec {
            Some(s) => s
                .save(&dir)
                .map_err(|e| EngineError::Model(format!("cannot save models: {e}")))?,
            None => sommelier_sequence::SasRec::remove(&dir).map_err(io)?,
        }
        if let Some(similar) = &m.similar {
            similar.save(&dir.join("similar.bin")).map_err(io)?;
        }
        let ranker = dir.join("ranker.json");
        match &m.ranker {
            Some(r) => std::fs::write(
                &ranker,
                serde_json::to_vec_pretty(r).expect("a model serialises"),
            )
            .map_err(io)?,
            None if ranker.exists() => std::fs::remove_file(&ranker).map_err(io)?,
            None => {}
        }
        let json = serde_json::to_vec_pretty(&m.report).expect("a report serialises");
        std::fs::write(dir.join("fitted.json"), json).map_err(io)?;
        self.commit_set(&dir, &m.report.version, &pointer)
            .map_err(io)?;
        Ok(())
    }

    /// Holds `fit.lock` in the fitted folder until dropped, waiting while
    /// another process (a `sommelier fit` job, a replica sharing
    /// `models.dir`) holds it: two fits never write the folder at once.
    pub(super) fn lock_models_dir(&self) -> Result<std::fs::File> {
        let root = self.config().models_dir();
        let path = root.join("fit.lock");
        let io = |e: std::io::Error| {
            EngineError::Model(format!("cannot lock {} for a fit: {e}", path.display()))
        };
        std::fs::create_dir_all(&root).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    /// Loads the set `CURRENT` names when it is not the one in use — a fit
    /// by another process sharing `models.dir` (a `sommelier fit` job, another
    /// replica) — and returns its version. While this engine fits, it waits
    /// for that fit instead. A set that does not load is an error and the
    /// models in use keep serving. Named sets fitted again, or holding
    /// events deleted since, are dropped first (`named.rs`).
    pub fn follow_models(&self) -> Result<Option<String>> {
        for name in self.follow_named_sets() {
            tracing::info!(set = %name, "named set fitted again or holding deleted events; loaded again at its next use");
        }
        let Some(_no_fit_here) = self.models_fit.try_lock() else {
            return Ok(None);
        };
        let Some(dir) = self.fitted_set_dir() else {
            return Ok(None);
        };
        if dir == self.config().models_dir() {
            // The flat folder of an older release: only a start loads it.
            return Ok(None);
        }
        let named = dir.file_name().map(|n| n.to_string_lossy().to_string());
        let in_use = self.current_models().map(|m| m.report.version.clone());
        if named.is_none() || named == in_use {
            return Ok(None);
        }
        Ok(self.load_models()?.map(|r| r.version))
    }

    /// Loads the saved models if there are any, after checking every file
    /// of the set against its manifest. Returns their report.
    pub fn load_models(&self) -> Result<Option<FitReport>> {
        let Some(dir) = self.fitted_set_dir() else {
            return Ok(None);
        };
        let Some(models) = self.read_set(&dir, REFIT)? else {
            return Ok(None);
        };
        let report = models.report.clone();
        *self.models.write() = Some(Arc::new(models));
        Ok(Some(report))
    }

    /// The set in `dir`, every file checked against its manifest first
    /// (`None`: the flat folder of an older release, with nothing fitted).
    /// `fix` says what to do when it is damaged.
    pub(super) fn read_set(&self, dir: &Path, fix: &str) -> Result<Option<Models>> {
        let meta = dir.join("fitted.json");
        if dir.join(MANIFEST).exists() || dir != self.config().models_dir() {
            Self::verify_set(dir, fix)?;
        } else if !meta.exists() {
            return Ok(None);
        }
        let bad = |what: String| EngineError::Model(format!("{what}; {fix}"));
        let report: FitReport = serde_json::from_slice(
            &std::fs::read(&meta)
                .map_err(|e| bad(format!("cannot read {}: {e}", meta.display())))?,
        )
        .map_err(|e| bad(format!("{} is not a fit report: {e}", meta.display())))?;
        let collaborative = match report.collaborative.as_str() {
            "als" => Collaborative::Als(Box::new(AlsServing::load(
                FactorModel::load(&dir.join("als.bin")).map_err(|e| bad(e.to_string()))?,
                dir,
                self.config().models.fit_threads,
                report.als_search_ef,
            )?)),
            "ease" => Collaborative::Ease(
                ItemNeighbors::load(&dir.join("ease.bin")).map_err(|e| bad(e.to_string()))?,
            ),
            other => {
                return Err(bad(format!(
                    "{} names an unknown collaborative model `{other}`",
                    meta.display()
                )));
            }
        };
        let sequential =
            ItemNeighbors::load(&dir.join("sequential.bin")).map_err(|e| bad(e.to_string()))?;
        let sasrec = if report.sasrec.is_some() {
            sommelier_sequence::SasRec::load(dir).map_err(|e| bad(e.to_string()))?
        } else {
            None
        };
        let ranker_path = dir.join("ranker.json");
        let ranker = if ranker_path.exists() {
            let raw = std::fs::read(&ranker_path)
                .map_err(|e| bad(format!("cannot read {}: {e}", ranker_path.display())))?;
            let model: LinearModel = serde_json::from_slice(&raw)
                .map_err(|e| bad(format!("{} is not a ranker: {e}", ranker_path.display())))?;
            if model.features != signals::names() || model.weights.len() != model.features.len() {
                // A ranker of an older feature set: the tables still serve,
                // ranked by fusion until the next fit.
                tracing::warn!(
                    path = %ranker_path.display(),
                    "the saved ranker was fitted on other features and is not used; run `sommelier fit` to refit"
                );
                None
            } else {
                Some(model)
            }
        } else {
            None
        };
        // A set saved before item similarity was fitted has no table: the
        // similarity is content alone until the next fit.
        let similar_path = dir.join("similar.bin");
        let similar = if similar_path.exists() {
            Some(ItemNeighbors::load(&similar_path).map_err(|e| bad(e.to_string()))?)
        } else {
            None
        };
        Ok(Some(Models {
            report,
            collaborative,
            sequential,
            sasrec,
            ranker,
            similar,
        }))
    }
}
