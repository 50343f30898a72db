//! The least a server can spend to broadcast a market over WebSocket: the bench's floor.
//!
//!     send_floor PORT EVENTS_PER_SECOND
//!
//! It sends what the batched Node peer (`bench/peers/ws-batch-server.js`) sends, byte for
//! byte in format: every 100 ms one text frame `{"ts":..,"quotes":[{"ts":..,"symbol":..,
//! "bid":..,"ask":..,"last":..,"volume":..},..]}` with that tick's quotes, built once and
//! written to every client. Nothing else happens: one thread accepts and answers the
//! handshake, one thread ticks and makes one `write` per client per tick on a non-blocking
//! socket, no event loop, no reads, no pings, no allocation per client. What its process
//! spends is the kernel's cost of those writes (on loopback, the receiving side's TCP work
//! runs in the sender's context too) plus building one frame per tick: a floor no server
//! sending these frames to these clients goes under. A client that cannot take a whole frame
//! at once is dropped (a slow reader; the bench's readers keep up).
//!
//! Not a product and not a peer: a ruler for `make bench` ((b) and the floor section).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use livetape::server::websocket::frame::{header, Opcode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

const TICK: Duration = Duration::from_millis(100);

/// Symbols as the Node feed names them (`bench/peers/feed.js`).
fn symbol(i: usize) -> String {
    const LISTED: [&str; 10] = [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "XOM",
    ];
    let letter = |k: usize| char::from(b'A' + (k % 26) as u8);
    match LISTED.get(i) {
        Some(s) => s.to_string(),
        None => format!("Q{}{}{}", letter(i / 676), letter(i / 26), letter(i)),
    }
}

/// Answers a WebSocket upgrade; `None` for anything else (the connection is then dropped).
fn handshake(stream: &TcpStream) -> Option<()> {
    let mut reader = BufReader::new(stream);
    let mut key = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("sec-websocket-key") {
                key = Some(value.trim().to_string());
            }
        }
    }
    let accept = derive_accept_key(key?.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    (&*stream).write_all(response.as_bytes()).ok()
}

/// One unmasked text frame holding `payload`, framed as the server frames it.
fn frame(payload: &[u8]) -> Vec<u8> {
    let (head, used) = header(Opcode::Text, false, payload.len());
    [&head[..used], payload].concat()
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3200);
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100.0);
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let clients: Arc<Mutex<Vec<TcpStream>>> = Arc::default();

    let accepted = clients.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            if handshake(&stream).is_some() && stream.set_nonblocking(true).is_ok() {
                accepted.lock().unwrap().push(stream);
            }
        }
    });

    let symbols: Vec<String> = (0..1000).map(symbol).collect();
    let (mut owed, mut n, mut dropped) = (0.0, 0usize, 0usize);
    let mut next = Instant::now() + TICK;
    let mut payload = String::new();
    loop {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += TICK;
        owed += rate * TICK.as_secs_f64();
        let ts = now_us();
        payload.clear();
        payload.push_str(&format!(r#"{{"ts":{ts},"quotes":["#));
        let mut first = true;
        while owed >= 1.0 {
            owed -= 1.0;
            n += 1;
            let price = 100.0 + (n % 500) as f64 / 100.0;
            // Rounded to the cent and printed as JavaScript prints numbers (100.5, not 100.50).
            let cents = |x: f64| (x * 100.0).round() / 100.0;
            if !first {
                payload.push(',');
            }
            first = false;
            payload.push_str(&format!(
                r#"{{"ts":{ts},"symbol":"{}","bid":{},"ask":{},"last":{},"volume":{}}}"#,
                symbols[n % symbols.len()],
                cents(price - 0.01),
                cents(price + 0.01),
                cents(price),
                1_000_000 + n
            ));
        }
        if first {
            continue;
        }
        payload.push_str("]}");
        let frame = frame(payload.as_bytes());
        let before = dropped;
        clients.lock().unwrap().retain(|mut stream| {
            let whole = matches!(stream.write(&frame), Ok(k) if k == frame.len());
            dropped += usize::from(!whole);
            whole
        });
        if dropped > before {
            eprintln!("send_floor: {dropped} clients dropped so far (a frame did not fit)");
        }
    }
}
