//! The server killed while its embedding backlog job writes and while chat turns stream in.

use crate::{agent, get_json, key, post_json, start};
use sommelier_store::{SqliteStore, StoreOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Items POSTed as a batch too large to embed on ingest are left to the
/// embedding backlog job; a kill -9 while it writes their vectors leaves
/// some without one. The restart reports them, resumes the job, and ends
/// with one vector per acknowledged item, the vector index holding them all.
#[test]
fn a_server_killed_while_embedding_resumes_the_backlog() {
    let Some(model) = std::env::var_os("SOMMELIER_TEST_MODEL_DIR") else {
        eprintln!("SOMMELIER_TEST_MODEL_DIR is not set: skipping (scripts/test sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::os::unix::fs::symlink(model, dir.path().join("models/all-MiniLM-L6-v2")).unwrap();
    let auth = key(dir.path());
    let (mut child, url) = start(dir.path());
    let post = |url: &str, from: usize, n: usize| {
        let body: Vec<String> = (from..from + n)
            .map(|i| {
                format!(
                    r#"{{"id":"it{i}","kind":"product","title":"Trail shoe {i}","description":"A {} shoe for {} weather, model {i}"}}"#,
                    ["red", "teal", "grey", "black"][i % 4],
                    ["wet", "dry", "cold"][i % 3]
                )
            })
            .collect();
        let r = agent()
            .post(format!("{url}/v1/items"))
            .header("content-type", "application/json")
            .header("authorization", &auth)
            .send(format!("[{}]", body.join(",")))
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    // Small batches are embedded before they are acknowledged; a large one
    // is acknowledged stored, and embedded by the backlog job in chunks.
    for b in 0..3 {
        post(&url, b * 200, 200);
    }
    let model = "all-MiniLM-L6-v2";
    let vectors = |url: &str| get_json(url, "/v1/stats", &auth)["vectors"][model].as_u64();
    assert_eq!(vectors(&url), Some(600));
    post(&url, 600, 5_000);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        // Killed once the job wrote a first chunk and before it is done.
        let n = vectors(&url).unwrap_or(0);
        if n > 600 && n < 5_600 {
            break;
        }
        assert!(n < 5_600, "the job finished before the kill");
        assert!(Instant::now() < deadline, "the backlog job never wrote");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (mut child, url) = start(dir.path());
    let at_start = get_json(&url, "/v1/admin/dashboard", &auth);
    assert_eq!(at_start["damage"]["missing_vectors"], 1, "{at_start}");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let d = get_json(&url, "/v1/admin/dashboard", &auth);
        // The job's report is recorded after its last chunk is written
        // and indexed: wait for it too, not only for the counts.
        let last = &d["embed_backlog"]["last"];
        if let Some(embedded) = last["embedded"].as_u64() {
            assert!(embedded > 0 && embedded < 5_000, "{last}");
            assert_eq!(vectors(&url), Some(5_600), "{d}");
            assert_eq!(d["index"]["vectors"], 5_600, "{d}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backlog was not resumed: {d}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get_json(&url, "/v1/stats", &auth)["items"], 5_600);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The chat turns of a user who lets the assistant remember are stored as
/// they are answered: a kill -9 while turns stream in loses none that was
/// answered, leaves no half turn, and the session goes on after the restart.
#[test]
fn a_server_killed_during_chat_keeps_every_answered_turn() {
    let dir = tempfile::tempdir().unwrap();
    let auth = key(dir.path());
    let (mut child, url) = start(dir.path());
    let items: Vec<String> = (0..60)
        .map(|i| {
            format!(
                r#"{{"id":"m{i}","kind":"movie","title":"Harbour story {i}","categories":["{}"],"release_date":"{}-05-01"}}"#,
                ["Comedy", "Drama", "Thriller"][i % 3],
                1990 + i % 30
            )
        })
        .collect();
    post_json(&url, "/v1/items", &auth, &format!("[{}]", items.join(","))).unwrap();
    let user = r#"[{"id":"u1","consent":{"long_term_memory":true}}]"#;
    post_json(&url, "/v1/users", &auth, user).unwrap();
    let first = post_json(
        &url,
        "/v1/chat",
        &auth,
        r#"{"user_id":"u1","message":"light comedies please"}"#,
    )
    .unwrap();
    let session = first["session_id"].as_str().unwrap().to_string();
    assert_eq!(first["turn"], 1);

    let acked: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(vec![1]));
    let dead = Arc::new(AtomicBool::new(false));
    let talker = {
        let (acked, dead, url, auth, session) = (
            acked.clone(),
            dead.clone(),
            url.clone(),
            auth.clone(),
            session.clone(),
        );
        std::thread::spawn(move || {
            let says = [
                "something newer",
                "more like the second one",
                "a thriller instead",
                "from the nineties",
            ];
            for i in 0.. {
                let body = format!(
                    r#"{{"user_id":"u1","session_id":"{session}","message":"{}"}}"#,
                    says[i % says.len()]
                );
                match post_json(&url, "/v1/chat", &auth, &body) {
                    Some(r) => acked.lock().unwrap().push(r["turn"].as_i64().unwrap()),
                    None if dead.load(Ordering::SeqCst) => return,
                    None => panic!("a chat turn failed while the server was up"),
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < 25 {
        assert!(Instant::now() < deadline, "too few chat turns answered");
        std::thread::sleep(Duration::from_millis(10));
    }
    dead.store(true, Ordering::SeqCst);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    talker.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    let last = *acked.last().unwrap();
    assert_eq!(acked, (1..=last).collect::<Vec<_>>(), "answered in order");

    // The session goes on: its next turn follows every stored one.
    let (mut child, url) = start(dir.path());
    let body = format!(r#"{{"user_id":"u1","session_id":"{session}","message":"and one more"}}"#);
    let next = post_json(&url, "/v1/chat", &auth, &body).expect("the session goes on");
    let next = next["turn"].as_i64().unwrap();
    // At most one turn was stored and not answered when the kill came.
    assert!(next == last + 1 || next == last + 2, "{next} after {last}");
    eprintln!("last answered turn before the kill: {last}; next turn after it: {next}");
    child.kill().unwrap();
    child.wait().unwrap();
    let store =
        SqliteStore::open(dir.path().join("sommelier.db"), StoreOptions::default()).unwrap();
    let turns = sommelier_store::SessionRead::chat_turns(&store, &session, 10_000).unwrap();
    assert_eq!(
        turns.iter().map(|t| t.turn).collect::<Vec<_>>(),
        (1..=next).collect::<Vec<_>>()
    );
    for t in &turns {
        let body: serde_json::Value = serde_json::from_str(&t.body).expect("a whole turn");
        assert!(body["reply"].is_string(), "{}", t.body);
        assert_eq!(t.user_id.as_deref(), Some("u1"));
    }
    let memory = sommelier_store::SessionRead::user_memory(&store, "u1").unwrap();
    serde_json::from_str::<serde_json::Value>(&memory.expect("remembered")).expect("whole");
}
