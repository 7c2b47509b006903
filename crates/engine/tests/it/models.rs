//! Fitted models on real data (the committed ml-latest-small): the collaborative
//! and sequential sources, the learned ranker, persistence across restarts, and
//! a refit swapped in while the engine is in use.

use sommelier_engine::{Config, Engine, RankBy, RecommendRequest};

fn config(dir: &tempfile::TempDir) -> Config {
    Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    }
}

fn engine(dir: &tempfile::TempDir) -> Engine {
    crate::support::with_ml_latest_small(config(dir))
}

fn ask(e: &Engine, user: &str) -> sommelier_engine::RecommendResponse {
    e.recommend(&RecommendRequest {
        user_id: Some(user.into()),
        k: Some(10),
        ..Default::default()
    })
    .unwrap()
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
    drop(e);
    std::fs::write(dir.path().join("fitted/ease.bin"), b"not a table").unwrap();
    let e = Engine::open(config(&dir)).unwrap();
    let err = e.load_models().unwrap_err().to_string();
    assert!(
        err.contains("ease.bin") && err.contains("sommelier fit"),
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
    let only_collab = |e: &Engine| {
        e.recommend(&RecommendRequest {
            user_id: Some("15".into()),
            k: Some(10),
            sources: Some(vec![sommelier_recall::Source::Collaborative]),
            rank_by: RankBy::Fusion,
            ..Default::default()
        })
        .unwrap()
    };
    let first = only_collab(&e);
    assert_eq!(first.items.len(), 10);
    let seen = e.user_features("15").unwrap().unwrap();
    for item in &first.items {
        assert_eq!(item.provenance[0].source.as_str(), "collaborative");
        assert!(!seen.recent.iter().any(|h| h.item == item.item));
    }
    let ids = |r: &sommelier_engine::RecommendResponse| {
        r.items.iter().map(|i| i.item.clone()).collect::<Vec<_>>()
    };
    assert!(dir.path().join("fitted/als.bin").exists());
    assert!(!dir.path().join("fitted/ease.bin").exists());
    drop(e);
    let again = Engine::open(cfg.clone()).unwrap();
    assert_eq!(ids(&only_collab(&again)), ids(&first));

    // Back to EASE: the factor file goes, the table serves.
    drop(again);
    cfg.models.collaborative = sommelier_engine::CollaborativeModel::Ease;
    let e = Engine::open(cfg).unwrap();
    let report = e.fit_models().unwrap();
    assert_eq!(report.collaborative, "ease");
    assert!(!dir.path().join("fitted/als.bin").exists());
    assert_eq!(only_collab(&e).items.len(), 10);
}
