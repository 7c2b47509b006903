//! What chat reads of the whole catalog — the category vocabulary of the
//! recommendable items and their kinds — computed once per catalog snapshot
//! generation and cached by the engine.

use super::tools::DOCUMENT_KIND;
use crate::Engine;
use crate::snapshot::CatalogSnapshot;
use sommelier_llm::intent::Vocabulary;
use std::sync::Arc;

/// What chat reads of the whole catalog, once per catalog snapshot.
pub(crate) struct ChatCatalog {
    /// Categories of the recommendable (non-document) items.
    pub(super) vocabulary: Vocabulary,
    /// Their kinds: the filter that keeps documents out of recommendations.
    pub(super) kinds: Vec<String>,
}

impl ChatCatalog {
    fn of(snapshot: &CatalogSnapshot) -> Self {
        let items = || {
            snapshot
                .items
                .values()
                .filter(|i| i.kind.as_str() != DOCUMENT_KIND)
        };
        let mut cats: Vec<&str> = items()
            .flat_map(|i| i.categories.iter().map(String::as_str))
            .collect();
        cats.sort_unstable();
        cats.dedup();
        let mut kinds: Vec<String> = items().map(|i| i.kind.as_str().to_string()).collect();
        kinds.sort();
        kinds.dedup();
        Self {
            vocabulary: Vocabulary::new(cats),
            kinds,
        }
    }
}

impl Engine {
    /// Chat's view of `snapshot`'s catalog (cached per generation).
    pub(crate) fn chat_catalog(&self, snapshot: &CatalogSnapshot) -> Arc<ChatCatalog> {
        self.chat_catalog
            .get(snapshot, || ChatCatalog::of(snapshot))
    }
}
