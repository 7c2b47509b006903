//! Reads for browsing clients (the web UI among them): item cards by id, the
//! catalog's facets, and the most active users.

use super::blocking;
use super::features::{TopParams, check};
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use sommelier_engine::{ActiveUser, Facets, ItemCard, MAX_CARDS};
use sommelier_types::api::ApiError;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CardsParams {
    /// Comma-separated item ids.
    ids: String,
}

/// `GET /v1/items?ids=1,2,3`: cards in the order asked, unknown ids left out.
#[utoipa::path(get, path = "/v1/items", tag = "browse", params(CardsParams), responses((status = 200, body = Vec<ItemCard>), (status = 400, description = "bad request", body = ApiError)))]
pub(crate) async fn cards(
    State(engine): State<AppState>,
    Query(p): Query<CardsParams>,
) -> Result<Json<Vec<ItemCard>>, HttpError> {
    let ids: Vec<String> = p
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if ids.is_empty() || ids.len() > MAX_CARDS {
        return Err(HttpError::BadBody(format!(
            "ids must list 1 to {MAX_CARDS} item ids, comma-separated"
        )));
    }
    blocking(move || Ok(Json(engine.item_cards(&ids)?))).await
}

/// `GET /v1/facets`.
#[utoipa::path(get, path = "/v1/facets", tag = "browse", responses((status = 200, body = Facets)))]
pub(crate) async fn facets(State(engine): State<AppState>) -> Result<Json<Facets>, HttpError> {
    blocking(move || Ok(Json(engine.facets()?))).await
}

/// `GET /v1/users?n=20`: the users with the most events.
#[utoipa::path(get, path = "/v1/users", tag = "browse", params(TopParams), responses((status = 200, body = Vec<ActiveUser>), (status = 400, description = "bad request", body = ApiError)))]
pub(crate) async fn active_users(
    State(engine): State<AppState>,
    Query(p): Query<TopParams>,
) -> Result<Json<Vec<ActiveUser>>, HttpError> {
    let n = check(p.n)?;
    blocking(move || Ok(Json(engine.active_users(n)?))).await
}
