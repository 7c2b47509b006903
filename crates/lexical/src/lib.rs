//! Lexical retrieval: a BM25 index (tantivy, in memory) over what an item says
//! about itself — its title (boosted), categories, tags and description — so
//! that words a query shares with an item count even when the embedding does
//! not see them (names, rare terms, product codes).
//!
//! The index is built from the catalog in one pass and searched with a lenient
//! parser: user text never fails to parse, operators in it are taken as words.

use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{FAST, INDEXED, STORED, Schema, TEXT};
use tantivy::{Index, IndexReader, TantivyDocument};

/// Why the lexical index failed.
#[derive(Debug, thiserror::Error)]
#[error("lexical index: {0}")]
pub struct LexicalError(String);

fn err(e: impl std::fmt::Display) -> LexicalError {
    LexicalError(e.to_string())
}

/// What one item contributes to the index.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    /// Item id.
    pub id: &'a str,
    /// Title.
    pub title: &'a str,
    /// Categories, tags and description, in any order.
    pub body: &'a [&'a str],
}

/// An in-memory BM25 index of the catalog.
pub struct LexicalIndex {
    ids: Vec<String>,
    reader: IndexReader,
    parser: QueryParser,
}

/// Weight of a title match against a body match.
const TITLE_BOOST: f32 = 2.0;

impl LexicalIndex {
    /// Indexes `docs`.
    pub fn build<'a>(docs: impl IntoIterator<Item = Doc<'a>>) -> Result<Self, LexicalError> {
        let mut schema = Schema::builder();
        let ord = schema.add_u64_field("ord", INDEXED | FAST | STORED);
        let title = schema.add_text_field("title", TEXT);
        let body = schema.add_text_field("body", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index
            .writer_with_num_threads::<TantivyDocument>(1, 64 << 20)
            .map_err(err)?;
        let mut ids = Vec::new();
        for d in docs {
            let mut doc = TantivyDocument::default();
            doc.add_u64(ord, ids.len() as u64);
            doc.add_text(title, d.title);
            for b in d.body {
                doc.add_text(body, b);
            }
            writer.add_document(doc).map_err(err)?;
            ids.push(d.id.to_string());
        }
        writer.commit().map_err(err)?;
        let reader = index.reader().map_err(err)?;
        let mut parser = QueryParser::for_index(&index, vec![title, body]);
        parser.set_field_boost(title, TITLE_BOOST);
        Ok(Self {
            ids,
            reader,
            parser,
        })
    }

    /// Items indexed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The `k` best items for `text` by BM25, best first, with their scores.
    pub fn search(&self, text: &str, k: usize) -> Result<Vec<(String, f64)>, LexicalError> {
        if k == 0 || text.trim().is_empty() || self.ids.is_empty() {
            return Ok(Vec::new());
        }
        let (query, _ignored) = self.parser.parse_query_lenient(text);
        let searcher = self.reader.searcher();
        let hits = searcher
            .search(&query, &TopDocs::with_limit(k).order_by_score())
            .map_err(err)?;
        let mut out = Vec::with_capacity(hits.len());
        for (score, addr) in hits {
            let column = searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("ord")
                .map_err(err)?;
            if let Some(ord) = column.first(addr.doc_id) {
                out.push((self.ids[ord as usize].clone(), f64::from(score)));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> LexicalIndex {
        LexicalIndex::build([
            Doc {
                id: "1",
                title: "Trail Runner GTX",
                body: &[
                    "Shoes",
                    "waterproof",
                    "Gore-Tex trail running shoe for wet weather",
                ],
            },
            Doc {
                id: "2",
                title: "Road Racer",
                body: &["Shoes", "light road running shoe"],
            },
            Doc {
                id: "3",
                title: "Rain Jacket",
                body: &["Clothing", "waterproof shell for wet weather"],
            },
            Doc {
                id: "4",
                title: "Haunted House",
                body: &["Horror", "ghosts in an old house"],
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
