//! Loading, layering and validating the configuration.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn layers_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "data_dir = \"/a\"\n[server]\naddr = \"127.0.0.1:1\"\nmax_batch = 5\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&file),
        env(&[
            ("SOMMELIER__SERVER__ADDR", "127.0.0.1:2"),
            ("SOMMELIER__INGEST__RATING_MAX", "10"),
            ("OTHER", "x"),
        ]),
        &[("server.addr", "127.0.0.1:3".into())],
    )
    .unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/a"));
    assert_eq!(c.server.max_batch, 5);
    assert_eq!(c.ingest.rating_max, 10.0);
    assert_eq!(c.server.addr, "127.0.0.1:3");
}

#[test]
fn the_example_file_states_the_defaults() {
    let path = Path::new(
        &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("../../sommelier.example.toml");
    let c = Config::load(Some(&path), Vec::new(), &[]).unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn llm_tables_take_environment_variables() {
    let c = Config::load(
        None,
        env(&[
            ("SOMMELIER__LLM__SMALL__THREADS", "2"),
            ("SOMMELIER__LLM__LARGE__PROVIDER", "openai"),
            ("SOMMELIER__LLM__LARGE__BASE_URL", "http://127.0.0.1:8081"),
            ("SOMMELIER__LLM__LARGE__MODEL", "qwen"),
        ]),
        &[],
    )
    .unwrap();
    assert!(matches!(
        c.llm.small,
        sommelier_llm::ProviderConfig::Local { threads: 2, .. }
    ));
    assert!(matches!(
        c.llm.large,
        Some(sommelier_llm::ProviderConfig::Openai { ref model, stream: true, .. }) if model == "qwen"
    ));
    let e = Config::load(
        None,
        env(&[("SOMMELIER__LLM__SMALL__PROVIDER", "gpt")]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("gpt"), "{e}");
}

#[test]
fn bad_values_are_named() {
    let e = Config::load(None, env(&[("SOMMELIER__SERVER__ADDR", "nowhere")]), &[]).unwrap_err();
    assert!(e.to_string().contains("server.addr `nowhere`"), "{e}");
    let e = Config::load(None, env(&[("SOMMELIER__SERVER__ADRR", "x")]), &[]).unwrap_err();
    assert!(e.to_string().contains("unknown field `adrr`"), "{e}");
    let e = Config::load(None, env(&[("SOMMELIER__STORE__DURABILITY", "maybe")]), &[]).unwrap_err();
    assert!(e.to_string().contains("store.durability"), "{e}");
    let e = Config::load(None, env(&[("SOMMELIER__INGEST__RATING_MIN", "9")]), &[]).unwrap_err();
    assert!(e.to_string().contains("rating range"), "{e}");
}

#[test]
fn a_postgres_store_needs_a_url_and_messages_never_show_its_password() {
    let e = Config::load(None, env(&[("SOMMELIER__STORE__BACKEND", "postgres")]), &[]).unwrap_err();
    assert!(e.to_string().contains("store.url is empty"), "{e}");
    let e = Config::load(None, env(&[("SOMMELIER__STORE__BACKEND", "mysql")]), &[]).unwrap_err();
    assert!(e.to_string().contains("`sqlite` or `postgres`"), "{e}");
    let e = Config::load(None, env(&[("SOMMELIER__VECTORS__INDEX", "pgvector")]), &[]).unwrap_err();
    assert!(
        e.to_string()
            .contains("vectors.index is `pgvector` but store.backend is `sqlite`"),
        "{e}"
    );
    let e = Config::load(None, env(&[("SOMMELIER__VECTORS__INDEX", "faiss")]), &[]).unwrap_err();
    assert!(e.to_string().contains("memory"), "{e}");
    let c = Config::load(
        None,
        env(&[
            ("SOMMELIER__STORE__BACKEND", "postgres"),
            (
                "SOMMELIER__STORE__URL",
                "postgres://shop:p4ss@db.internal:5433/reco",
            ),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(c.store_location(), "postgres://shop@db.internal:5433/reco");
    let mut kv = c.clone();
    kv.store.url = "host=db user=shop password=p4ss dbname=reco".into();
    assert_eq!(kv.store_location(), "host=db user=shop dbname=reco");
}

#[test]
fn a_source_can_propose_fewer_candidates_than_per_source() {
    use sommelier_recall::Source;
    let c = Config::load(
        None,
        env(&[
            ("SOMMELIER__FUSION__PER_SOURCE", "80"),
            ("SOMMELIER__FUSION__CANDIDATES__COLLABORATIVE", "30"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(c.fusion.limit(Source::Collaborative), 30);
    assert_eq!(c.fusion.limit(Source::Sequential), 80);
    // Naming one source keeps the others' built-in lengths.
    assert_eq!(c.fusion.limit(Source::UserProfile), 50);
    let d = Config::default().fusion;
    for (source, n) in DEFAULT_CANDIDATES {
        assert_eq!(d.limit(source), n, "{source}");
    }
    assert_eq!(d.limit(Source::UserProfile), 50);
    assert_eq!(d.limit(Source::Collaborative), 50);
    assert_eq!(d.limit(Source::Sequential), 100);
    assert_eq!(d.limit(Source::Semantic), 100);
    // The built-in length never exceeds per_source; a named one is kept.
    let c = Config::load(
        None,
        env(&[
            ("SOMMELIER__FUSION__PER_SOURCE", "20"),
            ("SOMMELIER__FUSION__CANDIDATES__SEQUENTIAL", "40"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(c.fusion.limit(Source::UserProfile), 20);
    assert_eq!(c.fusion.limit(Source::Collaborative), 20);
    assert_eq!(c.fusion.limit(Source::Sequential), 40);
    let c = Config::load(
        None,
        env(&[("SOMMELIER__FUSION__CANDIDATES__USER_PROFILE", "100")]),
        &[],
    )
    .unwrap();
    assert_eq!(c.fusion.limit(Source::UserProfile), 100);
    let e = Config::load(
        None,
        env(&[("SOMMELIER__FUSION__CANDIDATES__LEXICAL", "0")]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("fusion.candidates"), "{e}");
    let e = Config::load(
        None,
        env(&[("SOMMELIER__FUSION__CANDIDATES__NOT_A_SOURCE", "5")]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("not_a_source"), "{e}");
}

#[test]
fn experiments_in_the_file_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("e.toml");
    let experiment = |overrides: &str| {
        format!(
            "[[experiments]]\nname = \"more-popular\"\ntraffic = 0.5\n[[experiments.variants]]\nname = \"control\"\n[[experiments.variants]]\nname = \"t\"\noverrides = {{ {overrides} }}\n"
        )
    };
    std::fs::write(&file, experiment("\"fusion.popular\" = 0.25")).unwrap();
    let c = Config::load(Some(&file), Vec::new(), &[]).unwrap();
    assert_eq!(c.experiments.len(), 1);
    assert_eq!(
        c.experiments[0].variants[1].overrides["fusion.popular"],
        0.25
    );
    std::fs::write(&file, experiment("\"rerank.mmr_lambda\" = 7")).unwrap();
    let err = Config::load(Some(&file), Vec::new(), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[[experiments]]") && err.contains("mmr_lambda"),
        "{err}"
    );
}
