//! The time since a user's last event: the learned ranker weighs the
//! sources differently for someone continuing a session and for someone
//! coming back after months (the `away*` features).
//!
//! The log: 40 "chain" items watched in order, a few seconds apart, and 6
//! "hit" items. Half the users end on the next chain item seconds after
//! the one before; the other half come back two to four months after their
//! session and choose a hit, as fans of the hits do meanwhile. The ranker
//! learns from each user's newest visit (up to 3 items, a pause over a day
//! ending a visit: `models.ranker_visit_gap_secs`), so a returning user's
//! example is their hit, asked after the months away, and a staying
//! user's the session's last three chain items, asked inside it: only the
//! time away tells which kind of choice comes next. (Without the visit
//! boundary, the default, a return is one of the answers of a request
//! asked inside the session before it, and the ranker never sees a user
//! asked after months: 1 of 30 were then offered a hit first.)

use serde_json::json;
use sommelier_engine::{Engine, RecommendRequest};
use sommelier_types::Timestamp;

use crate::support::{DAY, Rng, START, fit_with_ranker, shows_engine};

const CHAIN: usize = 40;
const HITS: usize = 6;
const USERS: usize = 200;
const FANS: usize = 150;

fn chain(i: usize) -> String {
    format!("c{i:02}")
}

/// The engine over the log, its models fitted; and each staying user's
/// last chain position and the time of their last event (seconds).
fn engine(dir: &tempfile::TempDir) -> (Engine, Vec<(String, usize, i64)>) {
    let ids: Vec<String> = (0..CHAIN)
        .map(chain)
        .chain((0..HITS).map(|h| format!("h{h}")))
        .collect();
    let e = shows_engine(dir.path(), &ids, |c| {
        c.models.ranker_visit_gap_secs = DAY as u64;
    });
    let mut rng = Rng(0xa3a7);
    let mut events = Vec::new();
    let mut staying = Vec::new();
    for u in 0..USERS {
        let user = format!("u{u:03}");
        let first = rng.below(CHAIN - 8);
        let mut t = START + rng.below(30) as i64 * DAY + rng.below(DAY as usize) as i64;
        let mut push = |item: String, t: i64| {
            events.push(json!({"user": user, "item": item, "kind": "like", "timestamp": t}));
        };
        for i in first..first + 6 {
            push(chain(i), t);
            t += 20 + rng.below(40) as i64;
        }
        if u % 2 == 0 {
            push(chain(first + 6), t);
            staying.push((user.clone(), first + 6, t));
        } else {
            t += (60 + rng.below(60) as i64) * DAY;
            push(format!("h{}", rng.below(HITS)), t);
        }
    }
    // Fans make the hits popular while the returning users are away; with
    // two events each they are too few for the ranker to learn from.
    for f in 0..FANS {
        for _ in 0..2 {
            let t = START + (60 + rng.below(90) as i64) * DAY;
            let item = format!("h{}", rng.below(HITS));
            events.push(
                json!({"user": format!("f{f:03}"), "item": item, "kind": "like", "timestamp": t}),
            );
        }
    }
    fit_with_ranker(&e, events);
    (e, staying)
}

fn asked(user: &str, at_seconds: i64) -> RecommendRequest {
    RecommendRequest {
        user_id: Some(user.to_string()),
        k: Some(5),
        at: Some(Timestamp(at_seconds * 1000)),
        ..Default::default()
    }
}

#[test]
fn a_user_back_after_months_gets_what_returning_users_choose() {
    let dir = tempfile::tempdir().unwrap();
    let (e, staying) = engine(&dir);
    let mut next_in_session = 0;
    let mut hit_on_return = 0;
    let sample = &staying[..30];
    for (user, last, t) in sample {
        let now = e.recommend(&asked(user, t + 45)).unwrap();
        let later = e.recommend(&asked(user, t + 90 * DAY)).unwrap();
        assert!(now.ranker.starts_with("learned:"), "{}", now.ranker);
        next_in_session += usize::from(now.items[0].item == chain(last + 1));
        hit_on_return += usize::from(later.items[0].item.starts_with('h'));
    }
    let n = sample.len();
    assert!(
        next_in_session * 10 >= n * 8,
        "asked seconds after their last event, {next_in_session}/{n} are offered the next chain item first"
    );
    assert!(
        hit_on_return * 10 >= n * 8,
        "asked three months later, {hit_on_return}/{n} are offered a hit first"
    );
}
