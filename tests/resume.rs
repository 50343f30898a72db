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
async fn a_client_back_from_away_asks_for_the_latest_and_gets_one_snapshot_not_a_replay() {
    let mut cfg = config();
    cfg.tick_ms = 10;
    let server = server(cfg).await;
    let mut c = connect(&server).await;
    let channels: Vec<_> = c.symbols.iter().take(5).map(|s| quotes(s)).collect();
    let (_, mut t) = c.subscribe_all(channels.clone()).await;
    let epoch = c.epoch;
    drop(c);
    // Away for 2 s: each quote moved several times, all of it still in the history (a plain
    // resume would replay every update).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut c = connect(&server).await;
    let mut back = t.resume(epoch);
    back.latest = true;
    let id = c.subscribe(channels.clone(), Some(back)).await;
    let mut states = Vec::new();
    loop {
        match c.next().await {
            ServerMsg::Ack { id: got, .. } => assert_eq!(got, id),
            ServerMsg::Snapshot(s) => {
                assert_eq!(s.reason, Some(SnapshotReason::Lagged));
                states.extend(s.channels.iter().map(|c| c.channel.clone()));
                t.snapshot(&s);
            }
            ServerMsg::Batch(b) => {
                // The live stream continues from the snapshots' seqs.
                let before = t.applied;
                t.batch(&b);
                assert!(
                    t.applied - before <= channels.len() as u64,
                    "a live tick, not a replay"
                );
                break;
            }
            ServerMsg::Heartbeat { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    states.sort();
    let mut moved = channels.clone();
    moved.sort();
    assert_eq!(
        states, moved,
        "every channel moved, each once, as its state now"
    );
    while t.applied < 100 {
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

/// One client with a watchlist of its own: the channels it asked for, those it dropped whose
/// ack has not come back yet, and what it applied.
struct Watcher {
    client: Client,
    watching: Vec<livetape::protocol::Channel>,
    leaving: Vec<(u64, Vec<livetape::protocol::Channel>)>,
    tracker: Tracker,
    seen: Vec<livetape::protocol::Update>,
}

impl Watcher {
    /// Reads one message: every update must be of a channel it watches (or one it dropped
    /// whose ack has not arrived), in seq order with nothing missing or repeated.
    async fn read_one(&mut self) -> ServerMsg {
        let msg = self.client.next().await;
        match &msg {
            ServerMsg::Batch(b) => {
                for u in &b.updates {
                    let allowed = self.watching.contains(&u.channel)
                        || self.leaving.iter().any(|(_, l)| l.contains(&u.channel));
                    assert!(allowed, "an update of {:?}, not watched", u.channel);
                }
                self.tracker.batch(b);
                self.seen.extend(b.updates.iter().cloned());
            }
            ServerMsg::Snapshot(s) => self.tracker.snapshot(s),
            ServerMsg::Ack { id, .. } => self.leaving.retain(|(l, _)| l != id),
            _ => {}
        }
        msg
    }

    /// Drops `out` and watches `new` instead, on the open connection, as a user editing a
    /// watchlist does: the unsubscribe's ack, then the subscribe's ack and snapshot.
    async fn change(
        &mut self,
        out: Vec<livetape::protocol::Channel>,
        new: Vec<livetape::protocol::Channel>,
    ) {
        let id = self.client.unsubscribe(out.clone()).await;
        self.watching.retain(|c| !out.contains(c));
        self.leaving.push((id, out.clone()));
        while self.leaving.iter().any(|(l, _)| *l == id) {
            self.read_one().await;
        }
        for c in &out {
            self.tracker.positions.remove(c);
        }
        let id = self.client.subscribe(new.clone(), None).await;
        self.watching.extend(new.iter().cloned());
        let mut acked = false;
        loop {
            match self.read_one().await {
                ServerMsg::Ack { id: got, .. } if got == id => acked = true,
                ServerMsg::Snapshot(s)
                    if acked
                        && s.channels.iter().any(|c| new.contains(&c.channel))
                        && new.iter().all(|c| self.tracker.positions.contains_key(c)) =>
                {
                    return;
                }
                _ => {}
            }
        }
    }
}

/// Personalised sets, resumed and changed: twelve clients, each watching its own eight of the
/// universe's quote channels, are cut 25 times each and resume; every few cuts some change
/// two of their channels on the open connection. Every batch holds only the client's
/// channels, every channel's updates come in seq order with none missing or repeated, and
/// each update is the one a reference client watching everything got under that seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_with_their_own_channels_get_exactly_them_across_cuts_and_changes() {
    use livetape::protocol::Channel;
    use std::collections::HashMap;
    let mut cfg = config();
    cfg.tick_ms = 10;
    let server = server(cfg).await;
    let mut reference = connect(&server).await;
    let universe: Vec<Channel> = reference.symbols.iter().map(|s| quotes(s)).collect();
    assert!(universe.len() >= 40, "a universe to choose from");
    let (_, mut whole) = reference.subscribe_all(universe.clone()).await;
    let epoch = reference.epoch;
    // The reference reads everything while the clients come and go.
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let referee = tokio::spawn(async move {
        let mut said: HashMap<(Channel, u64), livetape::protocol::Data> = HashMap::new();
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                msg = reference.next() => if let ServerMsg::Batch(b) = msg {
                    whole.batch(&b);
                    for u in b.updates {
                        said.insert((u.channel, u.seq), u.data);
                    }
                },
            }
        }
        (said, whole)
    });

    // Each client's own eight channels (a xorshift seeded by its number).
    let mut draw = 0x9e37_79b9_7f4a_7c15_u64;
    let mut pick = |n: usize| {
        draw ^= draw << 13;
        draw ^= draw >> 7;
        draw ^= draw << 17;
        (draw % n as u64) as usize
    };
    let mut watchers = Vec::new();
    for _ in 0..12 {
        let mut own: Vec<Channel> = Vec::new();
        while own.len() < 8 {
            let c = universe[pick(universe.len())].clone();
            if !own.contains(&c) {
                own.push(c);
            }
        }
        let mut client = connect(&server).await;
        let (_, tracker) = client.subscribe_all(own.clone()).await;
        watchers.push(Watcher {
            client,
            watching: own,
            leaving: Vec::new(),
            tracker,
            seen: Vec::new(),
        });
    }
    let mut changes = 0;
    for round in 0..25usize {
        for (k, w) in watchers.iter_mut().enumerate() {
            for _ in 0..(1 + (round + k) % 4) {
                w.read_one().await;
            }
            if (round + k) % 5 == 0 {
                let out: Vec<Channel> = w.watching[..2].to_vec();
                let mut new = Vec::new();
                while new.len() < 2 {
                    let c = universe[pick(universe.len())].clone();
                    if !w.watching.contains(&c) && !new.contains(&c) {
                        new.push(c);
                    }
                }
                w.change(out, new).await;
                changes += 1;
            }
            // Cut without a Close, then resume what it watches now.
            let fresh = connect(&server).await;
            assert_eq!(fresh.epoch, epoch);
            drop(std::mem::replace(&mut w.client, fresh));
            let reasons = resume(&mut w.client, &mut w.tracker, w.watching.clone(), epoch).await;
            assert!(
                reasons.is_empty(),
                "history covers a short cut: {reasons:?}"
            );
        }
    }
    for w in &mut watchers {
        for _ in 0..5 {
            w.read_one().await;
        }
    }
    // Let the reference read past what the clients saw, then compare.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_tx.send(()).unwrap();
    let (said, whole) = referee.await.unwrap();
    assert_eq!(
        (whole.gaps, whole.duplicates),
        (0, 0),
        "the reference itself"
    );
    let mut checked = 0;
    for w in &watchers {
        assert_eq!(
            (w.tracker.gaps, w.tracker.duplicates),
            (0, 0),
            "{:?}",
            w.tracker
        );
        for u in &w.seen {
            assert_eq!(
                said.get(&(u.channel.clone(), u.seq)),
                Some(&u.data),
                "{:?} seq {} is what everyone else got",
                u.channel,
                u.seq
            );
            checked += 1;
        }
    }
    assert!(changes >= 50, "{changes} watchlist changes");
    assert!(checked > 1000, "{checked} updates checked");
    eprintln!(
        "12 clients with their own 8 channels, cut 25 times each, {changes} watchlist changes: {checked} updates checked against the reference, 0 gaps, 0 duplicates"
    );
}
