//! A chat turn through the real local model (SmolLM2) when
//! `SOMMELIER_TEST_LLM_DIR` is set (scripts/test sets it). A binary of its
//! own: the turn has deadlines, and the engine's other tests running beside
//! it on the same two cores would only measure the contention.

// The set-up the engine's other tests share; this binary uses part of it.
#[path = "it/support.rs"]
#[allow(dead_code)]
mod support;

use sommelier_engine::Engine;
use sommelier_llm::{LlmConfig, ProviderConfig};
use std::path::PathBuf;
use support::{chat_engine as engine, say};

fn item(e: &Engine, id: &str) -> sommelier_types::Item {
    e.item(&sommelier_types::ItemId::new(id).unwrap())
        .unwrap()
        .unwrap()
        .item
}

fn local(dir: PathBuf) -> LlmConfig {
    LlmConfig {
        small: ProviderConfig::Local {
            path: dir,
            threads: 2,
            workers: 1,
            context: 2048,
            batch: 512,
        },
        missing_model_is_off: false,
        model_intent: sommelier_llm::ModelIntent::Always,
        intent_deadline_ms: 60_000,
        rerank_deadline_ms: 60_000,
        turn_deadline_ms: 120_000,
        ..LlmConfig::default()
    }
}

fn llm_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SOMMELIER_TEST_LLM_DIR").map(PathBuf::from);
    if dir.is_none() {
        eprintln!("SOMMELIER_TEST_LLM_DIR is not set: skipping (scripts/test sets it)");
    }
    dir
}

#[test]
fn a_turn_through_the_local_model_stays_inside_the_candidates() {
    let Some(dir) = llm_dir() else { return };
    let (_d, e) = engine(local(dir));
    let r = say(
        &e,
        None,
        Some("15"),
        "funny animated films for the whole family",
    );
    let rerank = r.llm.rerank.as_ref().unwrap();
    assert!(rerank.model.starts_with("local:SmolLM2"), "{rerank:?}");
    assert_eq!(rerank.prompt_version, "rerank-v2");
    assert_eq!(r.llm.intent.as_ref().unwrap().prompt_version, "intent-v2");
    assert!(
        r.llm.intent.as_ref().unwrap().used,
        "constrained decoding always parses: {:?}",
        r.llm.intent
    );
    // Whatever the model wrote, every item is an available catalog item
    // that passes the request's filters.
    assert!(!r.items.is_empty());
    for i in &r.items {
        let it = item(&e, &i.item);
        assert!(it.is_available());
        let wanted = &r.intent.as_ref().unwrap().categories;
        assert!(
            i.categories.iter().any(|c| wanted.contains(c)),
            "{i:?} {wanted:?}"
        );
        assert!(!i.why.is_empty());
    }
    match &r.fallback {
        None => assert!(r.items.iter().any(|i| i.why_source == "llm")),
        Some(reason) => assert!(
            r.items.iter().all(|i| i.why_source == "signals"),
            "{reason}"
        ),
    }
    let metrics = e.render_metrics().unwrap();
    assert!(
        metrics.contains("sommelier_llm_stage_total{stage=\"rerank\""),
        "{metrics}"
    );
    assert!(metrics.contains("sommelier_llm_cache_hit_ratio"));
    assert!(metrics.contains("sommelier_chat_stage_latency_seconds_count{stage=\"total\"} 1"));
}

/// A streamed turn whose reader goes away after the model's first piece
/// stops generating there: the re-rank falls back as `cancelled`, and the
/// turn still ends with the classical answer.
#[test]
fn a_stream_whose_reader_went_away_stops_generating() {
    let Some(dir) = llm_dir() else { return };
    let (_d, e) = engine(local(dir));
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tokens = 0;
    let flag = gone.clone();
    let req = sommelier_engine::ChatRequest {
        session_id: None,
        user_id: Some("15".into()),
        message: "funny animated films for the whole family".into(),
        channel: sommelier_engine::Channel::Chat,
        k: Some(5),
        context: Default::default(),
        at: None,
    };
    let r = e
        .chat_streaming_until(
            &req,
            &mut |ev| {
                if matches!(ev, sommelier_engine::ChatEvent::Token { .. }) {
                    tokens += 1;
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            },
            gone,
        )
        .unwrap();
    let rerank = r.llm.rerank.as_ref().unwrap();
    assert_eq!(rerank.fallback.as_deref(), Some("cancelled"), "{rerank:?}");
    assert!(tokens <= 1, "{tokens} pieces after the reader left");
    assert!(!r.items.is_empty() && r.items.iter().all(|i| i.why_source == "signals"));
}

/// A copy of the fetched model folder in `to`, with `damage` applied.
fn copy_model(from: &std::path::Path, to: &std::path::Path, damage: impl FnOnce(&std::path::Path)) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    damage(to);
}

