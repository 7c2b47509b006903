//! `POST /v1/recommend`.

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use sommelier_engine::{RecommendRequest, RecommendResponse};
use sommelier_types::api::ApiError;

#[utoipa::path(post, path = "/v1/recommend", tag = "recommend", request_body = RecommendRequest, responses((status = 200, body = RecommendResponse), (status = 400, description = "bad request", body = ApiError), (status = 503, description = "the server cannot answer now (store, index, model)", body = ApiError)))]
pub(crate) async fn recommend(
    State(engine): State<AppState>,
    body: Bytes,
) -> Result<Json<RecommendResponse>, HttpError> {
    let req: RecommendRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RecommendRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| HttpError::BadBody(format!("invalid request: {e}")))?
    };
    if req.k.is_some_and(|k| !(1..=100).contains(&k)) {
        return Err(HttpError::BadBody("k must be between 1 and 100".into()));
    }
    blocking(move || Ok(Json(engine.recommend(&req)?))).await
}
