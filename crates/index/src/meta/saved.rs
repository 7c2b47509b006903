//! The slot table saved between starts (`slots.bin`): every slot's id,
//! liveness and filter fields in the binary codec with a checksum, then the
//! length and checksum of every other file of the index's save, written
//! last; a load checks those files before anything reads them. A table saved
//! as JSON (`slots.json`) by older builds still loads, unchecked.

use super::{ItemMeta, Slot, Slots, blocks, flags};
use crate::error::{IndexError, Result, replace_file};
use sommelier_types::codec::{Damaged, Reader, Unopened, Writer};
use std::path::Path;

/// A file of a saved index, as the slot table records it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SavedFile {
    pub name: String,
    pub len: u64,
    pub sum: u64,
}

impl SavedFile {
    /// Reads `dir/name` through and records its length and checksum.
    pub fn of(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let (len, sum) = file_checksum(&path).map_err(IndexError::io(&path))?;
        Ok(Self {
            name: name.to_string(),
            len,
            sum,
        })
    }

    /// Whether the file is still what was saved; `Corrupt` when not.
    fn verify(&self, dir: &Path) -> Result<()> {
        let path = dir.join(&self.name);
        let (len, sum) = file_checksum(&path).map_err(IndexError::io(&path))?;
        if (len, sum) != (self.len, self.sum) {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!(
                    "{}: checksum mismatch (the file is damaged; {len} bytes, {} saved)",
                    self.name, self.len
                ),
            });
        }
        Ok(())
    }
}

/// Length and checksum of a file, read in 1 MiB pieces.
fn file_checksum(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut sum = sommelier_types::codec::Checksum::new(len);
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sum.update(&buf[..n]);
        read += n as u64;
    }
    if read != len {
        return Err(std::io::Error::other("the file changed while it was read"));
    }
    Ok((len, sum.finish()))
}

impl Slots {
    /// Saves the table as `slots.bin` (the binary layout of the engine's
    /// saved files, with a checksum): read back in a fraction of the time
    /// JSON took at a million slots.
    /// `files`: the index's other files, already written, recorded with
    /// their checksums so a load finds damage in them.
    pub fn save(&self, dir: &Path, files: &[SavedFile]) -> Result<()> {
        let mut w = Writer::image(SLOTS_MAGIC, SLOTS_FORMAT, 64 + self.slots.len() * 64);
        w.u64(self.dim as u64);
        w.len(self.slots.len());
        for slot in &self.slots {
            w.str(&slot.id);
            w.u8(slot.live as u8);
            let m = &slot.meta;
            w.str(&m.kind);
            w.len(m.categories.len());
            for c in &m.categories {
                w.str(c);
            }
            w.u8(m.available as u8);
            w.opt_f64(m.price);
            w.opt_i64(m.year.map(i64::from));
        }
        w.len(files.len());
        for f in files {
            w.str(&f.name);
            w.u64(f.len);
            w.u64(f.sum);
        }
        replace_file(dir, SLOTS_FILE, &w.seal())?;
        // A table from before the binary layout would outlive this one.
        match std::fs::remove_file(dir.join(LEGACY_SLOTS_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(IndexError::io(&dir.join(LEGACY_SLOTS_FILE))(e))
            }
            _ => Ok(()),
        }
    }

    /// Loads `slots.bin`, or the JSON `slots.json` an older save wrote.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(SLOTS_FILE);
        let mut s = match std::fs::read(&path) {
            Ok(bytes) => Self::decode(&bytes).map_err(|reason| IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!("{SLOTS_FILE}: {reason}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let path = dir.join(LEGACY_SLOTS_FILE);
                let bytes = std::fs::read(&path).map_err(IndexError::io(&path))?;
                serde_json::from_slice(&bytes).map_err(|e| IndexError::Corrupt {
                    dir: dir.to_path_buf(),
                    reason: format!("{LEGACY_SLOTS_FILE}: {e}"),
                })?
            }
            Err(e) => return Err(IndexError::io(&path)(e)),
        };
        s.by_id = foldhash::HashMap::with_capacity_and_hasher(s.slots.len(), Default::default());
        for (i, slot) in s.slots.iter().enumerate() {
            s.by_id
                .insert(sommelier_types::IdKey::new(&slot.id), i as u32);
        }
        s.flags = s.slots.iter().map(flags).collect();
        s.blocked = s.flags.iter().filter(|&&f| blocks(f)).count();
        Ok(s)
    }

