//! The exposure log: every `/v1/recommend` answer carries a request id,
//! and with the log running its list is stored under that id — the items
//! in the order shown, their sources, the ranker, the latency — for the
//! user it was served to; forgetting the user deletes their lists.

use crate::support::{dramas_and_clicks, open};
use serde_json::json;
use sommelier_engine::{RecommendRequest, RecordKind};
use std::time::Duration;

#[test]
fn served_lists_are_logged_under_their_request_id_and_forgotten_with_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    dramas_and_clicks(&e, 200, 10);
    let ask = |user: Option<&str>| {
        e.recommend(&RecommendRequest {
            user_id: user.map(str::to_string),
            k: Some(5),
            ..Default::default()
        })
        .unwrap()
    };

    // Not running: answers still carry an id, nothing is stored.
    let before = ask(Some("u1"));
    assert_eq!(before.request_id.len(), 28);
    assert!(!e.flush_exposures(Duration::from_secs(1)));
    assert!(e.store().exposure(&before.request_id).unwrap().is_none());

    e.start_exposure_log();
    let a = ask(Some("u1"));
    let b = ask(None);
    let c = ask(Some("u1"));
    assert!(a.request_id < b.request_id && b.request_id < c.request_id);
    assert!(e.flush_exposures(Duration::from_secs(5)));
    assert_eq!(
        e.exposure_counts()
            .logged
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );

    let row = e.store().exposure(&a.request_id).unwrap().expect("logged");
    assert_eq!(
        (row.surface.as_str(), row.user_id.as_deref()),
        ("recommend", Some("u1"))
    );
    let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
    let shown: Vec<(String, u64)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item"].as_str().unwrap().to_string(),
                i["position"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = a
        .items
        .iter()
        .enumerate()
        .map(|(p, r)| (r.item.clone(), p as u64 + 1))
        .collect();
    assert_eq!(shown, want);
    assert!(!want.is_empty());
    for (i, r) in body["items"].as_array().unwrap().iter().zip(&a.items) {
        let sources: Vec<&str> = r.provenance.iter().map(|p| p.source.as_str()).collect();
        assert_eq!(i["sources"], json!(sources));
    }
    assert_eq!(body["ranker"], json!(a.ranker));
    assert!(body["latency_ms"].as_f64().unwrap() > 0.0);
    let visitor = e.store().exposure(&b.request_id).unwrap().expect("logged");
    assert_eq!(visitor.user_id, None);

    // A click that sends the request id back is attributed to that list.
    let clicked = &a.items[1].item;
    let click = vec![
        json!({"id": "click-1", "user": "u1", "item": clicked, "kind": "click",
               "timestamp": 1_700_001_000, "request_id": a.request_id, "position": 2}),
        json!({"id": "click-2", "user": "u1", "item": clicked, "kind": "click",
               "timestamp": 1_700_001_001,
               "context": {"request_id": c.request_id, "position": 1, "device": "tv"}}),
        json!({"id": "click-3", "user": "u1", "item": clicked, "kind": "click",
               "timestamp": 1_700_001_002}),
    ];
    let r = e.ingest_batch(RecordKind::Events, click, false).unwrap();
    assert_eq!(r.accepted, 3);
    let of_a = e.store().events_of_request(&a.request_id).unwrap();
    assert_eq!(of_a.len(), 1);
    assert_eq!(
        (of_a[0].id.as_str(), of_a[0].context.position),
        ("click-1", Some(2))
    );
    let of_c = e.store().events_of_request(&c.request_id).unwrap();
    assert_eq!(of_c[0].context.device.as_deref(), Some("tv"));
    let bad = vec![
        json!({"id": "click-4", "user": "u1", "item": clicked, "kind": "click",
                          "timestamp": 1_700_001_003, "position": 0}),
    ];
    let r = e.ingest_batch(RecordKind::Events, bad, false).unwrap();
    assert_eq!(r.rejected, 1, "a position counts from 1");

    let of_u1 = e.store().exposures_of("u1", 10).unwrap();
    let ids: Vec<&str> = of_u1.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, [c.request_id.as_str(), a.request_id.as_str()]);

    let receipt = e.forget_user("u1", false).unwrap();
    assert_eq!(receipt.store.exposures, 2);
    assert!(e.store().exposures_of("u1", 10).unwrap().is_empty());
    assert!(e.store().exposure(&b.request_id).unwrap().is_some());
}

