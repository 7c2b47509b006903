//! The HTTP API over a real socket on loopback.

#[path = "common/running.rs"]
mod running;

use running::Running;
use serde_json::{Value, json};
use sommelier_engine::{Config, Engine};
use std::sync::Arc;
use std::time::Duration;

struct Server {
    base: String,
    agent: ureq::Agent,
    // Stopped before its folder goes (fields drop in this order).
    _running: Running,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(max_batch: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.server.max_batch = max_batch;
        // Access control has its own suite (tests/security/).
        config.auth.enabled = false;
        let engine = Arc::new(Engine::open(config).unwrap());
        let running = Running::start(engine);
        Self {
            base: format!("http://{}", running.addr),
            agent: running::agent(Duration::from_secs(30)),
            _running: running,
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        (
            r.status().as_u16(),
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
        )
    }

    fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        (
            r.status().as_u16(),
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
        )
    }

    fn delete(&self, path: &str) -> u16 {
        self.agent
            .delete(format!("{}{path}", self.base))
            .call()
            .unwrap()
            .status()
            .as_u16()
    }
}

#[test]
fn health_answers() {
    let s = Server::start(100);
    let (status, body) = s.get("/healthz");
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[test]
fn item_batches_report_each_bad_record_and_keep_the_good_ones() {
    let s = Server::start(100);
    let batch = json!([
        {"id": "p1", "title": "Trail Shoe", "kind": "product", "price": 99.0, "currency": "USD", "categories": ["Shoes"]},
        {"id": "p2", "kind": "product"},
        {"id": "p3", "title": "Jacket", "price": "cheap", "currency": "USD"},
        {"id": "p4", "title": "Cap", "kind": "product"}
    ]);
    let (status, report) = s.post("/v1/items", &batch.to_string());
    assert_eq!(status, 207);
    assert_eq!(
        (report["accepted"].as_u64(), report["rejected"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        report["errors"][0],
        json!({"line": 1, "field": "title", "reason": "is required"})
    );
    assert_eq!(report["errors"][1]["field"], "price");

    let (status, item) = s.get("/v1/items/p1");
    assert_eq!(status, 200);
    assert_eq!(item["price"], json!({"amount": 99.0, "currency": "USD"}));
    assert_eq!(s.get("/v1/items/p2").0, 404);
    assert_eq!(s.delete("/v1/items/p4"), 200);
    assert_eq!(s.get("/v1/items/p4").0, 410);
    assert_eq!(s.delete("/v1/items/p4"), 404);

    // The same upsert again is a duplicate.
    let (status, report) = s.post("/v1/items", &batch[0].to_string());
    assert_eq!((status, report["duplicates"].as_u64()), (200, Some(1)));
}

#[test]
fn event_batches_are_atomic_on_request_and_feed_online_features() {
    let s = Server::start(100);
    let good = json!({"id": "e1", "user": "u1", "item": "m1", "kind": "rating", "value": 4.0, "timestamp": 1_700_000_000});
    let bad = json!({"id": "e2", "user": "u1", "item": "m2", "kind": "rating", "value": 11});
    let (status, report) = s.post("/v1/events?atomic=true", &json!([good, bad]).to_string());
    assert_eq!(status, 422);
    assert_eq!(report["rolled_back"], true);
    assert_eq!(s.get("/v1/events/e1").0, 404);

    let (status, report) = s.post("/v1/events", &json!([good]).to_string());
    assert_eq!((status, report["accepted"].as_u64()), (200, Some(1)));
    let (status, again) = s.post("/v1/events", &json!([good]).to_string());
    assert_eq!((status, again["duplicates"].as_u64()), (200, Some(1)));
    let (status, event) = s.get("/v1/events/e1");
    assert_eq!((status, event["value"].as_f64()), (200, Some(4.0)));

    let (_, user) = s.get("/v1/users/u1/features");
    assert_eq!(user["events"], 1);
    assert_eq!(user["recent"][0]["item"], "m1");
    let (_, item) = s.get("/v1/items/m1/features");
    assert_eq!(item["counts"]["rating"], 1);
    let (_, popular) = s.get("/v1/popular?n=5");
    assert_eq!(popular[0]["item"], "m1");
    let (_, stats) = s.get("/v1/stats");
    assert_eq!(stats["events"], 1);
}

#[test]
fn bad_bodies_and_oversized_batches_get_clear_errors() {
    let s = Server::start(2);
    let (status, err) = s.post("/v1/events", "{\"user\": ");
    assert_eq!(status, 400);
    assert_eq!(err["code"], "invalid_body");
    assert_eq!(err["fault"], "user");
    assert!(err["message"].as_str().unwrap().starts_with("invalid JSON"));
    let (status, _) = s.post("/v1/events", "42");
    assert_eq!(status, 400);
    let three = json!([{"user":"u","item":"a","kind":"view"},{"user":"u","item":"b","kind":"view"},{"user":"u","item":"c","kind":"view"}]);
    let (status, err) = s.post("/v1/events", &three.to_string());
    assert_eq!(status, 413);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("server.max_batch")
    );
    let (status, err) = s.post("/v1/events", "[1]");
    assert_eq!(status, 422);
    assert_eq!(err["errors"][0]["reason"], "expected a JSON object");
    assert_eq!(s.get("/v1/popular?n=0").0, 400);
    assert_eq!(s.get("/v1/items/x/similar?k=0").0, 400);
    let (status, err) = s.get("/v1/items/x/similar");
    assert_eq!(status, 404);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("has no embedding")
    );
}

#[test]
fn recommend_answers_for_cold_and_known_users_and_checks_its_input() {
    let s = Server::start(100);
    let items = json!([
        {"id": "m1", "title": "One"}, {"id": "m2", "title": "Two"}, {"id": "m3", "title": "Three"}
    ]);
    s.post("/v1/items", &items.to_string());
    let events = json!([
        {"user": "u1", "item": "m1", "kind": "click", "timestamp": 1},
        {"user": "u2", "item": "m2", "kind": "purchase", "timestamp": 2},
        {"user": "u3", "item": "m2", "kind": "click", "timestamp": 3},
        {"user": "u3", "item": "m3", "kind": "view", "timestamp": 4}
    ]);
    s.post("/v1/events", &events.to_string());
    let (status, r) = s.post(
        "/v1/recommend",
        &json!({"user_id": "u1", "k": 5}).to_string(),
    );
    assert_eq!(status, 200, "{r}");
    let ids: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["m2", "m3"],
        "popular first, the user's own click filtered out"
    );
    assert_eq!(r["items"][0]["provenance"][0]["source"], "popular");
    assert!(r["timings_ms"]["total"].as_f64().is_some());
    let (status, _) = s.post("/v1/recommend", "");
    assert_eq!(status, 200, "an empty body is a cold, query-less request");
    let (status, err) = s.post("/v1/recommend", &json!({"k": 1000}).to_string());
    assert_eq!((status, err["code"].as_str()), (400, Some("invalid_body")));
    let (status, _) = s.post("/v1/recommend", "{\"k\": \"ten\"}");
    assert_eq!(status, 400);
}

