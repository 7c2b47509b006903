//! The exposure log under kill -9, with every core busy with other work:
//! every list answered more than a second before the kill is in the log
//! after a restart, under the request id its answer carried, with the
//! items in the order served.

use super::{agent, get_json, key, post_json, start};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn served_lists_committed_before_a_kill_9_are_in_the_exposure_log() {
    let dir = tempfile::tempdir().unwrap();
    let auth = key(dir.path());
    let (mut child, url) = start(dir.path());
    let items: Vec<String> = (0..40)
        .map(|i| {
            format!(r#"{{"id":"i{i}","kind":"movie","title":"Film {i}","categories":["Drama"]}}"#)
        })
        .collect();
    post_json(&url, "/v1/items", &auth, &format!("[{}]", items.join(","))).expect("items");
    let events: Vec<String> = (0..400)
        .map(|i| {
            format!(
                r#"{{"id":"e{i}","user":"u{}","item":"i{}","kind":"click","timestamp":{}}}"#,
                i % 20,
                (i * 7) % 40,
                1_700_000_000 + i
            )
        })
        .collect();
    post_json(
        &url,
        "/v1/events",
        &auth,
        &format!("[{}]", events.join(",")),
    )
    .expect("events");

    let dead = Arc::new(AtomicBool::new(false));
    let dead_flag = dead.clone();
    // Other work keeps every core busy meanwhile (as a fit or another
    // process would): the writer, idle-class while it keeps up, must still
    // commit within its margin.
    let busy: Vec<_> = (0..std::thread::available_parallelism().map_or(2, |n| n.get()))
        .map(|_| {
            let dead = dead_flag.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !dead.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        })
        .collect();

    // Answers keep coming while the server is killed.
    type Answered = Vec<(String, Vec<String>, Instant)>;
    let answered: Arc<Mutex<Answered>> = Arc::default();
    let asker = {
        let (answered, dead, url, auth) =
            (answered.clone(), dead.clone(), url.clone(), auth.clone());
        std::thread::spawn(move || {
            let agent = agent();
            for n in 0.. {
                let sent = agent
                    .post(format!("{url}/v1/recommend"))
                    .header("content-type", "application/json")
                    .header("authorization", &auth)
                    .send(format!(r#"{{"user_id":"u{}","k":5}}"#, n % 20));
                match sent {
                    Ok(mut r) if r.status() == 200 => {
                        let v: serde_json::Value =
                            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                        let items = v["items"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|i| i["item"].as_str().unwrap().to_string())
                            .collect();
                        let id = v["request_id"].as_str().unwrap().to_string();
                        answered.lock().unwrap().push((id, items, Instant::now()));
                    }
                    _ if dead.load(Ordering::SeqCst) => return,
                    other => panic!("unexpected failure while the server was up: {other:?}"),
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "too few answers");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Answers keep coming past the commit margin below, then the kill.
    std::thread::sleep(Duration::from_millis(1_500));
    dead.store(true, Ordering::SeqCst);
    let killed = Instant::now();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    asker.join().unwrap();
    for b in busy {
        b.join().unwrap();
    }
    let answered = answered.lock().unwrap().clone();

    let (mut child, url) = start(dir.path());
    // The writer commits at least every 20 ms; a second is ample margin.
    let old: Vec<&(String, Vec<String>, Instant)> = answered
        .iter()
        .filter(|(_, _, at)| killed.duration_since(*at) > Duration::from_secs(1))
        .collect();
    assert!(old.len() >= 100, "{} answers before the margin", old.len());
    for (id, items, _) in &old {
        let logged = get_json(&url, &format!("/v1/admin/exposures/{id}"), &auth);
        assert_eq!(logged["surface"], "recommend");
        let shown: Vec<(&str, u64)> = logged["served"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["item"].as_str().unwrap(), i["position"].as_u64().unwrap()))
            .collect();
        let want: Vec<(&str, u64)> = items
            .iter()
            .enumerate()
            .map(|(p, i)| (i.as_str(), p as u64 + 1))
            .collect();
        assert_eq!(shown, want, "{id}");
        assert!(
            logged["user"].as_str().unwrap().starts_with("p_"),
            "a pseudonym"
        );
    }
    // A user's lists, newest first; request ids sort by time.
    let of_u3 = get_json(&url, "/v1/admin/exposures?user=u3&n=1000", &auth);
    let ids: Vec<&str> = of_u3
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert!(ids.len() >= old.len() / 20, "{} lists of u3", ids.len());
    assert!(ids.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let _ = child.kill();
    let _ = child.wait();
}