    /// Checks every file the table recorded against its checksum.
    pub fn verify_files(&self, dir: &Path) -> Result<()> {
        self.files.iter().try_for_each(|f| f.verify(dir))
    }

    /// The slots of a `slots.bin` image (the lookup tables left empty).
    fn decode(image: &[u8]) -> std::result::Result<Self, String> {
        let mut r = Reader::open(image, SLOTS_MAGIC, SLOTS_FORMAT).map_err(|e| match e {
            Unopened::Format => format!("not a slot table of format {SLOTS_FORMAT}"),
            Unopened::Checksum => "checksum mismatch: the file is damaged".to_string(),
        })?;
        let damaged = |d: Damaged| d.to_string();
        let dim = usize::try_from(r.u64().map_err(damaged)?).map_err(|e| e.to_string())?;
        let n = r.len(8 + 1 + 8 + 8 + 1 + 9 + 9).map_err(damaged)?;
        let mut slots = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.str().map_err(damaged)?.to_string();
            let live = r.u8().map_err(damaged)? != 0;
            let kind = r.str().map_err(damaged)?.to_string();
            let nc = r.len(8).map_err(damaged)?;
            let mut categories = Vec::with_capacity(nc);
            for _ in 0..nc {
                categories.push(r.str().map_err(damaged)?.to_string());
            }
            let available = r.u8().map_err(damaged)? != 0;
            let price = r.opt_f64().map_err(damaged)?;
            let at = r.at();
            let year = match r.opt_i64().map_err(damaged)? {
                None => None,
                Some(y) => Some(i32::try_from(y).map_err(|_| Damaged(at).to_string())?),
            };
            slots.push(Slot {
                id,
                live,
                meta: ItemMeta {
                    kind,
                    categories,
                    available,
                    price,
                    year,
                },
            });
        }
        let nf = r.len(24).map_err(damaged)?;
        let mut files = Vec::with_capacity(nf);
        for _ in 0..nf {
            files.push(SavedFile {
                name: r.str().map_err(damaged)?.to_string(),
                len: r.u64().map_err(damaged)?,
                sum: r.u64().map_err(damaged)?,
            });
        }
        if r.left() != 0 {
            return Err(Damaged(r.at()).to_string());
        }
        Ok(Slots {
            slots,
            dim,
            files,
            ..Slots::default()
        })
    }
}

/// The slot table's file, and the JSON one older saves wrote.
const SLOTS_FILE: &str = "slots.bin";
const LEGACY_SLOTS_FILE: &str = "slots.json";
const SLOTS_MAGIC: &[u8; 8] = b"SOMMSLOT";
const SLOTS_FORMAT: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::tests::meta;

    #[test]
    fn the_slot_table_round_trips_and_older_json_tables_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Slots::new(3);
        s.upsert(
            "a",
            &meta("movie", &["Drama", "Comedy"], true, None, Some(1999)),
        );
        s.upsert("b", &meta("product", &[], false, Some(119.5), None));
        s.upsert("c", &meta("movie", &[], true, None, Some(-44)));
        s.remove("c");
        let same = |t: &Slots| {
            assert_eq!(t.dim, 3);
            assert_eq!(t.slots.len(), 3);
            for (x, y) in t.slots.iter().zip(&s.slots) {
                assert_eq!((&x.id, &x.meta, x.live), (&y.id, &y.meta, y.live));
            }
            assert_eq!(t.live_slot("b"), Some(1));
            assert_eq!(t.live_slot("c"), None);
            assert_eq!(t.blocked, s.blocked);
        };
        // JSON, as older saves wrote it, is still read when no binary table is there.
        std::fs::write(
            dir.path().join(LEGACY_SLOTS_FILE),
            serde_json::to_vec(&s).unwrap(),
        )
        .unwrap();
        same(&Slots::load(dir.path()).unwrap());
        std::fs::write(dir.path().join("beside"), b"saved beside the table").unwrap();
        let beside = SavedFile::of(dir.path(), "beside").unwrap();
        s.save(dir.path(), std::slice::from_ref(&beside)).unwrap();
        assert!(!dir.path().join(LEGACY_SLOTS_FILE).exists());
        let loaded = Slots::load(dir.path()).unwrap();
        same(&loaded);
        assert_eq!(loaded.files, vec![beside]);
        loaded.verify_files(dir.path()).unwrap();
        std::fs::write(dir.path().join("beside"), b"saved beside the tablE").unwrap();
        let err = loaded.verify_files(dir.path()).unwrap_err().to_string();
        assert!(err.contains("beside: checksum mismatch"), "{err}");
    }
}