#[test]
fn browsing_reads_cards_facets_users_and_the_dashboard() {
    let s = Server::start(100);
    let items = json!([
        {"id": "m1", "title": "One", "categories": ["Comedy"], "release_date": "1995-01-01", "price": 3.5, "currency": "USD"},
        {"id": "m2", "title": "Two", "categories": ["Comedy", "Drama"], "release_date": "2001"},
        {"id": "m3", "title": "Three", "categories": ["Horror"], "available": false}
    ]);
    s.post("/v1/items", &items.to_string());
    let events = json!([
        {"user": "u1", "item": "m1", "kind": "click", "timestamp": 1},
        {"user": "u2", "item": "m2", "kind": "like", "timestamp": 2},
        {"user": "u2", "item": "m1", "kind": "rating", "value": 4, "timestamp": 3}
    ]);
    s.post("/v1/events", &events.to_string());

    let (status, cards) = s.get("/v1/items?ids=m2,nope,m1");
    assert_eq!(status, 200, "{cards}");
    let ids: Vec<&str> = cards
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m2", "m1"], "asked order, unknown ids left out");
    assert_eq!(cards[1]["year"], 1995);
    assert_eq!(cards[1]["currency"], "USD");
    let (status, err) = s.get("/v1/items?ids=");
    assert_eq!((status, err["code"].as_str()), (400, Some("invalid_body")));

    let (_, f) = s.get("/v1/facets");
    assert_eq!(f["items"], 3);
    assert_eq!(f["categories"][0], json!({"name": "Comedy", "count": 2}));
    assert_eq!(f["year_range"], json!([1995, 2001]));

    let (_, users) = s.get("/v1/users?n=1");
    assert_eq!(users, json!([{"user": "u2", "events": 2}]));
    let (status, _) = s.get("/v1/users?n=0");
    assert_eq!(status, 400);

    s.post("/v1/recommend", &json!({"user_id": "u1"}).to_string());
    let (status, d) = s.get("/v1/admin/dashboard");
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["store"]["events"], 3);
    assert_eq!(d["activity"]["slots"].as_array().unwrap().len(), 60);
    let recent: u64 = d["activity"]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["events"].as_u64().unwrap())
        .sum();
    assert_eq!(recent, 3, "the events just accepted are in the window");
    assert!(
        d["recommend_latency"]
            .as_array()
            .unwrap()
            .iter()
            .any(|st| st["stage"] == "total" && st["count"] == 1),
        "{d}"
    );
    assert_eq!(d["index"]["catalog_items"], 3);
    assert_eq!(d["chat_turns"], json!({"llm": 0, "fallback": 0}));

    let (status, e) = s.get("/v1/admin/eval");
    assert_eq!(status, 200);
    assert!(e["report"].is_null() && e["plots"] == json!([]), "{e}");
    let (status, _) = s.get("/v1/admin/eval/files/plot-x.svg");
    assert_eq!(status, 404);
    let (status, _) = s.get("/v1/admin/eval/files/sommelier.db");
    assert_eq!(status, 404, "only reports and plots are served");
}

