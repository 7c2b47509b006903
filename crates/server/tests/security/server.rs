//! A server on loopback with authentication on, its keys and tokens.

use crate::running::Running;
use serde_json::Value;
use sommelier_auth::{Scope, Scopes, ServerSecret, TokenSigner, create_key};
use sommelier_engine::{Config, Engine};
use std::sync::Arc;
use std::time::Duration;

pub struct Server {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
    agent: ureq::Agent,
    running: Running,
}

/// The credentials of the suite.
pub struct Creds {
    pub read: String,
    pub ingest: String,
    pub admin: String,
    pub signer: TokenSigner,
}

impl Creds {
    pub fn token(&self, user: &str) -> String {
        let now = sommelier_types::Timestamp::now().0 / 1000;
        self.signer.sign(user, 600, now).unwrap()
    }
}

impl Server {
    pub fn start(tune: impl FnOnce(&mut Config)) -> (Self, Creds) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.llm.enabled = false;
        config.models.refit_interval_secs = 0;
        tune(&mut config);
        let engine = Arc::new(Engine::open(config).unwrap());
        let store = engine.store();
        let read = create_key(store, "read", Scopes::of(&[Scope::Read]), None, "test").unwrap();
        let ingest =
            create_key(store, "ingest", Scopes::of(&[Scope::Ingest]), None, "test").unwrap();
        let admin = create_key(store, "admin", Scopes::all(), None, "test").unwrap();
        let secret = ServerSecret::load_or_create(dir.path()).unwrap();
        let creds = Creds {
            read: read.key,
            ingest: ingest.key,
            admin: admin.key,
            signer: secret.token_signer("", 86_400),
        };
        let running = Running::start(engine.clone());
        let s = Self {
            base: format!("http://{}", running.addr),
            addr: running.addr,
            dir,
            engine,
            agent: crate::running::agent(Duration::from_secs(60)),
            running,
        };
        (s, creds)
    }

    /// One request with these headers; the status and the body (JSON when
    /// it parses, else a string).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, Value, ureq::http::HeaderMap) {
        let url = format!("{}{path}", self.base);
        let mut resp = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            (_, b) => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json");
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(b.unwrap_or(""))
            }
        }
        .unwrap();
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v, h)
    }

    /// `call` with `Authorization: Bearer <cred>`.
    pub fn as_(&self, cred: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let auth = format!("Bearer {cred}");
        let (s, v, _) = self.call(method, path, &[("authorization", &auth)], body);
        (s, v)
    }

    /// Stops the server and waits for it.
    pub fn stop(&mut self) {
        self.running.stop();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A few movies, two users and their events, written with the admin key.
pub fn seed(s: &Server, c: &Creds) {
    let items: Vec<String> = (1..=9)
        .map(|i| {
            format!(
                r#"{{"id":"{i}","kind":"movie","title":"Film {i}","categories":["{}"],"year":{}}}"#,
                if i % 2 == 0 { "Comedy" } else { "Drama" },
                1990 + i
            )
        })
        .collect();
    let (st, v) = s.as_(
        &c.admin,
        "POST",
        "/v1/items",
        Some(&format!("[{}]", items.join(","))),
    );
    assert_eq!(st, 200, "{v}");
    let users = r#"[{"id":"u1","consent":{"personalization":true,"long_term_memory":true}},
                    {"id":"u2","consent":{"personalization":true,"long_term_memory":true}}]"#;
    assert_eq!(s.as_(&c.admin, "POST", "/v1/users", Some(users)).0, 200);
    let mut events = Vec::new();
    for (u, items) in [("u1", [1, 2, 3, 4]), ("u2", [2, 3, 5, 6])] {
        for (n, i) in items.iter().enumerate() {
            events.push(format!(
                r#"{{"id":"e-{u}-{i}","user":"{u}","item":"{i}","kind":"like","timestamp":{}}}"#,
                1_700_000_000 + n * 60
            ));
        }
    }
    let (st, v) = s.as_(
        &c.admin,
        "POST",
        "/v1/events",
        Some(&format!("[{}]", events.join(","))),
    );
    assert_eq!(st, 200, "{v}");
}
