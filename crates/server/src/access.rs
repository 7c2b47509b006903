//! Who may call what: the one middleware every request passes.
//!
//! In order: the `Host` header must name this server (a foreign name is a
//! DNS-rebinding page talking to a server on loopback); a browser request
//! from another origin is refused unless `auth.allowed_origins` lists it
//! (and then answered with CORS headers); the caller is identified by an
//! API key and/or a user token; the route's need ([`need`]) is checked
//! against the caller's scopes; the caller's token bucket is charged (429
//! with `Retry-After` when empty); the handler runs with the [`Caller`] in
//! its extensions; administrative actions are appended to the audit log;
//! and any error answer that is not JSON yet (a rejection of axum's, a 404
//! of an unknown route) is rewritten into the one error shape.
//! docs/security.md has the table of routes and needs.

use crate::AppState;
use crate::error::HttpError;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use parking_lot::RwLock;
use sommelier_auth::{KeyRing, Scope, Scopes, ServerSecret, TokenSigner};
use sommelier_privacy::Pseudonymizer;
use sommelier_store::AuditEntry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Anyone (health, the API description, the web UI's files).
    Public,
    /// `read`.
    Read,
    /// `ingest` (a user token may write its own events and profile).
    Ingest,
    /// `admin`, or the token of the user the path names.
    Own,
    /// `admin`.
    Admin,
}

/// The need of a route, by method and matched path. Unknown routes need a
/// caller too, so probing the API without credentials learns nothing.
pub(crate) fn need(method: &Method, path: Option<&str>) -> Need {
    let Some(path) = path else {
        return Need::Read;
    };
    match (method.as_str(), path) {
        (_, "/" | "/ui/{file}" | "/healthz" | "/openapi.json") => Need::Public,
        (
            "GET",
            "/v1/items"
            | "/v1/facets"
            | "/v1/items/{id}"
            | "/v1/items/{id}/features"
            | "/v1/items/{id}/similar"
            | "/v1/search"
            | "/v1/popular"
            | "/v1/trending"
            | "/v1/stats",
        ) => Need::Read,
        ("POST", "/v1/recommend" | "/v1/chat" | "/v1/chat/stream") => Need::Read,
        ("POST", "/v1/items" | "/v1/events" | "/v1/users" | "/v1/feedback") => Need::Ingest,
        (
            "GET" | "DELETE",
            "/v1/users/{id}" | "/v1/users/{id}/features" | "/v1/users/{id}/memory",
        ) => Need::Own,
        _ => Need::Admin,
    }
}

/// The caller of one request, for handlers that decide per record or per
/// user (`Extension<Caller>`).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The API key's id, if one was presented.
    pub(crate) key: Option<String>,
    /// The user a token binds the caller to: it may act only as them.
    pub(crate) user: Option<String>,
    /// What it may do.
    pub(crate) scopes: Scopes,
}

impl Caller {
    /// Authentication is off: anything goes.
    fn open() -> Self {
        Self {
            key: None,
            user: None,
            scopes: Scopes::all(),
        }
    }

    /// The user a request may act as: a bound caller acts as its user
    /// (filled in when the request names none) and no one else.
    pub(crate) fn act_as(&self, asked: Option<String>) -> Result<Option<String>, HttpError> {
        match (&self.user, asked) {
            (None, asked) => Ok(asked),
            (Some(me), None) => Ok(Some(me.clone())),
            (Some(me), Some(a)) if *me == a => Ok(Some(a)),
            (Some(_), Some(_)) => Err(HttpError::Forbidden(
                "this user token may act only as its own user".into(),
            )),
        }
    }

