//! Online features follow the log: decays, trends, history, affinity, context.

use super::*;

fn row<'a>(
    user: &'a str,
    item: &'a str,
    kind: EventKind,
    value: Option<f64>,
    t: i64,
) -> EventRow<'a> {
    EventRow {
        seq: 0,
        user,
        item,
        kind,
        value,
        timestamp: Timestamp(t),
        device: None,
    }
}

fn cfg() -> FeatureConfig {
    FeatureConfig {
        history_len: 3,
        ..FeatureConfig::default()
    }
}

#[test]
fn most_active_users_are_ranked_by_events_then_id() {
    let mut f = OnlineFeatures::new(cfg());
    for (user, n) in [("c", 2), ("a", 3), ("b", 2), ("d", 1)] {
        for t in 0..n {
            f.apply(row(user, "m1", EventKind::Click, None, t));
        }
    }
    let top = f.most_active_users(3);
    assert_eq!(
        top,
        vec![("a".to_string(), 3), ("b".into(), 2), ("c".into(), 2)]
    );
    assert_eq!(f.most_active_users(10).len(), 4);
    assert!(f.most_active_users(0).is_empty());
}

#[test]
fn counts_history_and_affinity_follow_events() {
    let mut f = OnlineFeatures::new(cfg());
    f.set_item_categories("m1", &["Comedy".into()]);
    f.set_item_categories("m2", &["Horror".into()]);
    let day = DAY_MS as i64;
    f.apply(row("u", "m1", EventKind::Rating, Some(5.0), day));
    f.apply(row("u", "m2", EventKind::Rating, Some(1.0), 2 * day));
    f.apply(row("u", "m1", EventKind::Click, None, 3 * day));
    f.apply(row("u", "m2", EventKind::Dislike, None, 4 * day));
    f.apply(row("u", "m1", EventKind::View, None, 5 * day));
    let now = f.clock().unwrap();
    assert_eq!(now, Timestamp(5 * day));
    let u = f.user("u", now).unwrap();
    assert_eq!(u.events, 5);
    let kinds: Vec<EventKind> = u.recent.iter().map(|h| h.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Click, EventKind::Dislike, EventKind::View]
    );
    assert_eq!(u.category_affinity[0].0, "Comedy");
    assert!(u.category_affinity[0].1 > 0.0);
    assert_eq!(u.category_affinity[1].0, "Horror");
    assert!(u.category_affinity[1].1 < 0.0);
    let m1 = f.item("m1", now).unwrap();
    assert_eq!(m1.count(EventKind::Rating), 1);
    assert_eq!(m1.count(EventKind::Click), 1);
    assert_eq!(f.most_popular(1, now)[0].0, "m1");
    assert!(f.item("nope", now).is_none());
    let mut seen = f.seen("u");
    seen.sort();
    assert_eq!(seen, ["m1", "m2"]);
    assert!(f.seen("nobody").is_empty());
    assert!(f.user("nobody", now).is_none());
}

/// The batched read gives what the per-item calls give, for known and
/// unknown items and users, with and without a context.
#[test]
fn candidates_match_the_calls_one_by_one() {
    let mut f = OnlineFeatures::new(cfg());
    f.set_item_categories("m1", &["Comedy".into()]);
    f.set_item_categories("m2", &["Horror".into(), "Comedy".into()]);
    f.set_item_categories("m3", &["Drama".into()]);
    let day = DAY_MS as i64;
    let mut phone = row("u", "m1", EventKind::Like, None, day + 20 * 3_600_000);
    phone.device = Some("phone");
    f.apply(phone);
    f.apply(row("u", "m2", EventKind::Dislike, None, 2 * day));
    f.apply(row("v", "m1", EventKind::View, None, 3 * day));
    let now = f.clock().unwrap();
    let items = ["m1", "m2", "m3", "unknown"];
    for key in [
        ContextKey::default(),
        f.context_key(Some(20), Some("phone")),
    ] {
        for user in [Some("u"), Some("v"), Some("nobody"), None] {
            let batch = f.candidates(user, &items, now, &key);
            let one_by_one: Vec<CandidateFeatures> = items
                .iter()
                .map(|i| CandidateFeatures {
                    item: f.item(i, now),
                    category_match: user.map_or(0.0, |u| f.category_match(u, i, now)),
                    context: f.context_lift(i, &key),
                })
                .collect();
            assert_eq!(batch, one_by_one, "{user:?} {key:?}");
        }
    }
    // Not vacuous: the features differ between items.
    let batch = f.candidates(
        Some("u"),
        &items,
        now,
        &f.context_key(Some(20), Some("phone")),
    );
    assert!(batch[0].category_match > 0.0 && batch[1].category_match < batch[0].category_match);
    assert!(batch[0].item.is_some() && batch[2].item.is_none());
    assert_ne!(batch[0].context, ContextLift::default());
}

