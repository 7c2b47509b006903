//! Every endpoint × {no credentials, a key without the needed scope,
//! another user's token, the right credential}. The expected answers are
//! the table in docs/security.md, which this test reads and compares.

use crate::server::{Server, seed};

/// Any status but 401 and 403: access was granted (the request itself may
/// still be answered 404 or 503, e.g. search without an embedding model).
const GRANTED: u16 = 0;

/// (method, path, body, need, [none, wrong scope, other user, right]).
type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    [u16; 4],
);

const ROWS: &[Row] = &[
    ("GET", "/healthz", None, "public", [200, 200, 200, 200]),
    ("GET", "/openapi.json", None, "public", [200, 200, 200, 200]),
    ("GET", "/", None, "public", [200, 200, 200, 200]),
    ("GET", "/ui/app.js", None, "public", [200, 200, 200, 200]),
    (
        "GET",
        "/v1/items?ids=1,2",
        None,
        "read",
        [401, 403, 200, 200],
    ),
    ("GET", "/v1/facets", None, "read", [401, 403, 200, 200]),
    ("GET", "/v1/items/1", None, "read", [401, 403, 200, 200]),
    (
        "GET",
        "/v1/items/2/features",
        None,
        "read",
        [401, 403, 200, 200],
    ),
    (
        "GET",
        "/v1/items/1/similar?k=3",
        None,
        "read",
        [401, 403, GRANTED, GRANTED],
    ),
    (
        "GET",
        "/v1/search?q=comedy",
        None,
        "read",
        [401, 403, GRANTED, GRANTED],
    ),
    ("GET", "/v1/popular?n=3", None, "read", [401, 403, 200, 200]),
    (
        "GET",
        "/v1/trending?n=3",
        None,
        "read",
        [401, 403, 200, 200],
    ),
    ("GET", "/v1/stats", None, "read", [401, 403, 200, 200]),
    (
        "POST",
        "/v1/recommend",
        Some(r#"{"user_id":"u1","k":3}"#),
        "read",
        [401, 403, 403, 200],
    ),
    (
        "POST",
        "/v1/chat",
        Some(r#"{"user_id":"u1","message":"comedies"}"#),
        "read",
        [401, 403, 403, 200],
    ),
    (
        "POST",
        "/v1/chat/stream",
        Some(r#"{"user_id":"u1","message":"dramas"}"#),
        "read",
        [401, 403, 403, 200],
    ),
    (
        "POST",
        "/v1/events",
        Some(r#"{"user":"u1","item":"7","kind":"view"}"#),
        "ingest",
        [401, 403, 403, 200],
    ),
    (
        "POST",
        "/v1/feedback",
        Some(r#"{"user_id":"u1","request_id":"none","item":"7","verdict":"helped"}"#),
        "ingest",
        [401, 403, 403, GRANTED],
    ),
    (
        "POST",
        "/v1/users",
        Some(r#"{"id":"u1","consent":{"personalization":true,"long_term_memory":true}}"#),
        "ingest",
        [401, 403, 403, 200],
    ),
    (
        "POST",
        "/v1/items",
        Some(r#"{"id":"10","title":"Film 10"}"#),
        "ingest",
        [401, 403, 403, 200],
    ),
    ("GET", "/v1/users/u1", None, "own", [401, 403, 403, 200]),
    (
        "GET",
        "/v1/users/u1/features",
        None,
        "own",
        [401, 403, 403, 200],
    ),
    (
        "GET",
        "/v1/users/u1/memory",
        None,
        "own",
        [401, 403, 403, 200],
    ),
    (
        "DELETE",
        "/v1/users/u1/memory",
        None,
        "own",
        [401, 403, 403, 200],
    ),
    (
        "GET",
        "/v1/events/e-u2-5",
        None,
        "admin",
        [401, 403, 403, 200],
    ),
    ("GET", "/v1/users?n=5", None, "admin", [401, 403, 403, 200]),
    (
        "GET",
        "/v1/admin/experiments",
        None,
        "admin",
        [401, 403, 403, 200],
    ),
    (
        "GET",
        "/v1/admin/feedback",
        None,
        "admin",
        [401, 403, 403, 200],
    ),
    ("GET", "/metrics", None, "admin", [401, 403, 403, 200]),
    (
        "GET",
        "/v1/admin/models",
        None,
        "admin",
        [401, 403, 403, 200],
    ),
    (
        "GET",
        "/v1/admin/latency",
        None,
        "admin",
        [401, 403, 403, 200],
    ),
    (
        "GET",
        "/v1/admin/dashboard",
        None,
        "admin",
        [401, 403, 403, 200],
    ),
    ("GET", "/v1/admin/eval", None, "admin", [401, 403, 403, 200]),
    (
        "GET",
        "/v1/admin/eval/files/report-x.json",
        None,
        "admin",
        [401, 403, 403, 404],
    ),
    (
        "GET",
        "/v1/admin/audit",
        None,
        "admin",
        [401, 403, 403, 200],
    ),
    (
        "POST",
        "/v1/admin/tokens",
        Some(r#"{"user":"u1","ttl_secs":60}"#),
        "admin",
        [401, 403, 403, 200],
    ),
    (
        "POST",
        "/v1/admin/fit",
        None,
        "admin",
        [401, 403, 403, GRANTED],
    ),
    ("DELETE", "/v1/items/9", None, "admin", [401, 403, 403, 200]),
    (
        "DELETE",
        "/v1/events/e-u2-6",
        None,
        "admin",
        [401, 403, 403, 200],
    ),
    ("DELETE", "/v1/users/u1", None, "own", [401, 403, 403, 200]),
    (
        "GET",
        "/v1/no-such-route",
        None,
        "read",
        [401, 403, 404, 404],
    ),
];

#[test]
fn every_endpoint_answers_each_kind_of_caller_as_documented() {
    let (s, c) = Server::start(|_| {});
    seed(&s, &c);
    let (t1, t2) = (c.token("u1"), c.token("u2"));
    let mut failures = Vec::new();
    for (method, path, body, need, expected) in ROWS {
        // The wrong scope for each need, and the right credential.
        let (wrong, right) = match *need {
            "public" => (c.ingest.as_str(), c.read.as_str()),
            "read" => (c.ingest.as_str(), c.read.as_str()),
            "ingest" => (c.read.as_str(), c.ingest.as_str()),
            "own" => (c.read.as_str(), t1.as_str()),
            _ => (c.read.as_str(), c.admin.as_str()),
        };
        let answers = [
            s.call(method, path, &[], *body).0,
            s.as_(wrong, method, path, *body).0,
            s.as_(&t2, method, path, *body).0,
            s.as_(right, method, path, *body).0,
        ];
        for (i, (got, want)) in answers.iter().zip(expected).enumerate() {
            let ok = if *want == GRANTED {
                *got != 401 && *got != 403
            } else {
                got == want
            };
            if !ok {
                let who = [
                    "no credentials",
                    "wrong scope",
                    "other user's token",
                    "right credential",
                ][i];
                failures.push(format!(
                    "{method} {path} with {who}: {got}, expected {want}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_table_in_docs_security_md_is_the_table_tested() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
        )
        .join("../../docs/security.md"),
    )
    .expect("docs/security.md");
    let mut missing = Vec::new();
    for (method, path, _, need, expected) in ROWS {
        let cells: Vec<String> = expected
            .iter()
            .map(|e| {
                if *e == GRANTED {
                    "granted".to_string()
                } else {
                    e.to_string()
                }
            })
            .collect();
        let row = format!("| `{method} {path}` | {need} | {} |", cells.join(" | "));
        if !doc.contains(&row) {
            missing.push(row);
        }
    }
    assert!(
        missing.is_empty(),
        "rows missing from docs/security.md:\n{}",
        missing.join("\n")
    );
}

#[test]
fn errors_are_json_with_a_code_and_a_www_authenticate_challenge() {
    let (s, c) = Server::start(|_| {});
    let (st, v, h) = s.call("GET", "/v1/stats", &[], None);
    assert_eq!(st, 401);
    assert_eq!(v["code"], "unauthenticated");
    assert_eq!(h.get("www-authenticate").unwrap(), "Bearer");
    let (st, v) = s.as_("sk_000000000000_nope", "GET", "/v1/stats", None);
    assert_eq!((st, v["code"].as_str()), (401, Some("unauthenticated")));
    let (st, v) = s.as_(&c.read, "GET", "/v1/no-such-route", None);
    assert_eq!((st, v["code"].as_str()), (404, Some("not_found")));
    let (st, v) = s.as_(&c.read, "POST", "/v1/popular", Some("{}"));
    assert_eq!(st, 403, "{v}");
    // Unknown fields are refused, named.
    let (st, v) = s.as_(
        &c.read,
        "POST",
        "/v1/recommend",
        Some(r#"{"k":3,"usr":"u1"}"#),
    );
    assert_eq!(st, 400);
    assert!(v["message"].as_str().unwrap().contains("usr"), "{v}");
    let (st, v) = s.as_(&c.read, "GET", "/v1/popular?n=3&x=1", None);
    assert_eq!(st, 400);
    assert!(
        v.is_object() && v["message"].as_str().unwrap().contains('x'),
        "{v}"
    );
    // A token that expired, a forged one, an unsigned one.
    let old = c
        .signer
        .sign("u1", 60, sommelier_types::Timestamp::now().0 / 1000 - 3600)
        .unwrap();
    assert_eq!(s.as_(&old, "GET", "/v1/users/u1", None).0, 401);
    let other = sommelier_auth::TokenSigner::new(b"someone else's secret, 32 bytes..", 3600)
        .sign("u1", 60, sommelier_types::Timestamp::now().0 / 1000)
        .unwrap();
    assert_eq!(s.as_(&other, "GET", "/v1/users/u1", None).0, 401);
}

#[test]
fn cross_origin_pages_and_foreign_host_names_are_refused() {
    let (s, c) =
        Server::start(|cfg| cfg.auth.allowed_origins = vec!["https://shop.example".into()]);
    let auth = format!("Bearer {}", c.ingest);
    let ev = r#"{"user":"u9","item":"1","kind":"view"}"#;
    // A page of another origin posting text/plain (no preflight needed).
    let (st, v, _) = s.call(
        "POST",
        "/v1/events",
        &[
            ("origin", "http://evil.example"),
            ("authorization", &auth),
            ("content-type", "text/plain"),
        ],
        Some(ev),
    );
    assert_eq!((st, v["code"].as_str()), (403, Some("cross_origin")), "{v}");
    // Even without a key it never reaches the handler.
    let (st, _, _) = s.call(
        "POST",
        "/v1/events",
        &[("origin", "http://evil.example")],
        Some(ev),
    );
    assert_eq!(st, 403);
    // The server's own page, and an allowed origin (with CORS headers).
    let own = format!("http://{}", s.addr);
    let (st, _, _) = s.call(
        "POST",
        "/v1/events",
        &[("origin", &own), ("authorization", &auth)],
        Some(ev),
    );
    assert_eq!(st, 200);
    let (st, _, h) = s.call(
        "POST",
        "/v1/events",
        &[("origin", "https://shop.example"), ("authorization", &auth)],
        Some(ev),
    );
    assert_eq!(st, 200);
    assert_eq!(
        h.get("access-control-allow-origin").unwrap(),
        "https://shop.example"
    );
    // A DNS-rebinding page: the request comes to 127.0.0.1 naming another host.
    let raw = raw_request(
        &s,
        "GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    let raw = raw_request(
        &s,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
}

pub fn raw_request(s: &Server, text: &str) -> String {
    use std::io::{Read, Write};
    let mut t = std::net::TcpStream::connect(s.addr).unwrap();
    t.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    t.write_all(text.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = t.read_to_string(&mut out);
    out
}

#[test]
fn sessions_belong_to_their_user_and_keys_can_be_revoked() {
    let (s, c) = Server::start(|_| {});
    seed(&s, &c);
    let (t1, t2) = (c.token("u1"), c.token("u2"));
    let (st, v) = s.as_(
        &t1,
        "POST",
        "/v1/chat",
        Some(r#"{"message":"comedies please"}"#),
    );
    assert_eq!(st, 200, "{v}");
    let sid = v["session_id"].as_str().unwrap().to_string();
    assert!(sid.starts_with("s-") && sid.len() == 34, "{sid}");
    let follow = format!(r#"{{"message":"no dramas","session_id":"{sid}"}}"#);
    // Another user, or the operator's key speaking for nobody: not found.
    assert_eq!(s.as_(&t2, "POST", "/v1/chat", Some(&follow)).0, 404);
    assert_eq!(s.as_(&c.read, "POST", "/v1/chat", Some(&follow)).0, 404);
    assert_eq!(s.as_(&t2, "POST", "/v1/chat/stream", Some(&follow)).0, 404);
    // Its user continues it.
    let (st, v) = s.as_(&t1, "POST", "/v1/chat", Some(&follow));
    assert_eq!((st, v["turn"].as_i64()), (200, Some(2)), "{v}");
    // Made-up and absurd session ids.
    let made_up = r#"{"message":"hi","session_id":"s-0000"}"#;
    assert_eq!(s.as_(&t1, "POST", "/v1/chat", Some(made_up)).0, 404);
    let long = format!(
        r#"{{"message":"hi","session_id":"{}"}}"#,
        "x".repeat(100_000)
    );
    assert_eq!(s.as_(&t1, "POST", "/v1/chat", Some(&long)).0, 400);
    // A revoked key stops working within the refresh interval.
    let id = c.read.split('_').nth(1).unwrap().to_string();
    assert_eq!(s.as_(&c.read, "GET", "/v1/stats", None).0, 200);
    assert!(sommelier_auth::revoke_key(s.engine.store(), &id, "test").unwrap());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(s.as_(&c.read, "GET", "/v1/stats", None).0, 401);
    // The audit log has the admin actions, with users as pseudonyms.
    let (_, log) = s.as_(&c.admin, "GET", "/v1/admin/audit?n=1000", None);
    let text = log.to_string();
    assert!(text.contains("keys.revoke"), "{text}");
    assert!(!text.contains("\"user:u1\""), "{text}");
}
