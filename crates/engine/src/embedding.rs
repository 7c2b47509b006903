//! The embedding job: keeps one stored vector per live item and model, embedding
//! only items whose text changed since their vector was made.

use crate::{Engine, EngineError, Result};
use serde::Serialize;
use sommelier_embed::{Embedder, content_hash, item_text};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What one run of the job did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct EmbedReport {
    /// Embedding model id.
    pub model: String,
    /// Live items in the catalog.
    pub items: u64,
    /// Items embedded in this run (new or changed text).
    pub embedded: u64,
    /// Items whose stored vector was still current.
    pub unchanged: u64,
    /// Vectors of deleted items removed.
    pub removed: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Texts per embedding call and per write transaction.
const CHUNK: usize = 2048;

/// The embedding backlog job's state.
pub(crate) struct Backlog {
    /// Items may be waiting for vectors (true at start).
    pub(crate) pending: AtomicBool,
    /// What the last run did.
    pub(crate) last: parking_lot::Mutex<Option<EmbedReport>>,
}

impl Default for Backlog {
    fn default() -> Self {
        Self {
            pending: AtomicBool::new(true),
            last: parking_lot::Mutex::new(None),
        }
    }
}

/// The embedding backlog as the dashboard shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmbedBacklog {
    /// A run is due (items may be waiting for vectors).
    pub pending: bool,
    /// What the last run did: items seen, embedded, already current, vectors removed.
    pub last: Option<EmbedReport>,
}

/// Most items an API batch embeds on the spot; larger loads are the embedding
/// job's (`sommelier embed`), which batches by length and shows progress.
pub const EMBED_ON_INGEST_MAX: usize = 1_000;

impl Engine {
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
        *self.embedder.write() = Some(embedder);
        Ok(())
    }

    /// The embedder for query text, when one was set.
    pub(crate) fn query_embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.embedder.read().clone()
    }

    /// Embeds items just written through the API with the attached query
    /// embedder (same model as the stored vectors), so a new item is
    /// searchable, similar and recommendable at once. Does nothing without
    /// an embedder, or when the batch is larger than [`EMBED_ON_INGEST_MAX`]
    /// (then `sommelier embed` picks them up).
    pub(crate) fn embed_on_ingest(&self, items: &[&sommelier_types::Item]) -> Result<()> {
        let Some(embedder) = self.query_embedder() else {
            return Ok(());
        };
        if items.is_empty() {
            return Ok(());
        }
        if items.len() > EMBED_ON_INGEST_MAX {
            tracing::info!(
                items = items.len(),
                "large item batch: left to the embedding backlog job"
            );
            self.backlog.pending.store(true, Ordering::Relaxed);
            return Ok(());
        }
        let model = embedder.model_id().to_string();
        let texts: Vec<String> = items.iter().map(|i| item_text(i)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let done = embedder
            .embed(&refs)
            .map_err(EngineError::from)
            .and_then(|vectors| {
                self.store().write(|w| {
                    for ((item, text), v) in items.iter().zip(&texts).zip(&vectors) {
                        w.put_vector(item.id.as_str(), &model, &content_hash(&model, text), v)?;
                    }
                    Ok::<_, crate::EngineError>(())
                })
            });
        if done.is_err() {
            // Stored, not embedded: the backlog job picks them up.
            self.backlog.pending.store(true, Ordering::Relaxed);
        }
        done
    }

    /// Embeds what the store holds without a current vector — items stored
    /// by a process killed before it embedded them, a batch too large to
    /// embed on ingest, an embedding that failed — when the job is pending:
    /// once at start, then after each of those. Needs the query embedder
    /// (the same model as the stored vectors); returns what it did, or
    /// `None` when nothing was pending (or no embedder is attached yet).
    pub fn embed_backlog(&self) -> Result<Option<EmbedReport>> {
        let Some(embedder) = self.query_embedder() else {
            return Ok(None);
        };
        if !self.backlog.pending.swap(false, Ordering::Relaxed) {
            return Ok(None);
        }
        match self.embed_items(&*embedder, &mut |_, _| {}) {
            Ok(r) => {
                *self.backlog.last.lock() = Some(r.clone());
                Ok(Some(r))
            }
            Err(e) => {
                self.backlog.pending.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// The embedding backlog job's state, for the dashboard.
    pub fn embed_backlog_view(&self) -> EmbedBacklog {
        EmbedBacklog {
            pending: self.backlog.pending.load(Ordering::Relaxed),
            last: self.backlog.last.lock().clone(),
        }
    }

    /// Embeds new and changed items with `embedder` and stores their vectors;
    /// drops vectors of items that are no longer live. `progress(done, total)`
    /// is called after each chunk.
    pub fn embed_items(
        &self,
        embedder: &dyn Embedder,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<EmbedReport> {
        let started = Instant::now();
        let model = embedder.model_id().to_string();
        let stored = self.store().vector_hashes(&model)?;
        let mut live = HashSet::new();
        let mut todo: Vec<(String, String, String)> = Vec::new();
        let mut report = EmbedReport {
            model: model.clone(),
            ..EmbedReport::default()
        };
        self.store().scan_items(&mut |item| {
            let text = item_text(&item);
            let hash = content_hash(&model, &text);
            report.items += 1;
            if stored.get(item.id.as_str()) == Some(&hash) {
                report.unchanged += 1;
            } else {
                todo.push((item.id.as_str().to_string(), text, hash));
            }
            live.insert(item.id.as_str().to_string());
        })?;
        let gone: Vec<&String> = stored.keys().filter(|id| !live.contains(*id)).collect();
        report.removed = self.store().write(|w| {
            let mut n = 0;
            for id in &gone {
                n += u64::from(w.delete_vector(id, &model)?);
            }
            Ok::<_, crate::EngineError>(n)
        })?;
        // Similar lengths together: less padding inside each batch.
        todo.sort_by_key(|(_, text, _)| text.len());
        let total = todo.len() as u64;
        progress(0, total);
        for chunk in todo.chunks(CHUNK) {
            let texts: Vec<&str> = chunk.iter().map(|(_, t, _)| t.as_str()).collect();
            let vectors = embedder.embed(&texts)?;
            self.store().write(|w| {
                for ((id, _, hash), v) in chunk.iter().zip(&vectors) {
                    w.put_vector(id, &model, hash, v)?;
                }
                Ok::<_, crate::EngineError>(())
            })?;
            report.embedded += chunk.len() as u64;
            progress(report.embedded, total);
        }
        if report.embedded + report.removed > 0 {
            let changed: Vec<&str> = todo
                .iter()
                .map(|(id, ..)| id.as_str())
                .chain(gone.iter().map(|id| id.as_str()))
                .collect();
            self.catalog_changed_for(&changed)?;
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}
