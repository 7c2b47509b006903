//! The OpenAPI description of the HTTP API, generated from the handlers'
//! annotations and the request and response types (`utoipa`), served at
//! `GET /openapi.json`. A test checks it against the table in docs/api.md,
//! so the two cannot drift apart.

use crate::routes;

/// The API document.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Sommelier",
        description = "A recommendation engine with an LLM inside: recommend, chat, ingest, browse, operate. Every error body is `ApiError`; `fault` says who should act."
    ),
    paths(
        routes::health,
        routes::admin::metrics,
        routes::admin::fit,
        routes::admin::models,
        routes::admin::latency,
        routes::admin::dashboard,
        routes::eval::latest,
        routes::eval::file,
        routes::ingest::items,
        routes::ingest::events,
        routes::ingest::users,
        routes::browse::cards,
        routes::browse::facets,
        routes::browse::active_users,
        routes::catalog::item,
        routes::catalog::delete_item,
        routes::catalog::event,
        routes::catalog::user,
        routes::catalog::stats,
        routes::features::item,
        routes::features::user,
        routes::features::popular,
        routes::features::trending,
        routes::similar::similar,
        routes::similar::search,
        routes::recommend::recommend,
        routes::chat::chat,
        routes::chat::chat_stream,
        routes::chat::memory,
        routes::chat::forget,
        routes::privacy::forget_user,
        routes::privacy::delete_event,
        routes::privacy::audit,
        routes::exposures::one,
        routes::exposures::replay,
        routes::experiments::list,
        routes::experiments::put,
        routes::experiments::one,
        routes::experiments::delete,
        routes::experiments::start,
        routes::experiments::stop,
        routes::experiments::report,
        routes::feedback::give,
        routes::feedback::report,
        routes::exposures::of_user,
        routes::privacy::issue_token,
    )
)]
struct ApiDoc;

/// The OpenAPI document of this server.
pub fn document() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
