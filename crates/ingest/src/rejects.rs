//! The reject file: one JSON line per rejected record, with its reason.

use crate::error::{IngestError, Result};
use sommelier_types::api::RecordError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes rejected records to a JSONL file, created on the first rejection.
pub struct RejectSink {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    written: u64,
}

impl RejectSink {
    /// A sink writing to `path` (nothing is created until a record is rejected).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            out: None,
            written: 0,
        }
    }

    /// The default reject file for an input: `<input>.rejects.jsonl`.
    pub fn default_path(input: &Path) -> PathBuf {
        let mut p = input.as_os_str().to_owned();
        p.push(".rejects.jsonl");
        PathBuf::from(p)
    }

    /// Where rejects go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn fail(&self, source: std::io::Error) -> IngestError {
        IngestError::RejectFile {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends one rejected record with its raw text.
    pub fn reject(&mut self, err: &RecordError, raw: &str) -> Result<()> {
        if self.out.is_none() {
            let f = File::create(&self.path).map_err(|e| self.fail(e))?;
            self.out = Some(BufWriter::new(f));
        }
        let line = serde_json::json!({
            "file": err.file, "line": err.line, "field": err.field, "reason": err.reason, "raw": raw,
        });
        let out = self.out.as_mut().expect("opened above");
        let res = serde_json::to_writer(&mut *out, &line)
            .map_err(std::io::Error::other)
            .and_then(|_| out.write_all(b"\n"));
        res.map_err(|e| self.fail(e))?;
        self.written += 1;
        Ok(())
    }

    /// Flushes and syncs the file; removes a stale file from an earlier run when
    /// this run rejected nothing.
    pub fn finish(mut self) -> Result<Option<PathBuf>> {
        match self.out.take() {
            Some(mut out) => {
                out.flush().map_err(|e| self.fail(e))?;
                out.get_ref().sync_all().map_err(|e| self.fail(e))?;
                Ok(Some(self.path))
            }
            None => {
                if self.path.exists() {
                    std::fs::remove_file(&self.path).map_err(|e| self.fail(e))?;
                }
                Ok(None)
            }
        }
    }
}
