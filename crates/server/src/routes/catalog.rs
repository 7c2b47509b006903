//! Reads of stored records and stats; item deletes.

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use sommelier_types::api::{ApiError, StoreStats};
use sommelier_types::{Event, EventId, Item, ItemId, User, UserId};

fn id<T>(
    raw: String,
    make: impl FnOnce(String) -> Result<T, sommelier_types::IdError>,
) -> Result<T, HttpError> {
    make(raw).map_err(|e| HttpError::BadBody(format!("id {e}")))
}

#[utoipa::path(get, path = "/v1/items/{id}", tag = "catalog", params(("id" = String, Path)), responses((status = 200, body = Item), (status = 404, description = "not found", body = ApiError), (status = 410, description = "deleted", body = ApiError)))]
pub(crate) async fn item(
    State(engine): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let id = id(raw, ItemId::new)?;
    let rec = blocking(move || {
        engine
            .item(&id)?
            .ok_or_else(|| HttpError::NotFound(format!("no item `{id}`")))
    })
    .await?;
    if let Some(at) = rec.deleted_at {
        return Err(HttpError::Gone(format!(
            "item `{}` was deleted at {at}",
            rec.item.id
        )));
    }
    Ok(Json(json!(rec.item)))
}

#[utoipa::path(delete, path = "/v1/items/{id}", tag = "catalog", params(("id" = String, Path)), responses((status = 200, description = "`{\"deleted\": id}`"), (status = 404, description = "not found", body = ApiError)))]
pub(crate) async fn delete_item(
    State(engine): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, HttpError> {
    let id = id(raw, ItemId::new)?;
    blocking(move || {
        if engine.delete_item(&id)? {
            Ok(Json(json!({ "deleted": id })))
        } else {
            Err(HttpError::NotFound(format!("no live item `{id}`")))
        }
    })
    .await
}

#[utoipa::path(get, path = "/v1/events/{id}", tag = "catalog", params(("id" = String, Path)), responses((status = 200, body = Event), (status = 404, description = "not found", body = ApiError)))]
pub(crate) async fn event(
    State(engine): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Event>, HttpError> {
    let id = id(raw, EventId::new)?;
    blocking(move || {
        engine
            .event(&id)?
            .map(Json)
            .ok_or_else(|| HttpError::NotFound(format!("no event `{id}`")))
    })
    .await
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "catalog", params(("id" = String, Path)), responses((status = 200, body = User), (status = 404, description = "not found", body = ApiError)))]
pub(crate) async fn user(
    State(engine): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<User>, HttpError> {
    let id = id(raw, UserId::new)?;
    blocking(move || {
        engine
            .user(&id)?
            .map(Json)
            .ok_or_else(|| HttpError::NotFound(format!("no user `{id}`")))
    })
    .await
}

#[utoipa::path(get, path = "/v1/stats", tag = "catalog", responses((status = 200, body = StoreStats)))]
pub(crate) async fn stats(State(engine): State<AppState>) -> Result<Json<StoreStats>, HttpError> {
    blocking(move || engine.stats().map(Json).map_err(HttpError::from)).await
}
