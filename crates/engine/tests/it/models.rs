//! Fitted models on real data (the committed ml-latest-small): the collaborative
//! and sequential sources, the learned ranker, persistence across restarts, and
//! a refit swapped in while the engine is in use.

use sommelier_engine::{Config, Engine, RankBy, RecommendRequest};

fn config(dir: &tempfile::TempDir) -> Config {
    crate::support::quick_sequence_model(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    })
}

fn engine(dir: &tempfile::TempDir) -> Engine {
    crate::support::with_ml_latest_small(config(dir))
}

/// User 15's ten picks from `source` alone, in its own order.
fn only(e: &Engine, source: sommelier_recall::Source) -> sommelier_engine::RecommendResponse {
    e.recommend(&RecommendRequest {
        user_id: Some("15".into()),
        k: Some(10),
        sources: Some(vec![source]),
        rank_by: RankBy::Fusion,
        ..Default::default()
    })
    .unwrap()
}

/// The ids of an answer's picks, in order.
fn ids(r: &sommelier_engine::RecommendResponse) -> Vec<String> {
    r.items.iter().map(|i| i.item.clone()).collect()
}

fn ask(e: &Engine, user: &str) -> sommelier_engine::RecommendResponse {
    crate::support::recommend_for(e, user, 10)
}

#[test]
fn fitted_models_feed_recommendations_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);

    // Before a fit: the model sources say why they did not run.
    let before = ask(&e, "1");
    let collab = before
        .sources
        .iter()
        .find(|s| s.source.as_str() == "collaborative")
        .unwrap();
    assert!(
        collab.skipped.as_deref().unwrap().contains("sommelier fit"),
        "{collab:?}"
    );
    assert_eq!(before.ranker, "fusion");
    assert!(before.models_version.is_none());

    let report = e.fit_models().unwrap();
    assert_eq!(report.interactions, 100_004);
    assert_eq!(report.users, 671);
    assert!(
        report.ease_items > 5_000 && report.ease_pairs > 0,
        "{report:?}"
    );
    let ranker = report.ranker.as_ref().expect("a ranker report");
    assert!(ranker.skipped.is_none(), "{ranker:?}");
    assert!(ranker.users_with_positive > 100, "{ranker:?}");
    // Several held-out items per user by default, which the sequence
    // model learns after the ranker.
    assert!(ranker.positives > ranker.users_with_positive, "{ranker:?}");
    assert!(report.sasrec_more.is_some(), "{report:?}");

    let after = ask(&e, "1");
    assert_eq!(after.items.len(), 10);
    assert_eq!(after.ranker, format!("learned:{}", report.version));
    assert_eq!(
        after.models_version.as_deref(),
        Some(report.version.as_str())
    );
    for source in ["collaborative", "sequential"] {
        let s = after
            .sources
            .iter()
            .find(|s| s.source.as_str() == source)
            .unwrap();
        assert!(s.skipped.is_none() && s.candidates > 0, "{s:?}");
    }
    // Every pick says which signals placed it, and never repeats an item the user had.
    let seen = e.user_features("1").unwrap().unwrap();
    for item in &after.items {
        assert!(!item.why.is_empty(), "{item:?}");
        assert!(!seen.recent.iter().any(|h| h.item == item.item));
    }
    // Ordering by the hand-set fusion is still available.
    let fusion = e
        .recommend(&RecommendRequest {
            user_id: Some("1".into()),
            rank_by: RankBy::Fusion,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(fusion.ranker, "fusion");

    // A fresh engine over the same folder loads the saved models.
    drop(e);
    let e2 = Engine::open(config(&dir)).unwrap();
    let again = ask(&e2, "1");
    assert_eq!(
        again.models_version.as_deref(),
        Some(report.version.as_str())
    );
    assert_eq!(
        again.items.iter().map(|i| &i.item).collect::<Vec<_>>(),
        after.items.iter().map(|i| &i.item).collect::<Vec<_>>(),
        "the same models give the same list after a restart"
    );

    // A refit is swapped in: requests after it carry the new version.
    let refit = e2.fit_models().unwrap();
    assert_ne!(refit.version, report.version);
    assert_eq!(
        ask(&e2, "1").models_version.as_deref(),
        Some(refit.version.as_str())
    );
}

#[test]
fn a_corrupt_model_file_is_reported_and_serving_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    e.fit_models().unwrap();
    let set = e.fitted_set_dir().unwrap();
    drop(e);
    // Truncated, as a disk or a copy might leave it: the manifest's checksum
    // catches it before the table is read.
    let table = set.join("ease.bin");
    let len = std::fs::metadata(&table).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&table)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let e = Engine::open(config(&dir)).unwrap();
    let err = e.load_models().unwrap_err().to_string();
    assert!(
        err.contains("ease.bin") && err.contains("checksum") && err.contains("sommelier fit"),
        "{err}"
    );
    // Requests still work, without the model sources.
    let r = ask(&e, "1");
    assert_eq!(r.items.len(), 10);
    assert!(r.models_version.is_none());
}

