//! The right to be forgotten: after `DELETE /v1/users/{id}` nothing in the
//! data folder (database, journal, fitted models, indexes, secrets) holds
//! the user's id or anything they said or were described by.

use crate::server::{Server, seed};

const USER: &str = "zelda-4471";
/// Strings only this user's records contain.
const TRACES: &[&str] = &[
    USER,
    "zelda@example.org",
    "Quetzal Lane",
    "marzipan",
    "Hyrule-Kakariko",
];

fn files_holding(dir: &std::path::Path, needle: &[u8], out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_holding(&p, needle, out);
        } else if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            out.push(p.display().to_string());
        }
    }
}

#[test]
fn a_forgotten_user_leaves_nothing_behind() {
    let (mut s, c) = Server::start(|_| {});
    seed(&s, &c);
    let profile = format!(
        r#"{{"id":"{USER}","consent":{{"personalization":true,"long_term_memory":true}},
            "attributes":{{"email":"zelda@example.org","home":"12 Quetzal Lane"}}}}"#
    );
    assert_eq!(s.as_(&c.admin, "POST", "/v1/users", Some(&profile)).0, 200);
    let events: Vec<String> = (1..=4)
        .map(|i| {
            format!(
                r#"{{"user":"{USER}","item":"{i}","kind":"like","timestamp":{},"context":{{"location":"Hyrule-Kakariko"}}}}"#,
                1_700_000_100 + i
            )
        })
        .collect();
    assert_eq!(
        s.as_(
            &c.admin,
            "POST",
            "/v1/events",
            Some(&format!("[{}]", events.join(",")))
        )
        .0,
        200
    );
    let token = c.token(USER);
    let (st, v) = s.as_(
        &token,
        "POST",
        "/v1/chat",
        Some(r#"{"message":"comedies with marzipan, call me on +44 20 7946 0958"}"#),
    );
    assert_eq!(st, 200, "{v}");
    let sid = v["session_id"].as_str().unwrap().to_string();
    let (st, v) = s.as_(&token, "GET", &format!("/v1/users/{USER}/memory"), None);
    assert!(st == 200 && v.is_object(), "{v}");
    // The phone number never reached the store.
    let (st, _) = s.as_(&c.admin, "POST", "/v1/admin/fit", None);
    assert!(st == 200 || st == 503);

    let (st, receipt) = s.as_(&token, "DELETE", &format!("/v1/users/{USER}"), None);
    assert_eq!(st, 200, "{receipt}");
    assert_eq!(receipt["store"]["events"], 4, "{receipt}");
    assert_eq!(receipt["store"]["profile"], true);
    assert_eq!(receipt["store"]["memory"], true);
    assert!(receipt["store"]["chat_turns"].as_u64().unwrap() >= 1);
    assert!(receipt["models"]["refit"].is_string(), "{receipt}");

    // Through the API: nothing.
    assert_eq!(
        s.as_(&c.admin, "GET", &format!("/v1/users/{USER}"), None).0,
        404
    );
    assert_eq!(
        s.as_(&c.admin, "GET", &format!("/v1/users/{USER}/features"), None)
            .0,
        404
    );
    let (_, m) = s.as_(&c.admin, "GET", &format!("/v1/users/{USER}/memory"), None);
    assert!(m.is_null(), "{m}");
    let follow = format!(r#"{{"message":"more","session_id":"{sid}"}}"#);
    assert_eq!(s.as_(&token, "POST", "/v1/chat", Some(&follow)).0, 404);
    // A refit without the user's events, as the marker asks.
    let (st, _) = s.as_(&c.admin, "POST", "/v1/admin/fit", None);
    assert!(st == 200 || st == 503);

    // In every file of the data folder: nothing.
    s.stop();
    let mut found = Vec::new();
    for t in TRACES {
        let mut files = Vec::new();
        files_holding(s.dir.path(), t.as_bytes(), &mut files);
        for f in files {
            found.push(format!("`{t}` in {f}"));
        }
    }
    assert!(found.is_empty(), "traces left:\n{}", found.join("\n"));
    // The other users are intact.
    let db = s.dir.path().join("sommelier.db");
    let mut files = Vec::new();
    files_holding(s.dir.path(), b"e-u1-1", &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(&db.display().to_string())),
        "{files:?}"
    );
}
