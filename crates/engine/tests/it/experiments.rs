//! Experiments: a declared experiment splits users between its variants by
//! hash, each variant's overrides change what its users are served, the
//! answer names the variant, the assignment survives a restart, the
//! exposure log keeps the variant, and the report counts each variant's
//! users, lists and the clicks on what they were shown.

use crate::support::{config, open};
use serde_json::json;
use sommelier_engine::experiment::{Experiment, State, analysis::Options};
use sommelier_engine::{Engine, EngineError, RecommendRequest, RecordKind};
use sommelier_recall::Source;
use std::collections::HashMap;
use std::time::Duration;

fn definition(v: serde_json::Value) -> Experiment {
    serde_json::from_value(v).unwrap()
}

fn catalog(e: &Engine) {
    crate::support::dramas_and_clicks(e, 400, 40);
}

fn popular_weight(e: &Engine, user: &str) -> (f64, Vec<String>, String) {
    let r = crate::support::recommend_for(e, user, 5);
    let w = r
        .sources
        .iter()
        .find(|s| s.source == Source::Popular)
        .map(|s| s.weight)
        .unwrap();
    let labels = r.experiments.iter().map(|a| a.label()).collect();
    (w, labels, r.request_id)
}

#[test]
fn variants_split_users_change_their_answers_and_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    catalog(&e);
    let default_popular = e.config().fusion.popular;
    let v = e
        .put_experiment(definition(json!({
            "name": "popularity", "traffic": 1.0, "layer": "fusion",
            "variants": [{"name": "control"},
                         {"name": "more-popular", "overrides": {"fusion.popular": 0.25, "ranker": "fusion"}}]
        })))
        .unwrap();
    assert_eq!(v.origin, "api");
    assert_eq!(v.definition.range(), Some(0..10_000));
    assert!(v.definition.started_ms.is_some());

    e.start_exposure_log();
    let mut variant_of = HashMap::new();
    for u in 0..40 {
        let user = format!("u{u}");
        let (w, labels, _) = popular_weight(&e, &user);
        assert_eq!(labels.len(), 1, "{labels:?}");
        let expected = if labels[0] == "popularity:control" {
            default_popular
        } else {
            0.25
        };
        assert_eq!(w, expected, "{user} in {labels:?}");
        // Sticky: the same again.
        assert_eq!(popular_weight(&e, &user).1, labels);
        variant_of.insert(user, labels[0].clone());
    }
    let treated = variant_of
        .values()
        .filter(|l| l.ends_with("more-popular"))
        .count();
    assert!((8..=32).contains(&treated), "{treated} of 40 treated");
    // A visitor has no unit: no experiment.
    let visitor = e.recommend(&RecommendRequest::default()).unwrap();
    assert!(visitor.experiments.is_empty());

    // Clicks on what was shown, by the users of one variant only.
    let mut clicks = Vec::new();
    for (user, label) in &variant_of {
        if !label.ends_with("more-popular") {
            continue;
        }
        let r = e
            .recommend(&RecommendRequest {
                user_id: Some(user.clone()),
                k: Some(5),
                ..Default::default()
            })
            .unwrap();
        clicks.push(json!({"id": format!("c-{user}"), "user": user, "item": r.items[0].item, "kind": "click",
                            "context": {"request_id": r.request_id, "position": 1}}));
    }
    e.ingest_batch(RecordKind::Events, clicks, false).unwrap();
    assert!(e.flush_exposures(Duration::from_secs(5)));
    let row_variant = {
        let (_, labels, id) = popular_weight(&e, "u0");
        assert!(e.flush_exposures(Duration::from_secs(5)));
        let row = e.store().exposure(&id).unwrap().unwrap();
        assert_eq!(row.variant.as_deref(), Some(labels[0].as_str()));
        labels[0].clone()
    };
    assert_eq!(variant_of["u0"], row_variant);

    let r = e
        .experiment_report(
            "popularity",
            sommelier_engine::ATTRIBUTION_WINDOW_MS,
            &Options::default(),
        )
        .unwrap();
    assert_eq!(r.control, "control");
    let (c, t) = (&r.variants[0], &r.variants[1]);
    assert_eq!(c.units + t.units, 40);
    assert_eq!(t.units, treated);
    // Two lists per user, a third for the treated, one more for u0.
    assert_eq!(c.exposures + t.exposures, 80 + treated as u64 + 1);
    assert_eq!(c.ctr.value, 0.0);
    let t_lists = 3 * treated as u64 + u64::from(variant_of["u0"].ends_with("more-popular"));
    assert!(
        (t.ctr.value - treated as f64 / t_lists as f64).abs() < 1e-9,
        "{t:?}"
    );
    assert!(
        r.comparisons
            .iter()
            .any(|x| x.metric == "ctr" && x.difference > 0.0)
    );

    // Stopped: nobody is in it; started again: the same users in the same variants.
    e.set_experiment_state("popularity", State::Stopped)
        .unwrap();
    assert!(popular_weight(&e, "u1").1.is_empty());
    e.set_experiment_state("popularity", State::Running)
        .unwrap();
    // A second engine over the same store (another replica) assigns alike.
    let replica = open(dir.path());
    for (user, label) in &variant_of {
        assert_eq!(
            &popular_weight(&replica, user).1,
            &vec![label.clone()],
            "{user} on a replica"
        );
    }
    drop(replica);
    drop(e);
    let e = open(dir.path());
    for (user, label) in &variant_of {
        assert_eq!(
            &popular_weight(&e, user).1,
            &vec![label.clone()],
            "{user} after a restart"
        );
    }
    e.delete_experiment("popularity").unwrap();
    assert!(popular_weight(&e, "u1").1.is_empty());
    assert!(matches!(
        e.experiment("popularity"),
        Err(EngineError::NotFound(_))
    ));
}

