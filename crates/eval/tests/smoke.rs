//! The evaluation smoke test CI runs: the real pipeline on ml-100k (fetched by
//! `scripts/test`), leave-last-out, a slice of the test users.

use sommelier_engine::{Config, Dataset};
use sommelier_eval::split::Protocol;
use sommelier_eval::{EvalOptions, evaluate, report};
use std::path::PathBuf;

fn datasets_root() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("SOMMELIER_TEST_ML100K") else {
        eprintln!("SOMMELIER_TEST_ML100K is not set: skipping (scripts/test sets it)");
        return None;
    };
    PathBuf::from(dir).parent().map(|p| p.to_path_buf())
}

fn options(out: &std::path::Path, data_dir: PathBuf) -> EvalOptions<'static> {
    EvalOptions {
        dataset: Dataset::MovieLens100k,
        protocol: Protocol::LeaveLastOut,
        validation: false,
        ks: vec![5, 10],
        out: out.to_path_buf(),
        config: Config {
            data_dir,
            ..Config::default()
        },
        per_source: true,
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
    // The documented tie-break: user 1 rated items 74 and 102 in the same last
    // second; ids compare as numbers, so 102 is held out.
    assert!(
        test_csv.lines().any(|l| l == "1,102"),
        "user 1 holds out item 102"
    );

    let names: Vec<&str> = r.systems.iter().map(|s| s.system.as_str()).collect();
    for want in [
        "sommelier",
        "sommelier:mmr=0.5",
        "sommelier:fusion",
        "sommelier:collaborative",
        "sommelier:sequential",
        "sommelier:popular",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
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
