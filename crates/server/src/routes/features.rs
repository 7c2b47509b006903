//! Online feature reads.

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use sommelier_engine::{ItemFeaturesView, ScoredItem, UserFeaturesView};
use sommelier_types::api::ApiError;

/// `?n=` of a top list (default 20).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopParams {
    /// How many (1–1000, default 20).
    #[serde(default = "default_n")]
    pub(crate) n: usize,
}

fn default_n() -> usize {
    20
}

/// The default `n` of the admin lists (audit log, exposures).
pub(crate) fn default_hundred() -> usize {
    100
}

/// `n` when it is in 1..=1000.
pub(crate) fn check(n: usize) -> Result<usize, HttpError> {
    if (1..=1000).contains(&n) {
        Ok(n)
    } else {
        Err(HttpError::BadBody("n must be between 1 and 1000".into()))
    }
}

#[utoipa::path(get, path = "/v1/items/{id}/features", tag = "features", params(("id" = String, Path)), responses((status = 200, body = ItemFeaturesView), (status = 404, description = "not found", body = ApiError)))]
pub(crate) async fn item(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ItemFeaturesView>, HttpError> {
    blocking(move || {
        let found = engine.item_features(&id)?;
        found
            .map(Json)
            .ok_or_else(|| HttpError::NotFound(format!("no events for item `{id}`")))
    })
    .await
}

#[utoipa::path(get, path = "/v1/users/{id}/features", tag = "features", params(("id" = String, Path)), responses((status = 200, body = UserFeaturesView), (status = 404, description = "not found", body = ApiError)))]
pub(crate) async fn user(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserFeaturesView>, HttpError> {
    blocking(move || {
        let found = engine.user_features(&id)?;
        found
            .map(Json)
            .ok_or_else(|| HttpError::NotFound(format!("no events for user `{id}`")))
    })
    .await
}

#[utoipa::path(get, path = "/v1/popular", tag = "features", params(TopParams), responses((status = 200, body = Vec<ScoredItem>), (status = 400, description = "bad request", body = ApiError)))]
pub(crate) async fn popular(
    State(engine): State<AppState>,
    Query(p): Query<TopParams>,
) -> Result<Json<Vec<ScoredItem>>, HttpError> {
    let n = check(p.n)?;
    blocking(move || Ok(Json(engine.popular(n)?))).await
}

#[utoipa::path(get, path = "/v1/trending", tag = "features", params(TopParams), responses((status = 200, body = Vec<ScoredItem>), (status = 400, description = "bad request", body = ApiError)))]
pub(crate) async fn trending(
    State(engine): State<AppState>,
    Query(p): Query<TopParams>,
) -> Result<Json<Vec<ScoredItem>>, HttpError> {
    let n = check(p.n)?;
    blocking(move || Ok(Json(engine.trending(n)?))).await
}