#[test]
fn ials_serves_the_collaborative_source_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir);
    cfg.models.collaborative = sommelier_engine::CollaborativeModel::Als;
    let e = crate::support::with_ml_latest_small(cfg.clone());
    let report = e.fit_models().unwrap();
    assert_eq!(report.collaborative, "als");
    assert_eq!((report.ease_items, report.ease_pairs), (0, 0));
    assert!(
        report.als_items > 9_000 && report.als_factors == 64,
        "{report:?}"
    );
    let only_collab = |e: &Engine| only(e, sommelier_recall::Source::Collaborative);
    let first = only_collab(&e);
    assert_eq!(first.items.len(), 10);
    let seen = e.user_features("15").unwrap().unwrap();
    for item in &first.items {
        assert_eq!(item.provenance[0].source.as_str(), "collaborative");
        assert!(!seen.recent.iter().any(|h| h.item == item.item));
    }
    let set = e.fitted_set_dir().unwrap();
    assert!(set.join("als.bin").exists());
    assert!(!set.join("ease.bin").exists());
    drop(e);
    let again = Engine::open(cfg.clone()).unwrap();
    assert_eq!(ids(&only_collab(&again)), ids(&first));

    // Back to EASE: the factor file goes, the table serves.
    drop(again);
    cfg.models.collaborative = sommelier_engine::CollaborativeModel::Ease;
    let e = Engine::open(cfg).unwrap();
    let report = e.fit_models().unwrap();
    assert_eq!(report.collaborative, "ease");
    assert!(!e.fitted_set_dir().unwrap().join("als.bin").exists());
    assert_eq!(only_collab(&e).items.len(), 10);
}

