//! The one error shape for answers the handlers did not write: axum's
//! rejections, unknown routes, wrong methods, oversized bodies.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Rewrites an error answer that is not JSON (axum's rejections, unknown
/// routes, wrong methods) into the one error shape.
pub(crate) async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "no such route (docs/api.md lists them)".to_string(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method".to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            format!(
                "the body is larger than server.max_body_mib allows{}",
                if text.is_empty() {
                    String::new()
                } else {
                    format!(": {text}")
                }
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", text),
        s if s.is_server_error() => (
            "internal",
            "the server failed; the details are in its log".to_string(),
        ),
        _ => (
            "bad_request",
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("bad request")
                    .to_string()
            } else {
                text
            },
        ),
    };
    let fault = if status.is_server_error() {
        sommelier_types::api::Fault::Bug
    } else {
        sommelier_types::api::Fault::User
    };
    let mut out = (
        status,
        axum::Json(sommelier_types::api::ApiError {
            code: code.into(),
            message,
            fault,
        }),
    )
        .into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
