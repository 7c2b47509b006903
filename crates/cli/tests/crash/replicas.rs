//! Three `sommelier serve` replicas over one PostgreSQL database and one
//! shared folder of fitted models: what one is told, the others know; a
//! chat goes on wherever its next turn lands; an experiment declared on
//! one assigns on all; a fit by a job is loaded by all; a replica killed
//! while events stream in loses none it acknowledged and catches up when
//! it comes back; the database away refuses writes and keeps reads going.
//! Needs the server `scripts/test` starts (`SOMMELIER_TEST_POSTGRES_URL`);
//! without it the tests say so and pass.

use crate::{agent, get_json, key_with, post_json, sommelier, start_with};
use sommelier_store::{EventRead, PostgresStore};
use sommelier_types::EventKind;
use std::collections::HashSet;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `sql` on the test server's own database.
pub(crate) fn admin(server: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(server, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap();
    });
}

/// A fresh database on the test server, and its URL.
pub(crate) fn database(server: &str, name: &str) -> String {
    admin(
        server,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    admin(server, &format!("CREATE DATABASE {name}"));
    database_url(server, name)
}

/// The URL of database `name` on the test server.
pub(crate) fn database_url(server: &str, name: &str) -> String {
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    format!("{base}/{name}")
}

/// The configuration every replica and job of the cluster shares.
pub(crate) struct Cluster {
    pub(crate) env: Vec<(&'static str, String)>,
}

impl Cluster {
    pub(crate) fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    pub(crate) fn start(&self, data: &Path) -> (Child, String) {
        start_with(data, &self.env())
    }

    pub(crate) fn run(&self, data: &Path, args: &[&str]) {
        let out = sommelier(data, args).envs(self.env()).output().unwrap();
        assert!(
            out.status.success(),
            "sommelier {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// How long until `url` shows `user` with at least `events` events.
pub(crate) fn until_seen(url: &str, auth: &str, user: &str, events: u64) -> Duration {
    let t = Instant::now();
    loop {
        let mut r = agent()
            .get(format!("{url}/v1/users/{user}/features"))
            .header("authorization", auth)
            .call()
            .unwrap();
        if r.status() == 200 {
            let v: serde_json::Value =
                serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            if v["events"].as_u64().unwrap_or(0) >= events {
                return t.elapsed();
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{url} never saw {user}'s events"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn click(user: &str, item: usize, n: usize) -> String {
    format!(
        r#"{{"id":"{user}-{n}","user":"{user}","item":"i{item}","kind":"click","timestamp":{}}}"#,
        1_700_000_000 + n
    )
}

/// Posts three events for each of `probes` new users, in turn to each
/// replica: the replica written to holds them when it answers, and the
/// others within a second (median).
pub(crate) fn writes_reach_every_replica(urls: &[String], auth: &str, probes: usize) {
    let mut lags = Vec::new();
    for probe in 0..probes {
        let user = format!("probe{probe}");
        let body: Vec<String> = (0..3).map(|n| click(&user, n * 7, n)).collect();
        let to = probe % urls.len();
        let t = Instant::now();
        let report = post_json(
            &urls[to],
            "/v1/events",
            auth,
            &format!("[{}]", body.join(",")),
        )
        .expect("events accepted");
        assert_eq!(report["accepted"], 3, "{report}");
        until_seen(&urls[to], auth, &user, 3);
        for (i, u) in urls.iter().enumerate() {
            if i != to {
                until_seen(u, auth, &user, 3);
                lags.push(t.elapsed());
            }
        }
    }
    lags.sort();
    eprintln!("time until another replica's features held a write: {lags:?}");
    assert!(
        lags[lags.len() / 2] <= Duration::from_secs(1),
        "median lag {:?}",
        lags[lags.len() / 2]
    );
}

/// The ids of the clicks stored in the database at `url`.
pub(crate) fn stored_clicks(url: &str) -> HashSet<String> {
    PostgresStore::open(url)
        .unwrap()
        .events_of_kind(EventKind::Click, 0)
        .unwrap()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect()
}

/// Streams batches of 100 clicks into the replica at `url` until 3,000 are
/// acknowledged, kills it with SIGKILL mid-stream, and returns the ids of
/// every event it acknowledged.
pub(crate) fn kill_while_writing(replica: &mut Child, url: &str, auth: &str) -> Vec<String> {
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let dead = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, dead, url, auth) = (
            acked.clone(),
            dead.clone(),
            url.to_string(),
            auth.to_string(),
        );
        std::thread::spawn(move || {
            for batch in 0.. {
                let body: Vec<String> = (0..100)
                    .map(|i| click(&format!("w{}", i % 13), (batch + i) % 400, batch * 100 + i))
                    .collect();
                match post_json(&url, "/v1/events", &auth, &format!("[{}]", body.join(","))) {
                    Some(_) => acked
                        .lock()
                        .unwrap()
                        .extend((0..100).map(|i| format!("w{}-{}", i % 13, batch * 100 + i))),
                    None if dead.load(Ordering::SeqCst) => return,
                    None => panic!("a batch failed while the replica was up"),
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 3_000 {
        assert!(Instant::now() < deadline, "too few events acknowledged");
        std::thread::sleep(Duration::from_millis(10));
    }
    dead.store(true, Ordering::SeqCst);
    replica.kill().unwrap(); // SIGKILL
    replica.wait().unwrap();
    writer.join().unwrap();
    acked.lock().unwrap().clone()
}

#[test]
fn replicas_over_postgres_share_events_chats_and_fits_and_survive_kill_9() {
    let Ok(server) = std::env::var("SOMMELIER_TEST_POSTGRES_URL") else {
        eprintln!("SOMMELIER_TEST_POSTGRES_URL is not set: skipping (scripts/test sets it)");
        return;
    };
    let url = database(&server, "replicas");
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("fitted");
    let cluster = Cluster {
        env: vec![
            ("SOMMELIER__STORE__BACKEND", "postgres".into()),
            ("SOMMELIER__STORE__URL", url.clone()),
            ("SOMMELIER__MODELS__DIR", shared.display().to_string()),
            // Fits are a job here, not each replica's timer.
            ("SOMMELIER__MODELS__REFIT_INTERVAL_SECS", "0".into()),
            ("SOMMELIER__SERVER__TAIL_INTERVAL_SECS", "0.2".into()),
        ],
    };
    let data: Vec<_> = ["a", "b", "c"].map(|r| dir.path().join(r)).into();
    cluster.run(
        &data[0],
        &[
            "bench",
            "gen-catalog",
            "--items",
            "400",
            "--events",
            "20000",
            "--users",
            "400",
            "--clusters",
            "8",
            "--dim",
            "16",
        ],
    );
    cluster.run(&data[0], &["fit"]);
    let fitted = std::fs::read_to_string(shared.join("CURRENT")).unwrap();
    let auth = key_with(&data[0], &cluster.env());
    let mut replicas: Vec<(Child, String)> = data.iter().map(|d| cluster.start(d)).collect();
    let urls: Vec<String> = replicas.iter().map(|(_, u)| u.clone()).collect();
    for u in &urls {
        // One key, made once, opens every replica; each serves the same fit.
        let models = get_json(u, "/v1/admin/models", &auth);
        assert_eq!(models["current"]["version"], fitted.trim(), "{models}");
    }

    // Events posted to one replica are in the others' features.
    writes_reach_every_replica(&urls, &auth, 5);

    // A chat started on A goes on on B, then C, with what A showed.
    let user = r#"[{"id":"talker","consent":{"long_term_memory":true}}]"#;
    post_json(&urls[0], "/v1/users", &auth, user).unwrap();
    let first = post_json(
        &urls[0],
        "/v1/chat",
        &auth,
        r#"{"user_id":"talker","message":"something popular"}"#,
    )
    .expect("a first turn");
    let session = first["session_id"].as_str().unwrap();
    for (turn, u) in [(2, &urls[1]), (3, &urls[2])] {
        let body = format!(
            r#"{{"user_id":"talker","session_id":"{session}","message":"more like the first one"}}"#
        );
        let next = post_json(u, "/v1/chat", &auth, &body).expect("the session goes on");
        assert_eq!(next["turn"], turn, "{next}");
    }

    // An experiment declared on A assigns alike on B and C.
    let declared = r#"{"name":"mmr-low","traffic":1.0,"layer":"diversity",
        "variants":[{"name":"control"},{"name":"low","overrides":{"rerank.mmr_lambda":0.5}}]}"#;
    post_json(&urls[0], "/v1/admin/experiments", &auth, declared).expect("declared");
    let assigned = |u: &str| {
        post_json(u, "/v1/recommend", &auth, r#"{"user_id":"u7","k":5}"#).unwrap()["experiments"]
            .clone()
    };
    let on_a = assigned(&urls[0]);
    assert_eq!(on_a[0]["experiment"], "mmr-low", "{on_a}");
    for u in &urls[1..] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while assigned(u) != on_a {
            assert!(
                Instant::now() < deadline,
                "{u} does not serve the experiment"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // A fit by a job is loaded by every replica.
    cluster.run(&data[0], &["fit"]);
    let refitted = std::fs::read_to_string(shared.join("CURRENT")).unwrap();
    assert_ne!(refitted, fitted);
    for u in &urls {
        let deadline = Instant::now() + Duration::from_secs(30);
        while get_json(u, "/v1/admin/models", &auth)["current"]["version"] != refitted.trim() {
            assert!(Instant::now() < deadline, "{u} kept the old models");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // Kill -9 of A while events stream into it (and into B): every
    // acknowledged event is stored; A, restarted, catches up with what B
    // took meanwhile.
    let acked = kill_while_writing(&mut replicas[0].0, &urls[0], &auth);
    let stored = stored_clicks(&url);
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} acknowledged events lost", lost.len());
    // While A is down, B takes a user's events; A back sees them.
    let body: Vec<String> = (0..4).map(|n| click("while-down", n, n)).collect();
    post_json(
        &urls[1],
        "/v1/events",
        &auth,
        &format!("[{}]", body.join(",")),
    )
    .unwrap();
    let (child, a) = cluster.start(&data[0]);
    replicas[0] = (child, a.clone());
    until_seen(&a, &auth, "while-down", 4);
    // And it holds what it took itself before the kill, as B does.
    let w0 = |u: &str| get_json(u, "/v1/users/w0/features", &auth)["events"].clone();
    assert_eq!(w0(&a), w0(&urls[1]));
    eprintln!(
        "{} events acknowledged by the killed replica, all stored",
        acked.len()
    );
    for (mut child, _) in replicas {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// The database away while a replica serves: writes are refused with 503
/// (nothing is acknowledged that is not stored), recommendations go on from
/// memory as a visitor's (the consent cannot be read), and when the
/// database is back the replica writes again by itself.
#[test]
fn a_replica_refuses_writes_with_503_while_the_database_is_away() {
    let Ok(server) = std::env::var("SOMMELIER_TEST_POSTGRES_URL") else {
        eprintln!("SOMMELIER_TEST_POSTGRES_URL is not set: skipping (scripts/test sets it)");
        return;
    };
    let name = "outage";
    let url = database(&server, name);
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster {
        env: vec![
            ("SOMMELIER__STORE__BACKEND", "postgres".into()),
            ("SOMMELIER__STORE__URL", url),
            ("SOMMELIER__MODELS__REFIT_INTERVAL_SECS", "0".into()),
        ],
    };
    let data = dir.path().join("a");
    cluster.run(
        &data,
        &[
            "bench",
            "gen-catalog",
            "--items",
            "200",
            "--events",
            "5000",
            "--users",
            "100",
            "--clusters",
            "4",
            "--dim",
            "16",
        ],
    );
    let auth = key_with(&data, &cluster.env());
    let (mut child, a) = cluster.start(&data);
    let post = |body: &str| {
        let mut r = agent()
            .post(format!("{a}/v1/events"))
            .header("content-type", "application/json")
            .header("authorization", &auth)
            .send(body.to_string())
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        (r.status().as_u16(), text)
    };
    assert_eq!(post(&format!("[{}]", click("u1", 1, 1))).0, 200);
    admin(
        &server,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    );
    admin(
        &server,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    );
    let (status, text) = post(&format!("[{}]", click("u1", 2, 2)));
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("store_unavailable"), "{text}");
    // Reads go on from memory; the user's consent cannot be read, so the
    // answer is a visitor's and says why.
    let mut r = agent()
        .post(format!("{a}/v1/recommend"))
        .header("content-type", "application/json")
        .header("authorization", &auth)
        .send(r#"{"user_id":"u2","k":5}"#)
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    assert_eq!(
        r.status(),
        200,
        "a recommendation while the database is away: {text}"
    );
    let rec: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rec["items"].as_array().unwrap().len(), 5, "{rec}");
    assert_eq!(rec["personalized"], false, "{rec}");
    assert!(rec.to_string().contains("consent is unknown"), "{rec}");
    admin(
        &server,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    );
    assert_eq!(post(&format!("[{}]", click("u1", 3, 3))).0, 200);
    until_seen(&a, &auth, "u1", 2);
    let store = PostgresStore::open(&database_url(&server, name)).unwrap();
    for (id, kept) in [("u1-1", true), ("u1-2", false), ("u1-3", true)] {
        let e = store
            .event(&sommelier_types::EventId::new(id).unwrap())
            .unwrap();
        assert_eq!(e.is_some(), kept, "{id}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
