//! Deletions and access administration: `DELETE /v1/users/{id}` (forget a
//! user everywhere), `DELETE /v1/events/{id}`, `GET /v1/admin/audit` and
//! `POST /v1/admin/tokens` (issue a user token).

use super::blocking;
use crate::AppState;
use crate::access::Access;
use crate::error::HttpError;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sommelier_engine::{ForgetReceipt, ModelsAfterForget};
use sommelier_store::AuditEntry;
use sommelier_types::EventId;
use sommelier_types::api::ApiError;
use std::sync::Arc;

/// `?refit=now` refits the models before answering.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteParams {
    /// `now`: refit the models without the deleted events before answering
    /// (seconds); otherwise at the next scheduled check.
    refit: Option<String>,
}

fn refit_now(p: &DeleteParams) -> Result<bool, HttpError> {
    match p.refit.as_deref() {
        None | Some("later") => Ok(false),
        Some("now") => Ok(true),
        Some(other) => Err(HttpError::BadBody(format!(
            "refit must be `now` or `later`, not `{}`",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

#[utoipa::path(delete, path = "/v1/users/{id}", tag = "privacy", params(("id" = String, Path), DeleteParams), responses((status = 200, body = ForgetReceipt), (status = 403, body = ApiError)))]
pub(crate) async fn forget_user(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<DeleteParams>,
) -> Result<Json<ForgetReceipt>, HttpError> {
    let now = refit_now(&p)?;
    blocking(move || Ok(Json(engine.forget_user(&id, now)?))).await
}

/// What deleting an event answers.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EventDeleted {
    /// The event deleted.
    deleted: String,
    /// What happens to the fitted models.
    models: ModelsAfterForget,
}

#[utoipa::path(delete, path = "/v1/events/{id}", tag = "privacy", params(("id" = String, Path), DeleteParams), responses((status = 200, body = EventDeleted), (status = 404, body = ApiError)))]
pub(crate) async fn delete_event(
    State(engine): State<AppState>,
    Path(raw): Path<String>,
    Query(p): Query<DeleteParams>,
) -> Result<Json<EventDeleted>, HttpError> {
    let now = refit_now(&p)?;
    let id = EventId::new(raw).map_err(|e| HttpError::BadBody(format!("id {e}")))?;
    blocking(move || match engine.delete_event(&id, now)? {
        Some(models) => Ok(Json(EventDeleted {
            deleted: id.as_str().to_string(),
            models,
        })),
        None => Err(HttpError::NotFound(format!("no event `{id}`"))),
    })
    .await
}

/// `?after=&n=` of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    /// Entries after this position (default 0).
    #[serde(default)]
    after: i64,
    /// How many (1–1000, default 100).
    #[serde(default = "super::features::default_hundred")]
    n: usize,
}

#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(AuditParams), responses((status = 200, body = Vec<AuditEntry>)))]
pub(crate) async fn audit(
    State(engine): State<AppState>,
    Query(p): Query<AuditParams>,
) -> Result<Json<Vec<AuditEntry>>, HttpError> {
    let n = super::features::check(p.n)?;
    blocking(move || {
        Ok(Json(
            engine
                .store()
                .audit_log(p.after, n)
                .map_err(sommelier_engine::EngineError::from)?,
        ))
    })
    .await
}

/// `POST /v1/admin/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// The user the token lets its bearer act as.
    user: String,
    /// Lifetime in seconds (default 3600, at most `auth.max_token_ttl_secs`).
    ttl_secs: Option<i64>,
}

/// A user token.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenIssued {
    /// The token (`Authorization: Bearer …` or `X-User-Token`).
    token: String,
    /// Expiry, Unix seconds.
    expires_at: i64,
}

#[utoipa::path(post, path = "/v1/admin/tokens", tag = "admin", request_body = TokenRequest, responses((status = 200, body = TokenIssued), (status = 400, body = ApiError)))]
pub(crate) async fn issue_token(
    Extension(access): Extension<Arc<Access>>,
    Json(req): Json<TokenRequest>,
) -> Result<Json<TokenIssued>, HttpError> {
    sommelier_types::UserId::new(req.user.as_str())
        .map_err(|e| HttpError::BadBody(format!("user {e}")))?;
    let ttl = req.ttl_secs.unwrap_or(3600);
    let now = sommelier_types::Timestamp::now().0 / 1000;
    let token = access
        .tokens()
        .sign(&req.user, ttl, now)
        .map_err(|e| HttpError::BadBody(e.to_string()))?;
    Ok(Json(TokenIssued {
        token,
        expires_at: now + ttl,
    }))
}
