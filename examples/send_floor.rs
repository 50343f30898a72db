//! The least a server can spend to broadcast a market over WebSocket: the bench's floor.
//!
//!     send_floor PORT EVENTS_PER_SECOND [peer|livetape] [sendfile]
//!
//! Every 100 ms it builds one text frame with that tick's quotes and writes it to every
//! client. Nothing else happens: one thread accepts and answers the handshake, one thread
//! ticks and makes one `write` per client per tick on a non-blocking socket, no event loop, no
//! reads, no pings, no allocation per client. What its process spends is the kernel's cost of
//! those writes (on loopback, the receiving side's TCP work runs in the sender's context too)
//! plus building one frame per tick: a floor no server sending these frames to these clients
//! goes under. A client that cannot take a whole frame at once is dropped (a slow reader; the
//! bench's readers keep up).
//!
//! Two formats, so that each server is held against the floor of its own bytes:
//!
//! - `peer` (the default): what the batched Node peer (`bench/peers/ws-batch-server.js`)
//!   sends, byte for byte in format: `{"ts":..,"quotes":[{"ts":..,"symbol":..,"bid":..,
//!   "ask":..,"last":..,"volume":..},..]}`.
//! - `livetape`: what livetape sends a client subscribed to every symbol's quotes, encoded by
//!   livetape's own code: its simulator's quotes (`--quote-rate` as `make bench` sets it),
//!   each update numbered in its channel, the batch built by `tick::batch_frame`. The
//!   handshake is livetape's as the load generator sees it (a `welcome`, then an `ack` for the
//!   subscribe it never reads), and a client that offers permessage-deflate gets it as livetape
//!   agrees it, each tick compressed once for all of them (`websocket::deflate`). What is left
//!   between this and livetape is everything livetape is besides its writes: sessions,
//!   history, subscriptions, heartbeats, tokio.
//!
//! With `sendfile`, each tick's plain frame is written once into a fresh memfd and sent to
//! every client with `sendfile(2)`, so the kernel references its pages instead of copying the
//! frame from user space once per client: the floor as zero-copy writes would make it (Linux
//! only). On this 2-core machine's loopback it is no lower: 0.085-0.090 cores against
//! 0.072-0.083 for `write`, livetape's frames at 5,000/s to 1,000 clients, 3 interleaved runs
//! each. The copy it saves is small next to each write's fixed cost.
//!
//! Not a product and not a peer: a ruler for `make bench` ((b), (h) and the floor section).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use livetape::protocol::{Channel, Data, Event, ServerMsg, Update};
use livetape::testing::batch_frame;
use livetape::testing::websocket::deflate;
use livetape::testing::websocket::frame::{header, Opcode};
use livetape::testing::Limits;
use livetape::testing::Market;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

const TICK: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Peer,
    Livetape,
}

/// A client and whether it agreed to permessage-deflate.
struct Client {
    stream: TcpStream,
    deflate: bool,
}

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

/// Answers a WebSocket upgrade, agreeing to permessage-deflate when `offer_deflate` and the
/// client offers it; `None` for anything else (the connection is then dropped). `Some(true)`:
/// compression agreed.
fn handshake(stream: &TcpStream, offer_deflate: bool) -> Option<bool> {
    let mut reader = BufReader::new(stream);
    let (mut key, mut extensions) = (None, Vec::new());
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
            } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
                extensions.push(value.trim().to_string());
            }
        }
    }
    let agreed = offer_deflate
        .then(|| deflate::negotiate(extensions.iter().map(String::as_str)))
        .flatten();
    let accept = derive_accept_key(key?.as_bytes());
    let extension = agreed
        .as_ref()
        .map(|a| format!("Sec-WebSocket-Extensions: {}\r\n", a.response))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n{extension}\r\n"
    );
    (&*stream).write_all(response.as_bytes()).ok()?;
    Some(agreed.is_some())
}