    /// Whether the caller may write records of `kind` (a bound caller: only
    /// events by its user and its own profile).
    pub(crate) fn check_records(
        &self,
        kind: sommelier_engine::RecordKind,
        records: &[serde_json::Value],
    ) -> Result<(), HttpError> {
        use sommelier_engine::RecordKind as K;
        let Some(me) = &self.user else {
            return Ok(());
        };
        let field = match kind {
            K::Items => {
                return Err(HttpError::Forbidden(
                    "a user token cannot write items; use a key with the `ingest` scope".into(),
                ));
            }
            K::Events => "user",
            K::Users => "id",
        };
        for (i, r) in records.iter().enumerate() {
            let who = r.get(field).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            if who.as_deref() != Some(me.as_str()) {
                return Err(HttpError::Forbidden(format!(
                    "record {i}: `{field}` must be this token's user"
                )));
            }
        }
        Ok(())
    }
}

/// Everything the middleware needs, built once at start.
pub struct Access {
    enabled: bool,
    keys: KeyRing,
    tokens: TokenSigner,
    pseudonyms: Pseudonymizer,
    default_quota: Quota,
    by_key: RwLock<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
    by_user: DefaultKeyedRateLimiter<String>,
    /// `None`: any host.
    hosts: Option<Vec<String>>,
    origins: Vec<String>,
}

