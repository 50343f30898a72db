//! HTTP hardening against clients that misbehave on purpose: headers sent one byte at a time
//! (slowloris), one address opening connection after connection, oversized request heads,
//! paths that try to climb out of the site root. Each is refused while everyone else is
//! served.
#![cfg(feature = "ssr")]

mod support;

use livetape::client::Connection;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use support::{config, server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.x).
async fn tcp_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("Linux answers on all of 127.0.0.0/8");
    socket.connect(addr).await.expect("connects")
}

/// Sends `request` and reads the response until the server closes: (status, whole text).
async fn exchange(tcp: &mut TcpStream, request: &[u8]) -> (u16, String) {
    tcp.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = tcp_from([127, 0, 0, 1], addr).await;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    exchange(&mut tcp, req.as_bytes()).await
}

/// Waits for the server to close `tcp` (a read of 0 bytes or a reset), up to `limit`.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(start + limit, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_headers_a_byte_at_a_time_is_cut_off_while_others_are_served() {
    let mut c = config();
    c.header_timeout_ms = 1_000;
    let s = server(c).await;
    // Twenty slow clients, each dripping a header byte every 100 ms, forever.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut tcp = tcp_from([127, 0, 0, 1], s.addr).await;
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap();
        slow.push(tokio::spawn(async move {
            let start = Instant::now();
            let drip = b"X-Slow: abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
            for b in drip.iter().cycle() {
                if tcp.write_all(&[*b]).await.is_err() {
                    return Some(start.elapsed());
                }
                let mut buf = [0u8; 256];
                match tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
                    _ => {}
                }
                if start.elapsed() > Duration::from_secs(10) {
                    return None;
                }
            }
            None
        }));
    }
    // Meanwhile everyone else is served.
    for _ in 0..10 {
        let (status, _) = get(s.addr, "/healthz").await;
        assert_eq!(status, 200);
    }
    for t in slow {
        let cut = t.await.unwrap().expect("the slow client was cut off");
        assert!(
            cut < Duration::from_secs(3),
            "cut off after {cut:?} (header timeout 1 s)"
        );
    }
    // A client that connects and sends nothing at all is cut off too.
    let mut idle = tcp_from([127, 0, 0, 1], s.addr).await;
    let cut = closed_within(&mut idle, Duration::from_secs(5)).await;
    assert!(
        cut.is_some(),
        "an idle connection is closed by the header timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_may_hold_only_so_many_connections_and_others_are_unaffected() {
    let mut c = config();
    c.max_connections_per_ip = 3;
    let s = server(c).await;
    let url = format!("ws://{}/ws", s.addr);
    let mut held = Vec::new();
    for _ in 0..3 {
        let tcp = tcp_from([127, 0, 0, 5], s.addr).await;
        let ws = Connection::open_on(tcp, &url, Duration::from_secs(5), None)
            .await
            .expect("within the cap");
        held.push(ws);
    }
    // The fourth from the same address is closed at the door.
    let mut fourth = tcp_from([127, 0, 0, 5], s.addr).await;
    let (status, _) = exchange(
        &mut fourth,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 0, "no answer for a connection over the cap");
    // Another address is served, and so is the first once it lets one go.
    let tcp = tcp_from([127, 0, 0, 6], s.addr).await;
    Connection::open_on(tcp, &url, Duration::from_secs(5), None)
        .await
        .expect("another address is served");
    held.pop();
    // The server frees the slot when it sees the close, a moment later: tried until then.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let tcp = tcp_from([127, 0, 0, 5], s.addr).await;
        match Connection::open_on(tcp, &url, Duration::from_secs(5), None).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() >= until => {
                panic!("a connection freed is a connection to use: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A WebSocket handshake through "the balancer" (127.0.0.7) for `client`: the HTTP status.
async fn via_proxy(addr: SocketAddr, forwarded_for: &str) -> (u16, TcpStream) {
    let mut tcp = tcp_from([127, 0, 0, 7], addr).await;
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         X-Forwarded-For: {forwarded_for}\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    (
        text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
        tcp,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_balancer_the_cap_counts_the_forwarded_address() {
    let mut c = config();
    c.max_connections_per_ip = 3;
    c.trusted_proxies = vec![IpAddr::from([127, 0, 0, 7])];
    let s = server(c).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let (status, tcp) = via_proxy(s.addr, "10.1.1.1").await;
        assert_eq!(status, 101);
        held.push(tcp);
    }
    let (status, _) = via_proxy(s.addr, "10.1.1.1").await;
    assert_eq!(status, 429, "the fourth for one client behind the balancer");
    // A client that made up an address left of the balancer's own entry gains nothing:
    // the right-most address the balancer vouches for is the one counted.
    let (status, _) = via_proxy(s.addr, "192.0.2.9, 10.1.1.1").await;
    assert_eq!(
        status, 429,
        "a forged X-Forwarded-For entry is not believed"
    );
    for _ in 0..3 {
        let (status, tcp) = via_proxy(s.addr, "10.2.2.2").await;
        assert_eq!(status, 101, "another client behind the same balancer");
        held.push(tcp);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_cannot_choose_its_address_with_x_forwarded_for() {
    let mut c = config();
    c.max_connections_per_ip = 2;
    let s = server(c).await;
    let mut held = Vec::new();
    for i in 0..2 {
        let (status, tcp) = via_proxy(s.addr, &format!("10.9.9.{i}")).await;
        assert_eq!(status, 101);
        held.push(tcp);
    }
    let mut third = tcp_from([127, 0, 0, 7], s.addr).await;
    let (status, _) = exchange(
        &mut third,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 10.9.9.9\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 0, "the peer's own address is what counts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_the_limit_gets_431() {
    let mut c = config();
    c.max_header_bytes = 16 * 1024;
    let s = server(c).await;
    let big = "a".repeat(20 * 1024);
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
    );
    let mut tcp = tcp_from([127, 0, 0, 1], s.addr).await;
    let (status, _) = exchange(&mut tcp, req.as_bytes()).await;
    assert_eq!(status, 431);
    let fits = "a".repeat(8 * 1024);
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {fits}\r\nConnection: close\r\n\r\n"
    );
    let mut tcp = tcp_from([127, 0, 0, 1], s.addr).await;
    let (status, _) = exchange(&mut tcp, req.as_bytes()).await;
    assert_eq!(status, 200, "a head within the limit is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_are_never_served_from_outside_the_site_root() {
    let dir = std::env::temp_dir().join(format!("livetape-traversal-{}", std::process::id()));
    let site = dir.join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/app.js"), "console.log('inside')").unwrap();
    std::fs::write(dir.join("secret.txt"), "TOP-SECRET").unwrap();
    let mut c = config();
    c.site_root = Some(site.to_string_lossy().to_string());
    let s = server(c).await;

    let (status, body) = get(s.addr, "/pkg/app.js").await;
    assert_eq!(status, 200);
    assert!(body.contains("inside"));
    for path in [
        "/../secret.txt",
        "/pkg/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/pkg/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/pkg/..%2f..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/pkg/..\\..\\secret.txt",
        "/%252e%252e/secret.txt",
        "/.%2e/secret.txt",
        "//secret.txt",
        "/pkg/%00../../secret.txt",
    ] {
        let (status, body) = get(s.addr, path).await;
        assert!(
            !body.contains("TOP-SECRET"),
            "{path} served a file outside the root"
        );
        assert!(
            (400..500).contains(&status),
            "{path}: {status}, expected a 4xx"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
