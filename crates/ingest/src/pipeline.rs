//! The import pipeline: read and decode on one thread, write on another, account
//! for every record.

use crate::decode::{DecodeOptions, ItemOp, Record, RecordKind, decode};
use crate::error::{IngestError, Result};
use crate::fields::Fields;
use crate::rejects::RejectSink;
use crate::source::{Source, SourceOptions};
use indicatif::{ProgressBar, ProgressStyle};
use sommelier_store::{Store, StoreError, Transaction, Upsert};
use sommelier_types::api::{IngestReport, RecordError};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

/// How to run a file import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// How to read the file.
    pub source: SourceOptions,
    /// Decoding rules.
    pub decode: DecodeOptions,
    /// All or nothing: any rejected record rolls the whole import back.
    pub atomic: bool,
    /// Records per transaction (non-atomic mode).
    pub batch_size: usize,
    /// Reject file; `None` means `<input>.rejects.jsonl`.
    pub reject_path: Option<PathBuf>,
    /// Show a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Rejections kept in the report (all of them go to the reject file).
    pub max_errors_kept: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            source: SourceOptions::default(),
            decode: DecodeOptions::default(),
            atomic: false,
            batch_size: 20_000,
            reject_path: None,
            progress: false,
            max_errors_kept: 100,
        }
    }
}

/// Outcome of a file import.
#[derive(Debug)]
pub struct Imported {
    /// Counts and the first rejections.
    pub report: IngestReport,
    /// The reject file, when something was rejected.
    pub reject_file: Option<PathBuf>,
    /// Wall time of the import.
    pub seconds: f64,
}

enum Decoded {
    Ok(Record),
    Rejected(RecordError, String),
}

struct Chunk {
    records: Vec<Decoded>,
    offset: u64,
}

/// Writes one record; true when it changed the store, false for a duplicate.
fn apply(w: &mut dyn Transaction, r: &Record) -> std::result::Result<bool, StoreError> {
    Ok(match r {
        Record::Item(ItemOp::Upsert(item)) => w.upsert_item(item)? != Upsert::Unchanged,
        Record::Item(ItemOp::Delete(id, at)) => w.delete_item(id, *at)?,
        Record::Event(e) => w.append_event(e)?,
        Record::User(u) => w.upsert_user(u)? != Upsert::Unchanged,
    })
}

/// Events written by one `append_events` call at most.
const EVENTS_PER_CALL: usize = 5_000;

/// Writes the records in order; (changed, duplicates). Runs of events go
/// to the store together (one statement each on PostgreSQL).
fn apply_all(w: &mut dyn Transaction, records: &[Record]) -> Result<(u64, u64), StoreError> {
    let mut changed = Vec::with_capacity(records.len());
    let both_events =
        |a: &Record, b: &Record| matches!((a, b), (Record::Event(_), Record::Event(_)));
    for run in records.chunk_by(both_events) {
        if !matches!(run[0], Record::Event(_)) {
            for r in run {
                changed.push(apply(w, r)?);
            }
            continue;
        }
        for part in run.chunks(EVENTS_PER_CALL) {
            let events: Vec<&sommelier_types::Event> = part
                .iter()
                .filter_map(|r| match r {
                    Record::Event(e) => Some(e),
                    _ => None,
                })
                .collect();
            changed.extend(w.append_events(&events)?);
        }
    }
    let new = changed.iter().filter(|c| **c).count() as u64;
    Ok((new, changed.len() as u64 - new))
}

fn items_of(records: &[Record]) -> Vec<ItemOp> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Item(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

/// Decodes JSON values (an HTTP batch); errors carry the 0-based index as `line`.
pub fn decode_batch(
    kind: RecordKind,
    values: Vec<serde_json::Value>,
    opts: &DecodeOptions,
) -> Vec<std::result::Result<Record, RecordError>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let fields = match v {
                serde_json::Value::Object(m) => Ok(Fields::new(m, false, '|')),
                _ => Err(crate::FieldError::record("expected a JSON object")),
            };
            fields
                .and_then(|f| decode(kind, f, opts))
                .map_err(|e| RecordError {
                    file: None,
                    line: i as u64,
                    field: e.field,
                    reason: e.reason,
                })
        })
        .collect()
}

/// Writes an already decoded batch in one transaction. Rejected entries are
/// counted; in atomic mode any rejection writes nothing. Returns the report and the
/// catalog changes that were committed.
pub fn write_records(
    store: &dyn Store,
    batch: Vec<std::result::Result<Record, RecordError>>,
    atomic: bool,
) -> Result<(IngestReport, Vec<ItemOp>)> {
    let mut report = IngestReport::default();
    let mut good = Vec::with_capacity(batch.len());
    for r in batch {
        match r {
            Ok(rec) => good.push(rec),
            Err(e) => {
                report.rejected += 1;
                report.errors.push(e);
            }
        }
    }
    if atomic && report.rejected > 0 {
        report.rolled_back = true;
        return Ok((report, Vec::new()));
    }
    let (accepted, duplicates) = store.write(|w| Ok::<_, IngestError>(apply_all(w, &good)?))?;
    report.accepted = accepted;
    report.duplicates = duplicates;
    Ok((report, items_of(&good)))
}

