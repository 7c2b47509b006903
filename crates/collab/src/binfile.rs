//! The small binary format both fitted tables are saved in: a magic tag, then
//! little-endian numbers and length-prefixed ids, written to a temporary file
//! and renamed so a crash never leaves a torn file.

use std::io::{Read, Write};
use std::path::Path;

/// Longest id accepted when reading (a guard against a corrupt length).
const MAX_ID_BYTES: usize = 1 << 16;

/// An "invalid data" error naming the file.
pub(crate) fn invalid(path: &Path, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {why}", path.display()),
    )
}

/// Writes `path` through `body` into a temporary file, syncs and renames it.
pub(crate) fn write_atomically(
    path: &Path,
    magic: &[u8; 8],
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        w.write_all(magic)?;
        body(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Opens `path` and checks its magic tag; `what` names the expected content.
pub(crate) fn open(
    path: &Path,
    magic: &[u8; 8],
    what: &str,
) -> std::io::Result<std::io::BufReader<std::fs::File>> {
    let mut r = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut got = [0u8; 8];
    r.read_exact(&mut got)?;
    if &got != magic {
        return Err(invalid(path, &format!("not {what}")));
    }
    Ok(r)
}

/// Writes ids as (u32 length, bytes).
pub(crate) fn write_ids(w: &mut dyn Write, ids: &[String]) -> std::io::Result<()> {
    for id in ids {
        w.write_all(&(id.len() as u32).to_le_bytes())?;
        w.write_all(id.as_bytes())?;
    }
    Ok(())
}

/// Reads `n` ids [`write_ids`] wrote.
pub(crate) fn read_ids(r: &mut impl Read, n: usize, path: &Path) -> std::io::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n.min(1 << 20));
    let mut len = [0u8; 4];
    for _ in 0..n {
        r.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_ID_BYTES {
            return Err(invalid(path, "implausible id length"));
        }
        let mut s = vec![0u8; len];
        r.read_exact(&mut s)?;
        ids.push(String::from_utf8(s).map_err(|_| invalid(path, "an id is not UTF-8"))?);
    }
    Ok(ids)
}

/// Reads one little-endian u64.
pub(crate) fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}
