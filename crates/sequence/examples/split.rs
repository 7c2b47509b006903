//! Fits the model on a `sommelier eval` split folder (train.csv, test.csv,
//! items.csv, tied.csv) and scores its test users: NDCG@10 and HR@10 over
//! the full catalog, training items masked, for all and for untied users.
//!
//!     cargo run --release -p sommelier-sequence --example split -- SPLIT_DIR [key=value ...]
//!
//! Keys are the fields of `SasRecParams` (hidden, blocks, maxlen, dropout,
//! lr, batch, max_epochs, patience, max_seconds, seed).

use sommelier_sequence::{SasRecParams, fit};
use std::collections::{BTreeMap, HashMap, HashSet};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::path::PathBuf::from(&args[0]);
    let mut p = serde_json::to_value(SasRecParams::default()).unwrap();
    for kv in &args[1..] {
        let (k, v) = kv.split_once('=').expect("key=value");
        p[k] = serde_json::from_str(v).unwrap_or(serde_json::Value::String(v.into()));
    }
    let p: SasRecParams = serde_json::from_value(p).unwrap();
    let read = |name: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let items: Vec<String> = read("items.csv")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let index: HashMap<&str, u32> = items
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect();
    let mut seqs: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for r in read("train.csv") {
        let s = seqs.entry(r[0].clone()).or_default();
        let i = index[r[1].as_str()];
        s.retain(|x| *x != i);
        s.push(i);
    }
    let test: Vec<(String, String)> = read("test.csv")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let tied: HashSet<String> = read("tied.csv").into_iter().map(|r| r[0].clone()).collect();
    let users: Vec<&String> = seqs.keys().collect();
    let sequences: Vec<Vec<u32>> = users.iter().map(|u| seqs[*u].clone()).collect();
    let (model, report) = fit(&sequences, &items, &p).unwrap();
    eprintln!("{}", serde_json::to_string(&report).unwrap());
    let (mut n, mut nd, mut hr, mut un, mut und) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let t = std::time::Instant::now();
    for (u, target) in &test {
        let Some(s) = seqs.get(u) else { continue };
        let hist: Vec<&str> = s.iter().map(|i| items[*i as usize].as_str()).collect();
        let top = model.top(&hist, 10).unwrap();
        let g = top
            .iter()
            .position(|(i, _)| i == target)
            .map_or(0.0, |r| 1.0 / (r as f64 + 2.0).log2());
        n += 1.0;
        nd += g;
        hr += if g > 0.0 { 1.0 } else { 0.0 };
        if !tied.contains(u) {
            un += 1.0;
            und += g;
        }
    }
    println!(
        "users {n} NDCG@10 {:.4} HR@10 {:.4} untied {un} NDCG@10 {:.4}; {:.3} ms per user; params {}",
        nd / n,
        hr / n,
        und / un,
        t.elapsed().as_secs_f64() * 1e3 / n,
        serde_json::to_string(&p).unwrap()
    );
}
