//! `POST /v1/items|events|users`: one record or an array of them.

use super::blocking;
use crate::AppState;
use crate::access::Caller;
use crate::error::HttpError;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use sommelier_engine::RecordKind;
use sommelier_types::api::{ApiError, IngestReport};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct IngestParams {
    /// All or nothing: one bad record rejects the whole batch.
    #[serde(default)]
    atomic: bool,
}

/// Errors listed in one response; the counts stay exact.
const MAX_ERRORS: usize = 1000;

fn parse_body(body: &[u8]) -> Result<Vec<Value>, HttpError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        HttpError::BadBody(format!(
            "body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(v @ Value::Object(_)) => Ok(vec![v]),
        Ok(_) => Err(HttpError::BadBody(
            "expected a JSON object or an array of objects".into(),
        )),
        Err(e) => Err(HttpError::BadBody(format!("invalid JSON: {e}"))),
    }
}

async fn ingest(
    engine: AppState,
    caller: Caller,
    kind: RecordKind,
    params: IngestParams,
    body: Bytes,
) -> Result<(StatusCode, Json<IngestReport>), HttpError> {
    let values = parse_body(&body)?;
    caller.check_records(kind, &values)?;
    let mut report =
        blocking(move || Ok(engine.ingest_batch(kind, values, params.atomic)?)).await?;
    report.errors.truncate(MAX_ERRORS);
    // 200 when everything sent is stored (new or duplicate), 422 when nothing was
    // written because of bad records, 207 when some were written and some not.
    let status = if report.rejected == 0 {
        StatusCode::OK
    } else if report.accepted + report.duplicates == 0 || report.rolled_back {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((status, Json(report)))
}

#[utoipa::path(post, path = "/v1/items", tag = "ingest", params(IngestParams), request_body(content = Object, description = "one item or an array of items (docs/ingest.md)"), responses((status = 200, body = IngestReport), (status = 207, description = "some records stored, some rejected", body = IngestReport), (status = 422, description = "nothing stored", body = IngestReport), (status = 413, body = ApiError)))]
pub(crate) async fn items(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<IngestParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<IngestReport>), HttpError> {
    ingest(engine, caller, RecordKind::Items, p, body).await
}

#[utoipa::path(post, path = "/v1/events", tag = "ingest", params(IngestParams), request_body(content = Object, description = "one event or an array of events (docs/ingest.md)"), responses((status = 200, body = IngestReport), (status = 207, body = IngestReport), (status = 422, body = IngestReport), (status = 413, body = ApiError)))]
pub(crate) async fn events(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<IngestParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<IngestReport>), HttpError> {
    ingest(engine, caller, RecordKind::Events, p, body).await
}

#[utoipa::path(post, path = "/v1/users", tag = "ingest", params(IngestParams), request_body(content = Object, description = "one user or an array of users (docs/ingest.md)"), responses((status = 200, body = IngestReport), (status = 207, body = IngestReport), (status = 422, body = IngestReport), (status = 413, body = ApiError)))]
pub(crate) async fn users(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<IngestParams>,
    body: Bytes,
) -> Result<(StatusCode, Json<IngestReport>), HttpError> {
    ingest(engine, caller, RecordKind::Users, p, body).await
}
