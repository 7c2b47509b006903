//! The contract of the store's roles, run against every backend
//! (`main.rs` instantiates it per backend): idempotent upserts and
//! tombstones, de-duplicated events in log order, all-or-nothing
//! transactions, durability across a reopen, vectors per model, chat
//! sessions and memory.

use crate::Backend;
use sommelier_store::{StoreError, Upsert};
use sommelier_types::*;

fn item(id: &str, title: &str, t: i64) -> Item {
    Item {
        id: ItemId::new(id).unwrap(),
        kind: ItemKind::new("movie").unwrap(),
        title: title.into(),
        description: None,
        categories: vec!["Comedy".into()],
        tags: vec![],
        attributes: Attributes::new(),
        price: Some(Price {
            amount: 9.5,
            currency: "EUR".into(),
        }),
        availability: Availability::default(),
        release_date: None,
        created_at: Timestamp(t),
        updated_at: Timestamp(t),
    }
}

fn event(id: &str, user: &str, item: &str, t: i64) -> Event {
    Event {
        id: EventId::new(id).unwrap(),
        user: UserId::new(user).unwrap(),
        item: ItemId::new(item).unwrap(),
        kind: EventKind::Rating,
        value: Some(4.0),
        timestamp: Timestamp(t),
        context: EventContext {
            device: Some("tv".into()),
            ..Default::default()
        },
    }
}

pub fn upserts_are_idempotent_and_deletes_leave_tombstones(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = b.open(dir.path());
    let a = item("a", "Alpha", 1000);
    assert_eq!(
        store.write(|w| w.upsert_item(&a)).unwrap(),
        Upsert::Inserted
    );
    // Same content, later timestamps: unchanged, and the first creation time stays.
    assert_eq!(
        store
            .write(|w| w.upsert_item(&item("a", "Alpha", 5000)))
            .unwrap(),
        Upsert::Unchanged
    );
    assert_eq!(
        store
            .write(|w| w.upsert_item(&item("a", "Alpha 2", 6000)))
            .unwrap(),
        Upsert::Updated
    );
    let rec = store.item(&a.id).unwrap().unwrap();
    assert_eq!(rec.item.title, "Alpha 2");
    assert_eq!(rec.item.created_at, Timestamp(1000));
    assert_eq!(rec.item.updated_at, Timestamp(6000));
    assert_eq!(rec.item.price, a.price);

    assert!(
        store
            .write(|w| w.delete_item(&a.id, Timestamp(7000)))
            .unwrap()
    );
    assert!(
        !store
            .write(|w| w.delete_item(&a.id, Timestamp(8000)))
            .unwrap()
    );
    let rec = store.item(&a.id).unwrap().unwrap();
    assert_eq!(rec.deleted_at, Some(Timestamp(7000)));
    let mut live = Vec::new();
    store.scan_items(&mut |i| live.push(i.id)).unwrap();
    assert!(live.is_empty());
    let s = store.stats().unwrap();
    assert_eq!((s.items, s.items_deleted), (0, 1));
    // An upsert brings a tombstoned item back.
    assert_eq!(store.write(|w| w.upsert_item(&a)).unwrap(), Upsert::Updated);
    assert_eq!(store.item(&a.id).unwrap().unwrap().deleted_at, None);
}

pub fn events_are_deduplicated_by_id_and_scanned_in_order(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = b.open(dir.path());
    let fresh = store
        .write(|w| {
            let mut v = Vec::new();
            for e in [
                event("e1", "u", "a", 10),
                event("e2", "u", "b", 5),
                event("e1", "x", "y", 99),
            ] {
                v.push(w.append_event(&e)?);
            }
            Ok::<_, StoreError>(v)
        })
        .unwrap();
    assert_eq!(fresh, [true, true, false]);
    let got = store.event(&EventId::new("e1").unwrap()).unwrap().unwrap();
    assert_eq!(got, event("e1", "u", "a", 10));
    let mut seen = Vec::new();
    let last = store
        .scan_events(0, &mut |r| seen.push((r.seq, r.item.to_string())))
        .unwrap();
    assert_eq!(seen, [(1, "a".to_string()), (2, "b".to_string())]);
    assert_eq!(last, 2);
    let mut after = 0;
    store.scan_events(1, &mut |_| after += 1).unwrap();
    assert_eq!(after, 1);
}