fn quota(rate: f64, burst: u32) -> Quota {
    let per = std::time::Duration::from_secs_f64(1.0 / rate.max(1e-3));
    Quota::with_period(per)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl Access {
    /// Reads the keys and the server secret for an engine listening at
    /// `local`.
    pub fn new(engine: &AppState, local: SocketAddr) -> Result<Self, String> {
        let cfg = &engine.config().auth;
        let secret =
            ServerSecret::load_or_create(&engine.config().data_dir).map_err(|e| e.to_string())?;
        let keys = KeyRing::load(engine.store()).map_err(|e| e.to_string())?;
        let default_quota = quota(cfg.rate_per_sec, cfg.burst);
        let hosts = if !cfg.allowed_hosts.is_empty() {
            Some(
                cfg.allowed_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
            )
        } else if local.ip().is_loopback() {
            Some(vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()])
        } else {
            None
        };
        Ok(Self {
            enabled: cfg.enabled,
            keys,
            tokens: secret.token_signer(&cfg.token_secret, cfg.max_token_ttl_secs),
            pseudonyms: Pseudonymizer::new(&secret.derive("pseudonym")),
            default_quota,
            by_key: RwLock::new(HashMap::new()),
            by_user: governor::RateLimiter::keyed(default_quota),
            hosts,
            origins: cfg
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
        })
    }

    /// Live API keys.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The token signer (the admin API issues tokens with it).
    pub(crate) fn tokens(&self) -> &TokenSigner {
        &self.tokens
    }

    /// A user id as logs and the audit log show it.
    pub(crate) fn pseudonym(&self, user: &str) -> String {
        self.pseudonyms.pseudonym(user)
    }

    /// Re-reads the keys (revocations reach the server) and forgets idle
    /// rate-limit state.
    pub(crate) fn refresh(&self, engine: &AppState) {
        if let Err(e) = self.keys.refresh(engine.store()) {
            tracing::warn!(error = %e, "could not re-read the API keys");
        }
        self.by_user.retain_recent();
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(allowed) = &self.hosts else {
            return true;
        };
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            // HTTP/1.0 without Host: only from loopback clients anyway.
            return true;
        };
        let host = host.to_ascii_lowercase();
        let name = match host.rfind(':') {
            Some(i) if !host.ends_with(']') => &host[..i],
            _ => host.as_str(),
        };
        allowed.iter().any(|a| a == name || *a == host)
    }

    /// `Some(origin)` for a cross-origin request from an allowed origin,
    /// `None` for a same-origin (or non-browser) request, `Err` otherwise.
    fn origin(&self, headers: &HeaderMap) -> Result<Option<String>, HttpError> {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()) else {
            return Ok(None);
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin = origin.trim_end_matches('/');
        if origin == format!("http://{host}") || origin == format!("https://{host}") {
            return Ok(None);
        }
        if self.origins.iter().any(|o| o == origin) {
            return Ok(Some(origin.to_string()));
        }
        Err(HttpError::CrossOrigin(format!(
            "requests from the origin `{}` are not allowed (auth.allowed_origins)",
            origin.chars().take(100).collect::<String>()
        )))
    }

    /// Who is calling. Missing credentials are `Ok(None)`; wrong ones an
    /// error.
    fn identify(
        &self,
        engine: &AppState,
        headers: &HeaderMap,
    ) -> Result<Option<Caller>, HttpError> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|h| h.to_str().ok())
                .map(str::trim)
        };
        let mut key_text = text("x-api-key").map(str::to_string);
        let mut token_text = text("x-user-token").map(str::to_string);
        if let Some(auth) = text("authorization") {
            let Some(bearer) = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
            else {
                return Err(HttpError::Unauthenticated(
                    "the Authorization header must be `Bearer <API key or user token>`".into(),
                ));
            };
            if bearer.starts_with("sk_") {
                key_text = Some(bearer.trim().to_string());
            } else {
                token_text = Some(bearer.trim().to_string());
            }
        }
        if key_text.is_none() && token_text.is_none() {
            return Ok(None);
        }
        let key = match key_text {
            None => None,
            Some(k) => Some(self.keys.lookup(&k, engine.store()).ok_or_else(|| {
                HttpError::Unauthenticated("the API key is not valid (unknown or revoked)".into())
            })?),
        };
        let user = match token_text {
            None => None,
            Some(t) => {
                let now = sommelier_types::Timestamp::now().0 / 1000;
                let claims = self
                    .tokens
                    .verify(&t, now)
                    .map_err(|e| HttpError::Unauthenticated(e.to_string()))?;
                Some(claims.sub)
            }
        };
        let scopes = match &key {
            Some(k) => k.scopes,
            // A user token alone: read, and write its own events and profile.
            None => Scopes::of(&[Scope::Read, Scope::Ingest]),
        };
        Ok(Some(Caller {
            key: key.map(|k| k.id),
            user,
            scopes,
        }))
    }

    fn charge(&self, caller: &Caller, engine: &AppState) -> Result<(), HttpError> {
        let verdict = match (&caller.key, &caller.user) {
            (Some(id), _) => {
                let limiter = self.by_key.read().get(id).cloned();
                let limiter = match limiter {
                    Some(l) => l,
                    None => {
                        let rate = self
                            .keys
                            .by_id(id)
                            .and_then(|k| k.rate)
                            .map(|r| quota(r, engine.config().auth.burst))
                            .unwrap_or(self.default_quota);
                        let l = Arc::new(governor::RateLimiter::direct(rate));
                        self.by_key.write().insert(id.clone(), l.clone());
                        l
                    }
                };
                limiter.check().map_err(|n| n.wait_time_from(now()))
            }
            (None, Some(user)) => self
                .by_user
                .check_key(user)
                .map_err(|n| n.wait_time_from(now())),
            (None, None) => Ok(()),
        };
        verdict.map_err(|wait| HttpError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
    }

    fn audit(
        &self,
        engine: &AppState,
        caller: &Caller,
        action: String,
        target: String,
        status: StatusCode,
    ) {
        let actor = match (&caller.key, &caller.user) {
            (Some(k), _) => format!("key:{k}"),
            (None, Some(u)) => format!("user:{}", self.pseudonym(u)),
            (None, None) => "open".into(),
        };
        let entry = AuditEntry {
            seq: 0,
            at_ms: sommelier_types::Timestamp::now().0,
            actor,
            action,
            target,
            outcome: status.as_u16().to_string(),
        };
        if let Err(e) = engine.store().append_audit(&entry) {
            tracing::error!(error = %e, action = %entry.action, "could not append to the audit log");
        }
    }
}

fn now() -> <governor::clock::DefaultClock as governor::clock::Clock>::Instant {
    governor::clock::Clock::now(&governor::clock::DefaultClock::default())
}

