//! Lexical retrieval: a BM25 index (tantivy, in memory) over what an item says
//! about itself — its title (boosted), categories, tags and description — so
//! that words a query shares with an item count even when the embedding does
//! not see them (names, rare terms, product codes).
//!
//! The index is built from the catalog in one pass and searched with a lenient
//! parser: user text never fails to parse, operators in it are taken as words.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::RwLock;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{FAST, Field, INDEXED, STORED, Schema, TEXT};
use tantivy::{Index, IndexReader, IndexWriter, TantivyDocument, Term};

mod saved;
pub use saved::SavedIndex;

/// Why the lexical index failed.
#[derive(Debug, thiserror::Error)]
#[error("lexical index: {0}")]
pub struct LexicalError(String);

fn err(e: impl std::fmt::Display) -> LexicalError {
    LexicalError(e.to_string())
}

/// What one item contributes to the index.
#[derive(Debug, Clone)]
pub struct Doc<'a> {
    /// Item id.
    pub id: &'a str,
    /// Title.
    pub title: &'a str,
    /// Categories, tags and description, in any order.
    pub body: Vec<&'a str>,
}

/// An in-memory BM25 index of the catalog. Built in one pass, then kept
/// current item by item ([`LexicalIndex::update`]) while searches go on.
pub struct LexicalIndex {
    /// Document numbers: each indexed document has a fresh `ord`, so a
    /// document replaced by a newer version of its item is found by the ord.
    ords: RwLock<Ords>,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    parser: QueryParser,
    fields: Fields,
    /// The index itself (in memory), for [`LexicalIndex::save`].
    index: Index,
}

#[derive(Default)]
struct Ords {
    /// Item id of each ord ever assigned (`None` once replaced or removed).
    ids: Vec<Option<String>>,
    /// The live ord of each item.
    of: HashMap<String, u64>,
}

#[derive(Clone, Copy)]
struct Fields {
    ord: Field,
    title: Field,
    body: Field,
}

/// Weight of a title match against a body match.
const TITLE_BOOST: f32 = 2.0;

