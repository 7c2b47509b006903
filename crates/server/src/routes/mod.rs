//! Routes.

pub(crate) mod admin;
pub(crate) mod browse;
pub(crate) mod catalog;
pub(crate) mod chat;
pub(crate) mod eval;
pub(crate) mod experiments;
pub(crate) mod exposures;
pub(crate) mod features;
pub(crate) mod feedback;
pub(crate) mod ingest;
pub(crate) mod privacy;
pub(crate) mod recommend;
pub(crate) mod similar;

use crate::AppState;
use crate::access::Access;
use crate::error::HttpError;
use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use sommelier_types::api::Health;
use std::sync::Arc;

pub(crate) fn router(engine: AppState, access: Arc<Access>) -> Router {
    let limit = engine.config().server.max_body_mib as usize * 1024 * 1024;
    Router::new()
        .route("/", get(crate::ui::index))
        .route("/ui/{file}", get(crate::ui::file))
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(admin::metrics))
        .route("/v1/admin/fit", post(admin::fit))
        .route("/v1/admin/models", get(admin::models))
        .route("/v1/admin/latency", get(admin::latency))
        .route("/v1/admin/dashboard", get(admin::dashboard))
        .route("/v1/admin/eval", get(eval::latest))
        .route("/v1/admin/eval/files/{name}", get(eval::file))
        .route("/v1/admin/audit", get(privacy::audit))
        .route("/v1/admin/exposures", get(exposures::of_user))
        .route("/v1/admin/exposures/{request_id}", get(exposures::one))
        .route(
            "/v1/admin/exposures/{request_id}/replay",
            get(exposures::replay),
        )
        .route(
            "/v1/admin/experiments",
            get(experiments::list).post(experiments::put),
        )
        .route(
            "/v1/admin/experiments/{name}",
            get(experiments::one).delete(experiments::delete),
        )
        .route(
            "/v1/admin/experiments/{name}/start",
            post(experiments::start),
        )
        .route("/v1/admin/experiments/{name}/stop", post(experiments::stop))
        .route(
            "/v1/admin/experiments/{name}/report",
            get(experiments::report),
        )
        .route("/v1/admin/feedback", get(feedback::report))
        .route("/v1/feedback", post(feedback::give))
        .route("/v1/admin/tokens", post(privacy::issue_token))
        .route("/v1/items", post(ingest::items).get(browse::cards))
        .route("/v1/facets", get(browse::facets))
        .route("/v1/events", post(ingest::events))
        .route("/v1/users", post(ingest::users).get(browse::active_users))
        .route(
            "/v1/items/{id}",
            get(catalog::item).delete(catalog::delete_item),
        )
        .route(
            "/v1/events/{id}",
            get(catalog::event).delete(privacy::delete_event),
        )
        .route(
            "/v1/users/{id}",
            get(catalog::user).delete(privacy::forget_user),
        )
        .route("/v1/items/{id}/features", get(features::item))
        .route("/v1/items/{id}/similar", get(similar::similar))
        .route("/v1/search", get(similar::search))
        .route("/v1/recommend", post(recommend::recommend))
        .route("/v1/chat", post(chat::chat))
        .route("/v1/chat/stream", post(chat::chat_stream))
        .route(
            "/v1/users/{id}/memory",
            get(chat::memory).delete(chat::forget),
        )
        .route("/v1/users/{id}/features", get(features::user))
        .route("/v1/popular", get(features::popular))
        .route("/v1/trending", get(features::trending))
        .route("/v1/stats", get(catalog::stats))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            (engine.clone(), access.clone()),
            crate::access::guard,
        ))
        .layer(axum::Extension(access))
        .with_state(engine)
}

/// The OpenAPI description of this API, generated from its types.
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// `GET /healthz`: the server answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Runs blocking engine work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HttpError> + Send + 'static,
) -> Result<T, HttpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?
}