/// Imports a JSONL or CSV file into the store.
///
/// Reading and decoding run on a second thread; writes are committed every
/// `batch_size` records (or once, at the end, in atomic mode). Each committed
/// chunk's catalog changes are passed to `on_items` after its commit. Rejected
/// records go to the reject file. On a store or I/O error the import stops and
/// the chunks committed before it stay written.
pub fn import_file(
    store: &dyn Store,
    kind: RecordKind,
    path: &Path,
    opts: &ImportOptions,
    on_items: &mut dyn FnMut(&[ItemOp]),
) -> Result<Imported> {
    opts.decode.validate().map_err(IngestError::Options)?;
    if opts.batch_size == 0 {
        return Err(IngestError::Options("batch size must be at least 1".into()));
    }
    let started = Instant::now();
    let mut source = Source::open(path, opts.source.clone())?;
    let file_name = path.display().to_string();
    let bar = progress_bar(opts.progress, source.len);
    let mut sink = RejectSink::new(
        opts.reject_path
            .clone()
            .unwrap_or_else(|| RejectSink::default_path(path)),
    );
    let mut report = IngestReport::default();

    let (tx, rx) = mpsc::sync_channel::<Result<Chunk>>(2);
    let outcome = std::thread::scope(|scope| {
        // Owned by this closure: if writing stops early, dropping it unblocks the
        // reader thread, which the scope then joins.
        let rx = rx;
        let batch = opts.batch_size;
        let decode_opts = &opts.decode;
        let file_name = &file_name;
        scope.spawn(move || {
            let mut chunk = Vec::with_capacity(batch);
            loop {
                let raw = match source.next_record() {
                    Ok(Some(raw)) => raw,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let d = match raw.fields.and_then(|f| decode(kind, f, decode_opts)) {
                    Ok(rec) => Decoded::Ok(rec),
                    Err(e) => Decoded::Rejected(
                        RecordError {
                            file: Some(file_name.clone()),
                            line: raw.line,
                            field: e.field,
                            reason: e.reason,
                        },
                        raw.raw,
                    ),
                };
                chunk.push(d);
                if chunk.len() == batch {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(batch));
                    if tx
                        .send(Ok(Chunk {
                            records: full,
                            offset: raw.offset,
                        }))
                        .is_err()
                    {
                        return;
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = tx.send(Ok(Chunk {
                    records: chunk,
                    offset: source.len,
                }));
            }
        });

        let mut split = |chunk: Chunk, report: &mut IngestReport| -> Result<Vec<Record>> {
            let mut good = Vec::with_capacity(chunk.records.len());
            for d in chunk.records {
                match d {
                    Decoded::Ok(r) => good.push(r),
                    Decoded::Rejected(e, raw) => {
                        sink.reject(&e, &raw)?;
                        report.rejected += 1;
                        if report.errors.len() < opts.max_errors_kept {
                            report.errors.push(e);
                        }
                    }
                }
            }
            bar.set_position(chunk.offset);
            Ok(good)
        };

        if opts.atomic {
            let mut committed_items = Vec::new();
            let res = store.write(|w| {
                for msg in rx.iter() {
                    let chunk = msg?;
                    let good = split(chunk, &mut report)?;
                    if report.rejected == 0 {
                        let (acc, dup) = apply_all(w, &good)?;
                        report.accepted += acc;
                        report.duplicates += dup;
                        committed_items.extend(items_of(&good));
                    }
                    set_rate(
                        &bar,
                        report.accepted + report.duplicates + report.rejected,
                        started,
                    );
                }
                if report.rejected > 0 {
                    Err(AtomicAbort::Rollback)
                } else {
                    Ok(())
                }
            });
            match res {
                Ok(()) => {
                    on_items(&committed_items);
                    Ok(())
                }
                Err(AtomicAbort::Rollback) => {
                    report.accepted = 0;
                    report.duplicates = 0;
                    report.rolled_back = true;
                    Ok(())
                }
                Err(AtomicAbort::Failed(e)) => Err(e),
            }
        } else {
            for msg in rx.iter() {
                let good = split(msg?, &mut report)?;
                let (acc, dup) = store.write(|w| Ok::<_, IngestError>(apply_all(w, &good)?))?;
                report.accepted += acc;
                report.duplicates += dup;
                on_items(&items_of(&good));
                set_rate(
                    &bar,
                    report.accepted + report.duplicates + report.rejected,
                    started,
                );
            }
            Ok(())
        }
    });
    bar.finish_and_clear();
    outcome?;
    let reject_file = sink.finish()?;
    Ok(Imported {
        report,
        reject_file,
        seconds: started.elapsed().as_secs_f64(),
    })
}

enum AtomicAbort {
    Rollback,
    Failed(IngestError),
}

impl From<IngestError> for AtomicAbort {
    fn from(e: IngestError) -> Self {
        AtomicAbort::Failed(e)
    }
}

impl From<StoreError> for AtomicAbort {
    fn from(e: StoreError) -> Self {
        AtomicAbort::Failed(e.into())
    }
}

fn progress_bar(show: bool, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn set_rate(bar: &ProgressBar, rows: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
}
