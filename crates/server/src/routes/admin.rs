//! Operator routes: `/metrics` (Prometheus), `POST /v1/admin/fit` (refit the
//! models now and swap them in), `GET /v1/admin/models` (what is in use), and
//! `GET /v1/admin/latency` (per-stage latency summaries as JSON) and
//! `GET /v1/admin/dashboard` (what the operator dashboard shows, in one read).

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use sommelier_engine::{Dashboard, FitReport, StageLatency};
use sommelier_types::api::ApiError;

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "OpenMetrics text: stage latency histograms, counters, store and LLM gauges", content_type = "application/openmetrics-text")))]
pub(crate) async fn metrics(
    State(engine): State<AppState>,
) -> Result<impl IntoResponse, HttpError> {
    let text = blocking(move || Ok(engine.render_metrics()?)).await?;
    Ok((
        [(header::CONTENT_TYPE, sommelier_engine::METRICS_CONTENT_TYPE)],
        text,
    ))
}

#[utoipa::path(post, path = "/v1/admin/fit", tag = "admin", responses((status = 200, body = FitReport), (status = 503, description = "the server cannot answer now (store, index, model)", body = ApiError)))]
pub(crate) async fn fit(State(engine): State<AppState>) -> Result<Json<FitReport>, HttpError> {
    blocking(move || Ok(Json(engine.fit_models()?))).await
}

/// What `GET /v1/admin/models` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ModelsView {
    /// The models in use, if any.
    current: Option<FitReport>,
    /// Positive events since they were fitted.
    events_since_fit: u64,
}

#[utoipa::path(get, path = "/v1/admin/models", tag = "admin", responses((status = 200, body = ModelsView)))]
pub(crate) async fn models(State(engine): State<AppState>) -> Result<Json<ModelsView>, HttpError> {
    blocking(move || {
        Ok(Json(ModelsView {
            current: engine.models_report(),
            events_since_fit: engine.events_since_fit()?,
        }))
    })
    .await
}

#[utoipa::path(get, path = "/v1/admin/latency", tag = "admin", responses((status = 200, body = Vec<StageLatency>)))]
pub(crate) async fn latency(State(engine): State<AppState>) -> Json<Vec<StageLatency>> {
    Json(engine.metrics().stage_latencies())
}

/// `GET /v1/admin/dashboard`: everything the operator dashboard shows.
#[utoipa::path(get, path = "/v1/admin/dashboard", tag = "admin", responses((status = 200, body = Dashboard)))]
pub(crate) async fn dashboard(
    State(engine): State<AppState>,
) -> Result<Json<Dashboard>, HttpError> {
    blocking(move || Ok(Json(engine.dashboard()?))).await
}