#[test]
fn late_events_land_in_time_order() {
    let mut f = OnlineFeatures::new(cfg());
    f.apply(row("u", "a", EventKind::View, None, 300));
    f.apply(row("u", "b", EventKind::View, None, 100));
    f.apply(row("u", "c", EventKind::View, None, 200));
    let items: Vec<String> = f
        .user("u", Timestamp(300))
        .unwrap()
        .recent
        .into_iter()
        .map(|h| h.item)
        .collect();
    assert_eq!(items, ["b", "c", "a"]);
}

#[test]
fn a_burst_trends_above_a_steady_item() {
    let mut f = OnlineFeatures::new(FeatureConfig::default());
    let day = DAY_MS as i64;
    // "steady": one event a day for 60 days; "burst": 20 events on the last day.
    for d in 0..60 {
        f.apply(row("u", "steady", EventKind::Click, None, d * day));
    }
    for k in 0..20 {
        f.apply(row(
            &format!("u{k}"),
            "burst",
            EventKind::Click,
            None,
            59 * day + k,
        ));
    }
    let now = f.clock().unwrap();
    let steady = f.item("steady", now).unwrap();
    let burst = f.item("burst", now).unwrap();
    assert!(
        burst.trend > 3.0 * steady.trend,
        "{} vs {}",
        burst.trend,
        steady.trend
    );
    assert_eq!(f.trending(1, now)[0].0, "burst");
}

/// Everything a reader sees, as text, for comparing two states.
fn observed(f: &OnlineFeatures) -> String {
    let now = f.clock().unwrap();
    let mut out = format!(
        "applied {} distinct {:?} popular {:?} trending {:?} active {:?}\n",
        f.applied(),
        f.distinct_in_events(),
        f.most_popular(10, now),
        f.trending(10, now),
        f.most_active_users(10)
    );
    for u in ["u0", "u1", "u2", "u3"] {
        let mut seen = f.seen(u);
        seen.sort();
        out += &format!("{u}: {:?} seen {seen:?}\n", f.user(u, now));
    }
    for i in ["m0", "m3", "m7"] {
        let key = f.context_key(Some(20), Some("phone"));
        out += &format!(
            "{i}: {:?} match {} lift {:?}\n",
            f.item(i, now),
            f.category_match("u1", i, now),
            f.context_lift(i, &key)
        );
    }
    out + &format!("{:?}", f.context_summary(Some("m3")))
}

#[test]
fn a_saved_state_loads_as_it_was_and_follows_new_events_alike() {
    let mut f = OnlineFeatures::new(cfg());
    for i in 0..10 {
        f.set_item_categories(
            &format!("m{i}"),
            &[["Comedy", "Drama", "Horror"][i % 3].into()],
        );
    }
    let kinds = [
        EventKind::View,
        EventKind::Click,
        EventKind::Rating,
        EventKind::Dislike,
    ];
    let mut events = Vec::new();
    for n in 0..400_i64 {
        let (user, item) = (format!("u{}", n % 4), format!("m{}", (n * 7) % 10));
        let kind = kinds[(n % 4) as usize];
        let value = (kind == EventKind::Rating).then_some((n % 5) as f64);
        let device = ["phone", "tv"][(n % 2) as usize];
        events.push((user, item, kind, value, n * 3_600_000, device));
    }
    let apply = |f: &mut OnlineFeatures,
                 e: &(String, String, EventKind, Option<f64>, i64, &str)| {
        let mut r = row(&e.0, &e.1, e.2, e.3, e.4);
        r.device = Some(e.5);
        f.apply(r);
    };
    for e in &events[..300] {
        apply(&mut f, e);
    }
    let bytes = f.save_bytes(300);
    let (mut loaded, position) = OnlineFeatures::load_bytes(cfg(), &bytes).unwrap();
    assert_eq!(position, 300);
    assert_eq!(observed(&loaded), observed(&f));
    for e in &events[300..] {
        apply(&mut f, e);
        apply(&mut loaded, e);
    }
    assert_eq!(observed(&loaded), observed(&f));

    // Damage, a truncation and another configuration are refused.
    let mut damaged = bytes.clone();
    damaged[bytes.len() / 2] ^= 0x40;
    assert!(matches!(
        OnlineFeatures::load_bytes(cfg(), &damaged),
        Err(SavedError::Checksum)
    ));
    assert!(OnlineFeatures::load_bytes(cfg(), &bytes[..bytes.len() - 100]).is_err());
    let other = FeatureConfig {
        history_len: 4,
        ..FeatureConfig::default()
    };
    assert!(matches!(
        OnlineFeatures::load_bytes(other, &bytes),
        Err(SavedError::Config)
    ));
}
