//! The popularity of the moment: the learned ranker's examples are ranked
//! with the features as they were when each was asked
//! (`models.ranker_point_in_time`, which this test sets), so it learns what a choice owed to the
//! hit of its month even when that month is long past at the log's end.
//!
//! The log: six months, each with its own hit that fans make popular that
//! month. Every user has one session in one of the months: five of 40
//! catalog items at random, then that month's hit. Nothing but the time
//! tells which hit a session ends on. Asked a day after the log's end,
//! a user whose month was an earlier one should be offered the newest
//! month's hit first. (With the features of the log's end, five of six
//! examples choose a hit that has faded by then over the newest one, then
//! the most popular: the ranker learns popularity as a weaker sign, and 21
//! of 30 users were offered the newest hit first, against 30 of 30.)

use serde_json::json;
use sommelier_engine::{Engine, RecommendRequest};
use sommelier_types::Timestamp;

use crate::support::{DAY, Rng, START, fit_with_ranker, shows_engine};

const CATALOG: usize = 40;
const MONTHS: usize = 6;
const USERS: usize = 240;
const FANS_PER_MONTH: usize = 60;
const MONTH: i64 = 30 * DAY;

fn hit(month: usize) -> String {
    format!("hit{month}")
}

/// The engine over the log, its models fitted, and the users whose
/// session was before the last month.
fn engine(dir: &tempfile::TempDir) -> (Engine, Vec<String>) {
    let ids: Vec<String> = (0..CATALOG)
        .map(|i| format!("c{i:02}"))
        .chain((0..MONTHS).map(hit))
        .collect();
    let e = shows_engine(dir.path(), &ids, |c| c.models.ranker_point_in_time = true);
    let mut rng = Rng(0x7e4d);
    let mut events = Vec::new();
    let mut earlier = Vec::new();
    for u in 0..USERS {
        let user = format!("u{u:03}");
        let month = u % MONTHS;
        let mut t = START + month as i64 * MONTH + rng.below(MONTH as usize - DAY as usize) as i64;
        let mut seen = Vec::new();
        while seen.len() < 5 {
            let c = rng.below(CATALOG);
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        for c in seen {
            events.push(
                json!({"user": user, "item": format!("c{c:02}"), "kind": "like", "timestamp": t}),
            );
            t += 60 + rng.below(120) as i64;
        }
        events.push(json!({"user": user, "item": hit(month), "kind": "like", "timestamp": t}));
        if month + 1 < MONTHS {
            earlier.push(user);
        }
    }
    // Fans make each month's hit popular in its month; with two events
    // each they are too few for the ranker to learn from.
    for month in 0..MONTHS {
        for f in 0..FANS_PER_MONTH {
            for _ in 0..2 {
                let t = START + month as i64 * MONTH + rng.below(MONTH as usize) as i64;
                events.push(json!({"user": format!("f{month}-{f:02}"), "item": hit(month), "kind": "like", "timestamp": t}));
            }
        }
    }
    fit_with_ranker(&e, events);
    (e, earlier)
}

#[test]
fn a_choice_is_learned_with_the_popularity_of_its_moment() {
    let dir = tempfile::tempdir().unwrap();
    let (e, earlier) = engine(&dir);
    let end = START + MONTHS as i64 * MONTH;
    let newest = hit(MONTHS - 1);
    let sample = &earlier[..30];
    let mut offered = 0;
    for user in sample {
        let r = e
            .recommend(&RecommendRequest {
                user_id: Some(user.clone()),
                k: Some(5),
                at: Some(Timestamp((end + DAY) * 1000)),
                ..Default::default()
            })
            .unwrap();
        assert!(r.ranker.starts_with("learned:"), "{}", r.ranker);
        offered += usize::from(r.items[0].item == newest);
    }
    let n = sample.len();
    assert!(
        offered * 10 >= n * 9,
        "asked a day after the log's end, {offered}/{n} are offered this month's hit first"
    );
}
