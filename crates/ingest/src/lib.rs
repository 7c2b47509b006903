//! Ingestion: turns JSONL or CSV files and HTTP batches into validated items,
//! users and events, writes them, and accounts for every record.
//!
//! Every record ends up in exactly one of three counts of the [`IngestReport`]:
//! accepted, duplicate or rejected. A rejected record carries file, line, field
//! and reason, and by default goes to a reject file while the others are written;
//! in atomic mode one rejection rolls the whole import back.

pub mod decode;
mod error;
mod fields;
mod pipeline;
mod rejects;
mod source;

pub use decode::{DecodeOptions, ItemOp, Record, RecordKind};
pub use error::{IngestError, Result};
pub use fields::{FieldError, FieldMap, Fields};
pub use pipeline::{ImportOptions, Imported, decode_batch, import_file, write_records};
pub use rejects::RejectSink;
pub use source::{Format, SourceOptions};

pub use sommelier_types::api::{IngestReport, RecordError};
