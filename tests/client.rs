//! `livetape::client` against a real server: resume across abrupt drops with nothing lost or
//! repeated, a restart told as `epoch_changed`, refusals typed, and `livetape tail`.

mod support;

use livetape::client::{Client, Error, Event, Options};
use livetape::protocol::{Channel, Data, ErrorCode, League, Seq, SnapshotReason};
use std::collections::BTreeMap;
use std::time::Duration;
use support::cutter::Cutter;

/// The next event within `secs`.
async fn next(client: &mut Client, secs: u64) -> Event {
    tokio::time::timeout(Duration::from_secs(secs), client.next())
        .await
        .expect("an event in time")
        .expect("the client runs")
}

/// What a client was handed, per channel: the snapshots' reasons and seqs, and every update.
#[derive(Default)]
struct Seen {
    snapshots: BTreeMap<Channel, Vec<(Option<SnapshotReason>, Seq)>>,
    updates: BTreeMap<Channel, BTreeMap<Seq, Data>>,
    /// Per channel, the last seq handed over: states and updates must continue it exactly.
    last: BTreeMap<Channel, Seq>,
    connects: u32,
}

impl Seen {
    fn take(&mut self, event: Event) {
        match event {
            Event::Connected { .. } => self.connects += 1,
            Event::Snapshot(s) => {
                for c in s.channels {
                    self.snapshots
                        .entry(c.channel.clone())
                        .or_default()
                        .push((s.reason, c.seq));
                    self.last.insert(c.channel, c.seq);
                }
            }
            Event::Batch(b) => {
                for u in b.updates {
                    let last = self.last.get(&u.channel).copied();
                    assert_eq!(
                        last.map(|s| s + 1),
                        Some(u.seq),
                        "{}: update {} handed over after {last:?}",
                        u.channel,
                        u.seq
                    );
                    self.last.insert(u.channel.clone(), u.seq);
                    self.updates
                        .entry(u.channel)
                        .or_default()
                        .insert(u.seq, u.data);
                }
            }
            Event::Refused { error, .. } => panic!("refused: {error:?}"),
            Event::Disconnected { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn quick(urls: Vec<String>) -> Options {
    let mut o = Options::new(urls);
    o.first_retry = Duration::from_millis(10);
    o.max_retry = Duration::from_millis(100);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_abrupt_drops_lose_and_repeat_nothing() {
    let server = support::server(support::config()).await;
    let symbols = support::connect(&server).await.symbols;
    let channels = vec![
        Channel::Quotes(symbols[0].clone()),
        Channel::Quotes(symbols[1].clone()),
        Channel::Trades(symbols[0].clone()),
        Channel::Scores(League::Hockey),
    ];
    let url = format!("ws://{}/ws", server.addr);
    let mut reference = Client::with_options(quick(vec![url]));
    reference.subscribe(channels.clone());
    let mut expected = Seen::default();
    // The reference has its snapshots before the other client subscribes.
    while expected.snapshots.len() < channels.len() {
        expected.take(next(&mut reference, 10).await);
    }

    let cutter = Cutter::start(server.addr.port(), 60..300, 21).await;
    let mut cut = Client::with_options(quick(vec![format!("ws://127.0.0.1:{}/ws", cutter.port)]));
    cut.subscribe(channels.clone());
    let mut got = Seen::default();
    // Bounded: 100 drops of at most 300 ms lifetime, with retries of at most 100 ms.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while cutter.cuts() < 100 {
        assert!(tokio::time::Instant::now() < deadline, "100 drops in 120 s");
        tokio::select! {
            e = next(&mut cut, 10) => got.take(e),
            e = next(&mut reference, 10) => expected.take(e),
        }
    }
    drop(cut);
    // The reference reads on until it has passed everything the other client got.
    while channels
        .iter()
        .any(|c| expected.last.get(c) < got.last.get(c))
    {
        expected.take(next(&mut reference, 10).await);
    }

    assert!(got.connects >= 50, "reconnected {} times", got.connects);
    let mut compared = 0;
    for c in &channels {
        // One snapshot per channel, on subscribing: every drop was resumed by replay.
        let snaps = &got.snapshots[c];
        assert_eq!(snaps.len(), 1, "{c}: snapshots {snaps:?}");
        assert_eq!(snaps[0].0, Some(SnapshotReason::Subscribed));
        // Every update the dropped client was handed is the reference's, seq for seq, and it
        // was handed every one from its snapshot on (`take` checked the continuity).
        let mine = got.updates.get(c).cloned().unwrap_or_default();
        for (seq, data) in &mine {
            assert_eq!(expected.updates[c].get(seq), Some(data), "{c} seq {seq}");
            compared += 1;
        }
    }
    assert!(compared > 100, "compared {compared} updates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_is_told_as_epoch_changed() {
    let first = support::server(support::config()).await;
    let addr = first.addr;
    let symbol = support::connect(&first).await.symbols[0].clone();
    let channel = Channel::Quotes(symbol);
    let mut client = Client::with_options(quick(vec![format!("ws://{addr}/ws")]));
    client.subscribe([channel.clone()]);
    let mut seen = Seen::default();
    while seen.updates.get(&channel).is_none_or(|u| u.len() < 3) {
        seen.take(next(&mut client, 10).await);
    }
    let old_epoch = first.epoch();
    first.shutdown.cancel();
    let _ = first.server.await;
    loop {
        match next(&mut client, 10).await {
            Event::Disconnected { error, .. } => {
                assert_eq!(
                    error,
                    Error::Closed {
                        code: 1001,
                        reason: "server shutting down".into()
                    }
                );
                break;
            }
            e => seen.take(e),
        }
    }
    let mut config = support::config();
    config.addr = Some(addr);
    let second = support::server(config).await;
    assert_ne!(second.epoch(), old_epoch);
    let snapshot = loop {
        match next(&mut client, 30).await {
            Event::Snapshot(s) => break s,
            Event::Connected { epoch, .. } => assert_eq!(epoch, second.epoch()),
            Event::Disconnected { .. } => {}
            other => panic!("expected a snapshot after the restart, got {other:?}"),
        }
    };
    assert_eq!(snapshot.reason, Some(SnapshotReason::EpochChanged));
    assert_eq!(snapshot.epoch, second.epoch());
    assert_eq!(snapshot.channels[0].channel, channel);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_typed() {
    // A channel the server does not list: refused, named, and not asked for again.
    let server = support::server(support::config()).await;
    let mut client = Client::connect([format!("ws://{}/ws", server.addr)]);
    let nope = Channel::Quotes("NOPE".into());
    client.subscribe([nope.clone()]);
    loop {
        match next(&mut client, 10).await {
            Event::Connected { .. } => {}
            Event::Refused { channels, error } => {
                assert_eq!(channels, [nope]);
                assert_eq!(error.code, ErrorCode::UnknownSymbol);
                break;
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    // In a request with good channels, only the refused one is given up.
    let symbol = support::connect(&server).await.symbols[0].clone();
    let good = Channel::Quotes(symbol);
    let bad = Channel::Trades("NOPE".into());
    client.subscribe([good.clone(), bad.clone()]);
    let mut refused = false;
    let mut seen = Seen::default();
    while !refused || !seen.snapshots.contains_key(&good) {
        match next(&mut client, 10).await {
            Event::Refused { channels, error } => {
                assert_eq!(channels, std::slice::from_ref(&bad));
                assert_eq!(error.code, ErrorCode::UnknownSymbol);
                refused = true;
            }
            e => seen.take(e),
        }
    }

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut client = Client::connect([format!("ws://127.0.0.1:{port}/ws")]);
    match next(&mut client, 10).await {
        Event::Disconnected {
            error: Error::Connect { .. },
            ..
        } => {}
        other => panic!("expected a connect error, got {other:?}"),
    }

    // A server that is full answers the handshake with 503.
    let mut config = support::config();
    config.max_connections = 1;
    let full = support::server(config).await;
    let _holder = support::connect(&full).await;
    let mut client = Client::connect([format!("ws://{}/ws", full.addr)]);
    match next(&mut client, 10).await {
        Event::Disconnected {
            error: error @ Error::Rejected { status: 503, .. },
            ..
        } => assert!(!error.is_refusal(), "a full server may have room later"),
        other => panic!("expected a 503, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_dropped_and_resumed() {
    let mut config = support::config();
    config.heartbeat_ms = 200;
    let server = support::server(config).await;
    let symbol = support::connect(&server).await.symbols[0].clone();
    let channel = Channel::Quotes(symbol);
    let proxy = support::cluster::FreezingProxy::start(server.addr.port()).await;
    let mut client = Client::with_options(quick(vec![format!("ws://127.0.0.1:{}/ws", proxy.port)]));
    client.subscribe([channel.clone()]);
    let mut seen = Seen::default();
    while seen.updates.get(&channel).is_none_or(|u| u.len() < 3) {
        seen.take(next(&mut client, 10).await);
    }
    proxy.freeze_open_connections();
    loop {
        match next(&mut client, 10).await {
            Event::Disconnected {
                error: Error::Silent { for_ms },
                ..
            } => {
                assert_eq!(for_ms, 600);
                break;
            }
            e => seen.take(e),
        }
    }
    // Back through a new connection, resumed: updates continue the seq (`take` checks).
    let before = seen.updates[&channel].len();
    while seen.updates[&channel].len() < before + 3 {
        seen.take(next(&mut client, 10).await);
    }
    assert_eq!(
        seen.snapshots[&channel].len(),
        1,
        "resumed, not snapshotted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_ndjson_and_exits_non_zero_when_refused() {
    let server = support::server(support::config()).await;
    let symbol = support::connect(&server).await.symbols[0].clone();
    let bin = env!("CARGO_BIN_EXE_livetape");
    // Each run is bounded: --count, a refusal or a failed connection ends it.
    let tail = |args: Vec<String>| async move {
        let run = tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin)
                .arg("tail")
                .args(args)
                .output()
        });
        tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("tail ends")
            .unwrap()
            .expect("tail runs")
    };
    let url = format!("http://{}", server.addr);
    let out = tail(vec![
        url.clone(),
        format!("quotes:{symbol}"),
        "--count".into(),
        "5".into(),
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let types: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object a line");
            v["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(types[..2], ["connected", "snapshot"], "{stdout}");
    assert!(types[2..].iter().all(|t| t == "batch"), "{stdout}");
    for line in stdout.lines().skip(1) {
        serde_json::from_str::<livetape::protocol::ServerMsg>(line)
            .expect("the protocol's own message");
    }

    let out = tail(vec![url, "quotes:NOPE".into()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("refused") && stderr.contains("NOPE"),
        "{stderr}"
    );

    let out = tail(vec!["ws://127.0.0.1:1/ws".into(), "breadth".into()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot connect"), "{stderr}");

    let out = tail(vec!["quotes:".into()]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_killed_with_sigkill_moves_the_client_to_another_with_no_gap() {
    use support::cluster::{Node, Redis};
    let redis = Redis::start(true).await;
    let producer = Node::start("producer", &redis, &[]).await;
    producer.wait_ready().await;
    let mut first = Node::start("edge", &redis, &[]).await;
    let second = Node::start("edge", &redis, &[]).await;
    first.wait_ready().await;
    second.wait_ready().await;
    let channels = vec![
        Channel::Quotes("AAPL".into()),
        Channel::Quotes("MSFT".into()),
        Channel::Scores(League::Hockey),
    ];
    let urls = vec![
        format!("ws://127.0.0.1:{}/ws", first.port),
        format!("ws://127.0.0.1:{}/ws", second.port),
    ];
    let mut client = Client::with_options(quick(urls.clone()));
    client.subscribe(channels.clone());
    let mut seen = Seen::default();
    let enough = |seen: &Seen, n: usize| {
        channels[..2]
            .iter()
            .all(|c| seen.updates.get(c).is_some_and(|u| u.len() >= n))
    };
    while !enough(&seen, 5) {
        let e = next(&mut client, 30).await;
        if let Event::Connected { url, .. } = &e {
            assert_eq!(*url, urls[0], "the first URL first");
        }
        seen.take(e);
    }
    first.kill9();
    let mut moved_to = None;
    let before: usize = seen.updates.values().map(|u| u.len()).sum();
    while moved_to.is_none() || seen.updates.values().map(|u| u.len()).sum::<usize>() < before + 20
    {
        let e = next(&mut client, 30).await;
        if let Event::Connected { url, .. } = &e {
            moved_to = Some(url.clone());
        }
        seen.take(e);
    }
    assert_eq!(moved_to.as_deref(), Some(urls[1].as_str()));
    // Resumed on the other edge by replay: still one snapshot per channel, and `take`
    // checked that every update continued its channel's seq.
    for c in &channels {
        assert_eq!(seen.snapshots[c].len(), 1, "{c}: {:?}", seen.snapshots[c]);
    }
}
