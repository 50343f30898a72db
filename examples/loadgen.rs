//! The benchmark's load generator: N WebSocket clients on loopback against livetape or one of
//! the peer servers, measuring for a fixed time what they receive.
//!
//! For livetape it speaks the real protocol with the shared types, through the Rust client's
//! connection (`livetape::client::Connection`): a welcome, one subscribe to the quotes of
//! every symbol, then batches; each update in a batch is one event, and its
//! latency is the time from the batch's server timestamp to its arrival. For the Node `ws`
//! peer each message is one JSON event with a `ts` field (µs). For Socket.IO it speaks
//! Engine.IO v4 over the WebSocket transport: `0{..}` open, `40` to join the default
//! namespace, `42["quote",{..}]` events, and `3` in answer to the server's `2` pings.
//!
//! What is measured: after everyone is connected and subscribed, one window of `--secs`.
//! The server's RSS is read before the first client connects and again at the end, so idle
//! runs (nothing fed) give the server's memory per client. With `--stall`, a second window
//! follows in which one more client subscribes and then never reads again (4 KiB receive
//! buffer): the others' latency before and during shows whether one slow reader hurts them.
//! Results are one JSON object on stdout; `scripts/bench.sh` turns several into
//! docs/benchmarks.md.
//!
//! With `--deflate` every client offers permessage-deflate as browsers do (the raw client of
//! tests/support/raw_ws.rs; tokio-tungstenite has no compression). A server that agrees sends
//! compressed frames, and bytes are counted as they travel. Every in-sync client of a server
//! that compresses once per tick gets the same compressed bytes: each worker thread inflates
//! a given frame once and compares the others' bytes to it (equal bytes inflate to equal
//! text), so the harness does not spend a core inflating on a 2-core machine.
//!
//! Run with `cargo run --release --features ssr --example loadgen -- --help`.

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use livetape::client::{Connection, WebSocketConfig};
use livetape::protocol::{Channel, ClientMsg, ServerMsg};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    Livetape,
    /// The Node `ws` peer that sends one message per event.
    Ws,
    /// The Node `ws` peer that batches a tick's events into one frame.
    Wsbatch,
    /// The Node `ws` peer that sends each client its own symbols' quotes, one frame per tick
    /// (`bench/peers/ws-personal-server.js`).
    Wspersonal,
    Socketio,
}

/// Loopback load generator for livetape and its peers.
#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    kind: Kind,
    /// The server's address (loopback only). Repeat it to spread the clients over several
    /// servers (a cluster's edges), round robin.
    #[arg(long = "server", required = true)]
    servers: Vec<SocketAddr>,
    /// WebSocket path.
    #[arg(long, default_value = "/ws")]
    path: String,
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Seconds to measure, after everyone is connected and subscribed.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Seconds to let things settle before measuring.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// Clients are spread over 127.0.0.1 .. 127.0.0.N as source addresses, so that more than
    /// ~28k connections fit in the ephemeral port range.
    #[arg(long, default_value_t = 1)]
    source_addrs: u8,
    /// The server's process id, to report its RSS and CPU (repeat it for several servers:
    /// their RSS and CPU are added up).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// After the first window, add one client that stops reading and measure a second window.
    #[arg(long)]
    stall: bool,
    /// Offer permessage-deflate, as browsers do.
    #[arg(long)]
    deflate: bool,
    /// Each client watches this many symbols of the universe, drawn at random (seeded by its
    /// number); 0: every symbol.
    #[arg(long, default_value_t = 0)]
    watch: usize,
    /// The personalised peer's universe (its symbol names, as bench/peers/feed.js makes them).
    #[arg(long, default_value_t = 10_000)]
    peer_universe: usize,
    /// Every Nth client (with --watch) changes --churn-symbols of its watchlist every second
    /// (0: nobody). The latency figures are the other clients': what churn costs them.
    #[arg(long, default_value_t = 0)]
    churn_every: usize,
    #[arg(long, default_value_t = 10)]
    churn_symbols: usize,
}

