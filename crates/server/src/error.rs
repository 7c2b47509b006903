//! The one place where errors become HTTP responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sommelier_engine::EngineError;
use sommelier_types::api::{ApiError, Fault};

/// An error a handler returns.
#[derive(Debug)]
pub enum HttpError {
    /// From the engine; the status follows from the variant and its fault.
    Engine(EngineError),
    /// The request body is not valid JSON or not the expected shape.
    BadBody(String),
    /// No such resource.
    NotFound(String),
    /// The resource existed and was deleted.
    Gone(String),
    /// A blocking task panicked or was cancelled.
    Internal(String),
}

impl From<EngineError> for HttpError {
    fn from(e: EngineError) -> Self {
        HttpError::Engine(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, message, fault) = match self {
            HttpError::Engine(e) => {
                let fault = e.fault();
                let (status, code) = match (&e, fault) {
                    (EngineError::TooLarge { .. }, _) => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large")
                    }
                    (EngineError::Usage(_), _) => (StatusCode::BAD_REQUEST, "bad_request"),
                    (_, Fault::User) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
                    (_, Fault::Runtime) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                    (_, Fault::Bug) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                };
                if fault != Fault::User {
                    tracing::error!(error = %e, "request failed");
                }
                (status, code, e.to_string(), fault)
            }
            HttpError::BadBody(m) => (StatusCode::BAD_REQUEST, "invalid_body", m, Fault::User),
            HttpError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, Fault::User),
            HttpError::Gone(m) => (StatusCode::GONE, "deleted", m, Fault::User),
            HttpError::Internal(m) => {
                tracing::error!(error = %m, "handler failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", m, Fault::Bug)
            }
        };
        (
            status,
            Json(ApiError {
                code: code.into(),
                message,
                fault,
            }),
        )
            .into_response()
    }
}