fn cors(resp: &mut Response, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The middleware (see the module's documentation).
pub(crate) async fn guard(
    State((engine, access)): State<(AppState, Arc<Access>)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let method = parts.method.clone();
    let matched = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let need = need(&method, matched.as_deref());
    let headers = &parts.headers;
    if !access.host_allowed(headers) {
        return HttpError::Forbidden(
            "this server does not answer for that Host name (auth.allowed_hosts)".into(),
        )
        .into_response();
    }
    let cross = match access.origin(headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if method == Method::OPTIONS {
        // A preflight from an allowed origin.
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if let Some(o) = &cross {
            cors(&mut resp, o);
            let h = resp.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, x-api-key, x-user-token"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        return resp;
    }
    let params: Vec<(String, String)> = {
        use axum::extract::FromRequestParts;
        RawPathParams::from_request_parts(&mut parts, &())
            .await
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let path_user = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone());
    let caller = if need == Need::Public {
        None
    } else if !access.enabled {
        Some(Caller::open())
    } else {
        match access.identify(&engine, &parts.headers) {
            Err(e) => return finish(e.into_response(), cross.as_deref()),
            Ok(None) => {
                return finish(
                    HttpError::Unauthenticated(
                        "this endpoint needs an API key or a user token (`Authorization: Bearer …`; docs/security.md)".into(),
                    )
                    .into_response(),
                    cross.as_deref(),
                );
            }
            Ok(Some(c)) => {
                let allowed = match need {
                    Need::Public => true,
                    Need::Read => c.scopes.has(Scope::Read),
                    Need::Ingest => c.scopes.has(Scope::Ingest),
                    Need::Admin => c.scopes.has(Scope::Admin) && c.user.is_none(),
                    Need::Own => {
                        (c.scopes.has(Scope::Admin) && c.user.is_none())
                            || (c.user.is_some() && c.user == path_user)
                    }
                };
                if !allowed {
                    let what = match need {
                        Need::Own => "an admin key or this user's token".to_string(),
                        Need::Read => "the `read` scope".into(),
                        Need::Ingest => "the `ingest` scope".into(),
                        _ => "an admin key".into(),
                    };
                    return finish(
                        HttpError::Forbidden(format!(
                            "{} {} needs {what}",
                            method,
                            matched.as_deref().unwrap_or("this route")
                        ))
                        .into_response(),
                        cross.as_deref(),
                    );
                }
                if let Err(e) = access.charge(&c, &engine) {
                    return finish(e.into_response(), cross.as_deref());
                }
                Some(c)
            }
        }
    };
    let mut req = Request::from_parts(parts, body);
    if let Some(c) = &caller {
        req.extensions_mut().insert(c.clone());
    }
    let resp = next.run(req).await;
    // Administrative actions and reads of someone's data by an admin.
    if let Some(c) = &caller {
        let audited = match need {
            Need::Admin => method != Method::GET && method != Method::HEAD,
            Need::Own => c.user.is_none() || method == Method::DELETE,
            _ => false,
        };
        if audited {
            let target = params
                .iter()
                .map(|(k, v)| {
                    if k == "id"
                        && matched
                            .as_deref()
                            .is_some_and(|m| m.starts_with("/v1/users/"))
                    {
                        format!("user:{}", access.pseudonym(v))
                    } else {
                        format!("{k}:{}", v.chars().take(100).collect::<String>())
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            let action = format!("{method} {}", matched.as_deref().unwrap_or("?"));
            let status = resp.status();
            let (e, a, c) = (engine.clone(), access.clone(), c.clone());
            let _ =
                tokio::task::spawn_blocking(move || a.audit(&e, &c, action, target, status)).await;
        }
    }
    finish(
        crate::json_errors::json_errors(resp).await,
        cross.as_deref(),
    )
}

fn finish(mut resp: Response, cross: Option<&str>) -> Response {
    if let Some(o) = cross {
        cors(&mut resp, o);
    }
    resp
}
