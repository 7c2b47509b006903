//! Synthetic data: `bench gen-events` (an events file for the import
//! benchmarks) and `bench gen-catalog` (items, clustered vectors and events
//! written straight into the store, for the recommendation load benchmark).

use crate::stats::Rng;
use crate::{BenchError, Result};
use sommelier_engine::Engine;
use sommelier_store::StoreError;
use sommelier_types::{
    Event, EventContext, EventId, EventKind, Item, ItemId, ItemKind, Timestamp, UserId,
};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `bench gen-events`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenEventsOptions {
    /// Number of events.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Number of distinct users.
    #[arg(long, default_value_t = 50_000)]
    pub users: u64,
    /// Number of distinct items.
    #[arg(long, default_value_t = 20_000)]
    pub items: u64,
    /// Output file (.csv for CSV, anything else JSONL).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Options of `bench gen-catalog`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenCatalogOptions {
    /// Items.
    #[arg(long, default_value_t = 100_000)]
    pub items: u64,
    /// Vector dimension (stored under `vectors.model`).
    #[arg(long, default_value_t = 384)]
    pub dim: usize,
    /// Categories (vector clusters).
    #[arg(long, default_value_t = 200)]
    pub clusters: u64,
    /// Events.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Users.
    #[arg(long, default_value_t = 50_000)]
    pub users: u64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Writes a synthetic events file (Zipf-like item popularity, a mix of event
/// kinds over 30 days) to `a.out`: CSV when its extension is `.csv`, JSONL
/// otherwise.
pub fn gen_events(a: &GenEventsOptions, out: &mut dyn Write) -> Result<()> {
    if a.users == 0 || a.items == 0 {
        return Err(BenchError::Options(
            "--users and --items must be positive".into(),
        ));
    }
    let csv = a.out.extension().is_some_and(|e| e == "csv");
    let file = std::fs::File::create(&a.out).map_err(BenchError::io("creating", &a.out))?;
    let mut file = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng(a.seed);
    let start: i64 = 1_700_000_000;
    let span = 30 * 24 * 3600;
    let written = BenchError::io("writing", &a.out);
    let mut write = || -> std::io::Result<()> {
        if csv {
            writeln!(file, "id,user,item,kind,value,timestamp")?;
        }
        for i in 0..a.events {
            let user = rng.next() % a.users;
            // Skewed popularity: a few items get most events.
            let item = ((a.items as f64) * rng.unit().powf(3.0)) as u64;
            let r = rng.unit();
            let (kind, value) = match r {
                r if r < 0.55 => ("view", None),
                r if r < 0.75 => ("click", None),
                r if r < 0.80 => ("add_to_cart", None),
                r if r < 0.83 => ("purchase", None),
                r if r < 0.95 => ("rating", Some(1.0 + (rng.next() % 9) as f64 * 0.5)),
                r if r < 0.98 => ("like", None),
                _ => ("dwell", Some((rng.next() % 600) as f64)),
            };
            let ts = start + (i as i64 * span / a.events as i64);
            if csv {
                let v = value.map(|v| v.to_string()).unwrap_or_default();
                writeln!(file, "e{i},u{user},i{item},{kind},{v},{ts}")?;
            } else {
                match value {
                    Some(v) => writeln!(
                        file,
                        r#"{{"id":"e{i}","user":"u{user}","item":"i{item}","kind":"{kind}","value":{v},"timestamp":{ts}}}"#
                    )?,
                    None => writeln!(
                        file,
                        r#"{{"id":"e{i}","user":"u{user}","item":"i{item}","kind":"{kind}","timestamp":{ts}}}"#
                    )?,
                }
            }
        }
        file.flush()
    };
    write().map_err(written)?;
    say!(out, "wrote {} events to {}", a.events, a.out.display());
    Ok(())
}

/// Writes a synthetic catalog straight into the store: items in `clusters`
/// categories with unit vectors scattered around their cluster's centre, and
/// events from users who each favour a few clusters (so the collaborative and
/// sequential models have structure to find), with skewed item popularity.
pub fn gen_catalog(engine: &Engine, a: &GenCatalogOptions, out: &mut dyn Write) -> Result<()> {
    if a.items == 0 || a.users == 0 || a.clusters == 0 || a.dim == 0 {
        return Err(BenchError::Options("sizes must be positive".into()));
    }
    let started = Instant::now();
    let mut rng = Rng(a.seed);
    let model = engine.config().vectors.model.clone();
    let gauss = |rng: &mut Rng| {
        // Box–Muller.
        let u1 = rng.unit().max(1e-12);
        let u2 = rng.unit();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let centres: Vec<Vec<f32>> = (0..a.clusters)
        .map(|_| unit((0..a.dim).map(|_| gauss(&mut rng)).collect()))
        .collect();
    let now = Timestamp::now();
    let chunk = 20_000u64;
    let mut done = 0u64;
    while done < a.items {
        let end = (done + chunk).min(a.items);
        let mut batch = Vec::with_capacity((end - done) as usize);
        for i in done..end {
            let c = (i % a.clusters) as usize;
            let v: Vec<f32> = centres[c]
                .iter()
                .map(|x| x + 0.6 * gauss(&mut rng) / (a.dim as f32).sqrt())
                .collect();
            let item = Item {
                id: ItemId::new(format!("i{i}"))?,
                kind: ItemKind::generic(),
                title: format!("Item {i}"),
                description: None,
                categories: vec![format!("c{c}")],
                tags: Vec::new(),
                attributes: Default::default(),
                price: None,
                availability: Default::default(),
                release_date: None,
                created_at: Timestamp(now.0 - 86_400_000 * 365),
                updated_at: now,
            };
            batch.push((item, unit(v)));
        }
        engine.store().write(|w| {
            for (item, v) in &batch {
                w.upsert_item(item)?;
                w.put_vector(item.id.as_str(), &model, "synthetic", v)?;
            }
            Ok::<_, StoreError>(())
        })?;
        done = end;
    }
    let items_secs = started.elapsed().as_secs_f64();
    // Events: each user favours 3 clusters; within a cluster, popularity is skewed.
    let per_cluster = a.items.div_ceil(a.clusters);
    let t0: i64 = now.0 - 86_400_000 * 30;
    let span = 86_400_000 * 30;
    let mut written = 0u64;
    while written < a.events {
        let end = (written + 50_000).min(a.events);
        let mut batch = Vec::with_capacity((end - written) as usize);
        for e in written..end {
            let user = rng.next() % a.users;
            let favourite = (user * 7 + rng.next() % 3) % a.clusters;
            let rank = ((per_cluster as f64) * rng.unit().powf(3.0)) as u64;
            let item = (rank * a.clusters + favourite).min(a.items - 1);
            let kind = if rng.unit() < 0.7 {
                EventKind::View
            } else {
                EventKind::Click
            };
            batch.push(Event {
                id: EventId::new(format!("g{e}"))?,
                user: UserId::new(format!("u{user}"))?,
                item: ItemId::new(format!("i{item}"))?,
                kind,
                value: None,
                timestamp: Timestamp(t0 + (e as i64 * span / a.events as i64)),
                context: EventContext::default(),
            });
        }
        engine.store().write(|w| {
            for part in batch.chunks(5_000) {
                w.append_events(&part.iter().collect::<Vec<_>>())?;
            }
            Ok::<_, StoreError>(())
        })?;
        written = end;
    }
    say!(
        out,
        "{} items with {}-d vectors in {items_secs:.1} s, {} events from {} users in {:.1} s",
        a.items,
        a.dim,
        a.events,
        a.users,
        started.elapsed().as_secs_f64() - items_secs
    );
    Ok(())
}

/// `v` scaled to length 1.
fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(out: PathBuf) -> GenEventsOptions {
        GenEventsOptions {
            events: 500,
            users: 20,
            items: 50,
            out,
            seed: 42,
        }
    }

    #[test]
    fn gen_events_writes_csv_with_a_header_and_jsonl_without() {
        let dir = tempfile::tempdir().unwrap();
        for (name, lines) in [("e.csv", 501), ("e.jsonl", 500)] {
            let a = options(dir.path().join(name));
            let mut said = Vec::new();
            gen_events(&a, &mut said).unwrap();
            let text = std::fs::read_to_string(&a.out).unwrap();
            assert_eq!(text.lines().count(), lines, "{name}");
            assert_eq!(
                String::from_utf8(said).unwrap(),
                format!("wrote 500 events to {}\n", a.out.display())
            );
        }
        let csv = std::fs::read_to_string(dir.path().join("e.csv")).unwrap();
        assert!(csv.starts_with("id,user,item,kind,value,timestamp\ne0,u"));
        let jsonl = std::fs::read_to_string(dir.path().join("e.jsonl")).unwrap();
        for line in jsonl.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["user"].as_str().unwrap().starts_with('u'));
        }
    }

    #[test]
    fn gen_events_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            options(dir.path().join("a.jsonl")),
            options(dir.path().join("b.jsonl")),
        );
        gen_events(&a, &mut std::io::sink()).unwrap();
        gen_events(&b, &mut std::io::sink()).unwrap();
        assert_eq!(
            std::fs::read(&a.out).unwrap(),
            std::fs::read(&b.out).unwrap()
        );
    }

    #[test]
    fn bad_options_and_paths_say_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = options(dir.path().join("e.csv"));
        a.users = 0;
        let e = gen_events(&a, &mut std::io::sink()).unwrap_err();
        assert_eq!(e.to_string(), "--users and --items must be positive");
        let a = options(dir.path().join("missing").join("e.csv"));
        let e = gen_events(&a, &mut std::io::sink()).unwrap_err();
        assert!(
            matches!(
                e,
                BenchError::Io {
                    action: "creating",
                    ..
                }
            ),
            "{e}"
        );
    }
}