/// A batch of events: in order, each flagged new or known (known before,
/// or earlier in the batch), with its context kept, counted as one-by-one
/// appends are.
pub fn a_batch_of_events_appends_in_order_and_flags_duplicates(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = b.open(dir.path());
    store
        .write(|w| w.append_event(&event("old", "u", "a", 1)))
        .unwrap();
    let mut with_context = event("c", "u", "d", 4);
    with_context.context.device = Some("mobile".into());
    with_context.context.request_id = Some("r-1".into());
    let batch = [
        event("b1", "u", "b", 2),
        event("old", "u", "x", 9),
        event("b2", "v", "c", 3),
        event("b1", "v", "y", 9),
        with_context.clone(),
    ];
    let fresh = store
        .write(|w| w.append_events(&batch.iter().collect::<Vec<_>>()))
        .unwrap();
    assert_eq!(fresh, [true, false, true, false, true]);
    let mut seen = Vec::new();
    store
        .scan_events(0, &mut |r| seen.push((r.seq, r.item.to_string())))
        .unwrap();
    let items: Vec<_> = seen.iter().map(|(_, i)| i.as_str()).collect();
    assert_eq!(items, ["a", "b", "c", "d"]);
    assert!(seen.windows(2).all(|p| p[0].0 < p[1].0), "{seen:?}");
    let got = store.event(&EventId::new("c").unwrap()).unwrap().unwrap();
    assert_eq!(got, with_context);
    assert_eq!(store.events_of_request("r-1").unwrap(), [with_context]);
    assert_eq!(store.stats().unwrap().events, 4);
}

pub fn a_failed_transaction_writes_nothing(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = b.open(dir.path());
    #[derive(Debug)]
    struct Stop;
    impl From<StoreError> for Stop {
        fn from(_: StoreError) -> Self {
            Stop
        }
    }
    let r: Result<(), Stop> = store.write(|w| {
        w.append_event(&event("e1", "u", "a", 1))?;
        Err(Stop)
    });
    assert!(r.is_err());
    assert_eq!(store.stats().unwrap().events, 0);
}

pub fn data_survives_reopening(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = b.open(dir.path());
        store
            .write(|w| w.append_event(&event("e1", "u", "a", 1)))
            .unwrap();
        let user = User {
            id: UserId::new("u").unwrap(),
            attributes: Attributes::new(),
            consent: Consent {
                long_term_memory: true,
                ..Consent::default()
            },
            updated_at: Timestamp(3),
        };
        store.write(|w| w.upsert_user(&user)).unwrap();
    }
    let store = b.open(dir.path());
    assert_eq!(store.stats().unwrap().events, 1);
    let u = store.user(&UserId::new("u").unwrap()).unwrap().unwrap();
    assert!(u.consent.long_term_memory);
    assert_eq!(u.updated_at, Timestamp(3));
}

pub fn vectors_are_stored_per_model_with_their_hash(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = b.open(dir.path());
    store
        .write(|w| {
            w.put_vector("a", "m1", "h1", &[1.0, -0.5])?;
            w.put_vector("b", "m1", "h2", &[0.25, 0.0])?;
            w.put_vector("a", "m2", "h3", &[9.0])?;
            w.put_vector("a", "m1", "h4", &[0.0, 1.0])
        })
        .unwrap();
    let hashes = store.vector_hashes("m1").unwrap();
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes["a"], "h4");
    let mut seen = Vec::new();
    let n = store
        .scan_vectors("m1", &mut |item, _hash, v| {
            seen.push((item.to_string(), v.to_vec()))
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        seen,
        [
            ("a".to_string(), vec![0.0, 1.0]),
            ("b".to_string(), vec![0.25, 0.0])
        ]
    );
    assert!(store.write(|w| w.delete_vector("a", "m1")).unwrap());
    assert!(!store.write(|w| w.delete_vector("a", "m1")).unwrap());
    assert_eq!(store.stats().unwrap().vectors["m2"], 1);
}

