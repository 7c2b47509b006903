//! Named fitted sets as experiment variants, on the committed
//! ml-latest-small: a challenger fitted with other settings by another
//! engine over the same folder is served to one variant's users while the
//! others get the engine's own set; the engine's refits leave it alone; a
//! refit of the challenger is picked up; a deletion of events stops it
//! from being served (its users are then outside the experiment) until it
//! is fitted again; an experiment of the configuration file naming a set
//! that is not there serves its users outside the experiment.

use serde_json::json;
use sommelier_engine::experiment::Experiment;
use sommelier_engine::{CollaborativeModel, Config, Engine};

fn config(dir: &tempfile::TempDir) -> Config {
    crate::support::quick_sequence_model(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    })
}

/// The variant `user` is in (`""` for none) and the fitted set version
/// their answer was served from.
fn served(e: &Engine, user: &str) -> (String, Option<String>) {
    let r = crate::support::recommend_for(e, user, 5);
    let label = r.experiments.first().map(|a| a.label()).unwrap_or_default();
    (label, r.models_version)
}

fn trial(set: &str) -> Experiment {
    serde_json::from_value(json!({
        "name": "collaborative-model", "traffic": 1.0,
        "variants": [{"name": "control"},
                     {"name": "ials", "overrides": {"models": set}}]
    }))
    .unwrap()
}

/// A challenger engine over the same folder: iALS instead of EASE.
fn challenger(dir: &tempfile::TempDir) -> Engine {
    let mut cfg = config(dir);
    cfg.models.collaborative = CollaborativeModel::Als;
    cfg.models.als_factors = 16;
    Engine::open(cfg).unwrap()
}

#[test]
fn a_variant_serves_a_named_set_beside_the_engines_own() {
    let dir = tempfile::tempdir().unwrap();
    let e = crate::support::with_ml_latest_small(config(&dir));
    let own = e.fit_models().unwrap();

    let named = challenger(&dir).fit_models_as("ials-trial").unwrap();
    assert_eq!(named.collaborative, "als");
    assert!(
        named.version.starts_with("ials-trial@fit-"),
        "{}",
        named.version
    );
    // The engine's set and `CURRENT` are as they were.
    assert_eq!(
        e.fitted_set_dir().unwrap().file_name().unwrap(),
        own.version.as_str()
    );
    assert_eq!(e.models_report().unwrap().version, own.version);
    let err = e.fit_models_as("../elsewhere").unwrap_err().to_string();
    assert!(err.contains("not a set name"), "{err}");

    // A set that is not there is refused when the experiment is declared.
    let err = e
        .put_experiment(trial("no-such-set"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"ials\"") && err.contains("sommelier fit --as no-such-set"),
        "{err}"
    );
    e.put_experiment(trial("ials-trial")).unwrap();

    let mut treated = None;
    let mut control = 0;
    for u in 1..=40 {
        let user = u.to_string();
        let (label, version) = served(&e, &user);
        match label.as_str() {
            "collaborative-model:ials" => {
                assert_eq!(version.as_deref(), Some(named.version.as_str()), "{user}");
                treated.get_or_insert(user);
            }
            "collaborative-model:control" => {
                assert_eq!(version.as_deref(), Some(own.version.as_str()), "{user}");
                control += 1;
            }
            other => panic!("{user} in {other:?}"),
        }
    }
    let treated = treated.expect("some users in the iALS variant");
    assert!(control > 0, "some users in control");

    // A refit of the engine's own set (which removes its sets but the
    // last two) leaves the named one.
    let refit = e.fit_models().unwrap();
    let named_dir = dir.path().join("fitted/named/ials-trial");
    let folder = std::fs::read_to_string(named_dir.join("CURRENT")).unwrap();
    assert!(named_dir.join(folder.trim()).join("manifest.json").exists());
    assert_eq!(
        served(&e, &treated).1.as_deref(),
        Some(named.version.as_str())
    );

    // Fitted again by another process: the loaded set serves until the
    // engine looks at the folder, then the new one does.
    let second = challenger(&dir).fit_models_as("ials-trial").unwrap();
    assert_ne!(second.version, named.version);
    assert_eq!(
        served(&e, &treated).1.as_deref(),
        Some(named.version.as_str())
    );
    e.follow_models().unwrap();
    assert_eq!(
        served(&e, &treated).1.as_deref(),
        Some(second.version.as_str())
    );

    // Deleting a user's events: the named set holds them and nothing
    // refits it on schedule, so it is no longer served (the variant's users
    // are served by the engine, outside the experiment; control's stay in
    // it), and a declaration naming it is refused, until it is fitted again.
    e.forget_user("600", false).unwrap();
    assert_eq!(
        served(&e, &treated),
        (String::new(), Some(refit.version.clone()))
    );
    let (label, _) = served(&e, "1");
    assert!(
        label.is_empty() || label == "collaborative-model:control",
        "{label}"
    );
    let err = e
        .put_experiment(trial("ials-trial"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("deleted"), "{err}");
    let third = challenger(&dir).fit_models_as("ials-trial").unwrap();
    e.follow_models().unwrap();
    assert_eq!(
        served(&e, &treated),
        (
            "collaborative-model:ials".to_string(),
            Some(third.version.clone())
        )
    );
    e.put_experiment(trial("ials-trial")).unwrap();
    drop(e);

    // In the configuration file, naming a set that is not there: the
    // engine serves, and that variant's users are outside the experiment.
    let mut cfg = config(&dir);
    cfg.experiments = vec![trial("no-such-set")];
    let e = Engine::open(cfg).unwrap();
    assert_eq!(served(&e, &treated), (String::new(), Some(refit.version)));
}