/// One unmasked text frame holding `payload`, framed as the server frames it.
fn frame(payload: &[u8], compressed: bool) -> Vec<u8> {
    let (head, used) = header(Opcode::Text, compressed, payload.len());
    [&head[..used], payload].concat()
}

/// `bytes` in a fresh memfd: one per tick, never written again, so a page the kernel still
/// holds for a client's socket keeps this tick's bytes after the file is closed.
fn in_memfd(bytes: &[u8]) -> Option<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: a NUL-terminated name; the returned fd, if valid, is owned by the File alone.
    let fd = unsafe { libc::memfd_create(c"send_floor".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just created and nothing else owns it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(bytes).ok()?;
    Some(file)
}

/// Whether `sendfile(2)` sent the whole of `file` (`len` bytes from its start) in one call.
fn send_file(stream: &TcpStream, file: &std::fs::File, len: usize) -> bool {
    use std::os::fd::AsRawFd;
    let mut offset: libc::off_t = 0;
    // SAFETY: both fds are open for the call; the kernel writes only `offset`.
    let sent = unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut offset, len) };
    sent == len as isize
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// What livetape says before its first batch to the load generator: the `welcome`, the list
/// of symbols the client asks for, and the `ack` of the subscribe to their quotes that follows.
fn livetape_greeting(symbols: &[String]) -> Vec<u8> {
    let limits = Limits::default();
    let welcome = ServerMsg::Welcome {
        epoch: 1,
        ts: Utc::now(),
        heartbeat_ms: limits.heartbeat.as_millis() as u32,
        max_subscriptions: limits.max_subscriptions as u32,
        universe: symbols.len() as u32,
        max_view_rows: 500,
        max_views: 4,
    };
    // The answers to the requests the load generator is about to send: the list of symbols,
    // then the ack of its subscribe (the floor reads nothing).
    let list = ServerMsg::Symbols {
        id: 0,
        total: symbols.len() as u32,
        offset: 0,
        symbols: symbols.to_vec(),
    };
    let ack = ServerMsg::Ack {
        id: 1,
        channels: symbols.iter().cloned().map(Channel::Quotes).collect(),
    };
    let json = |m: &ServerMsg| serde_json::to_vec(m).expect("server messages serialise");
    [
        frame(&json(&welcome), false),
        frame(&json(&list), false),
        frame(&json(&ack), false),
    ]
    .concat()
}

/// The peer's tick: `count` quotes cycling over 1,000 symbols.
struct PeerTicks {
    symbols: Vec<String>,
    n: usize,
}

impl PeerTicks {
    fn frame(&mut self, count: usize) -> Bytes {
        let ts = now_us();
        let mut out = String::new();
        out.push_str(&format!(r#"{{"ts":{ts},"quotes":["#));
        for i in 0..count {
            self.n += 1;
            let n = self.n;
            let price = 100.0 + (n % 500) as f64 / 100.0;
            // Rounded to the cent and printed as JavaScript prints numbers (100.5, not 100.50).
            let cents = |x: f64| (x * 100.0).round() / 100.0;
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                r#"{{"ts":{ts},"symbol":"{}","bid":{},"ask":{},"last":{},"volume":{}}}"#,
                self.symbols[n % self.symbols.len()],
                cents(price - 0.01),
                cents(price + 0.01),
                cents(price),
                1_000_000 + n
            ));
        }
        out.push_str("]}");
        Bytes::from(out)
    }
}

/// livetape's tick: its simulator's quotes, each update the next seq of its channel.
struct LivetapeTicks {
    market: Market,
    /// Each symbol's last seq, every symbol listed from the start (no allocation per quote).
    seqs: HashMap<String, u64>,
    n: u64,
}