/// A GGUF with 4 KiB of other bytes in its middle, and a folder nobody can
/// vouch for: neither reaches llama.cpp. By default chat goes classical and
/// says so; with `missing_model_is_off = false` the LLM layer refuses to load,
/// naming the file.
#[test]
fn a_damaged_or_unverified_gguf_never_reaches_llama_cpp() {
    let Some(dir) = llm_dir() else { return };
    assert!(
        dir.join(sommelier_datasets::MANIFEST).is_file(),
        "fetch the test model again: `sommelier models fetch smollm2-135m-instruct` writes its manifest"
    );
    let tmp = tempfile::tempdir().unwrap();
    let damaged = tmp.path().join("damaged");
    copy_model(&dir, &damaged, |d| {
        let gguf = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "gguf"))
            .unwrap();
        let mut bytes = std::fs::read(&gguf).unwrap();
        let mid = bytes.len() / 2;
        for (i, b) in bytes[mid..mid + 4096].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        std::fs::write(&gguf, bytes).unwrap();
    });
    let unverified = tmp.path().join("unverified");
    copy_model(&dir, &unverified, |d| {
        std::fs::remove_file(d.join(sommelier_datasets::MANIFEST)).unwrap();
    });
    for folder in [&damaged, &unverified] {
        let mut cfg = local(folder.clone());
        // The default: classical mode, the turn still answers.
        cfg.missing_model_is_off = true;
        let (_d, e) = engine(cfg.clone());
        let llm = e.llm().unwrap();
        assert_eq!(llm.small().model_id(), "off", "{}", folder.display());
        let r = say(&e, None, None, "funny animated films");
        assert!(!r.items.is_empty());
        // Strict: the layer refuses, naming what is wrong.
        cfg.missing_model_is_off = false;
        let (_d, e) = engine(cfg.clone());
        let err = e.llm().unwrap_err().to_string();
        assert!(
            err.contains("sha256") && err.contains(".gguf") || err.contains("unverified"),
            "{err}"
        );
    }
    // An operator who vouches for their own folder may load it.
    let mut cfg = local(unverified);
    cfg.allow_unverified_model = true;
    let (_d, e) = engine(cfg);
    assert!(e.llm().unwrap().small().model_id().starts_with("local:"));
}

#[test]
fn an_experiment_variant_answers_with_its_own_model_and_prompts() {
    let Some(dir) = llm_dir() else { return };
    // The engine has no model; the variant has SmolLM2 and its own
    // re-rank prompt.
    let mut base = local(dir.clone());
    base.small = ProviderConfig::Off;
    let (d, e) = engine(base);
    let prompts = d.path().join("variant-prompts");
    std::fs::create_dir(&prompts).unwrap();
    let builtin = std::path::Path::new(
        &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("../llm/prompts");
    let text = std::fs::read_to_string(builtin.join("rerank.v2.txt")).unwrap();
    let (_, rest) = text.split_once('\n').unwrap();
    std::fs::write(
        prompts.join("rerank.v2.txt"),
        format!("version: rerank-v2-variant\n{rest}"),
    )
    .unwrap();
    let experiment = serde_json::json!({
        "name": "with-model", "traffic": 1.0, "unit": "session", "surfaces": ["chat"],
        "variants": [{"name": "control"},
                     {"name": "smollm", "overrides": {
                         "llm.small": serde_json::to_value(local(dir).small).unwrap(),
                         "llm.prompts_dir": prompts}}]
    });
    e.put_experiment(serde_json::from_value(experiment).unwrap())
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let r = say(&e, None, None, "funny animated films for the whole family");
        let variant = r.experiments[0].variant.clone();
        let rerank = r.llm.rerank.as_ref().unwrap();
        if variant == "smollm" {
            assert!(rerank.model.starts_with("local:SmolLM2"), "{rerank:?}");
            assert_eq!(rerank.prompt_version, "rerank-v2-variant");
            // The model was asked (its picks may still fail the gate).
            assert_ne!(rerank.fallback.as_deref(), Some("off"), "{rerank:?}");
        } else {
            assert_eq!(rerank.model, "off", "{rerank:?}");
            assert_eq!(rerank.prompt_version, "rerank-v1");
        }
        seen.insert(variant);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}
