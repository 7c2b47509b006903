//! The exposure log as operators read it: `GET /v1/admin/exposures/{id}`
//! (one served list, by the request id its answer carried) and
//! `GET /v1/admin/exposures?user=U` (the lists a user was served, newest
//! first). Users appear as keyed pseudonyms, as in the audit log. One list
//! comes with the events attributed to it: those that sent its request id
//! back (`request_id`, and `position`, in the event's context).

use super::blocking;
use crate::AppState;
use crate::access::Access;
use crate::error::HttpError;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sommelier_engine::EngineError;
use sommelier_store::ExposureRow;
use sommelier_types::api::ApiError;
use std::sync::Arc;

/// One served list.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Exposure {
    /// The id the answer carried.
    request_id: String,
    /// When it was served, milliseconds since the epoch.
    at_ms: i64,
    /// Keyed pseudonym of the user it was served to (none for a visitor).
    user: Option<String>,
    /// `recommend`, `chat`, `similar` or `search`.
    surface: String,
    /// The experiment variant that served it, if any.
    variant: Option<String>,
    /// What was shown: the items with position, score and sources; the
    /// ranker, models and embedding model; the query; the latency; the LLM
    /// stage (used, model, prompt version, fallback); the clock.
    #[schema(value_type = Object)]
    served: serde_json::Value,
    /// Events that name this request id, in log order (only in the answer
    /// for one list).
    #[serde(skip_serializing_if = "Option::is_none")]
    attributed: Option<Vec<Attributed>>,
}

/// An event attributed to a served list.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Attributed {
    /// The event id.
    event: String,
    /// Keyed pseudonym of its user.
    user: String,
    item: String,
    kind: String,
    value: Option<f64>,
    /// Event time, milliseconds since the epoch.
    timestamp_ms: i64,
    /// The position the event says the item was shown at.
    position: Option<u32>,
    /// The position the log says it was shown at (none: not in the list).
    shown_at: Option<u64>,
}

fn attributed(
    events: Vec<sommelier_types::Event>,
    served: &serde_json::Value,
    access: &Access,
) -> Vec<Attributed> {
    let shown_at = |item: &str| {
        served["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["item"].as_str() == Some(item))
                .and_then(|i| i["position"].as_u64())
        })
    };
    events
        .into_iter()
        .map(|e| Attributed {
            shown_at: shown_at(e.item.as_str()),
            event: e.id.as_str().to_string(),
            user: access.pseudonym(e.user.as_str()),
            item: e.item.as_str().to_string(),
            kind: e.kind.as_str().to_string(),
            value: e.value,
            timestamp_ms: e.timestamp.0,
            position: e.context.position,
        })
        .collect()
}

fn view(row: ExposureRow, access: &Access) -> Exposure {
    Exposure {
        attributed: None,
        user: row.user_id.as_deref().map(|u| access.pseudonym(u)),
        served: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        request_id: row.request_id,
        at_ms: row.at_ms,
        surface: row.surface,
        variant: row.variant,
    }
}

#[utoipa::path(get, path = "/v1/admin/exposures/{request_id}", tag = "admin", params(("request_id" = String, Path, description = "the `request_id` of an answer")), responses((status = 200, body = Exposure), (status = 404, description = "no list was logged under this id", body = ApiError)))]
pub(crate) async fn one(
    State(engine): State<AppState>,
    Extension(access): Extension<Arc<Access>>,
    Path(request_id): Path<String>,
) -> Result<Json<Exposure>, HttpError> {
    blocking(move || {
        let row = engine
            .store()
            .exposure(&request_id)
            .map_err(EngineError::from)?
            .ok_or_else(|| {
                HttpError::NotFound(format!(
                    "no list logged under request id `{request_id}` (logged within {} ms of being served, with server.exposure_log on)",
                    sommelier_engine::EXPOSURE_FLUSH_EVERY.as_millis()
                ))
            })?;
        let events = engine
            .store()
            .events_of_request(&row.request_id)
            .map_err(EngineError::from)?;
        let mut one = view(row, &access);
        one.attributed = Some(attributed(events, &one.served, &access));
        Ok(Json(one))
    })
    .await
}

/// `GET /v1/admin/exposures?user=U&n=N`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ByUser {
    /// The user id.
    user: String,
    /// At most this many, newest first (default 100, at most 1,000).
    #[serde(default = "super::features::default_hundred")]
    n: usize,
}

#[utoipa::path(get, path = "/v1/admin/exposures", tag = "admin", params(ByUser), responses((status = 200, body = Vec<Exposure>), (status = 400, body = ApiError)))]
pub(crate) async fn of_user(
    State(engine): State<AppState>,
    Extension(access): Extension<Arc<Access>>,
    Query(p): Query<ByUser>,
) -> Result<Json<Vec<Exposure>>, HttpError> {
    let n = super::features::check(p.n)?;
    blocking(move || {
        let rows = engine
            .store()
            .exposures_of(&p.user, n)
            .map_err(EngineError::from)?;
        Ok(Json(rows.into_iter().map(|r| view(r, &access)).collect()))
    })
    .await
}

#[utoipa::path(get, path = "/v1/admin/exposures/{request_id}/replay", tag = "admin", params(("request_id" = String, Path, description = "the `request_id` of a logged answer (recommend, similar, search, or a chat turn)")), responses((status = 200, body = sommelier_engine::ReplayReport), (status = 400, description = "a row that keeps nothing to replay: logged before replay was possible, or a chat turn of a user without consent to memory", body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn replay(
    State(engine): State<AppState>,
    Path(request_id): Path<String>,
) -> Result<Json<sommelier_engine::ReplayReport>, HttpError> {
    blocking(move || Ok(Json(engine.replay(&request_id)?))).await
}
