//! Reconnect and resume: a client that drops its connection and comes back loses nothing and
//! sees nothing twice, or is told why it cannot resume and given a fresh snapshot.
#![cfg(feature = "ssr")]

mod support;

use livetape::protocol::{ServerMsg, SnapshotReason};
use std::time::Duration;
use support::*;

/// Reads the answer to a subscribe: the ack, then any snapshots and the replay, until the
/// first live batch after them. Returns the snapshot reasons seen.
async fn resume(
    c: &mut Client,
    t: &mut Tracker,
    channels: Vec<livetape::protocol::Channel>,
    epoch: u64,
) -> Vec<SnapshotReason> {
    let id = c.subscribe(channels, Some(t.resume(epoch))).await;
    let mut reasons = Vec::new();
    loop {
        match c.next().await {
            ServerMsg::Ack { id: got, .. } => {
                assert_eq!(got, id);
                break;
            }
            ServerMsg::Heartbeat { .. } => {}
            other => panic!("nothing streams before the ack: {other:?}"),
        }
    }
    // Snapshots (if any) and the replay come before anything else.
    loop {
        match c.next().await {
            ServerMsg::Snapshot(s) => {
                reasons.push(s.reason.expect("snapshots say why"));
                t.snapshot(&s);
            }
            ServerMsg::Batch(b) => {
                t.batch(&b);
                return reasons;
            }
            ServerMsg::Heartbeat { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_forced_disconnects_lose_nothing_and_repeat_nothing() {
    let mut cfg = config();
    cfg.tick_ms = 10;
    let server = server(cfg).await;
    let mut c = connect(&server).await;
    let channels = all_channels(&c.symbols.clone(), 10);
    let (_, mut t) = c.subscribe_all(channels.clone()).await;
    let epoch = c.epoch;
    let mut replayed_connections = 0;
    for round in 0..100u64 {
        // Read a varying number of messages, then drop the connection without a Close.
        for _ in 0..(round % 7) {
            if let ServerMsg::Batch(b) = c.next().await {
                t.batch(&b);
            }
        }
        drop(c);
        // Stay away for a few ticks so that there is something to replay.
        tokio::time::sleep(Duration::from_millis(5 + (round % 4) * 10)).await;
        c = connect(&server).await;
        assert_eq!(c.epoch, epoch, "same server, same epoch");
        let before = t.applied;
        let reasons = resume(&mut c, &mut t, channels.clone(), epoch).await;
        assert!(
            reasons.is_empty(),
            "round {round}: history should cover a short absence, got {reasons:?}"
        );
        if t.applied > before {
            replayed_connections += 1;
        }
    }
    for _ in 0..20 {
        if let ServerMsg::Batch(b) = c.next().await {
            t.batch(&b);
        }
    }
    assert_eq!(t.gaps, 0, "{t:?}");
    assert_eq!(t.duplicates, 0, "{t:?}");
    assert!(t.applied > 500, "{} updates applied", t.applied);
    assert!(
        replayed_connections >= 90,
        "only {replayed_connections} resumes replayed anything"
    );
    eprintln!(
        "100 forced disconnects: {} updates applied over {} channels, 0 gaps, 0 duplicates",
        t.applied,
        channels.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_history_is_exhausted_the_client_is_told_and_gets_a_snapshot() {
    let mut cfg = config();
    cfg.tick_ms = 10;
    cfg.history = 4;
    let server = server(cfg).await;
    let mut c = connect(&server).await;
    let channels: Vec<_> = c.symbols.iter().take(5).map(|s| quotes(s)).collect();
    let (_, mut t) = c.subscribe_all(channels.clone()).await;
    let epoch = c.epoch;
    drop(c);
    // Quotes move ~3 times a second; after 4 s every channel is far past 4 updates.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut c = connect(&server).await;
    let reasons = resume(&mut c, &mut t, channels.clone(), epoch).await;
    assert_eq!(reasons, vec![SnapshotReason::HistoryExhausted]);
    // From the snapshot on, the stream is gap free again.
    while t.applied < 50 {
        if let ServerMsg::Batch(b) = c.next().await {
            t.batch(&b);
        }
    }
    assert_eq!((t.gaps, t.duplicates), (0, 0), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_client_with_1001_and_a_restart_is_a_new_epoch() {
    let mut cfg = config();
    let first = server(cfg.clone()).await;
    // (The second server below binds the same address, as a restarted one would.)
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = connect(&first).await;
        let channels: Vec<_> = c.symbols.iter().take(3).map(|s| quotes(s)).collect();
        let (_, t) = c.subscribe_all(channels).await;
        clients.push((c, t));
    }
    let old_epoch = clients[0].0.epoch;
    let started = tokio::time::Instant::now();
    first.shutdown.cancel();
    for (c, _) in &mut clients {
        match c.end(Duration::from_secs(5)).await {
            End::Closed(code, reason) => {
                assert_eq!(code, 1001, "{reason}");
                assert!(reason.contains("shutting down"), "{reason}");
            }
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    first
        .server
        .await
        .expect("server task")
        .expect("server exits cleanly");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

    // The same address again, as after a restart: resuming from the old epoch is refused with
    // an explicit snapshot.
    cfg.addr = Some(first.addr);
    let second = server(cfg).await;
    let (_, mut t) = clients.pop().unwrap();
    let mut c = connect(&second).await;
    assert_ne!(c.epoch, old_epoch);
    let channels: Vec<_> = t.positions.keys().cloned().collect();
    let reasons = resume(&mut c, &mut t, channels, old_epoch).await;
    assert_eq!(reasons, vec![SnapshotReason::EpochChanged]);
    eprintln!("shutdown: 5 clients closed with 1001, server exited in {took:?}");
}