pub fn chat_turns_append_in_order_and_memory_round_trips(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let s = b.open(dir.path());
    assert_eq!(
        s.append_chat_turn("s1", Some("u"), 1, "{\"a\":1}").unwrap(),
        1
    );
    assert_eq!(
        s.append_chat_turn("s1", Some("u"), 2, "{\"a\":2}").unwrap(),
        2
    );
    assert_eq!(s.append_chat_turn("s2", None, 3, "{}").unwrap(), 1);
    let t = s.chat_turns("s1", 10).unwrap();
    assert_eq!(t.iter().map(|r| r.turn).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(t[0].user_id.as_deref(), Some("u"));
    assert_eq!(s.chat_turns("s1", 1).unwrap()[0].body, "{\"a\":2}");
    assert_eq!(s.user_memory("u").unwrap(), None);
    s.put_user_memory("u", "{\"likes\":[]}", 5).unwrap();
    s.put_user_memory("u", "{\"likes\":[\"Comedy\"]}", 6)
        .unwrap();
    assert_eq!(
        s.user_memory("u").unwrap().as_deref(),
        Some("{\"likes\":[\"Comedy\"]}")
    );
    assert!(s.delete_user_memory("u").unwrap());
    assert!(!s.delete_user_memory("u").unwrap());
    assert_eq!(s.user_memory("u").unwrap(), None);
}

pub fn forgetting_a_user_removes_every_row_of_theirs(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let s = b.open(dir.path());
    s.write(|tx| -> Result<(), StoreError> {
        tx.upsert_item(&item("i1", "One", 1))?;
        tx.append_event(&event("e1", "gone", "i1", 1))?;
        tx.append_event(&event("e2", "gone", "i1", 2))?;
        tx.append_event(&event("e3", "stays", "i1", 3))?;
        Ok(())
    })
    .unwrap();
    s.append_chat_turn("s-gone", Some("gone"), 1, "{\"message\":\"hi\"}")
        .unwrap();
    s.append_chat_turn("s-gone", Some("gone"), 2, "{\"message\":\"more\"}")
        .unwrap();
    s.append_chat_turn("s-stays", Some("stays"), 3, "{}")
        .unwrap();
    s.put_user_memory("gone", "{}", 1).unwrap();
    s.append_exposures(&[
        exposure("r1", Some("gone"), 1),
        exposure("r2", Some("stays"), 2),
    ])
    .unwrap();
    let done = s.forget_user("gone").unwrap();
    assert_eq!((done.events, done.chat_turns, done.memory), (2, 2, true));
    assert_eq!(done.exposures, 1);
    assert!(s.exposure("r1").unwrap().is_none());
    assert!(s.exposure("r2").unwrap().is_some());
    let mut users = Vec::new();
    s.scan_events(0, &mut |r| users.push(r.user.to_string()))
        .unwrap();
    assert_eq!(users, ["stays"]);
    assert!(s.chat_turns("s-gone", 10).unwrap().is_empty());
    assert_eq!(s.chat_turns("s-stays", 10).unwrap().len(), 1);
    assert!(s.user_memory("gone").unwrap().is_none());
    // Deleting one event.
    assert!(s.delete_event(&EventId::new("e3").unwrap()).unwrap());
    assert!(!s.delete_event(&EventId::new("e3").unwrap()).unwrap());
    assert!(s.event(&EventId::new("e3").unwrap()).unwrap().is_none());
}

fn exposure(id: &str, user: Option<&str>, at_ms: i64) -> sommelier_store::ExposureRow {
    sommelier_store::ExposureRow {
        request_id: id.into(),
        at_ms,
        user_id: user.map(str::to_string),
        surface: "recommend".into(),
        variant: None,
        body: format!("{{\"items\":[\"{id}\"]}}"),
    }
}

/// The exposure log: a batch is appended whole, a request id keeps its
/// first row, rows read back by id and by user (newest first), and they
/// survive reopening.
pub fn exposures_are_kept_by_request_id_and_read_by_user(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let s = b.open(dir.path());
    s.append_exposures(&[]).unwrap();
    s.append_exposures(&[
        exposure("r1", Some("u"), 10),
        exposure("r2", None, 11),
        exposure("r3", Some("u"), 12),
    ])
    .unwrap();
    let mut again = exposure("r1", Some("other"), 99);
    again.variant = Some("b".into());
    s.append_exposures(&[again, exposure("r4", Some("u"), 13)])
        .unwrap();
    let r1 = s.exposure("r1").unwrap().unwrap();
    assert_eq!(r1, exposure("r1", Some("u"), 10), "the first row stays");
    assert!(s.exposure("nope").unwrap().is_none());
    let ids = |rows: Vec<sommelier_store::ExposureRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.request_id).collect()
    };
    assert_eq!(ids(s.exposures_of("u", 10).unwrap()), ["r4", "r3", "r1"]);
    assert_eq!(ids(s.exposures_of("u", 2).unwrap()), ["r4", "r3"]);
    drop(s);
    let s = b.open(dir.path());
    assert_eq!(s.exposure("r2").unwrap().unwrap().user_id, None);
    assert_eq!(s.exposures_of("u", 10).unwrap().len(), 3);
}

