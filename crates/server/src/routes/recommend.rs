//! `POST /v1/recommend`.

use super::blocking;
use crate::AppState;
use crate::access::Caller;
use crate::error::HttpError;
use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use sommelier_engine::{RecommendRequest, RecommendResponse};
use sommelier_types::api::ApiError;

#[utoipa::path(post, path = "/v1/recommend", tag = "recommend", request_body = RecommendRequest, responses((status = 200, body = RecommendResponse), (status = 400, description = "bad request", body = ApiError), (status = 503, description = "the server cannot answer now (store, index, model)", body = ApiError)))]
pub(crate) async fn recommend(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<RecommendResponse>, HttpError> {
    let mut req: RecommendRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RecommendRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| HttpError::BadBody(format!("invalid request: {e}")))?
    };
    req.user_id = caller.act_as(req.user_id.take())?;
    if req.k.is_some_and(|k| !(1..=100).contains(&k)) {
        return Err(HttpError::BadBody("k must be between 1 and 100".into()));
    }
    blocking(move || Ok(Json(engine.recommend(&req)?))).await
}
