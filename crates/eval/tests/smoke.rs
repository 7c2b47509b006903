//! The evaluation smoke tests CI runs: the real pipeline on ml-100k (fetched by
//! `scripts/test`), leave-last-out, a slice of the test users; and the like-X
//! task on the committed ml-latest-small judged by ml-100k.

use sommelier_engine::{Config, Dataset, Engine};
use sommelier_eval::like_x::{self, LikeXOptions};
use sommelier_eval::split::Protocol;
use sommelier_eval::{EvalOptions, evaluate, report};
use std::path::{Path, PathBuf};

fn datasets_root() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("SOMMELIER_TEST_ML100K") else {
        eprintln!("SOMMELIER_TEST_ML100K is not set: skipping (scripts/test sets it)");
        return None;
    };
    PathBuf::from(dir).parent().map(|p| p.to_path_buf())
}

/// The default configuration over `data_dir`, with a sequence model small
/// enough to fit in seconds (the real model, not its quality).
fn quick(data_dir: PathBuf) -> Config {
    let mut c = Config {
        data_dir,
        ..Config::default()
    };
    c.models.sasrec.hidden = 8;
    c.models.sasrec.max_epochs = 1;
    c.models.sasrec.val_users = 200;
    c
}

fn options(out: &std::path::Path, data_dir: PathBuf) -> EvalOptions<'static> {
    EvalOptions {
        dataset: Dataset::MovieLens100k,
        protocol: Protocol::LEAVE_LAST_OUT,
        validation: false,
        ks: vec![5, 10],
        out: out.to_path_buf(),
        config: quick(data_dir),
        per_source: true,
        ablation: true,
        max_users: Some(60),
        cold_share: None,
        mmr_lambdas: vec![0.5],
        embedder: None,
        llm_sample: None,
    }
}