#[test]
fn the_sequence_model_serves_the_sequential_source_and_reads_new_events_without_a_refit() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let report = e.fit_models().unwrap();
    let sasrec = report
        .sasrec
        .as_ref()
        .expect("the sequence model was fitted");
    assert!(sasrec.epochs >= 1 && sasrec.users > 600, "{sasrec:?}");
    assert!(
        e.fitted_set_dir()
            .unwrap()
            .join("sequence.safetensors")
            .exists()
    );
    let only_sequential = |e: &Engine| only(e, sommelier_recall::Source::Sequential);
    let first = only_sequential(&e);
    assert_eq!(first.items.len(), 10);
    assert!(
        first.timings_ms.contains_key("sequence_model"),
        "{:?}",
        first.timings_ms
    );
    let seen = e.user_features("15").unwrap().unwrap();
    for item in &first.items {
        assert_eq!(item.provenance[0].source.as_str(), "sequential");
        // A probability, not a transition weight.
        assert!(item.provenance[0].score > 0.0 && item.provenance[0].score < 1.0);
        assert!(!seen.recent.iter().any(|h| h.item == item.item));
    }

    // A new event moves the user's state at once: the item they just had
    // leaves the list, and the list changes, with no refit.
    let had = first.items[0].item.clone();
    e.ingest_batch(
        sommelier_engine::RecordKind::Events,
        vec![serde_json::json!({"user": "15", "item": had, "kind": "rating", "value": 5.0})],
        false,
    )
    .unwrap();
    let next = only_sequential(&e);
    assert_eq!(next.models_version, first.models_version);
    assert!(!ids(&next).contains(&had));
    assert_ne!(ids(&next)[..9], ids(&first)[1..]);

    // The learned ranker reads the model's log-probability of every
    // candidate, and learned a weight for it.
    let ranker: serde_json::Value = serde_json::from_slice(
        &std::fs::read(e.fitted_set_dir().unwrap().join("ranker.json")).unwrap(),
    )
    .unwrap();
    let names = ranker["features"].as_array().unwrap();
    let at = names
        .iter()
        .position(|n| n == "sequence.logp")
        .expect("a sequence.logp feature");
    assert_ne!(ranker["weights"][at].as_f64().unwrap(), 0.0);
    assert!(ask(&e, "15").ranker.starts_with("learned:"));

    // Saved and loaded with the set.
    drop(e);
    let again = Engine::open(config(&dir)).unwrap();
    assert_eq!(ids(&only_sequential(&again)), ids(&next));

    // Configured off, a refit drops it and the transition table serves.
    drop(again);
    let mut cfg = config(&dir);
    cfg.models.sequential_model = sommelier_engine::SequentialModel::Transitions;
    let e = Engine::open(cfg).unwrap();
    assert!(e.fit_models().unwrap().sasrec.is_none());
    assert!(
        !e.fitted_set_dir()
            .unwrap()
            .join("sequence.safetensors")
            .exists()
    );
    let table = only_sequential(&e);
    assert_eq!(table.items.len(), 10);
    assert!(!table.timings_ms.contains_key("sequence_model"));
}

/// With the schedule off (`refit_interval_secs = 0`) nothing is fitted at
/// start; with it on, a start without saved models fits them.
#[test]
fn a_start_fits_only_when_the_schedule_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::quick_sequence_model(crate::support::config(dir.path()));
    config.models.refit_interval_secs = 0;
    let e = sommelier_engine::Engine::open(config.clone()).unwrap();
    let batch = (0..200)
        .map(|i| {
            serde_json::json!({"user": format!("u{}", i % 10), "item": format!("m{}", (i * 7) % 23),
                                    "kind": "click", "timestamp": 1_700_000_000 + i})
        })
        .collect();
    e.ingest_batch(sommelier_engine::RecordKind::Events, batch, false)
        .unwrap();
    assert!(e.refit_at_start().unwrap().is_none());
    assert!(e.models_report().is_none());
    drop(e);
    config.models.refit_interval_secs = 3600;
    let e = sommelier_engine::Engine::open(config).unwrap();
    let refit = e.refit_at_start().unwrap().expect("a fit at start");
    assert_eq!(refit.reason, sommelier_engine::RefitReason::NoSavedModels);
    assert!(e.refit_at_start().unwrap().is_none(), "fitted already");
}

/// Before the first fit with the sequence model ends, an interim set
/// without it serves from memory: personal picks at once, nothing saved,
/// and the full fit replaces it.
#[test]
fn an_interim_set_serves_while_the_sequence_model_trains_and_is_never_saved() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let interim = e.fit_interim_models().unwrap().expect("an interim set");
    assert!(interim.interim && interim.sasrec.is_none(), "{interim:?}");
    assert!(
        interim.version.starts_with("interim-"),
        "{}",
        interim.version
    );
    assert!(interim.ease_items > 0 && interim.ranker.is_some());
    assert_eq!(e.models_report().as_ref(), Some(&interim));
    let served = ask(&e, "15");
    assert_eq!(
        served.models_version.as_deref(),
        Some(interim.version.as_str())
    );
    assert!(served.personalized && served.items.len() == 10);
    assert!(
        served.items.iter().any(|i| i
            .provenance
            .iter()
            .any(|p| p.source.as_str() == "collaborative")),
        "the interim collaborative model serves"
    );
    assert!(e.fitted_set_dir().is_none(), "nothing saved");
    assert!(e.fit_interim_models().unwrap().is_none(), "models in use");
    drop(e);

    // A restart finds no saved models and fits at start again.
    let e = Engine::open(config(&dir)).unwrap();
    assert!(e.models_report().is_none());
    let full = e.fit_models().unwrap();
    assert!(!full.interim && full.sasrec.is_some());
    assert!(e.fit_interim_models().unwrap().is_none());

    // Without the sequence model there is nothing to wait for.
    let other = tempfile::tempdir().unwrap();
    let mut c = config(&other);
    c.models.sequential_model = sommelier_engine::SequentialModel::Transitions;
    let e = Engine::open(c).unwrap();
    assert!(e.fit_interim_models().unwrap().is_none());
}

