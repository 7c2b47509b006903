//! The latest offline evaluation, for the dashboard: `GET /v1/admin/eval`
//! answers the newest report in `<data dir>/eval` (written by `sommelier eval`
//! or by the demo), its plots and the peers' results when
//! `bench/peers/run.sh` added them; `GET /v1/admin/eval/files/{name}` serves
//! one of its files. Finding them is `sommelier_eval::reports`.

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use sommelier_eval::reports::{self, LatestReport};
use sommelier_types::api::ApiError;

#[utoipa::path(get, path = "/v1/admin/eval", tag = "admin", responses((status = 200, body = LatestReport)))]
pub(crate) async fn latest(
    State(engine): State<AppState>,
) -> Result<Json<LatestReport>, HttpError> {
    let dir = engine.config().eval_dir();
    let mut latest = blocking(move || Ok(reports::latest(&dir)?)).await?;
    for v in [&mut latest.report, &mut latest.peers]
        .into_iter()
        .flatten()
    {
        scrub_paths(v);
    }
    Ok(Json(latest))
}

/// Absolute paths in a report (where its split was written) become their
/// last component: a client learns nothing of the server's folders.
fn scrub_paths(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.starts_with('/') => {
            let last = std::path::Path::new(s.as_str())
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            *s = last;
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub_paths),
        serde_json::Value::Object(o) => o.values_mut().for_each(scrub_paths),
        _ => {}
    }
}

#[utoipa::path(get, path = "/v1/admin/eval/files/{name}", tag = "admin", params(("name" = String, Path, description = "a report or plot file name")), responses((status = 200, description = "the file (SVG, JSON or markdown)"), (status = 404, description = "not found", body = ApiError)))]
pub(crate) async fn file(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, HttpError> {
    let dir = engine.config().eval_dir();
    let (kind, body) = blocking(move || Ok(reports::read_file(&dir, &name)?)).await?;
    Ok(([(header::CONTENT_TYPE, kind)], body))
}
