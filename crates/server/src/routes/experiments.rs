//! Experiments over the admin API: declare, list, start, stop, delete, and
//! read an experiment's report (docs/experiments.md). Those declared in
//! the configuration file are listed and reported, and changed there.

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use sommelier_engine::experiment::{Experiment, Report, State as Running, analysis::Options};
use sommelier_engine::{ATTRIBUTION_WINDOW_MS, ExperimentView};
use sommelier_types::api::ApiError;

#[utoipa::path(get, path = "/v1/admin/experiments", tag = "admin", responses((status = 200, body = Vec<ExperimentView>)))]
pub(crate) async fn list(
    State(engine): State<AppState>,
) -> Result<Json<Vec<ExperimentView>>, HttpError> {
    blocking(move || Ok(Json(engine.experiments()?))).await
}

#[utoipa::path(post, path = "/v1/admin/experiments", tag = "admin", request_body = Experiment, responses((status = 200, description = "declared (or replaced), with its buckets placed", body = ExperimentView), (status = 400, description = "the definition or an override is invalid, or its layer is full", body = ApiError)))]
pub(crate) async fn put(
    State(engine): State<AppState>,
    Json(e): Json<Experiment>,
) -> Result<Json<ExperimentView>, HttpError> {
    blocking(move || Ok(Json(engine.put_experiment(e)?))).await
}

#[utoipa::path(get, path = "/v1/admin/experiments/{name}", tag = "admin", params(("name" = String, Path)), responses((status = 200, body = ExperimentView), (status = 404, body = ApiError)))]
pub(crate) async fn one(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ExperimentView>, HttpError> {
    blocking(move || Ok(Json(engine.experiment(&name)?))).await
}

#[utoipa::path(delete, path = "/v1/admin/experiments/{name}", tag = "admin", params(("name" = String, Path)), responses((status = 204, description = "deleted; its exposures stay in the log"), (status = 404, body = ApiError)))]
pub(crate) async fn delete(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::http::StatusCode, HttpError> {
    blocking(move || {
        engine.delete_experiment(&name)?;
        Ok(axum::http::StatusCode::NO_CONTENT)
    })
    .await
}

#[utoipa::path(post, path = "/v1/admin/experiments/{name}/start", tag = "admin", params(("name" = String, Path)), responses((status = 200, body = ExperimentView), (status = 404, body = ApiError)))]
pub(crate) async fn start(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ExperimentView>, HttpError> {
    blocking(move || Ok(Json(engine.set_experiment_state(&name, Running::Running)?))).await
}

#[utoipa::path(post, path = "/v1/admin/experiments/{name}/stop", tag = "admin", params(("name" = String, Path)), responses((status = 200, body = ExperimentView), (status = 404, body = ApiError)))]
pub(crate) async fn stop(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ExperimentView>, HttpError> {
    blocking(move || Ok(Json(engine.set_experiment_state(&name, Running::Stopped)?))).await
}

/// `GET /v1/admin/experiments/{name}/report`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportParams {
    /// How long after a list a click, purchase or rating of one of its
    /// items by the same user counts, hours (default 24).
    #[serde(default)]
    window_hours: Option<f64>,
    /// Error rate of the tests (default 0.05).
    #[serde(default)]
    alpha: Option<f64>,
}

#[utoipa::path(get, path = "/v1/admin/experiments/{name}/report", tag = "admin", params(("name" = String, Path), ReportParams), responses((status = 200, body = Report), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn report(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<ReportParams>,
) -> Result<Json<Report>, HttpError> {
    let window = match p.window_hours {
        None => ATTRIBUTION_WINDOW_MS,
        Some(h) if h.is_finite() && h > 0.0 && h <= 24.0 * 90.0 => (h * 3_600_000.0) as i64,
        Some(h) => {
            return Err(HttpError::BadBody(format!(
                "window_hours must be above 0 and at most 2160 (90 days), not {h}"
            )));
        }
    };
    let mut o = Options::default();
    if let Some(a) = p.alpha {
        if !(a > 0.0 && a < 0.5) {
            return Err(HttpError::BadBody(format!(
                "alpha must be above 0 and below 0.5, not {a}"
            )));
        }
        o.alpha = a;
    }
    blocking(move || Ok(Json(engine.experiment_report(&name, window, &o)?))).await
}
