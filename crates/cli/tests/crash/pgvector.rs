//! A replica that searches the catalog's vectors inside PostgreSQL
//! (`vectors.index = "pgvector"`) beside one that searches them in memory,
//! over the same database: they find the same similar items and both
//! recommend; an item deleted through the other replica leaves its
//! answers. Needs the server `scripts/test` starts.

use crate::replicas::{Cluster, database};
use crate::{agent, catalog_ready, get_json, key_with, post_json, start_with};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The ids `/v1/items/{item}/similar` answers on `url`.
fn similar(url: &str, auth: &str, item: &str, query: &str) -> Vec<String> {
    get_json(url, &format!("/v1/items/{item}/similar?k=10{query}"), auth)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_replica_searching_vectors_in_postgres_answers_like_one_searching_in_memory() {
    let Ok(server) = std::env::var("SOMMELIER_TEST_POSTGRES_URL") else {
        eprintln!("SOMMELIER_TEST_POSTGRES_URL is not set: skipping (scripts/test sets it)");
        return;
    };
    let url = database(&server, "pgvector_replicas");
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster {
        env: vec![
            ("SOMMELIER__STORE__BACKEND", "postgres".into()),
            ("SOMMELIER__STORE__URL", url.clone()),
            (
                "SOMMELIER__MODELS__DIR",
                dir.path().join("fitted").display().to_string(),
            ),
            ("SOMMELIER__MODELS__REFIT_INTERVAL_SECS", "0".into()),
            ("SOMMELIER__SERVER__TAIL_INTERVAL_SECS", "0.2".into()),
        ],
    };
    let (memory_dir, database_dir) = (dir.path().join("memory"), dir.path().join("database"));
    cluster.run(
        &memory_dir,
        &[
            "bench",
            "gen-catalog",
            "--items",
            "3000",
            "--events",
            "20000",
            "--users",
            "300",
            "--clusters",
            "8",
            "--dim",
            "16",
        ],
    );
    // No fit: similar items are the vectors' nearest alone (a fit's
    // co-occurrence would outweigh them on this catalog).
    let auth = key_with(&memory_dir, &cluster.env());
    let (mut memory, memory_url) = cluster.start(&memory_dir);
    let mut env = cluster.env();
    env.push(("SOMMELIER__VECTORS__INDEX", "pgvector"));
    let (mut in_db, db_url) = start_with(&database_dir, &env);

    let dashboard = catalog_ready(&db_url, &auth);
    assert_eq!(dashboard["index"]["backend"], "pgvector", "{dashboard}");
    assert_eq!(dashboard["index"]["vectors"], 3000, "{dashboard}");
    assert_eq!(dashboard["index"]["dim"], 16, "{dashboard}");
    catalog_ready(&memory_url, &auth);

    // The same similar items, item by item (the two HNSW searches may
    // differ in a neighbour now and then, never in most).
    let items: Vec<String> = (0..40).map(|i| format!("i{}", i * 71)).collect();
    let (mut shared, mut all) = (0, 0);
    for item in &items {
        let a: HashSet<String> = similar(&memory_url, &auth, item, "").into_iter().collect();
        let b = similar(&db_url, &auth, item, "");
        assert_eq!(b.len(), 10, "{item}: {b:?}");
        assert_eq!(a.len(), 10, "{item}: {a:?}");
        assert!(!b.contains(item), "{item} is not its own neighbour");
        shared += b.iter().filter(|i| a.contains(*i)).count();
        all += a.len();
    }
    let agreement = shared as f64 / all as f64;
    eprintln!("similar items shared by the two replicas: {agreement:.3}");
    assert!(agreement >= 0.9, "agreement {agreement}");

    // A filter in SQL: only the asked category comes back.
    let category = get_json(&db_url, "/v1/items/i5", &auth)["categories"][0]
        .as_str()
        .unwrap()
        .to_string();
    let filtered = similar(&db_url, &auth, "i5", &format!("&category={category}"));
    assert!(!filtered.is_empty());
    for id in &filtered {
        let it = get_json(&db_url, &format!("/v1/items/{id}"), &auth);
        assert!(
            it["categories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == category.as_str()),
            "{it}"
        );
    }

    // Recommendations from the user's history through the database.
    let rec = post_json(
        &db_url,
        "/v1/recommend",
        &auth,
        r#"{"user_id":"u7","k":10}"#,
    )
    .unwrap();
    assert_eq!(rec["items"].as_array().unwrap().len(), 10, "{rec}");

    // An item deleted through the memory replica leaves the database
    // replica's answers.
    let before = similar(&db_url, &auth, "i71", "");
    let gone = before[0].clone();
    let r = agent()
        .delete(format!("{memory_url}/v1/items/{gone}"))
        .header("authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = similar(&db_url, &auth, "i71", "");
        if !now.contains(&gone) {
            assert_eq!(now.len(), 10, "{now:?}");
            break;
        }
        assert!(Instant::now() < deadline, "still answered: {now:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in [&mut memory, &mut in_db] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