/// Exposures scanned from a time read oldest first from the first request
/// id of that millisecond on; experiment definitions are kept by name,
/// replaced, deleted, and survive reopening.
pub fn exposures_scan_by_time_and_experiments_are_kept(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let s = b.open(dir.path());
    let id = |ms: u64, seq: u64| format!("{:016x}{:012x}", (ms << 16) | seq, 7);
    s.append_exposures(&[
        exposure(&id(2_000, 1), Some("u"), 2_000),
        exposure(&id(1_000, 0), Some("u"), 1_000),
        exposure(&id(2_000, 0), None, 2_000),
        exposure(&id(3_000, 0), Some("v"), 3_000),
    ])
    .unwrap();
    let mut seen = Vec::new();
    s.scan_exposures(2_000, &mut |r| seen.push(r.request_id))
        .unwrap();
    assert_eq!(seen, [id(2_000, 0), id(2_000, 1), id(3_000, 0)]);
    let mut all = 0;
    s.scan_exposures(0, &mut |_| all += 1).unwrap();
    assert_eq!(all, 4);
    assert!(s.experiment_definitions().unwrap().is_empty());
    s.put_experiment_definition("b", "{\"v\":1}").unwrap();
    s.put_experiment_definition("a", "{\"v\":2}").unwrap();
    s.put_experiment_definition("b", "{\"v\":3}").unwrap();
    assert!(s.delete_experiment_definition("a").unwrap());
    assert!(!s.delete_experiment_definition("a").unwrap());
    drop(s);
    let s = b.open(dir.path());
    assert_eq!(
        s.experiment_definitions().unwrap(),
        [("b".to_string(), "{\"v\":3}".to_string())]
    );
}

/// The kept counters agree with a count of the rows after every kind of
/// write: inserts, unchanged and changed upserts (availability and kind),
/// tombstones, vectors replaced and removed, a rolled-back transaction, a
/// forgotten user and a deleted event (whose time bounded the log).
pub fn kept_counters_agree_with_the_rows(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let s = b.open(dir.path());
    let agree = |when: &str| {
        let kept = s.stats().unwrap();
        let rows = s.recount().unwrap();
        assert_eq!(
            serde_json::to_value(&kept).unwrap(),
            serde_json::to_value(&rows).unwrap(),
            "kept counters differ from the rows {when}"
        );
        kept
    };
    agree("when empty");
    s.write(|tx| -> Result<(), StoreError> {
        for i in 0..5 {
            tx.upsert_item(&item(&format!("i{i}"), "Same", 10))?;
        }
        tx.upsert_user(&User {
            id: UserId::new("u1").unwrap(),
            attributes: Attributes::new(),
            consent: Consent::default(),
            updated_at: Timestamp(3),
        })?;
        tx.append_event(&event("e1", "u1", "i1", 100))?;
        tx.append_event(&event("e2", "u2", "i2", 50))?;
        tx.append_event(&event("e1", "u1", "i1", 100))?; // a duplicate
        let mut click = event("e3", "u1", "i3", 500);
        click.kind = EventKind::Click;
        tx.append_event(&click)?;
        tx.put_vector("i1", "m", "h", &[1.0, 0.0])?;
        tx.put_vector("i2", "m", "h", &[0.0, 1.0])?;
        Ok(())
    })
    .unwrap();
    agree("after the first writes");
    s.write(|tx| -> Result<(), StoreError> {
        let mut gone = item("i0", "Same", 20);
        gone.availability.available = false;
        tx.upsert_item(&gone)?;
        let mut show = item("i1", "Same", 20);
        show.kind = ItemKind::new("show").unwrap();
        tx.upsert_item(&show)?;
        tx.upsert_item(&item("i2", "Same", 30))?; // unchanged
        tx.delete_item(&ItemId::new("i3").unwrap(), Timestamp(40))?;
        tx.put_vector("i1", "m", "h2", &[0.5, 0.5])?; // replaced
        tx.delete_vector("i2", "m")?;
        tx.put_vector("i1", "other", "h", &[1.0])?;
        Ok(())
    })
    .unwrap();
    agree("after updates and deletes");
    let failed = s.write(|tx| -> Result<(), StoreError> {
        tx.append_event(&event("e9", "u9", "i4", 1))?;
        tx.upsert_item(&item("i9", "Nine", 1))?;
        Err(StoreError::Busy { op: "a test" })
    });
    assert!(failed.is_err());
    agree("after a rolled-back transaction");
    s.forget_user("u1").unwrap();
    let kept = agree("after forgetting a user");
    assert_eq!(kept.events, 1);
    assert!(s.delete_event(&EventId::new("e2").unwrap()).unwrap());
    let kept = agree("after deleting the last event");
    assert_eq!((kept.events, kept.first_event), (0, None));
}