impl LexicalIndex {
    /// Indexes `docs`.
    pub fn build<'a>(docs: impl IntoIterator<Item = Doc<'a>>) -> Result<Self, LexicalError> {
        let mut schema = Schema::builder();
        let fields = Fields {
            ord: schema.add_u64_field("ord", INDEXED | FAST | STORED),
            title: schema.add_text_field("title", TEXT),
            body: schema.add_text_field("body", TEXT),
        };
        let index = Index::create_in_ram(schema.build());
        let mut writer = writer(&index)?;
        let mut ords = Ords::default();
        for d in docs {
            writer.add_document(ords.assign(&d, fields)).map_err(err)?;
        }
        writer.commit().map_err(err)?;
        Self::assemble(index, writer, ords, fields)
    }

    fn assemble(
        index: Index,
        writer: IndexWriter,
        ords: Ords,
        fields: Fields,
    ) -> Result<Self, LexicalError> {
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        let mut parser = QueryParser::for_index(&index, vec![fields.title, fields.body]);
        parser.set_field_boost(fields.title, TITLE_BOOST);
        Ok(Self {
            ords: RwLock::new(ords),
            writer: Mutex::new(writer),
            reader,
            parser,
            fields,
            index,
        })
    }

    /// Replaces the documents of `upserts` (adding new items) and removes
    /// `removed` items, then makes the change visible to searches. Costs in
    /// proportion to the change, not the catalog.
    pub fn update(&self, upserts: &[Doc<'_>], removed: &[&str]) -> Result<(), LexicalError> {
        let mut writer = self.writer.lock().map_err(|_| err("a writer panicked"))?;
        {
            let mut ords = self.ords.write().map_err(|_| err("a writer panicked"))?;
            let gone = upserts.iter().map(|d| d.id).chain(removed.iter().copied());
            for id in gone {
                if let Some(ord) = ords.of.remove(id) {
                    ords.ids[ord as usize] = None;
                    writer.delete_term(Term::from_field_u64(self.fields.ord, ord));
                }
            }
            for d in upserts {
                writer
                    .add_document(ords.assign(d, self.fields))
                    .map_err(err)?;
            }
        }
        writer.commit().map_err(err)?;
        self.reader.reload().map_err(err)
    }

    /// Items indexed.
    pub fn len(&self) -> usize {
        self.ords.read().map_or(0, |o| o.of.len())
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` best items for `text` by BM25, best first, with their scores.
    pub fn search(&self, text: &str, k: usize) -> Result<Vec<(String, f64)>, LexicalError> {
        if k == 0 || text.trim().is_empty() || self.is_empty() {
            return Ok(Vec::new());
        }
        let (query, _ignored) = self.parser.parse_query_lenient(text);
        let searcher = self.reader.searcher();
        let hits = searcher
            .search(&query, &TopDocs::with_limit(k).order_by_score())
            .map_err(err)?;
        let ords = self.ords.read().map_err(|_| err("a writer panicked"))?;
        let mut out = Vec::with_capacity(hits.len());
        for (score, addr) in hits {
            let column = searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("ord")
                .map_err(err)?;
            // A document replaced after this searcher was taken has no id.
            if let Some(Some(id)) = column
                .first(addr.doc_id)
                .and_then(|ord| ords.ids.get(ord as usize))
            {
                out.push((id.clone(), f64::from(score)));
            }
        }
        Ok(out)
    }
}

/// The index's writer: one thread, 64 MB of buffer.
fn writer(index: &Index) -> Result<IndexWriter, LexicalError> {
    index
        .writer_with_num_threads::<TantivyDocument>(1, 64 << 20)
        .map_err(err)
}

impl Ords {
    /// A document for `d` under a new ord.
    fn assign(&mut self, d: &Doc<'_>, f: Fields) -> TantivyDocument {
        let ord = self.ids.len() as u64;
        self.ids.push(Some(d.id.to_string()));
        self.of.insert(d.id.to_string(), ord);
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.ord, ord);
        doc.add_text(f.title, d.title);
        for b in &d.body {
            doc.add_text(f.body, b);
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn index() -> LexicalIndex {
        LexicalIndex::build([
            Doc {
                id: "1",
                title: "Trail Runner GTX",
                body: vec![
                    "Shoes",
                    "waterproof",
                    "Gore-Tex trail running shoe for wet weather",
                ],
            },
            Doc {
                id: "2",
                title: "Road Racer",
                body: vec!["Shoes", "light road running shoe"],
            },
            Doc {
                id: "3",
                title: "Rain Jacket",
                body: vec!["Clothing", "waterproof shell for wet weather"],
            },
            Doc {
                id: "4",
                title: "Haunted House",
                body: vec!["Horror", "ghosts in an old house"],
            },
        ])
        .unwrap()
    }

    #[test]
    fn shared_words_rank_items_and_titles_count_more() {
        let ix = index();
        assert_eq!(ix.len(), 4);
        let hits = ix.search("waterproof trail shoes", 10).unwrap();
        assert_eq!(hits[0].0, "1", "{hits:?}");
        assert!(hits.iter().all(|h| h.0 != "4"), "{hits:?}");
        // A title word outranks the same word in a body.
        let hits = ix.search("house", 10).unwrap();
        assert_eq!(hits[0].0, "4");
        let hits = ix.search("racer shoe", 10).unwrap();
        assert_eq!(hits[0].0, "2");
    }

    #[test]
    fn updates_replace_add_and_remove_items_in_place() {
        let ix = index();
        ix.update(
            &[
                Doc {
                    id: "2",
                    title: "Mountain Sandal",
                    body: vec!["Shoes", "open sandal for dry trails"],
                },
                Doc {
                    id: "5",
                    title: "Ghost Stories",
                    body: vec!["Books", "haunted tales"],
                },
            ],
            &["4"],
        )
        .unwrap();
        assert_eq!(ix.len(), 4);
        // The old text of item 2 is gone, its new text is found.
        assert!(ix.search("racer", 10).unwrap().is_empty());
        assert_eq!(ix.search("sandal", 10).unwrap()[0].0, "2");
        // Item 4 is removed; the new item 5 answers its words.
        let hits = ix.search("haunted ghosts house", 10).unwrap();
        assert!(hits.iter().all(|h| h.0 != "4"), "{hits:?}");
        assert_eq!(hits[0].0, "5");
        // Removing what is not there changes nothing.
        ix.update(&[], &["nope"]).unwrap();
        assert_eq!(ix.len(), 4);
    }

    #[test]
    fn user_text_never_fails_to_parse() {
        let ix = index();
        for q in [
            "AND OR",
            "\"unclosed",
            "title:",
            "((",
            "wet + weather -",
            "  ",
        ] {
            assert!(ix.search(q, 5).is_ok(), "{q}");
        }
        assert!(ix.search("nothing matches zzz", 5).unwrap().is_empty());
    }
}
