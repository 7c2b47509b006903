//! `POST /v1/chat`, `POST /v1/chat/stream` (server-sent events) and a user's
//! long-term memory (`GET`/`DELETE /v1/users/{id}/memory`).

use super::blocking;
use crate::AppState;
use crate::access::Caller;
use crate::error::HttpError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Extension, Json};
use sommelier_engine::{ChatEvent, ChatRequest, ChatResponse, MemoryView};
use sommelier_types::api::ApiError;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

fn parse(body: &Bytes, caller: &Caller) -> Result<ChatRequest, HttpError> {
    let mut req: ChatRequest = serde_json::from_slice(body)
        .map_err(|e| HttpError::BadBody(format!("invalid chat request: {e}")))?;
    req.user_id = caller.act_as(req.user_id.take())?;
    Ok(req)
}

#[utoipa::path(post, path = "/v1/chat", tag = "chat", request_body = ChatRequest, responses((status = 200, body = ChatResponse), (status = 400, description = "bad request", body = ApiError), (status = 503, description = "the server cannot answer now (store, index, model)", body = ApiError)))]
pub(crate) async fn chat(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<ChatResponse>, HttpError> {
    let req = parse(&body, &caller)?;
    blocking(move || Ok(Json(engine.chat(&req)?))).await
}

/// The events of one turn, as a stream for axum's SSE response: the first
/// (already received), then the rest as the turn sends them, a failure
/// becoming an `error` event. Dropped with the response when the client
/// goes away, which the turn notices at its next send.
pub(crate) struct Events {
    first: Option<Event>,
    rest: tokio::sync::mpsc::UnboundedReceiver<Result<Event, HttpError>>,
}

impl futures_core::Stream for Events {
    type Item = Result<Event, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(e) = self.first.take() {
            return Poll::Ready(Some(Ok(e)));
        }
        self.rest.poll_recv(cx).map(|m| {
            m.map(|m| {
                Ok(m.unwrap_or_else(|e| {
                    event("error", &serde_json::json!({ "error": e.client_message() }))
                }))
            })
        })
    }
}

fn event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_else(|_| "null".into()))
}

/// Streams `intent`, `candidates`, `token` events as the turn runs, then
/// `done` with the whole response (or `error`).
#[utoipa::path(post, path = "/v1/chat/stream", tag = "chat", request_body = ChatRequest, responses((status = 200, description = "server-sent events: `intent`, `candidates`, `token` (ChatEvent), then `done` (ChatResponse) or `error`", content_type = "text/event-stream", body = ChatEvent), (status = 400, description = "bad request", body = ApiError)))]
pub(crate) async fn chat_stream(
    State(engine): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Sse<axum::response::sse::KeepAliveStream<Events>>, HttpError> {
    let req = parse(&body, &caller)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<Event, HttpError>>();
    // Set when the client is gone: the model stops at its next token.
    let gone = Arc::new(AtomicBool::new(false));
    tokio::task::spawn_blocking(move || {
        let flag = gone.clone();
        let mut on_event = |e: ChatEvent| {
            let name = match &e {
                ChatEvent::Intent { .. } => "intent",
                ChatEvent::Candidates { .. } => "candidates",
                ChatEvent::Token { .. } => "token",
            };
            if tx.send(Ok(event(name, &e))).is_err() {
                flag.store(true, Ordering::Relaxed);
            }
        };
        let last = match engine.chat_streaming_until(&req, &mut on_event, gone) {
            Ok(r) => Ok(event("done", &r)),
            Err(e) => Err(HttpError::Engine(e)),
        };
        let _ = tx.send(last);
    });
    // A turn that fails before its first event (a bad request, an unknown
    // session) answers with its HTTP status, as `/v1/chat` does; a failure
    // once the stream has started is an `error` event.
    let first = match rx.recv().await {
        Some(Ok(e)) => e,
        Some(Err(e)) => return Err(e),
        None => {
            return Err(HttpError::Internal(
                "the chat turn stopped without an answer".into(),
            ));
        }
    };
    let events = Events {
        first: Some(first),
        rest: rx,
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[utoipa::path(get, path = "/v1/users/{id}/memory", tag = "chat", params(("id" = String, Path)), responses((status = 200, body = Option<MemoryView>)))]
pub(crate) async fn memory(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Option<MemoryView>>, HttpError> {
    blocking(move || Ok(Json(engine.user_memory(&id)?))).await
}

#[utoipa::path(delete, path = "/v1/users/{id}/memory", tag = "chat", params(("id" = String, Path)), responses((status = 200, description = "`{\"user\": id, \"forgotten\": bool}`")))]
pub(crate) async fn forget(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    blocking(move || {
        let forgot = engine.forget_user_memory(&id)?;
        Ok(Json(serde_json::json!({ "user": id, "forgotten": forgot })))
    })
    .await
}
