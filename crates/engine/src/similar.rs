//! Item-to-item similarity (`GET /v1/items/{id}/similar`: co-occurrence
//! blended with content vectors, `crate::similarity`) and text-to-item
//! search over the catalog snapshot's vector index (`GET /v1/search`).

use crate::{Engine, EngineError, Result};
use sommelier_index::{Filter, Hit};
use sommelier_types::ItemId;
use sommelier_types::api::Filters;

/// `GET /v1/items/{id}/similar`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SimilarView {
    /// This answer's id, under which the exposure log keeps what was shown.
    pub request_id: String,
    /// The item asked about.
    pub item: String,
    /// Embedding model whose vectors were compared.
    pub model: String,
    /// How much co-occurrence counted against content for this item (0–1:
    /// `n / (n + prior)` over its `n` interactions; 0 before the first fit).
    pub collaborative_weight: f64,
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
    /// Similarity, 0–1: co-occurrence and content cosine, each scaled by
    /// the best of its list, blended (`/v1/search`: the cosine).
    pub score: f32,
}

impl Engine {
    /// The `k` items most like the item (co-occurrence blended with content
    /// vectors, `crate::similarity`), passing `filter`, the item itself
    /// excluded, and the weight co-occurrence had. `None` when the item is
    /// not live, or has neither a vector nor co-occurring items.
    pub fn similar_items(
        &self,
        id: &ItemId,
        k: usize,
        filter: &Filter,
    ) -> Result<Option<(Vec<Hit>, f64)>> {
        use sommelier_recall::ItemSimilarity;
        let snapshot = self.snapshot()?;
        if !snapshot.items.contains_key(id.as_str()) {
            return Ok(None);
        }
        let models = self.current_models();
        let features = self.features()?.state.read();
        let now = sommelier_features::FeatureRead::clock(&*features)
            .unwrap_or_else(sommelier_types::Timestamp::now);
        let interactions = crate::similarity::interactions(&*features, now);
        let cooccurrence = models.as_deref().and_then(|m| m.similar.as_ref());
        let hybrid = crate::similarity::Hybrid {
            cooccurrence,
            snapshot: &snapshot,
            interactions: &interactions,
            prior: models
                .as_deref()
                .map_or(crate::similarity::DEFAULT_PRIOR, |m| m.similar_prior()),
        };
        let alpha = hybrid.alpha(interactions(id.as_str()));
        let known = snapshot.hashes.contains_key(id.as_str())
            || cooccurrence.is_some_and(|c| !c.neighbors(id.as_str()).is_empty());
        if !known {
            return Ok(None);
        }
        let hits = hybrid
            .similar(&[id.as_str()], k, filter)
            .map_err(EngineError::Index)?
            .into_iter()
            .map(|(id, score)| Hit {
                id,
                score: score as f32,
            })
            .collect();
        Ok(Some((hits, alpha)))
    }

    /// [`Engine::similar_items`] with each hit's title, for the API.
    pub fn similar_view(
        &self,
        id: &ItemId,
        k: usize,
        filters: &Filters,
    ) -> Result<Option<SimilarView>> {
        let started = std::time::Instant::now();
        let Some((hits, alpha)) = self.similar_items(id, k, &Filter::from(filters))? else {
            return Ok(None);
        };
        let items = self.titled(hits);
        let request_id = crate::exposures::new_request_id();
        let lookup = crate::exposures::Lookup {
            request_id: &request_id,
            item: Some(id.as_str()),
            query: None,
            k,
            filters,
            latency_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        self.log_lookup(&lookup, &items);
        Ok(Some(SimilarView {
            request_id,
            item: id.as_str().to_string(),
            model: self.config().vectors.model.clone(),
            collaborative_weight: alpha,
            items,
        }))
    }

    /// [`Engine::search_text`] with the answer's request id, its list kept
    /// in the exposure log (`/v1/search`).
    pub fn search_logged(
        &self,
        text: &str,
        k: usize,
        filters: &Filters,
    ) -> Result<(String, Vec<SimilarItem>)> {
        let started = std::time::Instant::now();
        let items = self.search_text(text, k, &Filter::from(filters))?;
        let request_id = crate::exposures::new_request_id();
        let lookup = crate::exposures::Lookup {
            request_id: &request_id,
            item: None,
            query: Some(text),
            k,
            filters,
            latency_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        self.log_lookup(&lookup, &items);
        Ok((request_id, items))
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