/// A full set that comes while the interim one fits (here a fit asked
/// meanwhile, which holds the fit lock first) stays in use: the interim set
/// never replaces it.
#[test]
fn an_interim_set_never_replaces_a_full_one_that_came_while_it_fitted() {
    let dir = tempfile::tempdir().unwrap();
    let e = std::sync::Arc::new(engine(&dir));
    let full = std::thread::spawn({
        let e = e.clone();
        move || e.fit_models().unwrap()
    });
    // The full fit (seconds: it trains the sequence model) holds the lock
    // by now, and no set is in use yet.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(e.models_report().is_none(), "the full fit ended too soon");
    let interim = e
        .fit_interim_models()
        .unwrap()
        .expect("asked before any set was in use");
    let full = full.join().unwrap();
    assert!(interim.interim && !full.interim);
    assert!(
        interim.fitted_at >= full.fitted_at,
        "the interim fit waited for the full one"
    );
    assert_eq!(e.models_report().as_ref(), Some(&full));
    assert_eq!(
        ask(&e, "15").models_version.as_deref(),
        Some(full.version.as_str())
    );
}

#[test]
fn the_ranker_learns_from_several_newest_items_the_sequence_model_learns_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir);
    c.models.ranker_future_items = 3;
    c.models.sasrec.more_epochs = 2;
    let e = crate::support::with_ml_latest_small(c);
    let report = e.fit_models().unwrap();
    let ranker = report.ranker.as_ref().expect("a ranker report");
    assert!(ranker.skipped.is_none(), "{ranker:?}");
    // Several of each user's newest items are the right answers of one
    // example, so many users bring more than one.
    assert!(
        ranker.positives > ranker.users_with_positive + 50,
        "{ranker:?}"
    );
    // The first fit validated on the first held-out item; the further
    // epochs on each whole sequence's last item, starting from its weights.
    let first = report.sasrec.as_ref().expect("a sequence model");
    let more = report.sasrec_more.as_ref().expect("further epochs");
    assert_eq!(more.epochs, 2, "{more:?}");
    assert!(more.best_epoch <= 2, "{more:?}");
    assert_eq!(first.users, more.users, "{first:?} {more:?}");
    assert_eq!(ask(&e, "1").items.len(), 10);
    assert_eq!(ask(&e, "1").ranker, format!("learned:{}", report.version));
}

/// `models.ranker_future_items = 1`: each user's newest item alone is the
/// ranker's right answer, and the sequence model ranks from where it
/// stopped, with nothing left to learn after the ranker.
#[test]
fn with_one_future_item_the_ranker_learns_each_newest_item_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir);
    c.models.ranker_future_items = 1;
    let e = crate::support::with_ml_latest_small(c);
    let report = e.fit_models().unwrap();
    let ranker = report.ranker.as_ref().expect("a ranker report");
    assert!(ranker.users_with_positive > 100, "{ranker:?}");
    assert_eq!(ranker.positives, ranker.users_with_positive, "{ranker:?}");
    assert!(report.sasrec.is_some(), "{report:?}");
    assert!(report.sasrec_more.is_none(), "{report:?}");
    assert_eq!(ask(&e, "1").ranker, format!("learned:{}", report.version));
}
