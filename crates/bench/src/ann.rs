//! Approximate nearest-neighbour search against exact search: `bench ann`
//! (the HNSW vector index: recall@k, single-thread QPS, build time) and
//! `bench als-graph` (the fitted iALS model's graph against its exact scan).

use crate::{BenchError, Result};
use sommelier_engine::{Config, Engine};
use sommelier_index::{
    ExactIndex, Filter, HnswIndex, HnswParams, ItemMeta, Quantization, VectorIndexRead,
    VectorIndexWrite,
};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `bench ann`.
#[derive(Debug, Clone, clap::Args)]
pub struct AnnOptions {
    /// Use the stored vectors of this embedding model (run `sommelier embed` first).
    #[arg(long, conflicts_with = "synthetic")]
    pub model: Option<String>,
    /// Use this many synthetic clustered unit vectors instead.
    #[arg(long)]
    pub synthetic: Option<usize>,
    /// Dimension of synthetic vectors.
    #[arg(long, default_value_t = 384)]
    pub dim: usize,
    /// Noise around the 1,000 cluster centres of synthetic vectors (0.6 is
    /// nearly uniform, 0.2 embedding-like).
    #[arg(long, default_value_t = 0.2)]
    pub noise: f32,
    /// Number of queries (taken from the vectors, or synthetic).
    #[arg(long, default_value_t = 500)]
    pub queries: usize,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Search candidate list sizes to try.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    pub ef: Vec<usize>,
    /// How the graph stores vectors: f32, f16 or i8 (several: one graph each).
    #[arg(long, value_delimiter = ',', default_value = "f32")]
    pub quantization: Vec<Quantization>,
    /// Write base.f32, queries.f32 and truth.json here for bench/ann/hnswlib_compare.py.
    #[arg(long)]
    pub export: Option<PathBuf>,
}

/// Options of `bench als-graph`.
#[derive(Debug, Clone, clap::Args)]
pub struct AlsGraphOptions {
    /// Users of the log whose histories are the queries (spread evenly).
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Search breadths (`ef`) to try.
    #[arg(long, value_delimiter = ',', default_value = "64,128,256,512")]
    pub ef: Vec<usize>,
}