#[test]
fn bad_declarations_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    let refused = |v: serde_json::Value, why: &str| {
        let err = e.put_experiment(definition(v)).unwrap_err().to_string();
        assert!(err.contains(why), "{err} should say {why}");
    };
    let two = |overrides: serde_json::Value| json!([{"name": "control"}, {"name": "b", "overrides": overrides}]);
    refused(
        json!({"name": "x", "traffic": 0.5, "variants": two(json!({"store.durability": "normal"}))}),
        "cannot vary per request",
    );
    refused(
        json!({"name": "x", "traffic": 0.5, "variants": two(json!({"rerank.mmr_lambda": 3}))}),
        "mmr_lambda",
    );
    refused(
        json!({"name": "x", "traffic": 0.5, "variants": two(json!({"rerank.nope": 1}))}),
        "nope",
    );
    refused(
        json!({"name": "x", "traffic": 0.5, "variants": two(json!({"ranker": "best"}))}),
        "`learned` or `fusion`",
    );
    refused(
        json!({"name": "x", "traffic": 0.5, "variants": two(json!({"llm.cache_capacity": 0}))}),
        "the engine's, not a variant's",
    );
    refused(
        json!({"name": "x", "traffic": 0.5, "variants": two(json!({"llm.rerank_pics": 3}))}),
        "rerank_pics",
    );
    let gone = dir.path().join("no-such-prompts");
    refused(
        json!({"name": "x", "traffic": 0.5, "variants": two(json!({"llm.prompts_dir": gone}))}),
        "not a folder",
    );
    refused(
        json!({"name": "x", "traffic": 0.5, "variants": two(json!({"llm.small": {"provider": "local", "path": dir.path().join("no-model")}}))}),
        "its LLM layer does not load",
    );
    assert!(
        e.experiments().unwrap().is_empty(),
        "nothing refused was kept"
    );
    e.put_experiment(definition(
        json!({"name": "a", "traffic": 0.6, "layer": "one", "variants": two(json!({"rerank.mmr_lambda": 0.5}))}),
    ))
    .unwrap();
    refused(
        json!({"name": "b", "traffic": 0.5, "layer": "one", "variants": two(json!({}))}),
        "no free range",
    );
    refused(
        json!({"name": "c", "traffic": 0.5, "layer": "two", "variants": two(json!({"rerank.mmr_lambda": 0.7}))}),
        "both set `rerank.mmr_lambda`",
    );
    // Another layer with other keys: both serve one request.
    e.put_experiment(definition(
        json!({"name": "d", "traffic": 1.0, "layer": "two", "variants": two(json!({"fusion.trending": 0.0}))}),
    ))
    .unwrap();
    let in_both = (0..50)
        .map(|i| {
            e.recommend(&RecommendRequest {
                user_id: Some(format!("user{i}")),
                ..Default::default()
            })
            .unwrap()
            .experiments
            .len()
        })
        .filter(|n| *n == 2)
        .count();
    assert!(in_both > 10, "{in_both}");
}