#[test]
fn a_logged_answer_replays_to_the_same_list_and_says_what_changed_since() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    dramas_and_clicks(&e, 200, 10);
    e.start_exposure_log();
    let r = e
        .recommend(&RecommendRequest {
            user_id: Some("u1".into()),
            k: Some(6),
            mmr_lambda: Some(0.6),
            ..Default::default()
        })
        .unwrap();
    let same = e.replay(&r.request_id).unwrap();
    assert!(same.reproduced, "{same:?}");
    assert!(same.changed.is_empty(), "{same:?}");
    assert_eq!(same.served.len(), 6);
    // The user had the first pick since: the replay no longer shows it, and says why.
    e.ingest_batch(
        RecordKind::Events,
        vec![json!({"id": "later", "user": "u1", "item": r.items[0].item, "kind": "purchase", "timestamp": 1_700_000_500})],
        false,
    )
    .unwrap();
    let later = e.replay(&r.request_id).unwrap();
    assert!(!later.reproduced, "{later:?}");
    assert!(!later.now.contains(&r.items[0].item));
    assert!(
        later
            .changed
            .iter()
            .any(|c| c.starts_with("events: 200 applied then, 201 now")),
        "{later:?}"
    );
    // Replays are not exposures themselves.
    assert!(e.flush_exposures(Duration::from_secs(5)));
    assert_eq!(e.store().exposures_of("u1", 10).unwrap().len(), 1);
    assert!(matches!(
        e.replay("nope"),
        Err(sommelier_engine::EngineError::NotFound(_))
    ));
}

/// A chat turn that recommended keeps, for a user who consented to memory,
/// the retrieval request its intent became and the candidates the LLM
/// stage picked from: its replay runs the retrieval again and compares
/// the candidates. Without that consent nothing of the turn's words is
/// kept, and the replay says so.
#[test]
fn a_chat_turn_replays_its_candidates_only_with_consent_to_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::config(dir.path());
    config.llm.enabled = false;
    let e = sommelier_engine::Engine::open(config).unwrap();
    dramas_and_clicks(&e, 200, 10);
    let users = vec![
        json!({"id": "u1", "consent": {"long_term_memory": true}}),
        json!({"id": "u2", "consent": {"long_term_memory": false}}),
    ];
    e.ingest_batch(RecordKind::Users, users, false).unwrap();
    e.start_exposure_log();
    let chat = |user: &str| {
        e.chat(&sommelier_engine::ChatRequest {
            session_id: None,
            user_id: Some(user.into()),
            message: "some dramas please".into(),
            channel: sommelier_engine::Channel::Chat,
            k: Some(5),
            context: Default::default(),
            at: None,
        })
        .unwrap()
    };
    let turn = chat("u1");
    assert!(!turn.items.is_empty(), "{turn:?}");
    let r = e.replay(&turn.request_id).unwrap();
    assert_eq!(
        (r.surface.as_str(), r.compared.as_str()),
        ("chat", "candidates")
    );
    assert!(r.reproduced, "{r:?}");
    // Every item shown was among the candidates.
    for item in &turn.items {
        assert!(r.served.contains(&item.item), "{r:?}");
    }
    // The user had the first candidate since: it leaves, and the replay says why.
    e.ingest_batch(
        RecordKind::Events,
        vec![json!({"id": "later", "user": "u1", "item": r.served[0], "kind": "purchase", "timestamp": 1_700_000_500})],
        false,
    )
    .unwrap();
    let later = e.replay(&turn.request_id).unwrap();
    assert!(
        !later.reproduced && !later.now.contains(&r.served[0]),
        "{later:?}"
    );
    assert!(
        later.changed.iter().any(|c| c.starts_with("events:")),
        "{later:?}"
    );

    let other = chat("u2");
    assert!(!other.items.is_empty());
    let err = e.replay(&other.request_id).unwrap_err().to_string();
    assert!(err.contains("consented to memory"), "{err}");
    // The row itself keeps no words.
    let row = e.store().exposure(&other.request_id).unwrap().unwrap();
    assert!(!row.body.contains("dramas"), "{}", row.body);
}