/// Measures HNSW recall@k against exact search, single-thread QPS per
/// search breadth and build time per quantization, on the stored vectors of
/// `a.model` (the store `config` names is opened only then) or on
/// `a.synthetic` clustered vectors; optionally exports the vectors and the
/// exact neighbours for the hnswlib comparison script.
pub fn ann(config: &Config, a: &AnnOptions, out: &mut dyn Write) -> Result<()> {
    let (base, queries): (Vec<Vec<f32>>, Vec<Vec<f32>>) = match (&a.model, a.synthetic) {
        (Some(model), _) => {
            let engine = crate::open(config)?;
            let mut base = Vec::new();
            engine
                .store()
                .scan_vectors(model, &mut |_, _, v| base.push(v.to_vec()))?;
            if base.is_empty() {
                return Err(BenchError::Missing(format!(
                    "no stored vectors for model `{model}` (run `sommelier embed`)"
                )));
            }
            let queries = queries_near(&base, a.queries, 5);
            (base, queries)
        }
        (None, Some(n)) => {
            let base = synthetic(n, a.dim, 42, a.noise);
            let queries = queries_near(&base, a.queries, 4242);
            (base, queries)
        }
        (None, None) => {
            return Err(BenchError::Options(
                "give --model NAME or --synthetic N".into(),
            ));
        }
    };
    let dim = base[0].len();
    let ids: Vec<String> = (0..base.len()).map(|i| i.to_string()).collect();
    let meta = ItemMeta {
        available: true,
        ..ItemMeta::default()
    };

    let batch: Vec<(&str, &[f32], &ItemMeta)> = ids
        .iter()
        .zip(&base)
        .map(|(id, v)| (id.as_str(), v.as_slice(), &meta))
        .collect();
    let mut exact = ExactIndex::new(dim);
    for (id, v, m) in &batch {
        exact.upsert(id, v, m)?;
    }
    let open = Filter::default();
    let truth: Vec<Vec<String>> = queries
        .iter()
        .map(|q| {
            exact
                .search(q, a.k, &open)
                .map(|h| h.into_iter().map(|h| h.id).collect())
        })
        .collect::<Result<_, _>>()?;
    let threads = HnswParams::default().threads;
    say!(
        out,
        "{} vectors of dim {dim}; {} queries, k={}; HNSW M=16, ef_construction=128, built on {threads} threads",
        base.len(),
        queries.len(),
        a.k
    );
    let t = Instant::now();
    for q in &queries {
        exact.search(q, a.k, &open)?;
    }
    say!(
        out,
        "  exact          recall 1.0000  {:>8.0} QPS (1 thread)",
        queries.len() as f64 / t.elapsed().as_secs_f64()
    );
    for &quantization in &a.quantization {
        let started = Instant::now();
        let params = HnswParams {
            quantization,
            ..HnswParams::default()
        };
        let mut hnsw = HnswIndex::new(dim, params)?;
        hnsw.upsert_many(&batch)?;
        let build = started.elapsed().as_secs_f64();
        say!(
            out,
            "  {} graph built in {build:.2}s ({:.0} inserts/s)",
            quantization.name(),
            base.len() as f64 / build
        );
        let t = Instant::now();
        if let Some(recall) = hnsw.sampled_recall(64, a.k)? {
            say!(
                out,
                "  {} graph's own recall check (what vectors.quantization = auto keeps i8 on, ≥ 0.95): {recall:.4} in {:.2}s",
                quantization.name(),
                t.elapsed().as_secs_f64()
            );
        }
        for &ef in &a.ef {
            hnsw.set_expansion_search(ef);
            let t = Instant::now();
            let results: Vec<_> = queries
                .iter()
                .map(|q| hnsw.search(q, a.k, &open))
                .collect::<Result<_, _>>()?;
            let qps = queries.len() as f64 / t.elapsed().as_secs_f64();
            let found: usize = results
                .iter()
                .zip(&truth)
                .map(|(r, t)| {
                    let t: HashSet<&String> = t.iter().collect();
                    r.iter().filter(|h| t.contains(&h.id)).count()
                })
                .sum();
            let total: usize = truth.iter().map(Vec::len).sum();
            say!(
                out,
                "  hnsw {} ef={ef:<4} recall {:.4}  {qps:>8.0} QPS (1 thread)",
                quantization.name(),
                found as f64 / total as f64
            );
        }
    }
    if let Some(dir) = &a.export {
        std::fs::create_dir_all(dir).map_err(BenchError::io("creating", dir))?;
        write_f32(&dir.join("base.f32"), &base)?;
        write_f32(&dir.join("queries.f32"), &queries)?;
        let truth_idx: Vec<Vec<usize>> = truth
            .iter()
            .map(|t| t.iter().map(|id| id.parse().unwrap_or(0)).collect())
            .collect();
        let path = dir.join("truth.json");
        std::fs::write(
            &path,
            serde_json::json!({ "dim": dim, "k": a.k, "truth": truth_idx }).to_string(),
        )
        .map_err(BenchError::io("writing", &path))?;
        say!(out, "exported to {}", dir.display());
    }
    Ok(())
}

/// Checks the fitted iALS model's graph against the exact scan: for each
/// search breadth, the share of the exact scan's items the graph finds and
/// the search time.
pub fn als_graph(engine: &Engine, a: &AlsGraphOptions, out: &mut dyn Write) -> Result<()> {
    let trials = engine.check_als_graph(a.users, &a.ef)?;
    if trials.is_empty() {
        say!(
            out,
            "the fitted iALS model has no graph (small models are scanned)"
        );
        return Ok(());
    }
    say!(out, "ef\trecall\tsearch µs (1 thread)");
    for t in trials {
        say!(out, "{}\t{:.4}\t{:.0}", t.ef, t.recall, t.search_us);
    }
    Ok(())
}