#[test]
fn leave_last_out_on_ml_100k_writes_deterministic_splits_and_scores_the_pipeline() {
    let Some(root) = datasets_root() else {
        return;
    };
    // DATA_DIR/datasets is where `fetch` looks: point a data dir at the fetched copy.
    let data = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&root, data.path().join("datasets")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = evaluate(&options(out.path(), data.path().to_path_buf())).unwrap();

    // 100,000 ratings from 943 users, each with 20+: one held out per user.
    assert_eq!(r.interactions, 100_000);
    assert_eq!(r.train, 100_000 - 943);
    assert_eq!(r.test_users, 60);
    assert_eq!(r.catalog, 1_682);
    let test_csv = std::fs::read_to_string(r.split_dir.join("test.csv")).unwrap();
    assert_eq!(test_csv.lines().count(), 1 + 943);
    // Ties: user 1 rated items 74 and 102 in the same last second. The
    // hashed order holds out one of them, not necessarily the larger id, and
    // the split says that user 1 is tied.
    assert!(
        test_csv.lines().any(|l| l == "1,102" || l == "1,74"),
        "user 1 holds out item 74 or 102"
    );
    let tied_csv = std::fs::read_to_string(r.split_dir.join("tied.csv")).unwrap();
    assert!(tied_csv.lines().any(|l| l == "1"));
    // About 44 % of ml-100k's held-out items share their second with the
    // user's last training item.
    let tied = tied_csv.lines().count() - 1;
    assert!((330..=500).contains(&tied), "{tied} tied users of 943");
    assert!(r.tied_users <= r.test_users);
    assert_eq!(r.ties.as_deref(), Some("hash"));

    // Fitting saw the training events and nothing else: the engine the lists
    // came from holds exactly the training part, and no held-out pair.
    let engine_dir = out.path().join("engine-movielens-100k-leave-last-out-test");
    let held: std::collections::HashSet<(String, String)> = test_csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(u, i)| (u.to_string(), i.to_string()))
        .collect();
    let trained = Engine::open(Config {
        data_dir: engine_dir,
        ..Config::default()
    })
    .unwrap();
    let mut events = 0;
    let mut leaked = Vec::new();
    trained
        .store()
        .scan_events(0, &mut |row| {
            events += 1;
            if held.contains(&(row.user.to_string(), row.item.to_string())) {
                leaked.push((row.user.to_string(), row.item.to_string()));
            }
        })
        .unwrap();
    assert_eq!(events, r.train);
    assert!(
        leaked.is_empty(),
        "held-out pairs in the training engine: {leaked:?}"
    );

    let names: Vec<&str> = r.systems.iter().map(|s| s.system.as_str()).collect();
    for want in [
        "sommelier",
        "sommelier:mmr=0.5",
        "sommelier:fusion",
        "sommelier:collaborative",
        "sommelier:sequential",
        "sommelier:popular",
        "sommelier:-sequential",
        "sommelier:-collaborative",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    // Every system's lists are written for per-user comparisons: one row
    // per (user, rank), as many users as were evaluated.
    let lists = std::fs::read_to_string(r.lists_dir.join("sommelier_fusion.csv")).unwrap();
    assert_eq!(lists.lines().next(), Some("user_id,rank,item_id"));
    let listed: std::collections::HashSet<&str> = lists
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(listed.len(), r.test_users);
    let rows: Vec<Vec<&str>> = lists
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let ranks: Vec<usize> = rows.iter().map(|f| f[1].parse().unwrap()).collect();
    assert!(
        rows.windows(2)
            .zip(ranks.windows(2))
            .all(|(f, r)| if f[0][0] == f[1][0] {
                r[1] == r[0] + 1
            } else {
                r[1] == 1
            }),
        "ranks run 1, 2, … within each user"
    );
    assert!(
        ranks[0] == 1 && ranks.iter().all(|r| *r <= 10),
        "k = 10 at most"
    );
    let main = &r.systems[0];
    let m = &main.at[&10];
    assert!(
        m.hr > 0.0 && m.hr <= 1.0 && m.ndcg > 0.0 && m.ndcg <= m.hr,
        "{m:?}"
    );
    assert!(main.at[&5].hr <= main.at[&10].hr);
    assert!(r.models_version.is_some());

    // Reports render; plots are drawn.
    let md = report::markdown(&r);
    assert!(md.contains("| sommelier |"));
    // Groups are tabled only when they have users: ml-100k has tied users
    // under leave-last-out, and no cold ones.
    assert!(
        r.tied_users > 0 && r.cold_users == 0,
        "{} tied, {} cold",
        r.tied_users,
        r.cold_users
    );
    assert!(md.contains("Untied users ("), "{md}");
    assert!(!md.contains("Cold users"), "{md}");
    let plots = report::plots(&r, out.path()).unwrap();
    assert!(!plots.is_empty());
    assert!(
        plots
            .iter()
            .all(|p| std::fs::metadata(p).unwrap().len() > 1000)
    );

    // The same inputs give the same split files.
    let out2 = tempfile::tempdir().unwrap();
    let r2 = evaluate(&options(out2.path(), data.path().to_path_buf())).unwrap();
    for f in ["train.csv", "test.csv", "items.csv"] {
        assert_eq!(
            std::fs::read(r.split_dir.join(f)).unwrap(),
            std::fs::read(r2.split_dir.join(f)).unwrap(),
            "{f} differs between runs"
        );
    }
}

