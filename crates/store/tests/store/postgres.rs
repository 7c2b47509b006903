//! The PostgreSQL backend: the suite's [`Backend`] (one database per test
//! folder on the server `SOMMELIER_TEST_POSTGRES_URL` names), and what only
//! a shared server has: replicas writing at once, migrating at once, and a
//! server that is not there.

use crate::Backend;
use sommelier_store::{EventRead, PostgresStore, Store, StoreError};
use sommelier_types::{Event, EventContext, EventId, EventKind, ItemId, Timestamp, UserId};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The server's URL (a superuser on the `postgres` database).
pub struct Postgres {
    url: String,
}

impl Postgres {
    /// The server under test, or `None` (with a note) when none is named.
    pub fn from_env() -> Option<Self> {
        match std::env::var("SOMMELIER_TEST_POSTGRES_URL") {
            Ok(url) => Some(Self { url }),
            Err(_) => {
                eprintln!(
                    "SOMMELIER_TEST_POSTGRES_URL is not set: skipping (scripts/test sets it)"
                );
                None
            }
        }
    }

    /// The name of the database for `dir`.
    pub fn name(dir: &std::path::Path) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        dir.hash(&mut h);
        format!("t{:016x}", h.finish())
    }

    /// Runs `sql` on the server's own database; the first column of the
    /// first row, if any.
    fn admin(&self, sql: &str) -> Option<String> {
        self.admin_on("postgres", sql)
    }

    /// Runs `sql` on the database `db`; the first column of the first row.
    pub fn admin_on(&self, db: &str, sql: &str) -> Option<String> {
        let base = self
            .url
            .rsplit_once('/')
            .map_or(self.url.as_str(), |(b, _)| b);
        let url = format!("{base}/{db}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let rows = client.simple_query(sql).await.unwrap();
            rows.into_iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
        })
    }

    /// The URL of the database for `dir`, created if new.
    pub fn database(&self, dir: &std::path::Path) -> String {
        let name = Self::name(dir);
        let exists = self.admin(&format!(
            "SELECT 1 FROM pg_database WHERE datname = '{name}'"
        ));
        if exists.is_none() {
            self.admin(&format!("CREATE DATABASE {name}"));
        }
        let base = self
            .url
            .rsplit_once('/')
            .map_or(self.url.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    }
}

impl Backend for Postgres {
    fn open(&self, dir: &std::path::Path) -> Arc<dyn Store> {
        PostgresStore::open(&self.database(dir)).unwrap().into_dyn()
    }
}

fn event(id: &str, user: &str, item: &str, ts: i64) -> Event {
    Event {
        id: EventId::new(id).unwrap(),
        user: UserId::new(user).unwrap(),
        item: ItemId::new(item).unwrap(),
        kind: EventKind::Click,
        value: None,
        timestamp: Timestamp(ts),
        context: EventContext::default(),
    }
}

/// Two replicas write events at once while a third tails the log by
/// position: the tail sees every event exactly once. Sequence numbers are
/// handed out under the write lock, so a position the tail has passed is
/// never filled later by a slower transaction.
#[test]
fn replicas_writing_at_once_never_leave_a_gap_behind_the_tail() {
    let Some(pg) = Postgres::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database(dir.path());
    let writers: Vec<Arc<dyn Store>> = (0..2)
        .map(|_| PostgresStore::open(&url).unwrap().into_dyn())
        .collect();
    let tail = PostgresStore::open(&url).unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = writers[t % 2].clone();
            std::thread::spawn(move || {
                for batch in 0..25 {
                    store
                        .write(|w| {
                            for i in 0..8 {
                                w.append_event(&event(&format!("e{t}-{batch}-{i}"), "u", "a", 1))?;
                            }
                            Ok::<_, StoreError>(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    let (mut seen, mut last) = (Vec::new(), 0);
    let stop = done.clone();
    let joiner = std::thread::spawn(move || {
        for t in threads {
            t.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    loop {
        let finished = done.load(std::sync::atomic::Ordering::SeqCst);
        last = tail.scan_events(last, &mut |r| seen.push(r.seq)).unwrap();
        if finished {
            break;
        }
    }
    joiner.join().unwrap();
    let mut all = Vec::new();
    tail.scan_events(0, &mut |r| all.push(r.seq)).unwrap();
    assert_eq!(all.len(), 800);
    assert_eq!(seen, all, "the tail saw every event, once, in order");
}

/// Replicas starting together on a new database migrate it once.
#[test]
fn replicas_opening_a_new_database_together_migrate_it_once() {
    let Some(pg) = Postgres::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database(dir.path());
    let opened: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::open(&url).map(|_| ()))
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
}

/// A server that is not there, and a URL that is not one, are refused with
/// what was tried, never the password.
#[test]
fn an_unreachable_server_or_a_bad_url_is_a_clear_error() {
    let Err(err) = PostgresStore::open("postgres://app:s3cret@127.0.0.1:9/shop") else {
        panic!("nothing listens on port 9");
    };
    let text = err.to_string();
    assert!(
        text.contains("cannot connect to PostgreSQL at postgres://app@127.0.0.1:9/shop"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    let Err(err) = PostgresStore::open("postgres://app@db:port/shop") else {
        panic!("not a URL");
    };
    assert!(err.to_string().contains("store.url"), "{err}");
}

/// The database going away while a replica runs: its writes are refused
/// (an error, so nothing unstored is acknowledged) and none is half made;
/// when the database is back, the next call connects again by itself.
#[test]
fn writes_are_refused_while_the_database_is_away_and_go_on_when_it_is_back() {
    let Some(pg) = Postgres::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database(dir.path());
    let name = Postgres::name(dir.path());
    let store = PostgresStore::open(&url).unwrap().into_dyn();
    let append = |id: &str| store.write(|w| w.append_event(&event(id, "u", "a", 1)));
    assert!(append("before").unwrap());
    pg.admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    pg.admin(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    let err = append("while-away").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Connect { .. } | StoreError::Postgres { .. }
        ),
        "{err:?}"
    );
    assert!(store.event(&EventId::new("before").unwrap()).is_err());
    pg.admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    assert!(append("after").unwrap());
    let mut ids = Vec::new();
    store.scan_events(0, &mut |r| ids.push(r.seq)).unwrap();
    assert_eq!(ids.len(), 2, "the refused write left nothing");
    assert!(
        store
            .event(&EventId::new("while-away").unwrap())
            .unwrap()
            .is_none()
    );
}

/// Credentials the server refuses — a role it does not know, a database
/// that is not there — stop the open with the server's reason and the URL,
/// never the password.
#[test]
fn credentials_the_server_refuses_are_a_clear_error() {
    let Some(pg) = Postgres::from_env() else {
        return;
    };
    let (scheme_host, _) = pg.url.rsplit_once('/').unwrap();
    let host = scheme_host.rsplit_once('@').map_or(scheme_host, |(_, h)| h);
    let wrong_role = format!("postgres://nobody_here:s3cret@{host}/postgres");
    let Err(err) = PostgresStore::open(&wrong_role) else {
        panic!("the role does not exist");
    };
    let text = err.to_string();
    assert!(
        text.contains("cannot connect to PostgreSQL at postgres://nobody_here@"),
        "{text}"
    );
    assert!(text.contains("nobody_here"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    let wrong_db = format!("{scheme_host}/no_such_database");
    let Err(err) = PostgresStore::open(&wrong_db) else {
        panic!("the database does not exist");
    };
    assert!(err.to_string().contains("no_such_database"), "{err}");
}
