//! The index as plain data, so that a caller can keep it in its own saved
//! file and a restart loads it instead of indexing the catalog again.

use super::{Fields, LexicalError, LexicalIndex, Ords, err, writer};
use std::path::{Path, PathBuf};
use tantivy::Index;
use tantivy::directory::{Directory, RamDirectory};

/// What [`LexicalIndex::save`] returns and [`LexicalIndex::load`] takes:
/// the index's files and the item id of every document number.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedIndex {
    /// Each file of the index (path in the index folder, content).
    pub files: Vec<(String, Vec<u8>)>,
    /// The item id of each document number (`None` once replaced).
    pub ids: Vec<Option<String>>,
}

impl LexicalIndex {
    /// The committed index as data. Holds the writer meanwhile, so no
    /// update is half in it.
    pub fn save(&self) -> Result<SavedIndex, LexicalError> {
        let _writer = self.writer.lock().map_err(|_| err("a writer panicked"))?;
        let dir = self.index.directory();
        let mut paths: Vec<PathBuf> = dir.list_managed_files().into_iter().collect();
        paths.extend(["meta.json", ".managed.json"].map(PathBuf::from));
        paths.sort();
        paths.dedup();
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let name = p.to_string_lossy().into_owned();
            if name.ends_with(".lock") {
                continue;
            }
            match dir.atomic_read(&p) {
                Ok(bytes) => files.push((name, bytes)),
                // A file no commit refers to any more, collected meanwhile.
                Err(tantivy::directory::error::OpenReadError::FileDoesNotExist(_)) => {}
                Err(e) => return Err(err(e)),
            }
        }
        let ids = self
            .ords
            .read()
            .map_err(|_| err("a writer panicked"))?
            .ids
            .clone();
        Ok(SavedIndex { files, ids })
    }

    /// The index [`LexicalIndex::save`] returned, in memory again.
    pub fn load(saved: SavedIndex) -> Result<Self, LexicalError> {
        let ram = RamDirectory::create();
        for (name, bytes) in &saved.files {
            ram.atomic_write(Path::new(name), bytes).map_err(err)?;
        }
        let index = Index::open(ram).map_err(err)?;
        let schema = index.schema();
        let field = |name: &str| schema.get_field(name).map_err(err);
        let fields = Fields {
            ord: field("ord")?,
            title: field("title")?,
            body: field("body")?,
        };
        let mut ords = Ords {
            ids: saved.ids,
            of: Default::default(),
        };
        ords.of.reserve(ords.ids.len());
        for (ord, id) in ords.ids.iter().enumerate() {
            if let Some(id) = id {
                ords.of.insert(id.clone(), ord as u64);
            }
        }
        let writer = writer(&index)?;
        Self::assemble(index, writer, ords, fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Doc;

    #[test]
    fn a_loaded_index_answers_and_updates_like_the_saved_one() {
        let ix = crate::tests::index();
        ix.update(
            &[Doc {
                id: "2",
                title: "Mountain Sandal",
                body: vec!["Shoes", "open sandal"],
            }],
            &["4"],
        )
        .unwrap();
        let saved = ix.save().unwrap();
        assert!(saved.files.iter().any(|(n, _)| n == "meta.json"));
        let loaded = LexicalIndex::load(saved).unwrap();
        assert_eq!(loaded.len(), 3);
        for q in [
            "waterproof trail shoes",
            "sandal",
            "racer",
            "haunted house",
            "wet weather",
        ] {
            assert_eq!(
                loaded.search(q, 10).unwrap(),
                ix.search(q, 10).unwrap(),
                "{q}"
            );
        }
        // It keeps being updated in place.
        loaded
            .update(
                &[Doc {
                    id: "6",
                    title: "Racer Deluxe",
                    body: vec!["Shoes"],
                }],
                &["1"],
            )
            .unwrap();
        assert_eq!(loaded.search("racer", 10).unwrap()[0].0, "6");
        assert!(loaded.search("gore-tex", 10).unwrap().is_empty());
        assert_eq!(loaded.len(), 3);
        // Damaged data is an error, not a panic.
        let mut bad = ix.save().unwrap();
        bad.files.retain(|(n, _)| n != "meta.json");
        assert!(LexicalIndex::load(bad).is_err());
    }
}
