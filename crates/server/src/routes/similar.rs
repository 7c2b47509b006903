//! The vector endpoints: `GET /v1/items/{id}/similar` (nearest items by
//! embedding) and `GET /v1/search?q=` (semantic search).

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use sommelier_engine::{Filters, SimilarItem, SimilarView};
use sommelier_types::ItemId;
use sommelier_types::api::ApiError;

fn default_k() -> usize {
    10
}

/// Query parameters of both endpoints. (One flat struct: serde's `flatten`
/// cannot read numbers from a query string.)
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct VectorParams {
    /// Query text (`/v1/search` only).
    q: Option<String>,
    #[serde(default = "default_k")]
    k: usize,
    /// Only items of this kind.
    kind: Option<String>,
    /// Comma-separated categories, any of which must match.
    category: Option<String>,
    /// Include unavailable items (default: no).
    #[serde(default)]
    include_unavailable: bool,
    price_min: Option<f64>,
    price_max: Option<f64>,
    year_min: Option<i32>,
    year_max: Option<i32>,
}

impl VectorParams {
    fn checked_k(&self) -> Result<usize, HttpError> {
        if (1..=100).contains(&self.k) {
            Ok(self.k)
        } else {
            Err(HttpError::BadBody("k must be between 1 and 100".into()))
        }
    }

    fn filters(&self) -> Filters {
        let categories = self.category.as_deref().map(|c| {
            c.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        });
        Filters {
            kinds: self.kind.iter().cloned().collect(),
            categories: categories.unwrap_or_default(),
            exclude_categories: Vec::new(),
            price_min: self.price_min,
            price_max: self.price_max,
            year_min: self.year_min,
            year_max: self.year_max,
            include_unavailable: self.include_unavailable,
        }
    }
}

#[utoipa::path(get, path = "/v1/items/{id}/similar", tag = "recommend", params(("id" = String, Path), VectorParams), responses((status = 200, body = SimilarView), (status = 400, description = "bad request", body = ApiError), (status = 404, description = "not found", body = ApiError)))]
pub(crate) async fn similar(
    State(engine): State<AppState>,
    Path(raw): Path<String>,
    Query(p): Query<VectorParams>,
) -> Result<Json<SimilarView>, HttpError> {
    let k = p.checked_k()?;
    let id = ItemId::new(raw).map_err(|e| HttpError::BadBody(format!("id {e}")))?;
    let filters = p.filters();
    blocking(move || {
        engine.similar_view(&id, k, &filters)?.map(Json).ok_or_else(|| {
            HttpError::NotFound(format!(
                "item `{id}` has no embedding (unknown or deleted item, or run `sommelier embed`)"
            ))
        })
    })
    .await
}

#[utoipa::path(get, path = "/v1/search", tag = "recommend", params(VectorParams), responses((status = 200, body = Vec<SimilarItem>, headers(("x-request-id" = String, description = "the answer's id, under which the exposure log keeps the list"))), (status = 400, description = "bad request", body = ApiError)))]
pub(crate) async fn search(
    State(engine): State<AppState>,
    Query(p): Query<VectorParams>,
) -> Result<
    (
        [(axum::http::HeaderName, String); 1],
        Json<Vec<SimilarItem>>,
    ),
    HttpError,
> {
    let k = p.checked_k()?;
    let q = p.q.clone().filter(|q| !q.trim().is_empty());
    let q = q.ok_or_else(|| HttpError::BadBody("q (the query text) is required".into()))?;
    let filters = p.filters();
    blocking(move || {
        let (id, items) = engine.search_logged(&q, k, &filters)?;
        Ok((
            [(axum::http::HeaderName::from_static("x-request-id"), id)],
            Json(items),
        ))
    })
    .await
}
