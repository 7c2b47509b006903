//! `GET /v1/items/{id}/similar`: nearest items by embedding.

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use sommelier_engine::{Filter, SimilarView};
use sommelier_types::ItemId;

#[derive(Debug, Deserialize)]
pub(crate) struct SimilarParams {
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

fn default_k() -> usize {
    10
}

pub(crate) async fn similar(
    State(engine): State<AppState>,
    Path(raw): Path<String>,
    Query(p): Query<SimilarParams>,
) -> Result<Json<SimilarView>, HttpError> {
    if !(1..=100).contains(&p.k) {
        return Err(HttpError::BadBody("k must be between 1 and 100".into()));
    }
    let id = ItemId::new(raw).map_err(|e| HttpError::BadBody(format!("id {e}")))?;
    let filter = Filter {
        kinds: p.kind.into_iter().collect(),
        categories: p
            .category
            .map(|c| {
                c.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        available_only: !p.include_unavailable,
        price_min: p.price_min,
        price_max: p.price_max,
        year_min: p.year_min,
        year_max: p.year_max,
        ..Filter::default()
    };
    blocking(move || {
        engine.similar_view(&id, p.k, &filter)?.map(Json).ok_or_else(|| {
            HttpError::NotFound(format!(
                "item `{id}` has no embedding (unknown or deleted item, or run `sommelier embed`)"
            ))
        })
    })
    .await
}
