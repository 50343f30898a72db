//! Integration tests: the real server on an ephemeral loopback port, driven by a
//! tokio-tungstenite client speaking the shared protocol, and by plain HTTP for the page.
#![cfg(feature = "ssr")]

use futures_util::{SinkExt, StreamExt};
use livetape::protocol::{ClientMsg, ErrorCode, ServerMsg, Snapshot};
use livetape::server::{config::Config, start, Running};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn server() -> Running {
    let mut config = Config::for_tests();
    config.tick_ms = 20;
    start(&config).await.expect("server starts")
}

async fn connect(server: &Running) -> Client {
    let (ws, _) = connect_async(format!("ws://{}/ws", server.addr))
        .await
        .expect("websocket connects");
    ws
}

/// The next protocol message, skipping control frames; fails the test after 5 s of silence.
async fn next(ws: &mut Client) -> ServerMsg {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("stream still open")
            .expect("no socket error");
        match frame {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("unparseable server message {text}: {e}"))
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn snapshot(ws: &mut Client) -> Snapshot {
    match next(ws).await {
        ServerMsg::Snapshot(s) => s,
        other => panic!("first message must be a snapshot, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_first_then_gap_free_batches() {
    let server = server().await;
    let mut ws = connect(&server).await;
    let snap = snapshot(&mut ws).await;
    assert_eq!(snap.quotes.len(), 60, "default symbol count");
    assert_eq!(snap.games.len(), 6, "default game count");
    let mut seq = snap.seq;
    let mut events = 0;
    for _ in 0..100 {
        match next(&mut ws).await {
            ServerMsg::Batch(b) => {
                assert_eq!(b.seq, seq + 1, "batches are consecutive");
                assert!(!b.events.is_empty(), "empty ticks are not sent");
                seq = b.seq;
                events += b.events.len();
            }
            other => panic!("expected a batch, got {other:?}"),
        }
    }
    assert!(events > 100, "only {events} events in 100 batches");

    // A second client joining later starts from a later snapshot and continues from it.
    let mut late = connect(&server).await;
    let late_snap = snapshot(&mut late).await;
    assert!(late_snap.seq >= seq);
    assert_eq!(late_snap.epoch, snap.epoch);
    match next(&mut late).await {
        ServerMsg::Batch(b) => assert_eq!(b.seq, late_snap.seq + 1),
        other => panic!("expected a batch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_typed_errors_and_the_stream_goes_on() {
    let server = server().await;
    let mut ws = connect(&server).await;
    let mut seq = snapshot(&mut ws).await.seq;

    ws.send(Message::text("{not json")).await.unwrap();
    ws.send(Message::text(r#"{"type":"subscribe","id":9}"#))
        .await
        .unwrap();
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let ping = serde_json::to_string(&ClientMsg::Ping { id: 42 }).unwrap();
    ws.send(Message::text(ping)).await.unwrap();

    let mut replies = Vec::new();
    while replies.len() < 4 {
        match next(&mut ws).await {
            ServerMsg::Batch(b) => {
                assert_eq!(b.seq, seq + 1, "the stream continues without a gap");
                seq = b.seq;
            }
            other => replies.push(other),
        }
    }
    let ServerMsg::Error(e) = &replies[0] else {
        panic!("{replies:?}")
    };
    assert_eq!((e.code, e.id), (ErrorCode::Malformed, None));
    let ServerMsg::Error(e) = &replies[1] else {
        panic!("{replies:?}")
    };
    assert_eq!((e.code, e.id), (ErrorCode::Malformed, Some(9)));
    assert!(e.message.contains("subscribe"), "{}", e.message);
    let ServerMsg::Error(e) = &replies[2] else {
        panic!("{replies:?}")
    };
    assert_eq!(e.code, ErrorCode::Unsupported);
    assert!(
        matches!(replies[3], ServerMsg::Pong { id: 42, .. }),
        "{replies:?}"
    );

    // Still streaming afterwards.
    match next(&mut ws).await {
        ServerMsg::Batch(b) => assert_eq!(b.seq, seq + 1),
        other => panic!("expected a batch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_answered_cleanly() {
    let server = server().await;
    let mut ws = connect(&server).await;
    snapshot(&mut ws).await;
    ws.close(None).await.unwrap();
    // The server echoes the Close, then the stream ends without an error.
    let mut saw_close = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
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
async fn the_page_is_rendered_from_live_state() {
    let server = server().await;
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
    let state = server.hub.snapshot();
    for q in &state.quotes {
        assert!(
            page.contains(&format!("data-symbol=\"{}\"", q.symbol)),
            "row for {} missing",
            q.symbol
        );
    }
    for g in &state.games {
        assert!(page.contains(&g.home.name) || page.contains(&format!("data-slot=\"{}\"", g.slot)));
    }
    assert!(
        page.contains("/pkg/livetape.js"),
        "the hydration script is linked"
    );
    assert!(page.contains("Connecting"), "the status pill starts honest");
}