/// A client that changes part of its watchlist every second: its universe and what it
/// watches now.
struct Churn {
    universe: Vec<String>,
    watching: Vec<String>,
    round: u64,
    next: Instant,
}

impl Churn {
    fn new(universe: Vec<String>, watching: Vec<String>) -> Churn {
        Churn {
            universe,
            watching,
            round: 0,
            next: Instant::now() + Duration::from_secs(1),
        }
    }

    /// Drops the `k` symbols watched longest and adds `k` others, drawn at random (seeded by
    /// the client and the round): (dropped, added).
    fn turn(&mut self, i: usize, k: usize) -> (Vec<String>, Vec<String>) {
        use rand::seq::IndexedRandom;
        use rand::SeedableRng;
        self.round += 1;
        self.next += Duration::from_secs(1);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64((i as u64) << 32 | self.round);
        let k = k.min(self.watching.len());
        let mut added = Vec::with_capacity(k);
        while added.len() < k {
            let s = self.universe.choose(&mut rng).expect("a universe").clone();
            if !self.watching.contains(&s) && !added.contains(&s) {
                added.push(s);
            }
        }
        let dropped: Vec<String> = self.watching.drain(..k).collect();
        self.watching.extend(added.iter().cloned());
        (dropped, added)
    }

    /// The requests that make the turn: livetape's unsubscribe and subscribe, or the
    /// personalised peer's whole new list.
    fn requests(&mut self, kind: Kind, i: usize, k: usize) -> Vec<Out> {
        let (dropped, added) = self.turn(i, k);
        let quotes = |v: Vec<String>| v.into_iter().map(Channel::Quotes).collect::<Vec<_>>();
        match kind {
            Kind::Livetape => vec![
                Out::Livetape(ClientMsg::Unsubscribe {
                    id: 1_000_000 + 2 * self.round,
                    channels: quotes(dropped),
                }),
                Out::Livetape(ClientMsg::Subscribe {
                    id: 1_000_001 + 2 * self.round,
                    channels: quotes(added),
                    resume: None,
                }),
            ],
            _ => vec![Out::Text(
                serde_json::json!({ "subscribe": self.watching }).to_string(),
            )],
        }
    }
}

/// Channels per subscribe request (a request is at most 64 KiB).
const CHUNK: usize = 1_000;