#[test]
fn a_variant_serves_its_own_prompts_and_its_answers_and_log_say_which() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    catalog(&e);
    let prompts = dir.path().join("terse-prompts");
    std::fs::create_dir(&prompts).unwrap();
    let builtin = crate::support::crate_dir().join("../llm/prompts");
    for (file, version) in [
        ("rerank.v1.txt", "rerank-terse-1"),
        ("rerank.v2.txt", "rerank-terse-2"),
    ] {
        let text = std::fs::read_to_string(builtin.join(file)).unwrap();
        let (_, rest) = text.split_once('\n').unwrap();
        std::fs::write(prompts.join(file), format!("version: {version}\n{rest}")).unwrap();
    }
    e.put_experiment(definition(json!({
        "name": "prompts", "traffic": 1.0,
        "variants": [{"name": "control"},
                     {"name": "terse", "overrides": {"llm.prompts_dir": prompts, "llm.rerank_picks": 3}}]
    })))
    .unwrap();
    e.start_exposure_log();
    let mut seen = HashMap::new();
    for u in 0..30 {
        let r = e
            .recommend(&RecommendRequest {
                user_id: Some(format!("u{u}")),
                explain: sommelier_engine::Explain::Llm,
                ..Default::default()
            })
            .unwrap();
        // No model here: the stage falls back, but says which prompt it
        // would have used.
        let report = r.llm.clone().expect("the LLM stage ran");
        let expected = match r.experiments[0].variant.as_str() {
            "terse" => "rerank-terse-1",
            _ => "rerank-v1",
        };
        assert_eq!(report.prompt_version, expected, "{:?}", r.experiments);
        assert_eq!(report.fallback.as_deref(), Some("off"));
        seen.insert(r.experiments[0].variant.clone(), r.request_id);
    }
    assert_eq!(seen.len(), 2, "both variants served: {seen:?}");
    assert!(e.flush_exposures(Duration::from_secs(5)));
    for (variant, id) in &seen {
        let row = e.store().exposure(id).unwrap().expect("logged");
        let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
        let version = body["llm"]["prompt_version"].as_str().unwrap();
        assert_eq!(version == "rerank-terse-1", variant == "terse", "{body}");
    }
    // Deleting the experiment serves everyone the engine's prompts again.
    e.delete_experiment("prompts").unwrap();
    let r = e
        .recommend(&RecommendRequest {
            user_id: Some(format!("u{}", 0)),
            explain: sommelier_engine::Explain::Llm,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.llm.unwrap().prompt_version, "rerank-v1");
}

