//! `bench gen-catalog` and `bench http-recommend`: the synthetic catalog and the
//! load generator of the recommendation benchmark (docs/benchmarks.md).

use crate::args::{GenCatalogArgs, HttpRecommendArgs};
use sommelier_engine::Engine;
use sommelier_store::{CatalogWrite, EventWrite, VectorWrite};
use sommelier_types::{
    Event, EventContext, EventId, EventKind, Item, ItemId, ItemKind, Timestamp, UserId,
};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::bench::{Rng, agent, post_json, quantile};

/// Writes a synthetic catalog straight into the store: items in `clusters`
/// categories with unit vectors scattered around their cluster's centre, and
/// events from users who each favour a few clusters (so the collaborative and
/// sequential models have structure to find), with skewed item popularity.
pub(crate) fn gen_catalog(engine: &Engine, a: &GenCatalogArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.items > 0 && a.users > 0 && a.clusters > 0 && a.dim > 0,
        "sizes must be positive"
    );
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
            Ok::<_, sommelier_store::StoreError>(())
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
            for ev in &batch {
                w.append_event(ev)?;
            }
            Ok::<_, sommelier_store::StoreError>(())
        })?;
        written = end;
    }
    println!(
        "{} items with {}-d vectors in {items_secs:.1} s, {} events from {} users in {:.1} s",
        a.items,
        a.dim,
        a.events,
        a.users,
        started.elapsed().as_secs_f64() - items_secs
    );
    Ok(ExitCode::SUCCESS)
}

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

/// Closed-loop load: `connections` clients each send `POST /v1/recommend` for
/// random users back to back for `seconds`, and the run reports throughput
/// and latency percentiles.
pub(crate) fn http_recommend(a: &HttpRecommendArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.connections > 0 && a.users > 0 && a.seconds > 0.0,
        "sizes must be positive"
    );
    let url = format!("{}/v1/recommend", a.url.trim_end_matches('/'));
    let stop = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::new());
    // Warm-up: the first request builds the vector index and loads models.
    let warm = agent(Duration::from_secs(600));
    anyhow::ensure!(
        post_json(&warm, &url, r#"{"user_id":"u1"}"#),
        "the warm-up request to {url} failed"
    );
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..a.connections {
            let (stop, failures, latencies, url) = (&stop, &failures, &latencies, &url);
            s.spawn(move || {
                let agent = agent(Duration::from_secs(30));
                let mut rng = Rng(a.seed + c as u64);
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let user = rng.next() % a.users;
                    let body = format!(r#"{{"user_id":"u{user}","k":{}}}"#, a.k);
                    let t = Instant::now();
                    if !post_json(&agent, url, &body) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    mine.push(t.elapsed());
                }
                latencies.lock().expect("no panics while held").extend(mine);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(a.seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let secs = started.elapsed().as_secs_f64();
    let mut lat = latencies.into_inner().expect("threads joined");
    lat.sort();
    let pct = |p: f64| quantile(&lat, p).as_secs_f64() * 1e3;
    println!(
        "{} requests over {} connections in {secs:.1} s: {:.0} req/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} failed",
        lat.len(),
        a.connections,
        lat.len() as f64 / secs,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0),
        failures.load(Ordering::Relaxed)
    );
    Ok(if failures.load(Ordering::Relaxed) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
