//! Item-to-item and text-to-item search over the catalog snapshot's vector
//! index: `GET /v1/items/{id}/similar` and `GET /v1/search`.

use crate::{Engine, EngineError, Result};
use sommelier_index::{Filter, Hit};
use sommelier_types::ItemId;

/// `GET /v1/items/{id}/similar`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SimilarView {
    /// The item asked about.
    pub item: String,
    /// Embedding model whose vectors were compared.
    pub model: String,
    /// Closest items first.
    pub items: Vec<SimilarItem>,
}

/// One similar item.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SimilarItem {
    /// Item id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Cosine similarity.
    pub score: f32,
}

impl Engine {
    /// The `k` items whose embeddings are closest to the item's own, passing
    /// `filter` (the item itself excluded). `None` when the item has no vector.
    pub fn similar_items(
        &self,
        id: &ItemId,
        k: usize,
        filter: &Filter,
    ) -> Result<Option<Vec<Hit>>> {
        let built = self.snapshot()?;
        let Some(v) = built.vectors.get(id.as_str()) else {
            return Ok(None);
        };
        let hits = built.search(v, k + 1, filter)?;
        Ok(Some(
            hits.into_iter()
                .filter(|h| h.id != id.as_str())
                .take(k)
                .collect(),
        ))
    }

    /// [`Engine::similar_items`] with each hit's title, for the API.
    pub fn similar_view(
        &self,
        id: &ItemId,
        k: usize,
        filter: &Filter,
    ) -> Result<Option<SimilarView>> {
        let Some(hits) = self.similar_items(id, k, filter)? else {
            return Ok(None);
        };
        let items = self.titled(hits);
        Ok(Some(SimilarView {
            item: id.as_str().to_string(),
            model: self.config().vectors.model.clone(),
            items,
        }))
    }

    /// Semantic search: the `k` items closest to the embedding of `text`.
    pub fn search_text(&self, text: &str, k: usize, filter: &Filter) -> Result<Vec<SimilarItem>> {
        let embedder = self.query_embedder().ok_or_else(|| {
            EngineError::Usage("semantic search needs the embedding model (sommelier models fetch all-minilm-l6-v2)".into())
        })?;
        let query = embedder.embed(&[text])?.remove(0);
        let hits = self.search_vector(&query, k, filter)?;
        Ok(self.titled(hits))
    }

    pub(crate) fn titled(&self, hits: Vec<Hit>) -> Vec<SimilarItem> {
        hits.into_iter()
            .map(|h| {
                let title = ItemId::new(h.id.as_str())
                    .ok()
                    .and_then(|i| self.store().item(&i).ok().flatten())
                    .map(|r| r.item.title)
                    .unwrap_or_default();
                SimilarItem {
                    id: h.id,
                    title,
                    score: h.score,
                }
            })
            .collect()
    }

    /// The `k` items closest to a query vector, passing `filter`.
    pub fn search_vector(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        let built = self.snapshot()?;
        if built.indexed() == 0 {
            return Ok(Vec::new());
        }
        built.search(query, k, filter)
    }
}