#[test]
fn the_llm_option_reranks_a_sample_with_the_local_model() {
    let Some(root) = datasets_root() else {
        return;
    };
    let Some(llm_dir) = std::env::var_os("SOMMELIER_TEST_LLM_DIR").map(PathBuf::from) else {
        eprintln!("SOMMELIER_TEST_LLM_DIR is not set: skipping (scripts/test sets it)");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&root, data.path().join("datasets")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut o = options(out.path(), data.path().to_path_buf());
    o.per_source = false;
    o.mmr_lambdas.clear();
    o.max_users = Some(40);
    o.ks = vec![1, 5, 10];
    o.llm_sample = Some(4);
    o.config.llm = sommelier_llm::LlmConfig {
        small: sommelier_llm::ProviderConfig::Local {
            path: llm_dir,
            threads: 2,
            workers: 1,
            context: 2048,
            batch: 512,
        },
        missing_model_is_off: false,
        rerank_deadline_ms: 60_000,
        ..sommelier_llm::LlmConfig::default()
    };
    let r = evaluate(&o).unwrap();
    let l = r.llm.as_ref().expect("the LLM sample ran");
    assert_eq!(l.users, 4);
    assert!(l.model.starts_with("local:SmolLM2"), "{}", l.model);
    assert_eq!(l.used + l.fallbacks.values().sum::<usize>(), 4, "{l:?}");
    assert!(
        l.reordered <= l.used,
        "only a used answer can reorder: {l:?}"
    );
    assert!(l.mean_ms > 0.0 && l.p95_ms >= l.mean_ms * 0.5, "{l:?}");
    // The stage reorders the first candidates only: the top 10 hold the same
    // items, so the hit rate at 10 cannot move; the order at 1 and 5 may.
    assert_eq!(l.classical[&10].hr, l.reranked[&10].hr, "{l:?}");
    assert_eq!(l.classical[&10].users, 4);
    let md = report::markdown(&r);
    assert!(md.contains("## LLM re-rank on a sample"), "{md}");
    assert!(md.contains("| classical + LLM re-rank |"), "{md}");
}

#[test]
fn like_x_on_the_committed_ml_latest_small_is_judged_by_ml_100k() {
    let Some(dir) = std::env::var_os("SOMMELIER_TEST_ML100K") else {
        eprintln!("SOMMELIER_TEST_ML100K is not set: skipping (scripts/test sets it)");
        return;
    };
    // DATA_DIR/datasets as `fetch` leaves it: the fetched ml-100k, and the
    // committed fixture marked as extracted.
    let data = tempfile::tempdir().unwrap();
    let datasets = data.path().join("datasets");
    let small = datasets.join("ml-latest-small");
    std::fs::create_dir_all(&small).unwrap();
    std::os::unix::fs::symlink(PathBuf::from(dir), datasets.join("ml-100k")).unwrap();
    let fixture = Path::new(
        &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("../../fixtures/ml-latest-small");
    for f in ["movies.csv", "ratings.csv", "tags.csv", "links.csv"] {
        std::os::unix::fs::symlink(fixture.join(f), small.join(f)).unwrap();
    }
    std::fs::write(small.join(".sommelier-fetched"), "fixtures\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = like_x::evaluate(&LikeXOptions {
        dataset: Dataset::MovieLensSmall,
        seeds: 5,
        out: out.path().to_path_buf(),
        config: quick(data.path().to_path_buf()),
        embedder: None,
        llm: false,
    })
    .unwrap();

    assert_eq!(
        (r.task.as_str(), r.dataset.as_str()),
        ("like-x", "movielens-small")
    );
    assert_eq!(r.catalog_items, 9_125);
    assert!(
        r.shared_items > 1_000 && r.shared_items < 1_682,
        "{}",
        r.shared_items
    );
    assert!(r.eligible_seeds >= 5 && r.eligible_seeds <= r.shared_items);
    assert_eq!(r.interactions, 100_004);
    assert!(r.models_version.is_some());
    assert_eq!(r.seeds.len(), 5);
    for s in &r.seeds {
        assert_eq!(s.truth.len(), like_x::TRUTH_SIZE, "{s:?}");
        assert!(!s.truth.contains(&s.id), "{s:?}");
        assert!(!s.title.is_empty() && !s.title.ends_with(')'), "{s:?}");
    }

    let names: Vec<&str> = r.systems.iter().map(|s| s.system.as_str()).collect();
    assert_eq!(
        names,
        [
            "chat:movies-like",
            "chat:something-like",
            "chat",
            "item-knn",
            "item-knn:shared",
            "random"
        ],
        "no embedder: no similar view"
    );
    for s in &r.systems {
        for v in [s.precision_at_5, s.seed_returned, s.judged] {
            assert!((0.0..=1.0).contains(&v), "{s:?}");
        }
        assert_eq!(s.seeds, 5, "{s:?}");
    }
    let by = |name: &str| r.systems.iter().find(|s| s.system == name).unwrap();
    let random = by("random").precision_at_5;
    assert!(random > 0.0 && random < 0.01, "{random}");
    // Another population's ratings agree with this one's far beyond chance.
    assert!(
        by("item-knn").precision_at_5 > 10.0 * random,
        "{:?}",
        by("item-knn")
    );
    assert_eq!(by("item-knn").seed_returned, 0.0);
    assert_eq!(by("item-knn:shared").judged, 1.0);

    let md = like_x::markdown(&r);
    assert!(
        md.contains("| item-knn |") && md.contains("| chat:movies-like |"),
        "{md}"
    );
}