pub fn the_catalog_log_names_every_changed_item_since_a_position(b: &dyn Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = b.open(dir.path());
    assert_eq!(store.catalog_position().unwrap(), 0);
    assert_eq!(store.catalog_changes(0, 10).unwrap(), Some((vec![], 0)));
    store
        .write(|w| {
            w.upsert_item(&item("a", "Alpha", 1))?;
            w.upsert_item(&item("b", "Beta", 1))?;
            w.put_vector("a", "m", "h1", &[1.0])
        })
        .unwrap();
    let p1 = store.catalog_position().unwrap();
    assert!(p1 >= 2, "{p1}");
    let (mut ids, to) = store.catalog_changes(0, 10).unwrap().unwrap();
    ids.sort();
    assert_eq!((ids, to), (vec!["a".to_string(), "b".to_string()], p1));
    // An unchanged upsert writes nothing and logs nothing.
    store
        .write(|w| w.upsert_item(&item("b", "Beta", 1)))
        .unwrap();
    assert_eq!(store.catalog_position().unwrap(), p1);
    // A changed item, a deleted one, a replaced and a removed vector.
    store
        .write(|w| {
            w.upsert_item(&item("c", "Gamma", 2))?;
            w.delete_item(&ItemId::new("a").unwrap(), Timestamp(3))?;
            w.put_vector("b", "m", "h2", &[0.5])?;
            w.delete_vector("b", "m")
        })
        .unwrap();
    let p2 = store.catalog_position().unwrap();
    let (mut ids, to) = store.catalog_changes(p1, 10).unwrap().unwrap();
    ids.sort();
    assert_eq!((ids, to), (vec!["a".into(), "b".into(), "c".into()], p2));
    // More changed items than the caller wants: a whole read costs less.
    assert_eq!(store.catalog_changes(0, 2).unwrap(), None);
    // A failed transaction leaves no entry.
    let failed: Result<(), StoreError> = store.write(|w| {
        w.upsert_item(&item("d", "Delta", 4))?;
        Err(StoreError::Aborted)
    });
    assert!(failed.is_err());
    assert_eq!(store.catalog_changes(p2, 10).unwrap(), Some((vec![], p2)));
    // Pruned entries: positions go on from the high-water mark, and a copy
    // older than the pruned position cannot be brought up to date.
    assert!(store.prune_catalog_changes(p2).unwrap() >= 5);
    assert_eq!(store.catalog_position().unwrap(), p2);
    assert_eq!(store.catalog_changes(p1, 10).unwrap(), None);
    assert_eq!(store.catalog_changes(p2, 10).unwrap(), Some((vec![], p2)));
    store
        .write(|w| w.upsert_item(&item("e", "Epsilon", 5)))
        .unwrap();
    let (ids, p3) = store.catalog_changes(p2, 10).unwrap().unwrap();
    assert_eq!(ids, vec!["e".to_string()]);
    assert!(p3 > p2);
    let id = store.catalog_log_id().unwrap();
    assert_eq!(id.len(), 32, "{id}");
    drop(store);
    let store = b.open(dir.path());
    assert_eq!(store.catalog_position().unwrap(), p3);
    assert_eq!(store.catalog_log_id().unwrap(), id);
    // Another database's log has another id.
    let other = tempfile::tempdir().unwrap();
    assert_ne!(b.open(other.path()).catalog_log_id().unwrap(), id);
}
