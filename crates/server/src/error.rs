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
    /// No credentials, or wrong ones.
    Unauthenticated(String),
    /// The caller may not do this.
    Forbidden(String),
    /// A browser page of another origin.
    CrossOrigin(String),
    /// The caller's token bucket is empty.
    RateLimited {
        /// Seconds until a request would pass.
        retry_after_secs: u64,
    },
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
        S::Open { .. }
        | S::CreateDir { .. }
        | S::Sqlite { .. }
        | S::Connect { .. }
        | S::Postgres { .. }
        | S::Migrate { .. } => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        S::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "misconfigured"),
        S::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "store_busy"),
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
        EngineError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        EngineError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"),
        EngineError::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "misconfigured"),
        EngineError::Store(e) => store(e),
        EngineError::Ingest(e) => ingest(e),
        EngineError::Dataset(e) => match e {
            D::Pip { .. } | D::Io { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "dataset_unavailable")
            }
            D::Checksum { .. } | D::Unverified { .. } | D::Archive { .. } | D::Format { .. } => {
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
            Ix::Io { .. } | Ix::Database(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "index_unavailable")
            }
            Ix::Corrupt { .. } | Ix::Hnsw(_) => (StatusCode::INTERNAL_SERVER_ERROR, "index_failed"),
        },
        EngineError::Llm(_) => (StatusCode::SERVICE_UNAVAILABLE, "llm_unavailable"),
        EngineError::Stream(sommelier_stream::StreamError::Config(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "misconfigured")
        }
        EngineError::Stream(
            sommelier_stream::StreamError::Connect { .. }
            | sommelier_stream::StreamError::Unavailable { .. },
        ) => (StatusCode::SERVICE_UNAVAILABLE, "stream_unavailable"),
        EngineError::Model(_) => (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable"),
        EngineError::Io { .. } => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
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

/// The message a client sees for a failure that is not its fault: what
/// failed, and a reference to the log line with the details (which may
/// name files and paths the client has no business seeing).
fn hidden(code: &str, detail: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let reference = format!(
        "{:x}-{:x}",
        sommelier_types::Timestamp::now().0,
        N.fetch_add(1, Ordering::Relaxed)
    );
    tracing::error!(reference = %reference, code, error = %detail, "request failed");
    format!(
        "the server could not answer ({code}); its log has the details under reference {reference}"
    )
}

/// An error as a client sees it.
struct Described {
    status: StatusCode,
    code: &'static str,
    message: String,
    fault: Fault,
    retry_after: Option<u64>,
}

impl HttpError {
    /// The message a client is shown (server-side details stay in the log).
    pub(crate) fn client_message(self) -> String {
        self.describe().message
    }

    fn describe(self) -> Described {
        let mut retry_after = None;
        let (status, code, message, fault) = match self {
            HttpError::Engine(e) => {
                let fault = e.fault();
                let (status, code) = engine(&e);
                let message = if fault == Fault::User {
                    e.to_string()
                } else {
                    hidden(code, &e.to_string())
                };
                (status, code, message, fault)
            }
            HttpError::Report(e) => {
                let (status, code, fault) = report(&e);
                let message = if fault == Fault::User {
                    e.to_string()
                } else {
                    hidden(code, &e.to_string())
                };
                (status, code, message, fault)
            }
            HttpError::BadBody(m) => (StatusCode::BAD_REQUEST, "invalid_body", m, Fault::User),
            HttpError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, Fault::User),
            HttpError::Gone(m) => (StatusCode::GONE, "deleted", m, Fault::User),
            HttpError::Internal(m) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                hidden("internal", &m),
                Fault::Bug,
            ),
            HttpError::Unauthenticated(m) => {
                (StatusCode::UNAUTHORIZED, "unauthenticated", m, Fault::User)
            }
            HttpError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m, Fault::User),
            HttpError::CrossOrigin(m) => (StatusCode::FORBIDDEN, "cross_origin", m, Fault::User),
            HttpError::RateLimited { retry_after_secs } => {
                retry_after = Some(retry_after_secs);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many requests for this key; retry in {retry_after_secs} s"),
                    Fault::User,
                )
            }
        };
        Described {
            status,
            code,
            message,
            fault,
            retry_after,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let Described {
            status,
            code,
            message,
            fault,
            retry_after,
        } = self.describe();
        let unauthenticated = status == StatusCode::UNAUTHORIZED;
        let mut resp = (
            status,
            Json(ApiError {
                code: code.into(),
                message,
                fault,
            }),
        )
            .into_response();
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        if unauthenticated {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
