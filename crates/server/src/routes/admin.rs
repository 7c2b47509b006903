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

pub(crate) async fn metrics(
    State(engine): State<AppState>,
) -> Result<impl IntoResponse, HttpError> {
    let text = blocking(move || Ok(engine.render_metrics()?)).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

pub(crate) async fn fit(State(engine): State<AppState>) -> Result<Json<FitReport>, HttpError> {
    blocking(move || Ok(Json(engine.fit_models()?))).await
}

/// What `GET /v1/admin/models` answers.
#[derive(serde::Serialize)]
pub(crate) struct ModelsView {
    /// The models in use, if any.
    current: Option<FitReport>,
    /// Positive events since they were fitted.
    events_since_fit: u64,
}

pub(crate) async fn models(State(engine): State<AppState>) -> Result<Json<ModelsView>, HttpError> {
    blocking(move || {
        Ok(Json(ModelsView {
            current: engine.models_report(),
            events_since_fit: engine.events_since_fit()?,
        }))
    })
    .await
}

pub(crate) async fn latency(State(engine): State<AppState>) -> Json<Vec<StageLatency>> {
    Json(engine.metrics().stage_latencies())
}

/// `GET /v1/admin/dashboard`: everything the operator dashboard shows.
pub(crate) async fn dashboard(
    State(engine): State<AppState>,
) -> Result<Json<Dashboard>, HttpError> {
    blocking(move || Ok(Json(engine.dashboard()?))).await
}
