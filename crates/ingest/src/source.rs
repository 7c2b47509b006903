//! File readers: JSONL and CSV, one raw record at a time, with line numbers,
//! a per-line size limit and UTF-8 checks. Problems with one line become that
//! line's error; only I/O failures stop the read.

use crate::error::{IngestError, Result};
use crate::fields::{FieldError, FieldMap, Fields};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma- (or other delimiter-) separated values with a header row.
    Csv,
}

impl Format {
    /// Guesses the format from the extension: `.csv`/`.tsv` are CSV, the rest JSONL.
    pub fn from_path(path: &Path) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv" | "tsv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// How to read a source.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Format; `None` guesses from the file name.
    pub format: Option<Format>,
    /// CSV delimiter; `None` is tab for `.tsv`, comma otherwise.
    pub delimiter: Option<u8>,
    /// Separator of list values in CSV cells (`Comedy|Drama`).
    pub list_sep: char,
    /// Longest accepted line, in bytes.
    pub max_line_bytes: usize,
    /// Field renames and constants.
    pub map: FieldMap,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            format: None,
            delimiter: None,
            list_sep: '|',
            max_line_bytes: 1 << 20,
            map: FieldMap::default(),
        }
    }
}

/// One record as read: where it was, its fields or why they could not be read.
#[derive(Debug)]
pub struct RawRecord {
    /// 1-based line number where the record starts.
    pub line: u64,
    /// Bytes of input consumed so far (for progress).
    pub offset: u64,
    /// The fields, or the reason the line is unreadable.
    pub fields: std::result::Result<Fields, FieldError>,
    /// The line as text (lossy, truncated), for the reject file.
    pub raw: String,
}

const RAW_KEEP: usize = 1024;

fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(RAW_KEEP)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > RAW_KEEP {
        s.push('…');
    }
    s
}

/// A stream of raw records from a file.
pub(crate) struct Source {
    path: PathBuf,
    inner: Inner,
    opts: SourceOptions,
    pub(crate) len: u64,
}

enum Inner {
    Jsonl {
        reader: BufReader<File>,
        line: u64,
        offset: u64,
        buf: Vec<u8>,
    },
    Csv {
        reader: csv::Reader<File>,
        headers: Vec<String>,
        rec: csv::ByteRecord,
    },
}

impl Source {
    pub(crate) fn open(path: &Path, opts: SourceOptions) -> Result<Self> {
        let input = |source| IngestError::Input {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(input)?;
        let len = file.metadata().map_err(input)?.len();
        let format = opts.format.unwrap_or_else(|| Format::from_path(path));
        let inner = match format {
            Format::Jsonl => Inner::Jsonl {
                reader: BufReader::with_capacity(1 << 18, file),
                line: 0,
                offset: 0,
                buf: Vec::new(),
            },
            Format::Csv => {
                let tsv = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
                let delimiter = opts.delimiter.unwrap_or(if tsv { b'\t' } else { b',' });
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(delimiter)
                    .flexible(true)
                    .buffer_capacity(1 << 18)
                    .from_reader(file);
                let header = |reason: String| IngestError::Header {
                    path: path.to_path_buf(),
                    reason,
                };
                let raw = reader
                    .byte_headers()
                    .map_err(|e| header(e.to_string()))?
                    .clone();
                if raw.is_empty() || (raw.len() == 1 && raw[0].is_empty()) {
                    return Err(header("the file is empty or has no header row".into()));
                }
                let mut headers = Vec::with_capacity(raw.len());
                for (i, h) in raw.iter().enumerate() {
                    let h = std::str::from_utf8(h)
                        .map_err(|_| header(format!("column {} is not valid UTF-8", i + 1)))?;
                    let name = opts
                        .map
                        .target(h.trim().trim_start_matches('\u{feff}'))
                        .to_string();
                    if name.is_empty() {
                        return Err(header(format!("column {} has no name", i + 1)));
                    }
                    if headers.contains(&name) {
                        return Err(header(format!(
                            "column `{name}` appears twice (after mapping)"
                        )));
                    }
                    headers.push(name);
                }
                Inner::Csv {
                    reader,
                    headers,
                    rec: csv::ByteRecord::new(),
                }
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            inner,
            opts,
            len,
        })
    }

    fn read_err(&self, source: std::io::Error) -> IngestError {
        IngestError::Input {
            path: self.path.clone(),
            source,
        }
    }

    /// The next record, `None` at the end.
    pub(crate) fn next_record(&mut self) -> Result<Option<RawRecord>> {
        let max = self.opts.max_line_bytes;
        let list_sep = self.opts.list_sep;
        match &mut self.inner {
            Inner::Jsonl {
                reader,
                line,
                offset,
                buf,
            } => loop {
                buf.clear();
                *line += 1;
                let (consumed, too_long) = match read_line_limited(reader, buf, max) {
                    Ok(r) => r,
                    Err(e) => {
                        let e = self.read_err(e);
                        return Err(e);
                    }
                };
                if consumed == 0 {
                    return Ok(None);
                }
                *offset += consumed as u64;
                let (line, offset) = (*line, *offset);
                if let Some(total) = too_long {
                    return Ok(Some(RawRecord {
                        line,
                        offset,
                        fields: Err(FieldError::record(format!(
                            "line is {total} bytes long, the limit is {max} (ingest.max_line_bytes)"
                        ))),
                        raw: excerpt(buf),
                    }));
                }
                let text = trim_eol(buf);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let fields = parse_json_line(text)
                    .map(|m| Fields::new(self.opts.map.apply(m), false, list_sep));
                return Ok(Some(RawRecord {
                    line,
                    offset,
                    fields,
                    raw: excerpt(text),
                }));
            },
            Inner::Csv {
                reader,
                headers,
                rec,
            } => {
                let ok = match reader.read_byte_record(rec) {
                    Ok(ok) => ok,
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        let offset = e.position().map_or(0, |p| p.byte());
                        if let csv::ErrorKind::Io(_) = e.kind() {
                            let csv::ErrorKind::Io(io) = e.into_kind() else {
                                unreachable!()
                            };
                            return Err(self.read_err(io));
                        }
                        return Ok(Some(RawRecord {
                            line,
                            offset,
                            fields: Err(FieldError::record(format!("unreadable CSV: {e}"))),
                            raw: String::new(),
                        }));
                    }
                };
                if !ok {
                    return Ok(None);
                }
                let (line, offset) = rec.position().map_or((0, 0), |p| (p.line(), p.byte()));
                let raw_len = rec.as_slice().len() + rec.len();
                let raw = excerpt(&rec.iter().collect::<Vec<_>>().join(&b","[..]));
                let fields = if raw_len > max {
                    Err(FieldError::record(format!(
                        "line is about {raw_len} bytes long, the limit is {max} (ingest.max_line_bytes)"
                    )))
                } else if rec.len() != headers.len() {
                    Err(FieldError::record(format!(
                        "has {} columns, the header has {}",
                        rec.len(),
                        headers.len()
                    )))
                } else {
                    csv_fields(headers, rec)
                        .map(|m| Fields::new(self.opts.map.apply(m), true, list_sep))
                };
                Ok(Some(RawRecord {
                    line,
                    offset,
                    fields,
                    raw,
                }))
            }
        }
    }
}

