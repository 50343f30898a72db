//! The benchmark's load generator: N WebSocket clients on loopback against livetape or one of
//! the peer servers, measuring for a fixed time what they receive.
//!
//! For livetape it speaks the real protocol with the shared types: a welcome, one subscribe to
//! the quotes of every symbol, then batches; each update in a batch is one event, and its
//! latency is the time from the batch's server timestamp to its arrival. For the Node `ws`
//! peer each message is one JSON event with a `ts` field (µs). Results are one JSON object on
//! stdout; `scripts/bench.sh` turns several into docs/benchmarks.md.
//!
//! Run with `cargo run --release --features ssr --example loadgen -- --help`.

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use livetape::protocol::{Channel, ClientMsg, ServerMsg};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    Livetape,
    Ws,
}

/// Loopback load generator for livetape and its peers.
#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    kind: Kind,
    /// The server's address (loopback only).
    #[arg(long)]
    server: SocketAddr,
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
    /// The server's process id, to report its RSS and CPU.
    #[arg(long)]
    server_pid: Option<u32>,
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

impl Stats {
    fn record(&self, client: usize, frames: u64, bytes: u64, events: u64, latency_us: u64) {
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        self.frames.fetch_add(frames, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        if events > 0 {
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

/// The head of a livetape batch: its timestamp and how many updates it carries, without
/// materialising them (the harness must not be the bottleneck).
#[derive(Deserialize)]
struct BatchHead {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    ts: i64,
    #[serde(default)]
    updates: Vec<serde::de::IgnoredAny>,
}

/// A peer's event: only its timestamp matters here.
#[derive(Deserialize)]
struct PeerEvent {
    ts: i64,
}

async fn client(i: usize, args: Arc<Args>, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    let source = IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        1 + (i % args.source_addrs.max(1) as usize) as u8,
    ));
    let socket = match TcpSocket::new_v4() {
        Ok(s) => s,
        Err(_) => return fail(&stats),
    };
    if socket.bind(SocketAddr::new(source, 0)).is_err() {
        return fail(&stats);
    }
    let Ok(tcp) = socket.connect(args.server).await else {
        return fail(&stats);
    };
    let url = format!("ws://{}{}", args.server, args.path);
    let Ok((mut ws, _)) = tokio_tungstenite::client_async(url, tcp).await else {
        return fail(&stats);
    };
    stats.connected.fetch_add(1, Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        let next = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
        let Ok(Some(Ok(msg))) = next else {
            if matches!(next, Ok(None) | Ok(Some(Err(_)))) {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
            continue;
        };
        let Message::Text(text) = msg else { continue };
        let arrived = now_us();
        match args.kind {
            Kind::Livetape => {
                if text.as_str().starts_with(r#"{"type":"batch""#) {
                    if let Ok(head) = serde_json::from_str::<BatchHead>(text.as_str()) {
                        debug_assert_eq!(head.kind, "batch");
                        let n = head.updates.len() as u64;
                        stats.record(
                            i,
                            1,
                            text.len() as u64,
                            n,
                            (arrived - head.ts).max(0) as u64,
                        );
                    }
                } else if let Ok(ServerMsg::Welcome { symbols, .. }) =
                    serde_json::from_str(text.as_str())
                {
                    let channels = symbols.into_iter().map(Channel::Quotes).collect();
                    let sub = ClientMsg::Subscribe {
                        id: 1,
                        channels,
                        resume: None,
                    };
                    let text = serde_json::to_string(&sub).expect("requests serialise");
                    if ws.send(Message::text(text)).await.is_err() {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                } else {
                    stats.record(i, 1, text.len() as u64, 0, 0);
                }
            }
            Kind::Ws => {
                if let Ok(e) = serde_json::from_str::<PeerEvent>(text.as_str()) {
                    stats.record(i, 1, text.len() as u64, 1, (arrived - e.ts).max(0) as u64);
                }
            }
        }
    }
    // No close handshake: a saturated peer may never read it. Dropping the socket ends it.
    drop(ws);
}

fn fail(stats: &Stats) {
    stats.errors.fetch_add(1, Ordering::Relaxed);
}

/// (RSS in KiB, CPU ticks used) of a process, from /proc.
fn proc_usage(pid: u32) -> Option<(u64, u64)> {
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
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((rss, ticks))
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    assert!(
        args.server.ip().is_loopback(),
        "the load generator targets loopback only"
    );
    let stats = Arc::new(Stats {
        measuring: AtomicBool::new(false),
        events: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        connected: AtomicU64::new(0),
        shards: (0..64)
            .map(|_| Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds")))
            .collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(args.clients);
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

    let before = args.server_pid.and_then(proc_usage);
    let started = Instant::now();
    stats.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    stats.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let after = args.server_pid.and_then(proc_usage);
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

    let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("bounds");
    for shard in &stats.shards {
        let _ = h.add(&*shard.lock().unwrap_or_else(|p| p.into_inner()));
    }
    let clk_tck = 100.0; // Linux USER_HZ
    let (rss_kib, cpu) = match (before, after) {
        (Some((_, t0)), Some((rss, t1))) => (Some(rss), Some((t1 - t0) as f64 / clk_tck / elapsed)),
        _ => (None, None),
    };
    let per_sec = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64 / elapsed;
    let out = serde_json::json!({
        "kind": format!("{:?}", args.kind).to_lowercase(),
        "clients": args.clients,
        "connected": stats.connected.load(Ordering::Relaxed),
        "errors": stats.errors.load(Ordering::Relaxed),
        "secs": elapsed,
        "events_per_sec": per_sec(&stats.events),
        "frames_per_sec": per_sec(&stats.frames),
        "bytes_per_sec": per_sec(&stats.bytes),
        "p50_ms": h.value_at_quantile(0.50) as f64 / 1000.0,
        "p99_ms": h.value_at_quantile(0.99) as f64 / 1000.0,
        "p999_ms": h.value_at_quantile(0.999) as f64 / 1000.0,
        "server_rss_kib": rss_kib,
        "server_cpu_cores": cpu,
    });
    println!("{out}");
}
