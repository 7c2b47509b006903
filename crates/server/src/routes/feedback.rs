//! Feedback on explanations: `POST /v1/feedback` ("this reason helped / was
//! wrong" on a pick of a served list) and `GET /v1/admin/feedback` (the
//! verdicts by who wrote the reason and with which prompt version).

use super::blocking;
use crate::AppState;
use crate::access::Caller;
use crate::error::HttpError;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use sommelier_engine::FeedbackReport;
use sommelier_types::api::ApiError;

/// `POST /v1/feedback`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Feedback {
    /// Who judges (a user token's own user when omitted).
    #[serde(default)]
    user_id: Option<String>,
    /// The answer whose pick is judged.
    request_id: String,
    /// The pick.
    item: String,
    /// `helped` or `wrong`.
    verdict: String,
}

#[utoipa::path(post, path = "/v1/feedback", tag = "ingest", request_body = Feedback, responses((status = 204, description = "kept as a `feedback` event"), (status = 400, description = "no user, an unknown verdict, or the list did not show the item", body = ApiError), (status = 404, description = "no list logged under the request id", body = ApiError)))]
pub(crate) async fn give(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(f): Json<Feedback>,
) -> Result<axum::http::StatusCode, HttpError> {
    let user = caller
        .act_as(f.user_id)?
        .ok_or_else(|| HttpError::BadBody("`user_id` is required".into()))?;
    let helped = match f.verdict.as_str() {
        "helped" => true,
        "wrong" => false,
        other => {
            return Err(HttpError::BadBody(format!(
                "`verdict` is `helped` or `wrong`, not `{other}`"
            )));
        }
    };
    blocking(move || {
        engine.explanation_feedback(&user, &f.request_id, &f.item, helped)?;
        Ok(axum::http::StatusCode::NO_CONTENT)
    })
    .await
}

/// `GET /v1/admin/feedback`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct Since {
    /// Verdicts at or after this time, ms since the epoch (default: all).
    #[serde(default)]
    since_ms: i64,
}

#[utoipa::path(get, path = "/v1/admin/feedback", tag = "admin", params(Since), responses((status = 200, body = FeedbackReport)))]
pub(crate) async fn report(
    State(engine): State<AppState>,
    Query(p): Query<Since>,
) -> Result<Json<FeedbackReport>, HttpError> {
    blocking(move || Ok(Json(engine.explanation_feedback_report(p.since_ms)?))).await
}