fn csv_fields(
    headers: &[String],
    rec: &csv::ByteRecord,
) -> std::result::Result<Map<String, Value>, FieldError> {
    let mut m = Map::with_capacity(headers.len());
    for (h, cell) in headers.iter().zip(rec.iter()) {
        let s = std::str::from_utf8(cell).map_err(|e| {
            FieldError::new(
                h,
                format!("invalid UTF-8 at byte {} of the cell", e.valid_up_to()),
            )
        })?;
        m.insert(h.clone(), Value::String(s.to_string()));
    }
    Ok(m)
}

fn trim_eol(buf: &[u8]) -> &[u8] {
    let mut end = buf.len();
    while end > 0 && matches!(buf[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &buf[..end]
}

fn parse_json_line(text: &[u8]) -> std::result::Result<Map<String, Value>, FieldError> {
    let s = std::str::from_utf8(text)
        .map_err(|e| FieldError::record(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(FieldError::record(format!(
            "expected a JSON object, got {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
        Err(e) => Err(FieldError::record(format!("invalid JSON: {e}"))),
    }
}

/// Reads one line into `buf`, keeping at most `max` bytes of it (plus the
/// newline). Returns the bytes consumed and, when the line was longer than `max`,
/// its full length; the rest of a long line is skipped without being stored.
fn read_line_limited(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, Option<usize>)> {
    let (mut consumed, mut content) = (0, 0);
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let newline = chunk.iter().position(|&b| b == b'\n');
        let take = newline.map_or(chunk.len(), |i| i + 1);
        let room = (max + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        content += newline.unwrap_or(take);
        consumed += take;
        r.consume(take);
        if newline.is_some() {
            break;
        }
    }
    Ok((consumed, (content > max).then_some(content)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn long_lines_are_cut_and_skipped() {
        let data = format!("{{}}\n{}\nnext\n", "x".repeat(100));
        let mut r = BufReader::with_capacity(8, Cursor::new(data.into_bytes()));
        let mut buf = Vec::new();
        assert_eq!(read_line_limited(&mut r, &mut buf, 10).unwrap(), (3, None));
        buf.clear();
        let (n, long) = read_line_limited(&mut r, &mut buf, 10).unwrap();
        assert_eq!(n, 101);
        assert!(long.is_some());
        assert!(buf.len() <= 11);
        buf.clear();
        assert_eq!(read_line_limited(&mut r, &mut buf, 10).unwrap(), (5, None));
        assert_eq!(buf, b"next\n");
        buf.clear();
        assert_eq!(read_line_limited(&mut r, &mut buf, 10).unwrap(), (0, None));
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_fine() {
        let mut r = Cursor::new(b"0123456789\n".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_limited(&mut r, &mut buf, 10).unwrap(), (11, None));
        let mut r = Cursor::new(b"0123456789".to_vec());
        buf.clear();
        assert_eq!(read_line_limited(&mut r, &mut buf, 10).unwrap(), (10, None));
    }
}