/// Clustered unit vectors (xorshift, deterministic): 1,000 centres with noise.
/// `noise` 0.6 is close to uniform (hard for any ANN); 0.2 has embedding-like
/// cluster structure.
fn synthetic(n: usize, dim: usize, seed: u64, noise: f32) -> Vec<Vec<f32>> {
    let mut s = seed | 1;
    let mut unit = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..1000)
        .map(|_| (0..dim).map(|_| unit()).collect())
        .collect();
    (0..n)
        .map(|i| {
            let mut v: Vec<f32> = centres[i % 1000]
                .iter()
                .map(|c| c + noise * unit())
                .collect();
            sommelier_embed::normalize(&mut v);
            v
        })
        .collect()
}

/// Queries: `n` evenly spaced base vectors moved slightly, so a query comes
/// from the data's distribution but is not simply its own nearest neighbour.
fn queries_near(base: &[Vec<f32>], n: usize, seed: u64) -> Vec<Vec<f32>> {
    let step = (base.len() / n.max(1)).max(1);
    let jitter = synthetic(n, base[0].len(), seed, 0.6);
    base.iter()
        .step_by(step)
        .zip(&jitter)
        .map(|(v, e)| {
            let mut q: Vec<f32> = v.iter().zip(e).map(|(x, d)| x + 0.05 * d).collect();
            sommelier_embed::normalize(&mut q);
            q
        })
        .take(n)
        .collect()
}

/// Writes `rows` as little-endian f32s, row after row.
fn write_f32(path: &Path, rows: &[Vec<f32>]) -> Result<()> {
    let bytes: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    std::fs::write(path, bytes).map_err(BenchError::io("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_vectors_are_unit_and_reproducible() {
        let a = synthetic(50, 16, 42, 0.2);
        assert_eq!(a, synthetic(50, 16, 42, 0.2));
        for v in &a {
            assert_eq!(v.len(), 16);
            let n: f32 = v.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4);
        }
        let q = queries_near(&a, 10, 7);
        assert_eq!(q.len(), 10);
    }

    #[test]
    fn synthetic_run_finds_its_neighbours_and_exports() {
        let dir = tempfile::tempdir().unwrap();
        let a = AnnOptions {
            model: None,
            synthetic: Some(2000),
            dim: 16,
            noise: 0.2,
            queries: 20,
            k: 5,
            ef: vec![64],
            quantization: vec![Quantization::F32],
            export: Some(dir.path().join("export")),
        };
        let mut said = Vec::new();
        ann(&Config::default(), &a, &mut said).unwrap();
        let said = String::from_utf8(said).unwrap();
        assert!(
            said.starts_with("2000 vectors of dim 16; 20 queries, k=5;"),
            "{said}"
        );
        assert!(said.contains("hnsw f32 ef=64"), "{said}");
        let base = std::fs::read(dir.path().join("export/base.f32")).unwrap();
        assert_eq!(base.len(), 2000 * 16 * 4);
        let truth: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("export/truth.json")).unwrap())
                .unwrap();
        assert_eq!(truth["truth"].as_array().unwrap().len(), 20);
    }

    #[test]
    fn neither_model_nor_synthetic_is_an_options_error() {
        let a = AnnOptions {
            model: None,
            synthetic: None,
            dim: 16,
            noise: 0.2,
            queries: 20,
            k: 5,
            ef: vec![64],
            quantization: vec![Quantization::F32],
            export: None,
        };
        let e = ann(&Config::default(), &a, &mut std::io::sink()).unwrap_err();
        assert_eq!(e.to_string(), "give --model NAME or --synthetic N");
    }
}
