//! Snapshot tests of ranked lists on the committed ml-latest-small: the default
//! pipeline (fitted models, learned ranker, re-rank) for a few users must give
//! the lists recorded in `tests/snapshots/ml-latest-small.json`. A change in
//! ranking shows up here as a readable diff; when it is intended, rerun with
//! `SOMMELIER_UPDATE_SNAPSHOTS=1` and commit the new file with the change.

use sommelier_engine::{Config, Filters, RecommendRequest, RequestContext};
use std::collections::BTreeMap;

use std::path::PathBuf;

fn snapshot_path() -> PathBuf {
    crate::support::crate_dir().join("tests/it/snapshots/ml-latest-small.json")
}

#[test]
fn ranked_lists_on_ml_latest_small_match_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let e = crate::support::with_ml_latest_small(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    });
    e.fit_models().unwrap();

    let cases: Vec<(&str, RecommendRequest)> = vec![
        ("user 1", req(Some("1"), Filters::default())),
        ("user 15", req(Some("15"), Filters::default())),
        ("user 300", req(Some("300"), Filters::default())),
        ("new visitor", req(None, Filters::default())),
        (
            "user 15, comedies only",
            req(
                Some("15"),
                Filters {
                    categories: vec!["Comedy".into()],
                    ..Default::default()
                },
            ),
        ),
    ];
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, r) in cases {
        let answer = e.recommend(&r).unwrap();
        got.insert(
            name.to_string(),
            answer
                .items
                .iter()
                .map(|i| format!("{} {}", i.item, i.title))
                .collect(),
        );
    }
    let path = snapshot_path();
    if std::env::var_os("SOMMELIER_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let want: BTreeMap<String, Vec<String>> = serde_json::from_slice(
        &std::fs::read(&path).expect("the snapshot file (SOMMELIER_UPDATE_SNAPSHOTS=1 writes it)"),
    )
    .unwrap();
    for (name, list) in &want {
        assert_eq!(
            got.get(name),
            Some(list),
            "{name}: the ranked list changed (SOMMELIER_UPDATE_SNAPSHOTS=1 records an intended change)"
        );
    }
    assert_eq!(got.len(), want.len());
}

fn req(user: Option<&str>, filters: Filters) -> RecommendRequest {
    RecommendRequest {
        user_id: user.map(String::from),
        k: Some(10),
        filters,
        // A fixed hour: without one the clock's hour would make the lists
        // depend on when the test runs.
        context: RequestContext {
            device: None,
            hour: Some(20),
            ..Default::default()
        },
        ..Default::default()
    }
}
