//! `sommelier bench ann`: recall of the HNSW index against exact search.

use crate::args::{BenchAnnArgs, Cli};
use sommelier_index::{
    ExactIndex, Filter, HnswIndex, HnswParams, ItemMeta, VectorIndexRead, VectorIndexWrite,
};
use sommelier_store::VectorRead;
use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Instant;

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

fn write_f32(path: &std::path::Path, rows: &[Vec<f32>]) -> anyhow::Result<()> {
    let bytes: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    Ok(std::fs::write(path, bytes)?)
}

pub(crate) fn run(cli: &Cli, a: &BenchAnnArgs) -> anyhow::Result<ExitCode> {
    let (base, queries): (Vec<Vec<f32>>, Vec<Vec<f32>>) = match (&a.model, a.synthetic) {
        (Some(model), _) => {
            let engine = super::open(super::config(cli, None)?)?;
            let mut base = Vec::new();
            engine
                .store()
                .scan_vectors(model, &mut |_, _, v| base.push(v.to_vec()))?;
            anyhow::ensure!(
                !base.is_empty(),
                "no stored vectors for model `{model}` (run `sommelier embed`)"
            );
            let queries = queries_near(&base, a.queries, 5);
            (base, queries)
        }
        (None, Some(n)) => {
            let base = synthetic(n, a.dim, 42, a.noise);
            let queries = queries_near(&base, a.queries, 4242);
            (base, queries)
        }
        (None, None) => anyhow::bail!("give --model NAME or --synthetic N"),
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
    println!(
        "{} vectors of dim {dim}; {} queries, k={}; HNSW M=16, ef_construction=128, built on {threads} threads",
        base.len(),
        queries.len(),
        a.k
    );
    let t = Instant::now();
    for q in &queries {
        exact.search(q, a.k, &open)?;
    }
    println!(
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
        println!(
            "  {} graph built in {build:.2}s ({:.0} inserts/s)",
            quantization.name(),
            base.len() as f64 / build
        );
        let t = Instant::now();
        if let Some(recall) = hnsw.sampled_recall(64, a.k)? {
            println!(
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
            println!(
                "  hnsw {} ef={ef:<4} recall {:.4}  {qps:>8.0} QPS (1 thread)",
                quantization.name(),
                found as f64 / total as f64
            );
        }
    }
    if let Some(dir) = &a.export {
        std::fs::create_dir_all(dir)?;
        write_f32(&dir.join("base.f32"), &base)?;
        write_f32(&dir.join("queries.f32"), &queries)?;
        let truth_idx: Vec<Vec<usize>> = truth
            .iter()
            .map(|t| t.iter().map(|id| id.parse().unwrap_or(0)).collect())
            .collect();
        std::fs::write(
            dir.join("truth.json"),
            serde_json::json!({ "dim": dim, "k": a.k, "truth": truth_idx }).to_string(),
        )?;
        println!("exported to {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