impl LivetapeTicks {
    fn frame(&mut self) -> Option<Bytes> {
        // Microseconds, as the wire carries them: a quote stamped at the batch's time leaves
        // its `t` out, as livetape's do.
        let now = DateTime::from_timestamp_micros(now_us()).expect("now is a valid time");
        let mut events = Vec::new();
        self.market.step(now, &mut events);
        let items: Vec<String> = events
            .into_iter()
            .filter_map(|e| match e {
                Event::Quote(q) => Some(q),
                _ => None,
            })
            .map(|q| {
                let seq = self
                    .seqs
                    .get_mut(&q.symbol)
                    .expect("quotes of listed symbols");
                *seq += 1;
                let update = Update {
                    channel: Channel::Quotes(q.symbol.clone()),
                    seq: *seq,
                    data: Data::Quote(q),
                };
                update.encode_in(now)
            })
            .collect();
        if items.is_empty() {
            return None;
        }
        self.n += 1;
        Some(batch_frame(self.n, now, items.iter().map(|s| s.as_bytes())))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3200);
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100.0);
    let format = match args.next().as_deref() {
        None | Some("peer") => Format::Peer,
        Some("livetape") => Format::Livetape,
        Some(other) => {
            eprintln!("send_floor: unknown format {other:?} (peer or livetape)");
            std::process::exit(2);
        }
    };
    let zero_copy = match args.next().as_deref() {
        None => false,
        Some("sendfile") => true,
        Some(other) => {
            eprintln!("send_floor: unknown option {other:?} (sendfile)");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let clients: Arc<Mutex<Vec<Client>>> = Arc::default();

    // livetape's bench setup (`scripts/bench.sh`): RATE/10 symbols (at least 10), each moving
    // RATE/symbols times a second; no trades.
    let symbols = ((rate as usize) / 10).max(10);
    let market = Market::with_rates(7, symbols, Utc::now(), rate / symbols as f64, 0.0);
    let listing: Vec<String> = market.quotes().into_iter().map(|q| q.symbol).collect();
    let greeting = livetape_greeting(&listing);

    let accepted = clients.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            let Some(deflate) = handshake(&stream, format == Format::Livetape) else {
                continue;
            };
            if format == Format::Livetape && (&stream).write_all(&greeting).is_err() {
                continue;
            }
            if stream.set_nonblocking(true).is_ok() {
                accepted.lock().unwrap().push(Client { stream, deflate });
            }
        }
    });

    let mut peer = PeerTicks {
        symbols: (0..1000).map(symbol).collect(),
        n: 0,
    };
    let mut ours = LivetapeTicks {
        seqs: listing.iter().map(|s| (s.clone(), 0)).collect(),
        market,
        n: 0,
    };
    let (mut owed, mut dropped) = (0.0, 0usize);
    let mut next = Instant::now() + TICK;
    loop {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += TICK;
        let body: Bytes = match format {
            Format::Peer => {
                owed += rate * TICK.as_secs_f64();
                let count = owed as usize;
                if count == 0 {
                    continue;
                }
                owed -= count as f64;
                peer.frame(count)
            }
            Format::Livetape => match ours.frame() {
                Some(body) => body,
                None => continue,
            },
        };
        let mut clients = clients.lock().unwrap();
        let plain = frame(&body, false);
        // Compressed once, only if some client takes it; a frame that does not shrink goes
        // plain to everyone.
        let compressed = clients
            .iter()
            .any(|c| c.deflate)
            .then(|| deflate::compress(&body))
            .flatten()
            .map(|z| frame(&z, true));
        let before = dropped;
        let pages = if zero_copy { in_memfd(&plain) } else { None };
        let write_whole = |stream: &TcpStream, bytes: &[u8]| matches!((&*stream).write(bytes), Ok(k) if k == bytes.len());
        clients.retain(|c| {
            let whole = match (&compressed, c.deflate, &pages) {
                (Some(z), true, _) => write_whole(&c.stream, z),
                (_, _, Some(file)) => send_file(&c.stream, file, plain.len()),
                _ => write_whole(&c.stream, &plain),
            };
            dropped += usize::from(!whole);
            whole
        });
        if dropped > before {
            eprintln!("send_floor: {dropped} clients dropped so far (a frame did not fit)");
        }
    }
}