#[test]
fn the_web_ui_is_served_with_its_content_types() {
    let s = Server::start(100);
    let page = |path: &str| {
        let mut r = s.agent.get(format!("{}{path}", s.base)).call().unwrap();
        let kind = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (
            r.status().as_u16(),
            kind,
            r.body_mut().read_to_string().unwrap(),
        )
    };
    let (status, kind, body) = page("/");
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(body.contains(r#"<script type="module" src="/ui/app.js">"#));
    let (status, kind, body) = page("/ui/app.js");
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/javascript"), "{kind}");
    assert!(body.contains("import * as browse"));
    let (_, kind, _) = page("/ui/style.css");
    assert!(kind.starts_with("text/css"), "{kind}");
    let (status, _, _) = page("/ui/nope.js");
    assert_eq!(status, 404);
}

#[test]
fn a_user_who_declines_personalisation_is_answered_as_a_visitor() {
    let s = Server::start(100);
    let items = json!([
        {"id": "m1", "title": "One", "categories": ["Comedy"]},
        {"id": "m2", "title": "Two", "categories": ["Drama"]},
        {"id": "m3", "title": "Three", "categories": ["Horror"]}
    ]);
    s.post("/v1/items", &items.to_string());
    let events = json!([
        {"user": "keen", "item": "m1", "kind": "like", "timestamp": 1},
        {"user": "private", "item": "m1", "kind": "like", "timestamp": 2},
        {"user": "other", "item": "m2", "kind": "purchase", "timestamp": 3},
        {"user": "other2", "item": "m2", "kind": "click", "timestamp": 4}
    ]);
    s.post("/v1/events", &events.to_string());
    s.post(
        "/v1/users",
        &json!([{"id": "private", "consent": {"personalization": false}}]).to_string(),
    );
    let ask = |user: &str| {
        let (status, r) = s.post(
            "/v1/recommend",
            &json!({"user_id": user, "k": 3}).to_string(),
        );
        assert_eq!(status, 200, "{r}");
        r
    };
    let keen = ask("keen");
    assert_eq!(keen["personalized"], true);
    let ids = |r: &Value| -> Vec<String> {
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        !ids(&keen).contains(&"m1".to_string()),
        "consumed: left out"
    );

    // Same history, no consent: nothing of it is used, not even to filter.
    let private = ask("private");
    assert_eq!(private["personalized"], false);
    assert!(ids(&private).contains(&"m1".to_string()), "{private}");
    let profile = private["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["source"] == "user_profile")
        .unwrap();
    assert!(
        profile["skipped"].as_str().unwrap().contains("declined"),
        "{profile}"
    );

    // Without explanations: ids, titles and scores only.
    let (_, bare) = s.post(
        "/v1/recommend",
        &json!({"user_id": "keen", "k": 2, "explain": false}).to_string(),
    );
    let first = &bare["items"][0];
    assert_eq!(first["why"], json!([]));
    assert_eq!(first["provenance"], json!([]));
    assert_eq!(first["rationale"], "");
    assert!(first["title"].is_string() && first["score"].is_number());
}

/// Every endpoint in docs/api.md's table is in the OpenAPI document served
/// at `/openapi.json`, and the other way round.
#[test]
fn experiments_are_declared_served_and_reported_over_http() {
    let s = Server::start(100);
    let items: Vec<Value> = (0..20)
        .map(|i| json!({"id": format!("i{i}"), "kind": "movie", "title": format!("Film {i}")}))
        .collect();
    assert_eq!(s.post("/v1/items", &json!(items).to_string()).0, 200);
    let bad = json!({"name": "x", "traffic": 0.5,
        "variants": [{"name": "control"}, {"name": "b", "overrides": {"server.addr": "0.0.0.0:1"}}]});
    let (status, err) = s.post("/v1/admin/experiments", &bad.to_string());
    assert_eq!(status, 400, "{err}");
    assert!(err.to_string().contains("cannot vary per request"), "{err}");
    let good = json!({"name": "mmr", "traffic": 1.0,
        "variants": [{"name": "control"}, {"name": "low", "overrides": {"rerank.mmr_lambda": 0.3}}]});
    let (status, v) = s.post("/v1/admin/experiments", &good.to_string());
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["origin"].as_str(), v["offset"].as_u64()),
        (Some("api"), Some(0))
    );
    let (_, listed) = s.get("/v1/admin/experiments");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (status, r) = s.post(
        "/v1/recommend",
        &json!({"user_id": "u1", "k": 3}).to_string(),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["experiments"][0]["experiment"], "mmr");
    let variant = r["experiments"][0]["variant"].as_str().unwrap().to_string();
    assert!(variant == "control" || variant == "low");
    let (status, stopped) = s.post("/v1/admin/experiments/mmr/stop", "");
    assert_eq!((status, stopped["state"].as_str()), (200, Some("stopped")));
    let (_, r) = s.post("/v1/recommend", &json!({"user_id": "u1"}).to_string());
    assert_eq!(r["experiments"], json!([]));
    let (status, report) = s.get("/v1/admin/experiments/mmr/report?window_hours=2");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["control"], "control");
    assert_eq!(report["variants"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.get("/v1/admin/experiments/mmr/report?window_hours=0").0,
        400
    );
    assert_eq!(s.delete("/v1/admin/experiments/mmr"), 204);
    assert_eq!(s.get("/v1/admin/experiments/mmr").0, 404);
}

#[test]
fn the_openapi_document_and_docs_api_md_list_the_same_endpoints() {
    let s = Server::start(100);
    let (status, doc) = s.get("/openapi.json");
    assert_eq!(status, 200);
    let mut served = std::collections::BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                served.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let md = std::fs::read_to_string(
        std::path::Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
        )
        .join("../../docs/api.md"),
    )
    .unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for line in md.lines().filter(|l| l.starts_with("| `")) {
        let cell = line[3..].split('`').next().unwrap_or_default();
        let Some((method, path)) = cell.split_once(' ') else {
            continue;
        };
        if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) {
            let path = path.split('?').next().unwrap_or(path);
            documented.insert(format!("{method} {path}"));
        }
    }
    // The web UI and the document itself are not part of the JSON API.
    for not_api in ["GET /", "GET /openapi.json"] {
        assert!(documented.remove(not_api), "docs/api.md lists `{not_api}`");
    }
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in docs/api.md, missing from /openapi.json"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in /openapi.json, missing from docs/api.md"
    );
    // Request and response bodies carry their schemas.
    let recommend = &doc["paths"]["/v1/recommend"]["post"];
    assert!(
        recommend["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("RecommendRequest")),
        "{recommend}"
    );
    assert!(doc["components"]["schemas"]["RecommendResponse"].is_object());
}
