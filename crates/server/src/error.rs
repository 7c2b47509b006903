//! The one place where errors become HTTP responses. Every variant of the
//! engine's error — and of the errors it wraps — is named here with its own
//! status and code, so a new variant cannot reach a client without a
//! decision about what it means over HTTP.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sommelier_engine::EngineError;
use sommelier_eval::reports::ReportError;
use sommelier_types::api::{ApiError, Fault};

/// An error a handler returns.
#[derive(Debug)]
pub enum HttpError {
    /// From the engine; the status follows from the variant.
    Engine(EngineError),
    /// From the evaluation reports (dashboard).
    Report(ReportError),
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

impl From<ReportError> for HttpError {
    fn from(e: ReportError) -> Self {
        HttpError::Report(e)
    }
}

/// Status and code of a storage error.
fn store(e: &sommelier_store::StoreError) -> (StatusCode, &'static str) {
    use sommelier_store::StoreError as S;
    match e {
        S::Open { .. } | S::CreateDir { .. } | S::Sqlite { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
        }
        S::Corrupt { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "store_corrupt"),
        S::Aborted => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        S::SchemaTooNew { .. } => (StatusCode::SERVICE_UNAVAILABLE, "store_schema_too_new"),
    }
}

/// Status and code of an import error.
fn ingest(e: &sommelier_ingest::IngestError) -> (StatusCode, &'static str) {
    use sommelier_ingest::IngestError as I;
    match e {
        I::Input { .. } | I::Header { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
        I::RejectFile { .. } => (StatusCode::SERVICE_UNAVAILABLE, "reject_file_unwritable"),
        I::Options(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        I::Store(e) => store(e),
    }
}

/// Status and code of an engine error.
fn engine(e: &EngineError) -> (StatusCode, &'static str) {
    use sommelier_datasets::DatasetError as D;
    use sommelier_embed::EmbedError as Em;
    use sommelier_index::IndexError as Ix;
    match e {
        EngineError::Usage(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        EngineError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"),
        EngineError::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "misconfigured"),
        EngineError::Store(e) => store(e),
        EngineError::Ingest(e) => ingest(e),
        EngineError::Dataset(e) => match e {
            D::Pip { .. } | D::Io { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "dataset_unavailable")
            }
            D::Checksum { .. } | D::Archive { .. } | D::Format { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "dataset_invalid")
            }
            D::Ingest(e) => ingest(e),
        },
        EngineError::Embed(e) => match e {
            Em::ModelFile { .. } | Em::BadModel { .. } | Em::Tokenizer(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "embedder_unavailable")
            }
            Em::Inference(_) => (StatusCode::INTERNAL_SERVER_ERROR, "embedder_failed"),
            Em::Remote { .. } => (StatusCode::BAD_GATEWAY, "embedder_remote_failed"),
            Em::Options(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        },
        EngineError::Index(e) => match e {
            Ix::Dimension { .. } | Ix::NotFinite(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable")
            }
            Ix::Io { .. } => (StatusCode::SERVICE_UNAVAILABLE, "index_unavailable"),
            Ix::Corrupt { .. } | Ix::Hnsw(_) => (StatusCode::INTERNAL_SERVER_ERROR, "index_failed"),
        },
        EngineError::Llm(_) => (StatusCode::SERVICE_UNAVAILABLE, "llm_unavailable"),
        EngineError::Model(_) => (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable"),
    }
}

/// Status, code and fault of an evaluation report error.
fn report(e: &ReportError) -> (StatusCode, &'static str, Fault) {
    match e {
        ReportError::NotAReportFile(_) | ReportError::NotFound(_) => {
            (StatusCode::NOT_FOUND, "not_found", Fault::User)
        }
        ReportError::Unreadable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "report_unreadable",
            Fault::Runtime,
        ),
        ReportError::Invalid { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "report_invalid",
            Fault::Bug,
        ),
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, message, fault) = match self {
            HttpError::Engine(e) => {
                let fault = e.fault();
                let (status, code) = engine(&e);
                if fault != Fault::User {
                    tracing::error!(error = %e, "request failed");
                }
                (status, code, e.to_string(), fault)
            }
            HttpError::Report(e) => {
                let (status, code, fault) = report(&e);
                if fault != Fault::User {
                    tracing::error!(error = %e, "report not served");
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
