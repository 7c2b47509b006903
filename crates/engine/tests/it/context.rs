//! Context features: the time of day and device of a request move the items
//! people choose then and there up, for visitors (context-aware popularity)
//! and for known users (the learned ranker's `context.*` features).
//!
//! The log: 20 "evening" items chosen between 19:00 and 22:59 UTC on a TV, 20
//! "morning" items chosen between 06:00 and 09:59 on a phone, by 120 users who
//! each choose from both groups, so only the context tells which group a
//! user's next choice comes from.

use serde_json::json;
use sommelier_engine::{Config, Engine, RecommendRequest, RecordKind, RequestContext};

use crate::support::Rng;

const PER_GROUP: usize = 20;
const USERS: usize = 120;

fn item(group: &str, i: usize) -> String {
    format!("{group}-{i:02}")
}

fn engine(dir: &tempfile::TempDir) -> Engine {
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.features.context_clock = false;
    let e = Engine::open(config).unwrap();
    let mut rng = Rng(0x5eed);
    let mut items = Vec::new();
    for group in ["eve", "mor"] {
        for i in 0..PER_GROUP {
            items.push(json!({"id": item(group, i), "title": format!("{group} {i}"), "categories": ["Show"]}));
        }
    }
    e.ingest_batch(RecordKind::Items, items, false).unwrap();
    let model = e.config().vectors.model.clone();
    e.store()
        .write(|w| {
            for (n, group) in ["eve", "mor"].into_iter().enumerate() {
                for i in 0..PER_GROUP {
                    // Vectors that say nothing about the group.
                    let mut v = vec![0.1f32; 8];
                    v[(i + n) % 8] = 1.0;
                    let len = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().for_each(|x| *x /= len);
                    w.put_vector(&item(group, i), &model, "h", &v)?;
                }
            }
            Ok::<_, sommelier_store::StoreError>(())
        })
        .unwrap();
    let mut events = Vec::new();
    for u in 0..USERS {
        for day in 0..8 {
            let evening = rng.below(2) == 0;
            let (group, hour, device) = if evening {
                ("eve", 19 + rng.below(4), "tv")
            } else {
                ("mor", 6 + rng.below(4), "mobile")
            };
            let i = rng.below(PER_GROUP);
            let ts = format!("2024-03-{:02}T{hour:02}:{:02}:00Z", 1 + day, rng.below(60));
            events.push(json!({
                "user": format!("u{u}"), "item": item(group, i), "kind": "like",
                "timestamp": ts, "context": {"device": device}
            }));
        }
    }
    e.ingest_batch(RecordKind::Events, events, false).unwrap();
    e
}

fn at(user: Option<&str>, hour: u8, device: &str) -> RecommendRequest {
    RecommendRequest {
        user_id: user.map(str::to_string),
        k: Some(10),
        context: RequestContext {
            device: Some(device.into()),
            hour: Some(hour),
            ..Default::default()
        },
        include_consumed: true,
        ..Default::default()
    }
}

fn share(r: &sommelier_engine::RecommendResponse, group: &str) -> usize {
    r.items.iter().filter(|i| i.item.starts_with(group)).count()
}

#[test]
fn a_visitor_sees_what_people_choose_at_this_hour_on_this_device() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let evening = e.recommend(&at(None, 21, "tv")).unwrap();
    let morning = e.recommend(&at(None, 8, "Mobile")).unwrap();
    assert!(share(&evening, "eve") >= 8, "{:?}", evening.items);
    assert!(share(&morning, "mor") >= 8, "{:?}", morning.items);
    assert_eq!(evening.context.daypart, Some("evening"));
    assert_eq!(evening.context.device.as_deref(), Some("tv"));
    assert_eq!(morning.context.device.as_deref(), Some("mobile"));

    // Without context, neither group is favoured.
    let plain = e
        .recommend(&RecommendRequest {
            k: Some(10),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(plain.context.hour, None);
    assert!((2..=8).contains(&share(&plain, "eve")), "{:?}", plain.items);

    // A device the log never saw is reported as not used, not an error.
    let fridge = e.recommend(&at(None, 21, "fridge")).unwrap();
    assert_eq!(fridge.context.device, None);
    assert_eq!(fridge.context.daypart, Some("evening"));
}

#[test]
fn the_learned_ranker_reads_the_context_of_a_known_user() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let mut config = e.config().clone();
    config.models.ranker_min_users = 10;
    drop(e);
    let e = Engine::open(config).unwrap();
    let report = e.fit_models().unwrap();
    assert!(report.ranker.as_ref().is_some_and(|r| r.skipped.is_none()));
    let mut evening_first = 0;
    let mut morning_first = 0;
    let mut context_in_why = false;
    for u in 0..20 {
        let user = format!("u{u}");
        let evening = e.recommend(&at(Some(&user), 21, "tv")).unwrap();
        let morning = e.recommend(&at(Some(&user), 8, "mobile")).unwrap();
        assert!(evening.ranker.starts_with("learned:"), "{}", evening.ranker);
        evening_first += usize::from(share(&evening, "eve") > share(&evening, "mor"));
        morning_first += usize::from(share(&morning, "mor") > share(&morning, "eve"));
        context_in_why |= evening
            .items
            .iter()
            .any(|i| i.why.iter().any(|w| w.feature.starts_with("context.")));
    }
    assert!(
        evening_first >= 18,
        "evening lists led by evening items: {evening_first}/20"
    );
    assert!(
        morning_first >= 18,
        "morning lists led by morning items: {morning_first}/20"
    );
    assert!(context_in_why, "a context signal explains some pick");
}

#[test]
fn an_impossible_hour_is_the_callers_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let err = e.recommend(&at(None, 24, "tv")).unwrap_err();
    assert_eq!(err.fault(), sommelier_types::api::Fault::User);
    assert!(err.to_string().contains("context.hour"), "{err}");
}

#[test]
fn context_counts_are_rebuilt_from_the_log_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let before = e.recommend(&at(None, 21, "tv")).unwrap();
    let config = e.config().clone();
    drop(e);
    let e = Engine::open(config).unwrap();
    let after = e.recommend(&at(None, 21, "tv")).unwrap();
    let ids = |r: &sommelier_engine::RecommendResponse| {
        r.items.iter().map(|i| i.item.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&before), ids(&after));
}
