//! `/sse`: the feed as Server-Sent Events, with the same messages, seqs and resume as `/ws`,
//! through a real reverse proxy too.
#![cfg(feature = "ssr")]

mod support;

use livetape::protocol::{Channel, Interval, League, ServerMsg, SnapshotReason};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::cluster::free_port;
use support::sse::SseClient;
use support::*;

fn url(server: &livetape::server::Running, query: &str) -> String {
    format!("http://{}/sse?{query}", server.addr)
}

/// A careful client's bookkeeping over SSE events.
#[derive(Default)]
struct Follow {
    epoch: u64,
    positions: std::collections::BTreeMap<Channel, u64>,
    seen: HashMap<(Channel, u64), livetape::protocol::Data>,
    applied: u64,
    gaps: u64,
    duplicates: u64,
    reasons: Vec<SnapshotReason>,
}

impl Follow {
    fn apply(&mut self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Snapshot(s) => {
                self.epoch = s.epoch;
                self.reasons.extend(s.reason);
                for c in &s.channels {
                    self.positions.insert(c.channel.clone(), c.seq);
                }
            }
            ServerMsg::Batch(b) => {
                for u in &b.updates {
                    let last = self.positions.get(&u.channel).copied().unwrap_or(0);
                    if u.seq == last + 1 {
                        self.applied += 1;
                        self.positions.insert(u.channel.clone(), u.seq);
                        self.seen.insert((u.channel.clone(), u.seq), u.data.clone());
                    } else if u.seq <= last {
                        self.duplicates += 1;
                    } else {
                        self.gaps += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// `from=` for the URL: every channel's position.
    fn from(&self) -> String {
        self.positions
            .iter()
            .map(|(c, s)| format!("{c}@{s}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn channels() -> (String, Vec<Channel>) {
    let list = vec![
        Channel::Quotes("AAPL".into()),
        Channel::Quotes("MSFT".into()),
        Channel::Trades("AAPL".into()),
        Channel::Candles("AAPL".into(), Interval::OneSecond),
        Channel::Scores(League::Hockey),
    ];
    let names = list
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    (names, list)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_starts_with_welcome_and_snapshot_then_ordered_batches() {
    let server = server(config()).await;
    let mut sse = SseClient::connect(&url(&server, "channels=quotes:*,scores:*"), None)
        .await
        .unwrap();
    let first = sse.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.kind, "welcome");
    let ServerMsg::Welcome {
        universe, epoch, ..
    } = first.msg
    else {
        panic!("a welcome first")
    };
    let mut f = Follow::default();
    let mut snapshot_channels = 0;
    let mut batches = 0;
    let mut last_tick = 0u64;
    while batches < 30 {
        let e = sse
            .next(Duration::from_secs(5))
            .await
            .expect("events keep coming");
        match &e.msg {
            ServerMsg::Snapshot(s) => {
                assert_eq!(e.kind, "snapshot");
                assert_eq!(s.reason, Some(SnapshotReason::Subscribed));
                snapshot_channels += s.channels.len();
            }
            ServerMsg::Batch(_) => {
                assert_eq!(e.kind, "batch");
                let id = e.id.clone().expect("every batch has an id");
                let (ep, n) = id.split_once('.').unwrap();
                assert_eq!(ep.parse::<u64>().unwrap(), epoch);
                let n: u64 = n.parse().unwrap();
                assert!(n > last_tick, "ids move forward: {n} after {last_tick}");
                last_tick = n;
                batches += 1;
            }
            ServerMsg::Heartbeat { .. } => assert_eq!(e.kind, "heartbeat"),
            other => panic!("unexpected {other:?}"),
        }
        f.apply(&e.msg);
    }
    assert_eq!(snapshot_channels, universe as usize + League::ALL.len());
    assert_eq!((f.gaps, f.duplicates), (0, 0));
    assert!(f.applied > 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_cut_streams_resumed_by_query_and_by_last_event_id_lose_and_repeat_nothing() {
    let mut cfg = config();
    cfg.tick_ms = 10;
    let server = server(cfg).await;
    let (names, list) = channels();
    // The reference reads the same channels over /ws, never disconnecting.
    let mut reference = connect(&server).await;
    let (_, mut tracker) = reference.subscribe_all(list.clone()).await;
    let mut seen_ref: HashMap<(Channel, u64), livetape::protocol::Data> = HashMap::new();
    let mut f = Follow::default();
    let mut sse = SseClient::connect(&url(&server, &format!("channels={names}")), None)
        .await
        .unwrap();
    let (mut by_query, mut by_id) = (0, 0);
    for round in 0..50u64 {
        for _ in 0..(3 + round % 5) {
            if let Some(e) = sse.next(Duration::from_secs(5)).await {
                f.apply(&e.msg);
            }
        }
        // Cut the stream (as a network failure would), stay away a few ticks, resume.
        let last_id = sse.last_id.clone();
        drop(sse);
        tokio::time::sleep(Duration::from_millis(5 + (round % 4) * 10)).await;
        sse = if round % 2 == 0 && last_id.is_some() {
            by_id += 1;
            // What the browser's EventSource does on its own.
            SseClient::connect(
                &url(&server, &format!("channels={names}")),
                last_id.as_deref(),
            )
            .await
            .unwrap()
        } else {
            by_query += 1;
            let q = format!("channels={names}&epoch={}&from={}", f.epoch, f.from());
            SseClient::connect(&url(&server, &q), None).await.unwrap()
        };
        // Keep the reference reading too.
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(
            Duration::from_millis(1),
            futures_util::StreamExt::next(reference.socket()),
        )
        .await
        {
            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
                if let Ok(ServerMsg::Batch(b)) = serde_json::from_str::<ServerMsg>(&t) {
                    for u in &b.updates {
                        seen_ref.insert((u.channel.clone(), u.seq), u.data.clone());
                    }
                    tracker.batch(&b);
                }
            }
        }
    }
    // Let both run on a little, then compare seq for seq.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < until {
        if let Some(e) = sse.next(Duration::from_millis(100)).await {
            f.apply(&e.msg);
        }
    }
    loop {
        match tokio::time::timeout(
            Duration::from_millis(50),
            futures_util::StreamExt::next(reference.socket()),
        )
        .await
        {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                if let Ok(ServerMsg::Batch(b)) = serde_json::from_str::<ServerMsg>(&t) {
                    for u in &b.updates {
                        seen_ref.insert((u.channel.clone(), u.seq), u.data.clone());
                    }
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    let mut compared = 0;
    for (key, data) in &f.seen {
        if let Some(theirs) = seen_ref.get(key) {
            assert_eq!(data, theirs, "{key:?}");
            compared += 1;
        }
    }
    println!(
        "SSE resume: 50 cut streams ({by_id} by Last-Event-ID, {by_query} by query), {} updates applied, {compared} compared with a /ws client, {} gaps, {} duplicates",
        f.applied, f.gaps, f.duplicates
    );
    assert_eq!((f.gaps, f.duplicates), (0, 0));
    assert!(by_id >= 20 && by_query >= 20);
    assert!(compared > 200, "{compared}");
    assert!(
        f.reasons.iter().all(|r| *r == SnapshotReason::Subscribed),
        "every resume replayed: {:?}",
        f.reasons
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_and_websocket_share_the_connection_cap_and_bad_requests_get_400() {
    let mut cfg = config();
    cfg.max_connections = 2;
    let server = server(cfg).await;
    let _ws = connect(&server).await;
    let _sse = SseClient::connect(&url(&server, "channels=scores:*"), None)
        .await
        .unwrap();
    let refused = SseClient::connect(&url(&server, "channels=scores:*"), None).await;
    assert_eq!(refused.err().map(|e| e.0), Some(503));
    let ws_url = format!("ws://{}/ws", server.addr);
    let ws = livetape::client::Connection::open(&ws_url, Duration::from_secs(5)).await;
    assert!(
        matches!(
            ws,
            Err(livetape::client::Error::Rejected { status: 503, .. })
        ),
        "the WebSocket is refused as well"
    );
    // A bad request is told what is wrong even while the server is full.
    let bad = SseClient::connect(&url(&server, "channels=candles:AAPL:5m"), None).await;
    let (status, body) = bad.err().unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("bad_interval"), "{body}");
    let bad = SseClient::connect(&url(&server, "channels=quotes:NOPE"), None).await;
    assert!(bad.err().unwrap().1.contains("unknown_symbol"));
    drop(_sse);
    // The slot comes back when the stream's session notices the client left.
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if SseClient::connect(&url(&server, "channels=scores:*"), None)
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "a freed slot is used again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_on_shutdown_and_resumes_with_the_new_epoch() {
    let server = server(config()).await;
    let mut sse = SseClient::connect(&url(&server, "channels=scores:*"), None)
        .await
        .unwrap();
    while sse
        .next(Duration::from_secs(2))
        .await
        .is_some_and(|e| e.kind != "snapshot")
    {}
    server.shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while sse.next(Duration::from_secs(5)).await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ends when the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_buffering_nginx_the_stream_still_arrives_tick_by_tick() {
    let mut cfg = config();
    cfg.tick_ms = 50;
    let server = server(cfg).await;
    let dir = std::env::temp_dir().join(format!("livetape-nginx-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    // Debian's nginx with a stock proxy_pass: buffering is on by default; the stream's
    // X-Accel-Buffering header is what turns it off.
    let conf = format!(
        "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://{upstream}; }} }}
}}",
        d = dir.display(),
        upstream = server.addr
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let _nginx = Nginx(
        Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs (scripts/setup.sh installs it)"),
    );
    let mut sse = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(c) = SseClient::connect(
            &format!("http://127.0.0.1:{port}/sse?channels=quotes:*"),
            None,
        )
        .await
        {
            sse = Some(c);
            break;
        }
    }
    let mut sse = sse.expect("nginx proxies the stream");
    let mut latencies = Vec::new();
    while latencies.len() < 40 {
        let e = sse
            .next(Duration::from_secs(5))
            .await
            .expect("events through nginx");
        if let ServerMsg::Batch(b) = e.msg {
            latencies.push((chrono::Utc::now() - b.ts).num_microseconds().unwrap() as f64 / 1000.0);
        }
    }
    drop(_nginx);
    let _ = std::fs::remove_dir_all(&dir);
    latencies.sort_by(f64::total_cmp);
    let (p50, p99) = (latencies[20], latencies[39]);
    println!("SSE through nginx (stock proxy_pass): 40 batches, latency p50 {p50:.1} ms, max {p99:.1} ms");
    // Buffered, 40 small batches would arrive in a few bursts, hundreds of ms late.
    assert!(
        p50 < 50.0,
        "batches held back by the proxy: p50 {p50:.1} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sse_reader_is_conflated_and_told_not_buffered_for() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut cfg = config();
    cfg.tick_ms = 5;
    cfg.symbols = 300;
    cfg.quote_rate = 100.0;
    cfg.lag_capacity = 16;
    let server = server(cfg).await;
    // HTTP/1.0 (no chunked framing) on a socket whose receive buffer cannot grow.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /sse?channels=quotes:* HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    let mut buf = vec![0u8; 4096];
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        // Slow for three seconds, then fast.
        if started.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await {
            Ok(Ok(0)) => panic!("the server gave up on a slow reader"),
            Ok(Ok(n)) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => {}
        }
    }
    let body = text.split_once("\r\n\r\n").unwrap().1;
    let mut f = Follow::default();
    let mut lagged = 0;
    // The last event may be cut off mid-way.
    let events: Vec<&str> = body.split("\n\n").collect();
    for event in &events[..events.len() - 1] {
        let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
            continue;
        };
        let msg: ServerMsg = serde_json::from_str(data).unwrap();
        if let ServerMsg::Snapshot(s) = &msg {
            if s.reason == Some(SnapshotReason::Lagged) {
                lagged += 1;
            }
        }
        f.apply(&msg);
    }
    println!(
        "slow SSE reader: {lagged} lagged snapshots, {} updates applied, {} gaps",
        f.applied, f.gaps
    );
    assert!(lagged > 0, "caught up by conflation");
    assert_eq!((f.gaps, f.duplicates), (0, 0));
}

/// An nginx master process, stopped when dropped (also when the test fails): SIGTERM, so that
/// the master stops its worker too (SIGKILL to the master would leave the worker running).
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill(2) with the pid of our own child.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        for _ in 0..50 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
