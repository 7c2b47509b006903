//! Online feature reads.

use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use sommelier_engine::{ItemFeaturesView, ScoredItem, UserFeaturesView};

#[derive(Debug, Deserialize)]
pub(crate) struct TopParams {
    #[serde(default = "default_n")]
    n: usize,
}

fn default_n() -> usize {
    20
}

fn check(n: usize) -> Result<usize, HttpError> {
    if (1..=1000).contains(&n) {
        Ok(n)
    } else {
        Err(HttpError::BadBody("n must be between 1 and 1000".into()))
    }
}

pub(crate) async fn item(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ItemFeaturesView>, HttpError> {
    engine
        .item_features(&id)
        .map(Json)
        .ok_or_else(|| HttpError::NotFound(format!("no events for item `{id}`")))
}

pub(crate) async fn user(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserFeaturesView>, HttpError> {
    engine
        .user_features(&id)
        .map(Json)
        .ok_or_else(|| HttpError::NotFound(format!("no events for user `{id}`")))
}

pub(crate) async fn popular(
    State(engine): State<AppState>,
    Query(p): Query<TopParams>,
) -> Result<Json<Vec<ScoredItem>>, HttpError> {
    Ok(Json(engine.popular(check(p.n)?)))
}

pub(crate) async fn trending(
    State(engine): State<AppState>,
    Query(p): Query<TopParams>,
) -> Result<Json<Vec<ScoredItem>>, HttpError> {
    Ok(Json(engine.trending(check(p.n)?)))
}
