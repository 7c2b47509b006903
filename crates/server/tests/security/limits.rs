//! Limits on what one request or one caller can cost.

use crate::matrix::raw_request;
use crate::server::{Server, seed};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn a_key_over_its_rate_gets_429_with_retry_after() {
    let (s, c) = Server::start(|cfg| {
        cfg.auth.rate_per_sec = 2.0;
        cfg.auth.burst = 5;
    });
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..12 {
        let auth = format!("Bearer {}", c.read);
        let (st, v, h) = s.call("GET", "/v1/stats", &[("authorization", &auth)], None);
        if st == 429 {
            assert_eq!(v["code"], "rate_limited");
            retry = h
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
        }
        statuses.push(st);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited >= 5, "{statuses:?}");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // Another key has its own bucket.
    assert_eq!(s.as_(&c.admin, "GET", "/v1/stats", None).0, 200);
}

#[test]
fn future_events_oversized_records_and_long_queries_are_refused() {
    let (s, c) = Server::start(|_| {});
    seed(&s, &c);
    let (st, v) = s.as_(
        &c.ingest,
        "POST",
        "/v1/events",
        Some(r#"{"user":"u1","item":"1","kind":"view","timestamp":"2099-01-01T00:00:00Z"}"#),
    );
    assert_eq!(st, 422, "{v}");
    let err = &v["errors"][0];
    assert_eq!(err["field"], "timestamp", "{v}");
    assert!(
        err["reason"].as_str().unwrap().contains("max_future_secs"),
        "{v}"
    );
    // Popular is untouched by it.
    let (_, pop) = s.as_(&c.read, "GET", "/v1/popular?n=10", None);
    assert!(pop.as_array().unwrap().len() > 1, "{pop}");
    // A 20 MB profile: refused by the body limit or the record limit, and
    // with a JSON error either way.
    let big = format!(
        r#"{{"id":"u7","attributes":{{"bio":"{}"}}}}"#,
        "a".repeat(300_000)
    );
    let (st, v) = s.as_(&c.ingest, "POST", "/v1/users", Some(&big));
    assert_eq!(st, 422, "{v}");
    assert!(
        v["errors"][0]["field"].as_str().unwrap().contains("bio"),
        "{v}"
    );
    // A 1 MB query.
    let q = format!(r#"{{"query":"{}"}}"#, "word ".repeat(200_000));
    let t = Instant::now();
    let (st, v) = s.as_(&c.read, "POST", "/v1/recommend", Some(&q));
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("query"), "{v}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn slow_and_idle_connections_are_closed() {
    let (s, _c) = Server::start(|cfg| {
        cfg.server.header_timeout_secs = 1;
        cfg.server.idle_timeout_secs = 2;
    });
    // Half a request line, then silence: closed after the header timeout.
    let mut t = std::net::TcpStream::connect(s.addr).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    t.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc").unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = t.read_to_end(&mut buf);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "held {:?}",
        start.elapsed()
    );
    // A keep-alive connection that goes quiet after one answer.
    let mut t = std::net::TcpStream::connect(s.addr).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    t.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = t.read_to_end(&mut buf);
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "held {:?}",
        start.elapsed()
    );
    // The server still answers.
    let ok = raw_request(
        &s,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[test]
fn an_admin_deletes_an_event_and_the_features_forget_it() {
    let (s, c) = Server::start(|_| {});
    seed(&s, &c);
    let (_, before) = s.as_(&c.read, "GET", "/v1/items/5/features", None);
    assert!(before.is_object(), "{before}");
    let (st, v) = s.as_(&c.admin, "DELETE", "/v1/events/e-u2-5", None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.as_(&c.admin, "GET", "/v1/events/e-u2-5", None).0, 404);
    // Item 5 had only that event.
    assert_eq!(s.as_(&c.read, "GET", "/v1/items/5/features", None).0, 404);
    assert_eq!(s.as_(&c.admin, "DELETE", "/v1/events/e-u2-5", None).0, 404);
}

#[test]
fn the_content_policy_keeps_excluded_items_off_every_surface() {
    // Even-numbered films are comedies (`seed`).
    let (s, c) = Server::start(|cfg| cfg.policy.exclude_categories = vec!["comedy".into()]);
    seed(&s, &c);
    let even = |id: &str| id.parse::<u32>().is_ok_and(|n| n % 2 == 0);
    let ids = |v: &serde_json::Value, key: &str| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x[key].as_str().unwrap().to_string())
            .collect()
    };
    let (_, pop) = s.as_(&c.read, "GET", "/v1/popular?n=10", None);
    let (_, trend) = s.as_(&c.read, "GET", "/v1/trending?n=10", None);
    let (_, rec) = s.as_(
        &c.read,
        "POST",
        "/v1/recommend",
        Some(r#"{"user_id":"u2","k":9}"#),
    );
    let (_, chat) = s.as_(
        &c.read,
        "POST",
        "/v1/chat",
        Some(r#"{"message":"funny comedies"}"#),
    );
    let shown: Vec<String> = [
        ids(&pop, "item"),
        ids(&trend, "item"),
        ids(&rec["items"], "item"),
        ids(&chat["items"], "item"),
    ]
    .concat();
    assert!(
        !ids(&pop, "item").is_empty() && !ids(&rec["items"], "item").is_empty(),
        "{pop} {rec}"
    );
    assert!(
        shown.iter().all(|i| !even(i)),
        "excluded items shown: {shown:?}"
    );
}
