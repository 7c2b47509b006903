//! The OpenAI-compatible embedder against a real HTTP server on loopback that
//! speaks the `/v1/embeddings` protocol, including its failure modes.

use sommelier_embed::{Embedder, OpenAiEmbedder, OpenAiOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake endpoint answers to its n-th request.
type Script = Arc<dyn Fn(usize, &serde_json::Value) -> (u16, String, Duration) + Send + Sync>;

/// Requests seen: authorization header and JSON body.
type Log = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// Serves `script` on a loopback port; returns the base URL and the request log.
fn serve(script: Script) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if let Some(v) = line.trim_end().strip_prefix("authorization: ") {
                    auth = v.to_string();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
            seen.lock().unwrap().push((auth, req.clone()));
            let (status, text, delay) = script(n, &req);
            std::thread::sleep(delay);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, log)
}

/// A valid answer: vector i is (i+1, 0, 0, 0) before normalisation, listed in reverse.
fn answer(req: &serde_json::Value, dim: usize) -> String {
    let n = req["input"].as_array().unwrap().len();
    let data: Vec<serde_json::Value> = (0..n)
        .rev()
        .map(|i| {
            let mut v = vec![0.0f32; dim];
            v[0] = (i + 1) as f32;
            serde_json::json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    serde_json::json!({"object": "list", "data": data, "model": req["model"]}).to_string()
}

fn options(url: &str) -> OpenAiOptions {
    OpenAiOptions {
        base_url: url.into(),
        model: "text-embedding-3-small".into(),
        dim: 4,
        api_key: Some("sk-test".into()),
        batch_size: 2,
        timeout: Duration::from_millis(500),
        max_retries: 2,
        backoff: Duration::from_millis(10),
    }
}

#[test]
fn vectors_come_back_in_input_order_normalised_and_batched() {
    let (url, log) = serve(Arc::new(|_, req| (200, answer(req, 4), Duration::ZERO)));
    let e = OpenAiEmbedder::new(options(&url)).unwrap();
    let out = e.embed(&["a", "b", "c"]).unwrap();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|v| (v[0] - 1.0).abs() < 1e-6), "{out:?}");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2, "3 texts in batches of 2");
    assert_eq!(log[0].0, "Bearer sk-test");
    assert_eq!(log[0].1["model"], "text-embedding-3-small");
    assert_eq!(log[1].1["input"], serde_json::json!(["c"]));
    assert_eq!(e.model_id(), "openai:text-embedding-3-small");
}

#[test]
fn server_errors_and_rate_limits_are_retried() {
    let (url, log) = serve(Arc::new(|n, req| match n {
        0 => (500, "oops".into(), Duration::ZERO),
        1 => (429, "{}".into(), Duration::ZERO),
        _ => (200, answer(req, 4), Duration::ZERO),
    }));
    let out = OpenAiEmbedder::new(options(&url))
        .unwrap()
        .embed(&["a"])
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn bad_answers_are_errors_not_vectors() {
    let cases: Vec<(Script, &str)> = vec![
        (
            Arc::new(|_, _| (200, "{not json".into(), Duration::ZERO)),
            "malformed response",
        ),
        (
            Arc::new(|_, req| (200, answer(req, 3), Duration::ZERO)),
            "dimension 3, configured 4",
        ),
        (
            Arc::new(|_, _| {
                (
                    200,
                    r#"{"data":[{"index":7,"embedding":[1,0,0,0]}]}"#.into(),
                    Duration::ZERO,
                )
            }),
            "bad or repeated index 7",
        ),
        (
            Arc::new(|_, _| (401, r#"{"error":"bad key"}"#.into(), Duration::ZERO)),
            "HTTP 401",
        ),
        (
            Arc::new(|_, _| (503, "busy".into(), Duration::ZERO)),
            "HTTP 503 (after 3 attempts)",
        ),
        (
            Arc::new(|_, req| (200, answer(req, 4), Duration::from_secs(2))),
            "after 3 attempts",
        ),
    ];
    for (script, expected) in cases {
        let (url, _) = serve(script);
        let err = OpenAiEmbedder::new(options(&url))
            .unwrap()
            .embed(&["a"])
            .unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} should mention {expected}"
        );
    }
}