#[test]
fn experiments_in_the_configuration_serve_and_are_changed_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.experiments = vec![definition(json!({
        "name": "from-file", "traffic": 1.0,
        "variants": [{"name": "control"}, {"name": "lower", "overrides": {"rerank.mmr_lambda": 0.5}}]
    }))];
    let e = Engine::open(c).unwrap();
    let listed = e.experiments().unwrap();
    assert_eq!((listed.len(), listed[0].origin), (1, "config"));
    let r = e
        .recommend(&RecommendRequest {
            user_id: Some("someone".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.experiments.len(), 1);
    let err = e
        .set_experiment_state("from-file", State::Stopped)
        .unwrap_err()
        .to_string();
    assert!(err.contains("configuration file"), "{err}");
}

#[test]
fn chat_turns_are_assigned_by_session_answer_with_their_variant_and_are_logged() {
    let (_d, e) = crate::support::chat_engine(sommelier_llm::LlmConfig {
        enabled: false,
        ..Default::default()
    });
    e.put_experiment(definition(json!({
        "name": "chat-ranker", "traffic": 1.0, "unit": "session", "surfaces": ["chat"],
        "variants": [{"name": "control"}, {"name": "fusion", "overrides": {"ranker": "fusion"}}]
    })))
    .unwrap();
    e.start_exposure_log();
    let first = crate::support::say(&e, None, Some("forget-me"), "comedies from the 90s");
    assert_eq!(first.experiments.len(), 1, "{:?}", first.experiments);
    assert_eq!(first.request_id.len(), 28);
    // The same session keeps its variant.
    let again = crate::support::say(&e, Some(&first.session_id), Some("forget-me"), "no romance");
    assert_eq!(again.experiments, first.experiments);
    // `/v1/recommend` is not a surface of this experiment.
    let r = e
        .recommend(&RecommendRequest {
            user_id: Some("forget-me".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(r.experiments.is_empty());
    assert!(e.flush_exposures(Duration::from_secs(5)));
    let row = e
        .store()
        .exposure(&first.request_id)
        .unwrap()
        .expect("logged");
    assert_eq!(row.surface, "chat");
    assert_eq!(row.variant, Some(first.experiments[0].label()));
    let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
    let logged: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap())
        .collect();
    let shown: Vec<&str> = first.items.iter().map(|i| i.item.as_str()).collect();
    assert_eq!(logged, shown);
    assert_eq!(body["session_id"], first.session_id.as_str());
    // Never the words.
    assert!(!row.body.contains("comedies"), "{}", row.body);
}

#[test]
fn interleaving_merges_both_rankers_credits_clicks_to_the_team_and_reports_the_preference() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    catalog(&e);
    let refused = e
        .put_experiment(definition(json!({
            "name": "three", "traffic": 1.0, "mode": "interleave",
            "variants": [{"name": "a"}, {"name": "b"}, {"name": "c"}]
        })))
        .unwrap_err()
        .to_string();
    assert!(refused.contains("exactly 2 variants"), "{refused}");
    e.put_experiment(definition(json!({
        "name": "fresh-vs-popular", "traffic": 1.0, "mode": "interleave",
        "variants": [{"name": "popular", "overrides": {"ranker": "fusion", "fusion.fresh": 0.0}},
                     {"name": "fresh", "overrides": {"ranker": "fusion", "fusion.popular": 0.0, "fusion.fresh": 1.0}}]
    })))
    .unwrap();
    e.start_exposure_log();
    let mut clicks = Vec::new();
    for u in 0..40 {
        let user = format!("u{u}");
        let r = e
            .recommend(&RecommendRequest {
                user_id: Some(user.clone()),
                k: Some(6),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.experiments[0].label(), "fresh-vs-popular:interleaved");
        assert_eq!(r.items.len(), 6);
        let ids: std::collections::HashSet<&str> =
            r.items.iter().map(|i| i.item.as_str()).collect();
        assert_eq!(ids.len(), 6, "no item twice");
        assert!(e.flush_exposures(Duration::from_secs(5)));
        let row = e.store().exposure(&r.request_id).unwrap().unwrap();
        let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
        let teams: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["team"].as_str().unwrap())
            .collect();
        let fresh = teams.iter().filter(|t| **t == "fresh").count();
        assert!((2..=4).contains(&fresh), "{teams:?}");
        // Everyone clicks the first item the `fresh` ranker placed.
        let pick = teams.iter().position(|t| *t == "fresh").unwrap();
        clicks.push(json!({"id": format!("click-{user}"), "user": user, "item": r.items[pick].item, "kind": "click"}));
    }
    e.ingest_batch(RecordKind::Events, clicks, false).unwrap();
    let r = e
        .experiment_report(
            "fresh-vs-popular",
            sommelier_engine::ATTRIBUTION_WINDOW_MS,
            &Options::default(),
        )
        .unwrap();
    let i = r.interleaving.expect("an interleaving report");
    assert_eq!((i.lists, i.lists_with_clicks, i.units), (40, 40, 40));
    assert_eq!((i.wins, i.ties), ([0, 40], 0));
    assert_eq!(i.preference, 1.0);
    assert!(r.variants.is_empty());
}
