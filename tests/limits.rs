//! Limits and hostile input: every refusal is explicit, with the right HTTP status or close
//! code, and none of it disturbs the server.
#![cfg(feature = "ssr")]

mod support;

use livetape::client::{Connection, Error as ClientError};
use livetape::protocol::{ClientMsg, ServerMsg};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn upgrade_with_origin(server: &livetape::server::Running, origin: &str) -> Result<(), u16> {
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(origin).unwrap());
    match connect_async(request).await {
        Ok(_) => Ok(()),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_origins_get_403_before_any_websocket_traffic() {
    let server = server(config()).await;
    assert_eq!(
        upgrade_with_origin(&server, "https://evil.example.net").await,
        Err(403)
    );
    assert_eq!(
        upgrade_with_origin(&server, "http://localhost.evil.net").await,
        Err(403)
    );
    assert_eq!(upgrade_with_origin(&server, "null").await, Err(403));
    assert_eq!(
        upgrade_with_origin(&server, "http://localhost:3000").await,
        Ok(())
    );
    let own = format!("http://{}", server.addr);
    assert_eq!(upgrade_with_origin(&server, &own).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_origin_is_allowed() {
    let mut cfg = config();
    cfg.allow_origins = vec!["https://dash.example.com".into()];
    let server = server(cfg).await;
    assert_eq!(
        upgrade_with_origin(&server, "https://dash.example.com").await,
        Ok(())
    );
    assert_eq!(
        upgrade_with_origin(&server, "https://other.example.com").await,
        Err(403)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_gets_close_1009_from_us() {
    let server = server(config()).await;
    let mut c = connect(&server).await;
    c.send_raw(Message::text("x".repeat(70 * 1024))).await;
    match c.end(Duration::from_secs(5)).await {
        End::Closed(code, reason) => {
            assert_eq!(code, 1009, "{reason}");
            assert!(reason.contains("64 KiB"), "{reason}");
        }
        other => panic!("expected close 1009, got {other:?}"),
    }
    // The server is fine: others connect and stream.
    let mut d = connect(&server).await;
    let (snap, _) = d.subscribe_all(vec![quotes("AAPL")]).await;
    assert_eq!(snap.channels.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_answered_until_it_becomes_abuse_then_close_1008() {
    let server = server(config()).await;
    let mut c = connect(&server).await;
    let mut errors = 0;
    for i in 0..50 {
        c.send_raw(Message::text(format!("garbage {i}"))).await;
    }
    let end = loop {
        use futures_util::StreamExt;
        match tokio::time::timeout(Duration::from_secs(5), c.socket().next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Ok(ServerMsg::Error(_)) = serde_json::from_str(t.as_str()) {
                    errors += 1;
                }
            }
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                break (u16::from(f.code), f.reason.to_string())
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(end.0, 1008, "{}", end.1);
    assert!(end.1.contains("invalid"), "{}", end.1);
    assert!(
        (5..50).contains(&errors),
        "{errors} typed errors before the close"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_flood_gets_close_1008() {
    let server = server(config()).await;
    let mut c = connect(&server).await;
    for id in 0..200 {
        c.send(&ClientMsg::Ping { id }).await;
    }
    match c.end(Duration::from_secs(5)).await {
        End::Closed(code, reason) => {
            assert_eq!(code, 1008, "{reason}");
            assert!(reason.contains("rate limit"), "{reason}");
        }
        other => panic!("expected close 1008, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_clean_503_and_a_freed_slot_is_reusable() {
    let mut cfg = config();
    cfg.max_connections = 3;
    let server = server(cfg).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&server).await);
    }
    let url = format!("ws://{}/ws", server.addr);
    match Connection::open(&url, Duration::from_secs(5)).await {
        Err(ClientError::Rejected { status, .. }) => assert_eq!(status, 503),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    // The page still renders while the feed is full.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    let mut gone = held.pop().unwrap();
    gone.socket().close(None).await.unwrap();
    let _ = gone.end(Duration::from_secs(5)).await;
    // The slot is released when the session ends.
    let mut ok = false;
    for _ in 0..50 {
        if Connection::open(&url, Duration::from_secs(5)).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a freed slot can be used again");
}

/// A node whose open-files limit is smaller than `--max-connections` (20,000 by default)
/// serves what the limit leaves room for and refuses the next client with a 503 that says
/// why, instead of running out of descriptors (then `accept` fails, the client gets nothing
/// and the page stops loading); the page, `/readyz` and `/metrics` still answer when full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_files_limit_caps_connections_with_a_503_and_room_to_spare() {
    // 400 descriptors: a quarter (100) is kept for everything but the feed, 300 serve it.
    let node = support::cluster::Node::embedded_with_open_files(&[], 400, 400).await;
    let url = format!("ws://127.0.0.1:{}/ws", node.port);
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..330 {
        match Connection::open(&url, Duration::from_secs(5)).await {
            Ok(c) => held.push(c),
            Err(ClientError::Rejected { status, body, .. }) => refused.push((status, body)),
            Err(other) => panic!(
                "after {} connections, {} refused: {other}",
                held.len(),
                refused.len()
            ),
        }
    }
    assert_eq!(
        held.len(),
        300,
        "the limit leaves room for 300 feed connections"
    );
    assert_eq!(refused.len(), 30);
    for (status, body) in &refused {
        assert_eq!(*status, 503);
        assert!(body.contains("connection limit reached (300)"), "{body}");
    }
    for path in ["/", "/readyz", "/metrics"] {
        let (status, text) = support::cluster::http_get(node.port, path)
            .await
            .unwrap_or_else(|| panic!("{path} answers while the feed is full"));
        assert!(status == 200 || path == "/readyz", "{path}: {status}");
        if path == "/metrics" {
            assert!(text.contains("livetape_connection_limit 300"), "{text}");
        }
    }
    assert!(
        node.log_text().contains("capped at 300"),
        "the log says why: {}",
        node.log_text()
    );
}

/// A soft open-files limit of 1,024 (many shells' and services' default) does not stop a node
/// at a thousand clients: it raises the soft limit to the hard one at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_soft_open_files_limit_is_raised_to_the_hard_one() {
    let node = support::cluster::Node::embedded_with_open_files(&[], 1_024, 4_000).await;
    let (_, text) = support::cluster::http_get(node.port, "/metrics")
        .await
        .expect("/metrics answers");
    assert!(
        text.contains("livetape_connection_limit 3744"),
        "4,000 descriptors less 256 kept: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_answering_pings_is_closed() {
    let mut cfg = config();
    cfg.ping_ms = 100;
    cfg.client_timeout_ms = 600;
    let server = server(cfg).await;
    // A raw handshake, then silence: this client never reads, so never answers a ping.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    // A well-behaved client beside it (tungstenite answers pings while we read).
    let mut polite = connect(&server).await;
    let wait_for = |n: usize| {
        let server = &server;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while server.open_connections() != n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "expected {n} sessions, have {}",
                    server.open_connections()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(2).await;
    let held = tokio::time::Instant::now();
    let reader = tokio::spawn(async move {
        // Keep reading for two seconds: pings are answered, so this one stays.
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < until {
            let _ = polite.next_within(Duration::from_secs(3)).await;
        }
        polite
    });
    wait_for(1).await;
    let silent_for = held.elapsed();
    assert!(
        silent_for >= Duration::from_millis(500),
        "closed after {silent_for:?}, before the 600 ms timeout"
    );
    let polite = reader.await.unwrap();
    assert_eq!(
        server.open_connections(),
        1,
        "the client that answers pings is still served"
    );
    drop(polite);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_frames_never_hurt_the_server() {
    use rand::{Rng, SeedableRng};
    let mut cfg = config();
    cfg.rate = 100_000;
    let server = server(cfg).await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        "\"type\"",
        ":",
        ",",
        "\"subscribe\"",
        "\"ping\"",
        "\"id\"",
        "1",
        "-1",
        "1e999",
        "null",
        "\"channels\"",
        "\"quotes:AAPL\"",
        "\"resume\"",
        "\"from\"",
        "\"epoch\"",
        "\u{0}",
        "\\u0000",
        "\"\\ud800\"",
        "true",
    ];
    let mut c = connect(&server).await;
    for _ in 0..300 {
        let frame: String = (0..rng.random_range(0..30))
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        c.send_raw(Message::text(frame)).await;
    }
    c.send(&ClientMsg::Ping { id: 4242 }).await;
    loop {
        match c.next().await {
            ServerMsg::Pong { id: 4242, .. } => break,
            ServerMsg::Error(_) | ServerMsg::Ack { .. } | ServerMsg::Snapshot(_) => {}
            ServerMsg::Batch(_) | ServerMsg::Heartbeat { .. } | ServerMsg::Pong { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}
