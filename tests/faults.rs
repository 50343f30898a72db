//! Faults a server meets on a bad night, each against the binary under test: the process
//! frozen (SIGSTOP) under a thousand clients, the feed task panicking, a log reader that
//! stops reading. Nothing a client has seen is lost or repeated; nothing stale is served as
//! live; logging never holds up the feed.
#![cfg(feature = "ssr")]

mod support;

use livetape::protocol::{Channel, League};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::cluster::*;
use support::crowd::{Crowd, SILENCE};
use tokio::time::Instant;

fn light() -> Vec<Channel> {
    vec![
        Channel::Quotes("AAPL".into()),
        Channel::Quotes("MSFT".into()),
        Channel::Scores(League::Hockey),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_frozen_for_10_s_under_1000_clients_is_detected_and_everyone_resumes_with_no_gap()
{
    let mut node = Node::embedded(&[], &[]).await;
    node.wait_ready().await;
    let n = 1000;
    let crowd = Crowd::start(n, node.port, light()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !crowd.all_placed() {
        assert!(Instant::now() < deadline, "not every client connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    node.signal("STOP");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (lost, _, _) = crowd.lost_and_back();
    node.signal("CONT");
    let resumed = Instant::now();
    // Every client noticed the silence on its own (TCP did not: the connections stayed up).
    assert_eq!(lost, n, "clients that noticed the frozen server");

    let deadline = Instant::now() + Duration::from_secs(60);
    let last_back = loop {
        let (lost, back, last) = crowd.lost_and_back();
        if back == lost {
            break last.expect("back");
        }
        assert!(
            Instant::now() < deadline,
            "only {back} of {lost} clients back after SIGCONT"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gaps = crowd.gaps.load(Ordering::Relaxed);
    let dups = crowd.duplicates.load(Ordering::Relaxed);
    let snapshots = crowd.snapshots.load(Ordering::Relaxed);
    let silences = crowd.silences.load(Ordering::Relaxed);
    println!(
        "SIGSTOP 10 s under {n} clients: {silences} silences detected ({SILENCE:?} each), the last client back {} ms after SIGCONT; {gaps} gaps, {dups} duplicates, {snapshots} snapshots in place of a replay",
        last_back.saturating_duration_since(resumed).as_millis()
    );
    crowd.stop().await;
    assert_eq!((gaps, dups, snapshots), (0, 0, 0));
    assert_eq!(node.readyz().await["ready"], true);
    node.signal("TERM");
    assert_eq!(node.exit_code(Duration::from_secs(10)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_feed_is_logged_closes_every_session_with_1001_and_exits_70() {
    // Debug builds only: the feed panics after 30 ticks (3 s).
    let mut node = Node::embedded(&[], &[("LIVETAPE_FAULT_FEED_PANIC_AFTER", "30")]).await;
    node.wait_ready().await;
    let mut f = Follower::new(light());
    f.connect(node.port).await.expect("connects");
    let ended = loop {
        match f.step(Duration::from_secs(10)).await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        ended.contains("(1001"),
        "the session was closed with 1001 Going Away: {ended}"
    );
    assert!(f.applied > 0, "the feed ran before it failed");
    assert_eq!(
        node.exit_code(Duration::from_secs(10)).await,
        Some(70),
        "exit code EX_SOFTWARE for the supervisor"
    );
    let log = node.log_text();
    assert!(
        log.contains("panicked") && log.contains("fault injected"),
        "the panic is in the log:\n{log}"
    );
    assert!(
        http_get(node.port, "/").await.is_none(),
        "nothing is served after the feed died"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_reader_that_stops_reading_does_not_stall_the_feed() {
    // Every log line at trace level into a pipe nobody reads: it fills after 64 KiB.
    let node = Node::spawn(
        "embedded",
        &[],
        &[("RUST_LOG", "trace")],
        Some(Stdio::piped()),
    )
    .await;
    node.wait_ready().await;
    // Plenty of log lines: connections opened and closed, each logged.
    for _ in 0..300 {
        let url = format!("ws://127.0.0.1:{}/ws", node.port);
        let ws = livetape::client::Connection::open(&url, Duration::from_secs(5))
            .await
            .expect("connects (and is welcomed) in time while the log is blocked");
        drop(ws);
    }
    let pending = node.stdout_pending();
    assert!(
        pending >= 60_000,
        "the pipe is full: {pending} bytes unread"
    );
    let mut f = Follower::new(light());
    f.connect(node.port).await.expect("connects");
    let start_tick = node.tick().await;
    let started = Instant::now();
    let mut batches = 0;
    while started.elapsed() < Duration::from_secs(3) {
        if let Ok(Some(livetape::protocol::ServerMsg::Batch(_))) =
            f.step(Duration::from_secs(1)).await
        {
            batches += 1;
        }
    }
    let ticks = node.tick().await - start_tick;
    let ready = node.readyz().await;
    println!("log pipe blocked: {ticks} ticks and {batches} batches in 3 s; {ready}");
    assert!(
        ticks >= 20,
        "the feed kept ticking (100 ms ticks): {ticks} in 3 s"
    );
    assert!(batches >= 5, "batches kept coming: {batches} in 3 s");
    assert_eq!(ready["ready"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_one_line_per_connection_open_and_close_and_none_per_message() {
    let mut node = Node::embedded(&["--log-format", "json"], &[]).await;
    node.wait_ready().await;
    let before = node.log_text().lines().count();
    let mut f = Follower::new(light());
    f.connect(node.port).await.expect("connects");
    f.read_for(Duration::from_secs(2)).await.unwrap();
    assert!(f.applied > 5, "updates came: {}", f.applied);
    drop(f);
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.signal("TERM");
    assert_eq!(node.exit_code(Duration::from_secs(10)).await, Some(0));
    let log = node.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let during = &lines[before..];
    let opened: Vec<_> = during
        .iter()
        .filter(|l| l["message"] == "connection open")
        .collect();
    let closed: Vec<_> = during
        .iter()
        .filter(|l| l["message"] == "connection closed")
        .collect();
    assert_eq!((opened.len(), closed.len()), (1, 1), "{log}");
    let c = closed[0];
    for field in [
        "transport",
        "peer",
        "origin",
        "code",
        "duration_ms",
        "messages",
        "lag_events",
    ] {
        assert!(!c[field].is_null(), "{field} in {c}");
    }
    assert_eq!(c["transport"], "ws");
    assert!(c["messages"].as_u64().unwrap() > 5);
    assert!(c["duration_ms"].as_u64().unwrap() >= 2000);
    assert_eq!(c["level"], "INFO");
    // Nothing else was logged per message: besides the two connection lines, only the
    // shutdown's.
    let others: Vec<_> = during
        .iter()
        .filter(|l| l["message"] != "connection open" && l["message"] != "connection closed")
        .collect();
    assert!(others.len() <= 3, "{others:#?}");
}