/// The symbols client `i` watches: `watch` of `universe` at random, seeded by `i` (every run,
/// and every server, gets the same watchlists), or all of them.
fn watchlist(i: usize, watch: usize, universe: &[String]) -> Vec<String> {
    use rand::seq::IndexedRandom;
    use rand::SeedableRng;
    if watch == 0 || watch >= universe.len() {
        return universe.to_vec();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(i as u64);
    universe.choose_multiple(&mut rng, watch).cloned().collect()
}

/// The personalised peer's symbols (bench/peers/feed.js, `symbolsOf`).
fn peer_symbols(count: usize) -> Vec<String> {
    const LISTED: [&str; 10] = [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "XOM",
    ];
    let letter = |k: usize| char::from(b'A' + (k % 26) as u8);
    (0..count)
        .map(|i| match LISTED.get(i) {
            Some(s) => s.to_string(),
            None => format!("Q{}{}{}", letter(i / 676), letter(i / 26), letter(i)),
        })
        .collect()
}

/// Shared counters; histograms are sharded to keep lock contention low.
struct Stats {
    measuring: AtomicBool,
    events: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    connected: AtomicU64,
    shards: Vec<Mutex<Histogram<u64>>>,
}

/// What one measuring window saw.
struct Window {
    secs: f64,
    events: u64,
    frames: u64,
    bytes: u64,
    latency: Histogram<u64>,
    /// (RSS KiB at the end, CPU cores used over the window, of which in the kernel) of the
    /// server.
    server: Option<(u64, f64, f64)>,
    /// CPU cores the load generator itself used over the window. On loopback the receiving
    /// side's TCP work runs in whichever process's context it happens to (the sender's
    /// softirq, or the reader's when its socket is busy), so the server's share and this one
    /// move together: their sum says how much of a server's figure is that shift.
    own_cpu: Option<f64>,
}

impl Window {
    fn json(&self) -> serde_json::Value {
        let per_sec = |n: u64| n as f64 / self.secs;
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        serde_json::json!({
            "secs": self.secs,
            "events_per_sec": per_sec(self.events),
            "frames_per_sec": per_sec(self.frames),
            "bytes_per_sec": per_sec(self.bytes),
            "p50_ms": ms(0.50),
            "p99_ms": ms(0.99),
            "p999_ms": ms(0.999),
            "server_rss_kib": self.server.map(|s| s.0),
            "server_cpu_cores": self.server.map(|s| s.1),
            "server_sys_cores": self.server.map(|s| s.2),
            "loadgen_cpu_cores": self.own_cpu,
        })
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds")
}

impl Stats {
    /// Measures for `secs`: counters and histograms are cleared first, then read out.
    async fn window(&self, secs: u64, server_pids: &[u32]) -> Window {
        for n in [&self.events, &self.frames, &self.bytes] {
            n.store(0, Ordering::Relaxed);
        }
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|p| p.into_inner()).reset();
        }
        let before = usage(server_pids);
        let own_before = proc_usage(std::process::id());
        let started = Instant::now();
        self.measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        self.measuring.store(false, Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        let after = usage(server_pids);
        let own_after = proc_usage(std::process::id());
        let mut latency = histogram();
        for shard in &self.shards {
            let _ = latency.add(&*shard.lock().unwrap_or_else(|p| p.into_inner()));
        }
        let clk_tck = 100.0; // Linux USER_HZ
        let cores = |ticks: u64| ticks as f64 / clk_tck / elapsed;
        let server = match (before, after) {
            (Some((_, u0, s0)), Some((rss, u1, s1))) => {
                Some((rss, cores(u1 + s1 - u0 - s0), cores(s1 - s0)))
            }
            _ => None,
        };
        let own_cpu = match (own_before, own_after) {
            (Some((_, u0, s0)), Some((_, u1, s1))) => Some(cores(u1 + s1 - u0 - s0)),
            _ => None,
        };
        Window {
            secs: elapsed,
            events: self.events.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            latency,
            server,
            own_cpu,
        }
    }

    /// Counts what a client received; its latency goes into the figures unless `churning`
    /// (the churn scenario reports what churn costs the other clients).
    fn record(
        &self,
        client: usize,
        frames: u64,
        bytes: u64,
        events: u64,
        latency_us: u64,
        churning: bool,
    ) {
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        self.frames.fetch_add(frames, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        if events > 0 && !churning {
            let mut h = self.shards[client % self.shards.len()]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let _ = h.record_n(latency_us.max(1), events);
        }
    }
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Occurrences of `needle` in `text`, with memchr's SIMD search: `str::matches` was half of
/// the load generator's profile at 20,000 quotes/s (perf), enough to make the harness the
/// bottleneck. The same search counts every server's events.
fn count(text: &str, needle: &[u8]) -> u64 {
    memchr::memmem::find_iter(text.as_bytes(), needle).count() as u64
}

/// A livetape batch: its server timestamp and how many updates it carries, read without
/// parsing the updates (the harness must not be the bottleneck). The server writes every batch
/// as `{"type":"batch","n":N,"ts":T,"updates":[U,..]}` with each update an object that starts with
/// `{"c":"` (its channel), which nothing inside an update contains; [`check_batch`] verifies
/// that against a full parse on every client's first batch.
fn read_batch(text: &str) -> Option<(i64, u64)> {
    let rest = text.strip_prefix(r#"{"type":"batch","n":"#)?;
    let rest = &rest[rest.find(r#","ts":"#)? + 6..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    let ts = rest[..end].parse().ok()?;
    let updates = count(&rest[end..], br#"{"c":""#);
    Some((ts, updates))
}

/// True when the quick read of a batch agrees with the shared protocol types.
fn check_batch(text: &str) -> bool {
    match (serde_json::from_str::<ServerMsg>(text), read_batch(text)) {
        (Ok(ServerMsg::Batch(b)), Some((ts, n))) => {
            b.ts.timestamp_micros() == ts && b.updates.len() as u64 == n
        }
        _ => false,
    }
}

/// A peer's event: only its timestamp matters here.
#[derive(Deserialize)]
struct PeerEvent {
    ts: i64,
}

/// The batched peer's frame: `{"ts":N,"quotes":[{"ts":N,"symbol":..},..]}`.
#[derive(Deserialize)]
struct PeerBatch {
    ts: i64,
    quotes: Vec<PeerEvent>,
}

/// The batched peer's frame read quickly: its timestamp and how many quotes it carries (each
/// quote has exactly one `"symbol":` key). Checked against [`PeerBatch`] on every client's
/// first frame.
fn read_peer_batch(text: &str) -> Option<(i64, u64)> {
    let rest = text.strip_prefix(r#"{"ts":"#)?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    let ts = rest[..end].parse().ok()?;
    Some((ts, count(&rest[end..], br#""symbol":"#)))
}

fn check_peer_batch(text: &str) -> bool {
    match (
        serde_json::from_str::<PeerBatch>(text),
        read_peer_batch(text),
    ) {
        (Ok(b), Some((ts, n))) => {
            b.ts == ts && b.quotes.len() as u64 == n && b.quotes.iter().all(|q| q.ts == ts)
        }
        _ => false,
    }
}

#[path = "../tests/support/raw_ws.rs"]
mod raw_ws;

type Tungstenite = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A client connection: the Rust client's connection to livetape, tokio-tungstenite to a
/// peer, or the raw client when offering compression.
enum Ws {
    Livetape(Box<Connection>),
    Plain(Box<Tungstenite>),
    Raw(Box<raw_ws::RawWs>),
}

/// A request: livetape's typed one, or a peer's text.
enum Out {
    Livetape(ClientMsg),
    Text(String),
}

/// A text message and the bytes it took on the wire (its payload, compressed or not).
struct Text {
    /// Shares the received bytes (tungstenite's, or an inflated frame's): nothing is copied
    /// per message.
    text: Utf8Bytes,
    wire: u64,
}

thread_local! {
    /// Recently inflated frames on this thread: (compressed payload, text).
    static INFLATED: std::cell::RefCell<Vec<(Vec<u8>, Utf8Bytes)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A compressed frame's text; a frame already inflated on this thread is not inflated again.
fn inflated(payload: &[u8]) -> Option<Utf8Bytes> {
    if let Some(hit) = INFLATED.with(|c| {
        c.borrow()
            .iter()
            .find(|(p, _)| p.as_slice() == payload)
            .map(|(_, t)| t.clone())
    }) {
        return Some(hit);
    }
    let bytes = raw_ws::inflate(payload).ok()?;
    let text = Utf8Bytes::try_from(bytes).ok()?;
    INFLATED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 8 {
            c.remove(0);
        }
        c.push((payload.to_vec(), text.clone()));
    });
    Some(text)
}

impl Ws {
    /// The next text message; `Ok(None)` for other frames; `Err` when the connection ended.
    async fn next_text(&mut self) -> Result<Option<Text>, ()> {
        match self {
            Ws::Livetape(ws) => match ws.recv_text().await {
                Ok(t) => Ok(Some(Text {
                    wire: t.len() as u64,
                    text: t,
                })),
                Err(_) => Err(()),
            },
            Ws::Plain(ws) => match ws.next().await {
                Some(Ok(Message::Text(t))) => Ok(Some(Text {
                    wire: t.len() as u64,
                    text: t,
                })),
                Some(Ok(_)) => Ok(None),
                _ => Err(()),
            },
            Ws::Raw(ws) => {
                let f = ws.next().await.map_err(|_| ())?;
                match f.opcode {
                    0x1 if f.compressed => Ok(Some(Text {
                        wire: f.payload.len() as u64,
                        text: inflated(&f.payload).ok_or(())?,
                    })),
                    0x1 => Ok(Some(Text {
                        wire: f.payload.len() as u64,
                        text: Utf8Bytes::try_from(f.payload).map_err(|_| ())?,
                    })),
                    0x8 => Err(()),
                    _ => Ok(None),
                }
            }
        }
    }

    async fn send(&mut self, out: Out) -> Result<(), ()> {
        let text = match (&mut *self, out) {
            (Ws::Livetape(ws), Out::Livetape(msg)) => return ws.send(&msg).await.map_err(|_| ()),
            (_, Out::Livetape(msg)) => serde_json::to_string(&msg).expect("requests serialise"),
            (_, Out::Text(text)) => text,
        };
        match self {
            Ws::Livetape(ws) => ws
                .websocket()
                .send(Message::text(text))
                .await
                .map_err(|_| ()),
            Ws::Plain(ws) => ws.send(Message::text(text)).await.map_err(|_| ()),
            Ws::Raw(ws) => ws.send_text(text.as_bytes(), true).await.map_err(|_| ()),
        }
    }
}

/// Opens one WebSocket from 127.0.0.x; `small_receive_buffer` makes a client that stops
/// reading back up onto the server quickly.
/// Client `i`'s connection, opened; for livetape also its answer to the welcome sent (the
/// request for the symbols, or its subscribes when another client has them already). With
/// the connection, how many subscribe requests it sent (the last one's ack says subscribed).
async fn connect(i: usize, args: &Args, small_receive_buffer: bool) -> Option<(Ws, u64)> {
    let source = IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        1 + (i % args.source_addrs.max(1) as usize) as u8,
    ));
    let socket = TcpSocket::new_v4().ok()?;
    if small_receive_buffer {
        socket.set_recv_buffer_size(4096).ok()?;
    }
    // Runs of 10,000 clients leave as many local ports in TIME_WAIT. Left to connect(), the
    // kernel picks a port per destination and reuses TIME_WAIT ports on loopback; a bind to
    // port 0 would pick one before it knows the destination and run out. So bind only to
    // spread clients over several source addresses, and then allow reuse.
    if args.source_addrs > 1 {
        socket.set_reuseaddr(true).ok()?;
        socket.bind(SocketAddr::new(source, 0)).ok()?;
    }
    let server = args.servers[i % args.servers.len()];
    let tcp = socket.connect(server).await.ok()?;
    let path = match args.kind {
        Kind::Socketio => "/socket.io/?EIO=4&transport=websocket",
        _ => &args.path,
    };
    if args.deflate {
        let _ = tcp.set_nodelay(true);
        let ws = raw_ws::RawWs::handshake(tcp, server, path, Some(raw_ws::BROWSER_OFFER))
            .await
            .ok()?;
        return Some((Ws::Raw(Box::new(ws)), 0));
    }
    let url = format!("ws://{server}{path}");
    // tungstenite zero-fills up to `read_buffer_size` before every read, the one that finds
    // nothing included: its 128 KiB default made memset 29% of the load generator's profile
    // (perf, 1,000 clients), time that showed up as latency for every server measured. Frames
    // are a few KiB at most where every client watches every symbol; a watchlist's are a few
    // hundred bytes, and 16 KiB still made memset 7% of the profile at 10,000 clients.
    let read_buffer = if args.watch > 0 { 4 } else { 16 } * 1024;
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    if args.kind == Kind::Livetape {
        // The connection reads the welcome; its answer, the request for the symbols, follows.
        let open = Connection::open_on(tcp, &url, Duration::from_secs(10), Some(config));
        let mut ws = Ws::Livetape(Box::new(open.await.ok()?));
        let welcomed = welcome_reply(i, args);
        let subscribes = subscribes_in(&welcomed);
        for r in welcomed {
            ws.send(r).await.ok()?;
        }
        return Some((ws, subscribes));
    }
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .ok()?;
    Some((Ws::Plain(Box::new(ws)), 0))
}

/// livetape's answer to its welcome: the request for the symbols, unless another client has
/// them already, then its subscribes.
fn welcome_reply(i: usize, args: &Args) -> Vec<Out> {
    match UNIVERSE.get() {
        Some(universe) => subscribes(i, args, universe),
        None => vec![Out::Livetape(SYMBOLS)],
    }
}

/// livetape's request for the names of the universe, the answer to its welcome.
const SYMBOLS: ClientMsg = ClientMsg::Symbols {
    id: 0,
    offset: 0,
    limit: 100_000,
};

/// livetape's universe, as the first client to ask was told: the others subscribe from it
/// instead of each downloading the names of every symbol (80 KB at 10,000 symbols, 1.6 GB
/// for 20,000 clients, which timed their connects out).
static UNIVERSE: OnceLock<Vec<String>> = OnceLock::new();

/// The handshake's replies: livetape's request for the symbols after its welcome (unless
/// another client has them) and the subscribe (in requests of `CHUNK`) to client `i`'s
/// watchlist once it has them, Socket.IO's namespace join after the Engine.IO open and its
/// pong after every ping.
fn reply(kind: Kind, text: &str, i: usize, args: &Args) -> Vec<Out> {
    match kind {
        Kind::Livetape => match serde_json::from_str(text) {
            Ok(ServerMsg::Welcome { .. }) => welcome_reply(i, args),
            Ok(ServerMsg::Symbols { symbols, .. }) => {
                subscribes(i, args, UNIVERSE.get_or_init(|| symbols))
            }
            _ => Vec::new(),
        },
        Kind::Socketio if text.starts_with('0') => vec![Out::Text("40".into())],
        Kind::Socketio if text == "2" => vec![Out::Text("3".into())],
        _ => Vec::new(),
    }
}

/// Client `i`'s subscribe requests to its watchlist of `universe`, ids 1, 2, ...
fn subscribes(i: usize, args: &Args, universe: &[String]) -> Vec<Out> {
    let channels: Vec<Channel> = watchlist(i, args.watch, universe)
        .into_iter()
        .map(Channel::Quotes)
        .collect();
    channels
        .chunks(CHUNK)
        .enumerate()
        .map(|(k, chunk)| {
            Out::Livetape(ClientMsg::Subscribe {
                id: 1 + k as u64,
                channels: chunk.to_vec(),
                resume: None,
            })
        })
        .collect()
}

/// How many of `requests` are subscribes (their ids are 1 to that: the last one's ack says
/// the client is subscribed).
fn subscribes_in(requests: &[Out]) -> u64 {
    requests
        .iter()
        .filter(|r| matches!(r, Out::Livetape(ClientMsg::Subscribe { .. })))
        .count() as u64
}

/// The requests that open a personalised peer's stream: its watchlist.
fn peer_subscribe(i: usize, args: &Args) -> Out {
    let symbols = watchlist(i, args.watch, &peer_symbols(args.peer_universe));
    Out::Text(serde_json::json!({ "subscribe": symbols }).to_string())
}

/// Answers the handshake until subscribed: livetape's last ack or Socket.IO's namespace
/// join (the personalised peer's subscribe is sent on connecting).
async fn subscribe(kind: Kind, ws: &mut Ws, i: usize, args: &Args, sent: u64) -> Option<()> {
    let mut last_subscribe = if sent > 0 { sent } else { u64::MAX };
    while let Ok(msg) = ws.next_text().await {
        let Some(Text { text, .. }) = msg else {
            continue;
        };
        let replies = reply(kind, &text, i, args);
        let subscribing = subscribes_in(&replies);
        if subscribing > 0 {
            last_subscribe = subscribing;
        }
        for r in replies {
            ws.send(r).await.ok()?;
        }
        let done = match kind {
            Kind::Livetape => matches!(
                serde_json::from_str(&text),
                Ok(ServerMsg::Ack { id, .. }) if id == last_subscribe
            ),
            Kind::Socketio => text.starts_with("40"),
            Kind::Ws | Kind::Wsbatch | Kind::Wspersonal => true,
        };
        if done {
            return Some(());
        }
    }
    None
}

/// A client that subscribes like the others and then never reads again.
async fn stalled_client(i: usize, args: Arc<Args>, stop: Arc<AtomicBool>) {
    let Some((mut ws, sent)) = connect(i, &args, true).await else {
        eprintln!("the stalled client could not connect");
        return;
    };
    // Read until subscribed; the `ws` peer needs no handshake.
    if args.kind == Kind::Wspersonal && ws.send(peer_subscribe(i, &args)).await.is_err() {
        eprintln!("the stalled client could not subscribe");
    }
    if !matches!(args.kind, Kind::Ws | Kind::Wsbatch | Kind::Wspersonal)
        && tokio::time::timeout(
            Duration::from_secs(10),
            subscribe(args.kind, &mut ws, i, &args, sent),
        )
        .await
        .ok()
        .flatten()
        .is_none()
    {
        eprintln!("the stalled client could not subscribe");
    }
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(ws);
}

async fn client(i: usize, args: Arc<Args>, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    let Some((mut ws, _)) = connect(i, &args, false).await else {
        return fail(&stats);
    };
    stats.connected.fetch_add(1, Ordering::Relaxed);
    if args.kind == Kind::Wspersonal && ws.send(peer_subscribe(i, &args)).await.is_err() {
        return fail(&stats);
    }
    let mut checked = false;
    let churning = args.churn_every > 0 && args.watch > 0 && i.is_multiple_of(args.churn_every);
    // The personalised peer's universe is known up front; livetape's comes with `symbols`.
    let mut churn = (churning && args.kind == Kind::Wspersonal).then(|| {
        let universe = peer_symbols(args.peer_universe);
        let watching = watchlist(i, args.watch, &universe);
        Churn::new(universe, watching)
    });
    let wake = tokio::time::sleep(Duration::from_millis(500));
    tokio::pin!(wake);
    while !stop.load(Ordering::Relaxed) {
        if let Some(c) = churn.as_mut().filter(|c| Instant::now() >= c.next) {
            for r in c.requests(args.kind, i, args.churn_symbols) {
                if ws.send(r).await.is_err() {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        // One timer per client, re-armed only when it fires: a `timeout` per message put a
        // timer wheel entry in and took it out for every frame (4% of the load generator's
        // profile at 10,000 clients, perf).
        let next = tokio::select! {
            biased;
            next = ws.next_text() => next,
            () = &mut wake => {
                wake.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(500));
                continue;
            }
        };
        let msg = match next {
            Ok(Some(msg)) => msg,
            Ok(None) => continue,
            Err(()) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let arrived = now_us();
        let text = &*msg.text;
        let latency = |ts: i64| (arrived - ts).max(0) as u64;
        let bytes = msg.wire;
        match args.kind {
            Kind::Livetape if text.starts_with(r#"{"type":"batch""#) => {
                if !checked {
                    checked = true;
                    if !check_batch(text) {
                        eprintln!("a batch the quick reader misreads: {text}");
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                if let Some((ts, n)) = read_batch(text) {
                    stats.record(i, 1, bytes, n, latency(ts), churning);
                }
            }
            Kind::Wsbatch | Kind::Wspersonal => {
                if !checked {
                    checked = true;
                    if !check_peer_batch(text) {
                        eprintln!("a batch the quick reader misreads: {text}");
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                if let Some((ts, n)) = read_peer_batch(text) {
                    stats.record(i, 1, bytes, n, latency(ts), churning);
                }
            }
            Kind::Ws => {
                if let Ok(e) = serde_json::from_str::<PeerEvent>(text) {
                    stats.record(i, 1, bytes, 1, latency(e.ts), churning);
                }
            }
            Kind::Socketio if text.starts_with("42") => {
                if let Ok((_, e)) = serde_json::from_str::<(&str, PeerEvent)>(&text[2..]) {
                    stats.record(i, 1, bytes, 1, latency(e.ts), churning);
                }
            }
            _ => {
                if churning && churn.is_none() && text.starts_with(r#"{"type":"symbols""#) {
                    if let Ok(ServerMsg::Symbols { symbols, .. }) = serde_json::from_str(text) {
                        let watching = watchlist(i, args.watch, &symbols);
                        churn = Some(Churn::new(symbols, watching));
                    }
                }
                for r in reply(args.kind, text, i, &args) {
                    if ws.send(r).await.is_err() {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                stats.record(i, 1, bytes, 0, 0, churning);
            }
        }
    }
    // No close handshake: a saturated peer may never read it. Dropping the socket ends it.
    drop(ws);
}

fn fail(stats: &Stats) {
    stats.errors.fetch_add(1, Ordering::Relaxed);
}

/// (RSS in KiB, CPU ticks used in user space, in the kernel) of a process, from /proc.
fn proc_usage(pid: u32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let user = f.get(11)?.parse::<u64>().ok()?;
    let system = f.get(12)?.parse::<u64>().ok()?;
    Some((rss, user, system))
}

/// [`proc_usage`] added up over several processes; None if any cannot be read.
fn usage(pids: &[u32]) -> Option<(u64, u64, u64)> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .try_fold((0, 0, 0), |(rss, user, system), &pid| {
            let (r, u, s) = proc_usage(pid)?;
            Some((rss + r, user + u, system + s))
        })
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    assert!(
        args.servers.iter().all(|s| s.ip().is_loopback()),
        "the load generator targets loopback only"
    );
    let stats = Arc::new(Stats {
        measuring: AtomicBool::new(false),
        events: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        connected: AtomicU64::new(0),
        shards: (0..64).map(|_| Mutex::new(histogram())).collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let baseline_rss = usage(&args.server_pids).map(|u| u.0);
    let mut tasks = Vec::with_capacity(args.clients + 1);
    for i in 0..args.clients {
        tasks.push(tokio::spawn(client(
            i,
            args.clone(),
            stats.clone(),
            stop.clone(),
        )));
        // Connect in waves so that the accept queue is not overrun.
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Wait for everyone (or give up after 30 s), then settle.
    let deadline = Instant::now() + Duration::from_secs(30);
    while (stats.connected.load(Ordering::Relaxed) + stats.errors.load(Ordering::Relaxed))
        < args.clients as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(args.settle)).await;

    let first = stats.window(args.secs, &args.server_pids).await;
    let stalled = if args.stall {
        tasks.push(tokio::spawn(stalled_client(
            args.clients,
            args.clone(),
            stop.clone(),
        )));
        Some(stats.window(args.secs, &args.server_pids).await)
    } else {
        None
    };
    stop.store(true, Ordering::Relaxed);
    // One deadline for all: a client stuck behind a saturated server is aborted, so the run
    // always ends within seconds of its measuring window.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    for t in &tasks {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        while !t.is_finished() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for t in &tasks {
        t.abort();
    }

    let connected = stats.connected.load(Ordering::Relaxed);
    let mut out = first.json();
    let extra = serde_json::json!({
        "kind": format!("{:?}", args.kind).to_lowercase(),
        "deflate": args.deflate,
        "clients": args.clients,
        "connected": connected,
        "errors": stats.errors.load(Ordering::Relaxed),
        "server_rss_before_kib": baseline_rss,
        "stalled": stalled.as_ref().map(Window::json),
    });
    if let (Some(o), serde_json::Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    println!("{out}");
}
