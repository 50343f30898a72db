//! The feed protocol over real sockets: welcome, subscribe/ack/error, snapshots then ordered
//! updates per channel, unsubscribe, candles, heartbeats, and the page rendered from live state.
#![cfg(feature = "ssr")]

mod support;

use livetape::protocol::{
    Channel, ClientMsg, Data, ErrorCode, Interval, League, ServerMsg, SnapshotReason,
};
use std::collections::BTreeMap;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_gets_ack_snapshot_then_gap_free_updates_per_channel() {
    let server = server(config()).await;
    let mut c = connect(&server).await;
    assert_eq!(c.symbols.len(), 60, "welcome lists every symbol");
    let channels = all_channels(&c.symbols.clone(), 60);
    let (snap, mut t) = c.subscribe_all(channels.clone()).await;
    assert_eq!(snap.reason, Some(SnapshotReason::Subscribed));
    assert_eq!(snap.epoch, c.epoch);
    for state in &snap.channels {
        match (&state.channel, &state.data) {
            (Channel::Quotes(s), Data::Quote(q)) => assert_eq!(&q.symbol, s),
            (Channel::Trades(_), Data::Trades(_)) => {}
            (Channel::Candles(..), Data::Candles(_)) => {}
            (Channel::Scores(l), Data::Games(games)) => {
                assert!(games.iter().all(|g| g.league == *l))
            }
            (c, d) => panic!("{c} carried {d:?}"),
        }
    }
    let mut kinds = std::collections::BTreeSet::new();
    // Scores are sent on change and every 5 s; wait for every kind, at most 12 s.
    let until = tokio::time::Instant::now() + Duration::from_secs(12);
    while (t.applied < 2_000 || kinds.len() < 4) && tokio::time::Instant::now() < until {
        if let ServerMsg::Batch(b) = c.next().await {
            for u in &b.updates {
                kinds.insert(u.channel.to_string().split(':').next().unwrap().to_string());
            }
            t.batch(&b);
        }
    }
    assert_eq!((t.gaps, t.duplicates), (0, 0), "{t:?}");
    for kind in ["quotes", "trades", "candles", "scores"] {
        assert!(kinds.contains(kind), "no {kind} updates: {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_typed_error_with_its_id_and_nothing_changes() {
    let mut cfg = config();
    cfg.max_subscriptions = 5;
    // Room for this many invalid messages; the garbage limit has its own test.
    cfg.rate = 100;
    let server = server(cfg).await;
    let mut c = connect(&server).await;

    let cases = [
        (
            r#"{"type":"subscribe","id":1,"channels":["quotes:NOPE"]}"#,
            ErrorCode::UnknownSymbol,
            Some(1),
        ),
        (
            r#"{"type":"subscribe","id":2,"channels":["candles:AAPL:5m"]}"#,
            ErrorCode::BadInterval,
            Some(2),
        ),
        (
            r#"{"type":"subscribe","id":3,"channels":["scores:curling"]}"#,
            ErrorCode::UnknownLeague,
            Some(3),
        ),
        (
            r#"{"type":"subscribe","id":4,"channels":["books:AAPL"]}"#,
            ErrorCode::UnknownChannel,
            Some(4),
        ),
        (
            r#"{"type":"subscribe","id":5}"#,
            ErrorCode::Malformed,
            Some(5),
        ),
        (r#"{"type":"launch","id":6}"#, ErrorCode::Malformed, Some(6)),
        ("{not json", ErrorCode::Malformed, None),
    ];
    for (text, code, id) in cases {
        c.send_raw(Message::text(text)).await;
        match c.next_reply().await {
            ServerMsg::Error(e) => assert_eq!((e.code, e.id), (code, id), "{text}: {}", e.message),
            other => panic!("{text}: expected an error, got {other:?}"),
        }
    }
    c.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    match c.next_reply().await {
        ServerMsg::Error(e) => assert_eq!(e.code, ErrorCode::Unsupported),
        other => panic!("expected an error, got {other:?}"),
    }

    // A valid channel beside an unknown one: all or nothing.
    let id = c
        .subscribe(vec![quotes("AAPL"), quotes("NOPE")], None)
        .await;
    match c.next_reply().await {
        ServerMsg::Error(e) => assert_eq!((e.code, e.id), (ErrorCode::UnknownSymbol, Some(id))),
        other => panic!("expected an error, got {other:?}"),
    }
    // Six channels exceed the limit of five.
    let six: Vec<Channel> = c.symbols.iter().take(6).map(|s| quotes(s)).collect();
    let id = c.subscribe(six.clone(), None).await;
    match c.next_reply().await {
        ServerMsg::Error(e) => {
            assert_eq!((e.code, e.id), (ErrorCode::TooManySubscriptions, Some(id)));
            assert!(e.message.contains("limit of 5"), "{}", e.message);
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // Nothing was subscribed by any of that: a ping is answered and no batch arrives.
    c.send(&ClientMsg::Ping { id: 99 }).await;
    loop {
        match c.next().await {
            ServerMsg::Pong { id, .. } => {
                assert_eq!(id, 99);
                break;
            }
            ServerMsg::Heartbeat { .. } => {}
            other => panic!("nothing should stream yet: {other:?}"),
        }
    }
    // And the limit still allows five.
    let (snap, _) = c.subscribe_all(six[..5].to_vec()).await;
    assert_eq!(snap.channels.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_stops_a_channel_after_the_ack() {
    let server = server(config()).await;
    let mut c = connect(&server).await;
    let symbols = c.symbols.clone();
    let channels: Vec<Channel> = symbols.iter().take(10).map(|s| quotes(s)).collect();
    let (_, mut t) = c.subscribe_all(channels.clone()).await;
    let dropped = channels[..5].to_vec();
    let id = c.unsubscribe(dropped.clone()).await;
    loop {
        match c.next().await {
            ServerMsg::Batch(b) => t.batch(&b),
            ServerMsg::Ack { id: got, channels } => {
                assert_eq!((got, channels), (id, dropped.clone()));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let mut seen = 0;
    while seen < 200 {
        if let ServerMsg::Batch(b) = c.next().await {
            for u in &b.updates {
                assert!(
                    !dropped.contains(&u.channel),
                    "{} after unsubscribe",
                    u.channel
                );
                seen += 1;
            }
            t.batch(&b);
        }
    }
    assert_eq!((t.gaps, t.duplicates), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candles_aggregate_trades_and_snapshot_their_history() {
    let server = server(config()).await;
    let mut c = connect(&server).await;
    let sym = c.symbols[0].clone();
    let one_s = Channel::Candles(sym.clone(), Interval::OneSecond);
    let (_, mut t) = c
        .subscribe_all(vec![one_s.clone(), Channel::Trades(sym.clone())])
        .await;
    // Follow for three seconds: trades roll into the forming candle.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut volume_from_trades = std::collections::BTreeMap::new();
    while tokio::time::Instant::now() < until {
        if let ServerMsg::Batch(b) = c.next().await {
            for u in &b.updates {
                if let Data::Trades(prints) = &u.data {
                    for p in prints {
                        let start = p.ts.timestamp_millis() / 1000;
                        *volume_from_trades.entry(start).or_insert(0u64) += u64::from(p.size);
                    }
                }
            }
            t.batch(&b);
        }
    }
    assert_eq!((t.gaps, t.duplicates), (0, 0));
    // A second client's snapshot holds the history, one candle per second, no holes, and the
    // volume of each completed second equals the trades printed in it.
    let mut d = connect(&server).await;
    let (snap, _) = d.subscribe_all(vec![one_s]).await;
    let Data::Candles(history) = &snap.channels[0].data else {
        panic!()
    };
    assert!(history.len() >= 3, "{} candles", history.len());
    for w in history.windows(2) {
        assert_eq!((w[1].start - w[0].start).num_milliseconds(), 1_000);
    }
    for c in &history[..history.len() - 1] {
        assert!(
            c.low <= c.open.min(c.close) && c.high >= c.open.max(c.close),
            "{c:?}"
        );
        if let Some(v) = volume_from_trades.get(&(c.start.timestamp_millis() / 1000)) {
            if c.start.timestamp_millis() / 1000 > *volume_from_trades.keys().next().unwrap() {
                assert_eq!(c.volume, *v, "{c:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_connection_gets_heartbeats_and_pings_answered() {
    let mut cfg = config();
    cfg.heartbeat_ms = 100;
    // Pings more often than heartbeats must not replace them: browsers cannot see pings.
    cfg.ping_ms = 50;
    let server = server(cfg).await;
    let mut c = connect(&server).await;
    let start = tokio::time::Instant::now();
    let mut beats = 0;
    while beats < 5 {
        match c.next_within(Duration::from_millis(500)).await {
            ServerMsg::Heartbeat { .. } => beats += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "heartbeats every 100 ms"
    );
    c.send(&ClientMsg::Ping { id: 7 }).await;
    assert!(matches!(
        c.next_reply().await,
        ServerMsg::Pong { id: 7, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_answered_cleanly() {
    let server = server(config()).await;
    let mut c = connect(&server).await;
    c.socket().close(None).await.unwrap();
    let mut saw_close = false;
    loop {
        use futures_util::StreamExt;
        match tokio::time::timeout(Duration::from_secs(5), c.socket().next())
            .await
            .expect("server finishes the close handshake")
        {
            Some(Ok(Message::Close(_))) => saw_close = true,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("unclean close: {e}"),
            None => break,
        }
    }
    assert!(saw_close, "the server replied to our Close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_rendered_from_live_state_with_channel_positions() {
    let server = server(config()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw))
        .await
        .expect("page within 10 s")
        .unwrap();
    let page = String::from_utf8_lossy(&raw);
    assert!(
        page.starts_with("HTTP/1.1 200"),
        "{}",
        &page[..page.len().min(300)]
    );
    // The grid's first screenful (`FIRST_ROWS`, in listing order) and every game; not the
    // rest of the universe, which the browser streams as the user scrolls.
    let first = livetape::testing::FIRST_ROWS as usize;
    let state = server.dashboard_snapshot();
    let mut quotes = 0;
    for c in &state.channels {
        match &c.data {
            Data::Quote(q) => {
                quotes += 1;
                assert_eq!(
                    page.contains(&format!("data-symbol=\"{}\"", q.symbol)),
                    quotes <= first,
                    "row {quotes} ({}) in the page or not",
                    q.symbol
                );
            }
            Data::Games(games) => {
                for g in games {
                    assert!(page.contains(&format!("data-slot=\"{}\"", g.slot)));
                }
            }
            _ => {}
        }
    }
    assert!(quotes > first, "the universe is larger than the page");
    // The embedded snapshot carries each channel's seq for the client to resume from.
    assert!(
        page.contains("quotes:AAPL"),
        "positions embedded for hydration"
    );
    assert!(
        page.contains("/pkg/livetape.js"),
        "the hydration script is linked"
    );
    assert!(page.contains("Connecting"), "the status pill starts honest");
    let _ = League::ALL;
}

/// GET / as raw bytes (as sent: compressed when asked).
async fn get_page(addr: std::net::SocketAddr, accept: &str) -> (String, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: {accept}\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (
        String::from_utf8_lossy(&raw[..split]).to_string(),
        raw[split..].to_vec(),
    )
}

/// The seqs the page embeds for the client to resume from.
fn embedded_seqs(html: &str) -> BTreeMap<String, u64> {
    let start = html.find(r#"id="page-state">"#).unwrap() + r#"id="page-state">"#.len();
    let end = start + html[start..].find("</script>").unwrap();
    let page: livetape::testing::PageState = serde_json::from_str(&html[start..end]).unwrap();
    page.snapshot
        .channels
        .into_iter()
        .map(|c| (c.channel.to_string(), c.seq))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_rendered_once_per_tick_and_the_next_tick_brings_later_seqs() {
    let mut cfg = config();
    // Long ticks, so that two requests fit in one.
    cfg.tick_ms = 2_000;
    cfg.quote_rate = 50.0;
    let server = server(cfg).await;
    let wait_tick = |after: u64| {
        let server = &server;
        async move {
            while server.tick() <= after {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            server.tick()
        }
    };
    let n = wait_tick(server.tick()).await;
    let (head_a, a) = get_page(server.addr, "identity").await;
    let (_, b) = get_page(server.addr, "identity").await;
    let (head_gz, gz) = get_page(server.addr, "gzip").await;
    let (head_br, br) = get_page(server.addr, "gzip, deflate, br").await;
    assert_eq!(server.tick(), n, "all four requests within one tick");
    assert!(head_a.starts_with("HTTP/1.1 200"), "{head_a}");
    assert_eq!(a, b, "the same tick, the same bytes");
    assert!(head_gz
        .to_ascii_lowercase()
        .contains("content-encoding: gzip"));
    assert!(head_br
        .to_ascii_lowercase()
        .contains("content-encoding: br"));
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, a, "the gzip form is the same page");
    assert!(br.len() < gz.len() && gz.len() < a.len() / 4);
    let first = embedded_seqs(&String::from_utf8_lossy(&a));
    wait_tick(n).await;
    let (_, c) = get_page(server.addr, "identity").await;
    let later = embedded_seqs(&String::from_utf8_lossy(&c));
    assert!(
        later.iter().all(|(ch, s)| *s >= first[ch]),
        "no seq goes back"
    );
    assert!(
        later.iter().any(|(ch, s)| *s > first[ch]),
        "the next tick's page carries later seqs"
    );
}
