//! The soak: a livetape server under ten thousand clients for a long time, with churn, checked
//! for leaks and for every update.
//!
//! It starts the server binary itself (default feed, a free loopback port), then connects
//! `--clients` clients, each with a small watchlist (quotes of two symbols, trades of one,
//! one league's scores), plus one reference client subscribed to every channel. A tenth of
//! the clients drop their connection at random moments (half with a close frame, half
//! without) and resume from their positions; one in a hundred subscribes to every quote and
//! trade and reads one message every 500 ms through a 4 KiB receive buffer: once the kernel's
//! buffers are full it falls behind and the server catches it up (a `lagged` snapshot, by
//! protocol, counted but not a failure).
//!
//! Every client checks every update like a careful client: the next seq of its channel
//! (otherwise a gap, or a duplicate), and the same data as every other client that received
//! that (epoch, channel, seq) (otherwise a mismatch); clients that read at full speed must
//! never be sent a snapshot in place of a replay.
//!
//! Every `--sample-secs` it samples the server's RSS and open file descriptors, the clients
//! connected, messages and updates per second and publish-to-receive p99, and prints a row;
//! RSS is also read every second for the memory verdict (see `memory`). Then the clients
//! leave, as many come back for a few seconds (the return) and leave too. It fails (exit 1)
//! if any client saw a gap, a duplicate or a mismatch, or a snapshot where the server still
//! kept what it missed; if the return takes memory again (a leak), or, in a long soak, RSS
//! grows with the churn; if, once the churn has stopped, a client is not back within a
//! minute or the server holds more descriptors than its idle ones plus one per client. Every
//! verdict is one a busy machine cannot move (docs/soak.md). It writes `soak.md` (the table)
//! and `soak.svg` (RSS, connections and p99 over time) to `--out`.
//!
//! `make soak` runs it for 10 minutes with 10,000 clients, `make test` for 60 s with 5,000.

mod memory;

use clap::Parser;
use futures_util::SinkExt;
use hdrhistogram::Histogram;
use livetape::client::{Connection, Error};
use livetape::protocol::{Channel, ClientMsg, League, Resume, Seq, ServerMsg, SnapshotReason};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::Message;

/// Soak test: a livetape server under many clients with churn, checked for leaks and loss.
#[derive(Parser, Debug)]
struct Args {
    /// The server binary to start.
    #[arg(long, default_value = "target/release/livetape")]
    server_bin: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// How long to soak once every client is connected (the warm-up included).
    #[arg(long, default_value_t = 600)]
    secs: u64,
    /// The first part of the soak, left out of the memory trend (connections settling).
    #[arg(long)]
    warmup_secs: Option<u64>,
    #[arg(long, default_value_t = 10)]
    sample_secs: u64,
    /// Share of clients that drop their connection at random and resume.
    #[arg(long, default_value_t = 0.10)]
    reconnecting: f64,
    /// Mean seconds between a reconnecting client's drops.
    #[arg(long, default_value_t = 20.0)]
    reconnect_every: f64,
    /// Share of clients that read slowly.
    #[arg(long, default_value_t = 0.01)]
    slow: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where soak.md and soak.svg go.
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
    /// Report the memory readings but do not fail on them (for measuring the bounds).
    #[arg(long)]
    no_memory_verdict: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Steady,
    Reconnecting,
    Slow,
    Reference,
}

/// Everything the clients report into.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Reconnecting clients stop dropping their connections once this is set.
    calm: AtomicBool,
    connected: AtomicU64,
    /// `connected`, by role (indexed by `Role as usize`), for the report of who is missing.
    connected_by_role: [AtomicU64; 4],
    /// Failed connection attempts, by what failed.
    connect_errors: Mutex<BTreeMap<String, u64>>,
    /// Connections opened in all (first ones and reconnects).
    opened: AtomicU64,
    /// Clients that have connected at least once.
    arrived: AtomicU64,
    messages: AtomicU64,
    updates: AtomicU64,
    reconnects: AtomicU64,
    gaps: AtomicU64,
    duplicates: AtomicU64,
    mismatches: AtomicU64,
    /// Snapshots in place of a replay sent to clients that read at full speed.
    unexpected_snapshots: AtomicU64,
    /// Snapshots sent to the slow readers in place of what they missed (expected).
    slow_caught_up: AtomicU64,
    /// Snapshots to clients that resumed from further back than the server's history.
    beyond_history: AtomicU64,
    errors: AtomicU64,
    /// Close frames the server sent, by role and code.
    closes: Mutex<BTreeMap<String, u64>>,
    /// What each (epoch, channel, seq) carried, as first seen by anyone (sharded).
    seen: Vec<Mutex<HashMap<Key, u64>>>,
    /// Publish-to-receive latency in µs since the last sample (sharded).
    latency: Vec<Mutex<Histogram<u64>>>,
}

const SHARDS: usize = 64;

/// (epoch, channel digest, seq).
type Key = (u64, u64, Seq);

/// A chart: title, unit, what it plots, its colour.
type Series = (
    &'static str,
    &'static str,
    fn(&Sample) -> f64,
    plotters::style::RGBColor,
);

fn digest<T: Hash>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

impl Shared {
    fn new() -> Shared {
        Shared {
            seen: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            latency: (0..SHARDS)
                .map(|_| Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).unwrap()))
                .collect(),
            ..Default::default()
        }
    }

    /// Records what `(epoch, channel, seq)` carried; false if someone saw different data.
    fn agree(&self, epoch: u64, channel: u64, seq: Seq, data: u64) -> bool {
        let key = (epoch, channel, seq);
        let shard = &self.seen[(digest(&key) as usize) % SHARDS];
        let mut map = shard.lock().unwrap();
        *map.entry(key).or_insert(data) == data
    }

    fn take_p99_ms(&self) -> f64 {
        let mut all = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
        for shard in &self.latency {
            let mut h = shard.lock().unwrap();
            let _ = all.add(&*h);
            h.reset();
        }
        all.value_at_quantile(0.99) as f64 / 1000.0
    }
}

/// One client: connects, subscribes (resuming when it has positions), checks everything.
struct Client {
    id: usize,
    role: Role,
    addr: SocketAddr,
    channels: Vec<Channel>,
    epoch: u64,
    positions: BTreeMap<Channel, Seq>,
    /// Subscribes sent, on every connection: the first one means the client has arrived.
    subscribes: u64,
    rng: ChaCha8Rng,
    /// Mean seconds between drops (reconnecting clients).
    reconnect_every: f64,
    /// This connection asked to resume: every snapshot it gets is one in place of a replay.
    resuming: bool,
    /// When each channel's position was published (the batch or snapshot that moved it).
    position_ts: BTreeMap<Channel, chrono::DateTime<chrono::Utc>>,
}

/// The Rust client's connection: every message as the server sent it (the soak checks the
/// server's seqs itself, so it does not let `livetape::client::Client` repair them).
type Ws = Connection;

impl Client {
    async fn connect(&mut self, shared: &Shared) -> Result<Ws, String> {
        let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        if self.role == Role::Slow {
            socket
                .set_recv_buffer_size(4096)
                .map_err(|e| e.to_string())?;
        }
        let tcp = tokio::time::timeout(Duration::from_secs(10), socket.connect(self.addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let url = format!("ws://{}/ws", self.addr);
        let mut ws = Connection::open_on(tcp, &url, Duration::from_secs(10), None)
            .await
            .map_err(|e| error_kind(&e))?;
        if self.channels.is_empty() {
            let symbols = Self::symbols(&mut ws).await?;
            self.channels = self.watchlist(&symbols);
        }
        let resume = (!self.positions.is_empty()).then(|| Resume {
            epoch: self.epoch,
            from: self.positions.clone(),
            latest: false,
        });
        self.resuming = resume.is_some();
        ws.subscribe(self.channels.clone(), resume)
            .await
            .map_err(|e| error_kind(&e))?;
        self.subscribes += 1;
        shared.connected.fetch_add(1, Ordering::Relaxed);
        shared.connected_by_role[self.role as usize].fetch_add(1, Ordering::Relaxed);
        shared.opened.fetch_add(1, Ordering::Relaxed);
        if self.subscribes == 1 {
            // This client's first subscribe: it has arrived.
            shared.arrived.fetch_add(1, Ordering::Relaxed);
        }
        Ok(ws)
    }

    /// The names of the universe, asked for after the welcome.
    async fn symbols(ws: &mut Ws) -> Result<Vec<String>, String> {
        let ask = ClientMsg::Symbols {
            id: 0,
            offset: 0,
            limit: 100_000,
        };
        ws.send(&ask).await.map_err(|e| error_kind(&e))?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.recv()).await {
                Ok(Ok(ServerMsg::Symbols { symbols, .. })) => return Ok(symbols),
                Ok(Ok(_)) => continue,
                _ => return Err("no list of symbols".into()),
            }
        }
    }

    fn watchlist(&mut self, symbols: &[String]) -> Vec<Channel> {
        if self.role == Role::Reference || self.role == Role::Slow {
            let mut all: Vec<Channel> = symbols
                .iter()
                .flat_map(|s| [Channel::Quotes(s.clone()), Channel::Trades(s.clone())])
                .collect();
            all.extend(League::ALL.into_iter().map(Channel::Scores));
            return all;
        }
        let mut pick = || symbols[self.rng.random_range(0..symbols.len())].clone();
        let (a, b, c) = (pick(), pick(), pick());
        let league = League::ALL[self.rng.random_range(0..League::ALL.len())];
        let mut v = vec![
            Channel::Quotes(a),
            Channel::Quotes(b),
            Channel::Trades(c),
            Channel::Scores(league),
        ];
        v.sort();
        v.dedup();
        v
    }

    /// Seconds since `channel`'s position was published.
    fn age_secs(&self, channel: &Channel) -> f64 {
        self.position_ts.get(channel).map_or(f64::INFINITY, |t| {
            (chrono::Utc::now() - *t).num_milliseconds() as f64 / 1000.0
        })
    }

    /// Whether a resume of `channel` to `seq` reaches past what the server promises to keep.
    fn beyond_history(&self, channel: Channel, seq: Seq) -> bool {
        let at = self.positions.get(&channel).copied().unwrap_or(0);
        let state = !matches!(channel, Channel::Trades(_));
        // A second of slack: the server trims by whole ticks.
        seq.saturating_sub(at) > HISTORY
            || (state && self.age_secs(&channel) > (STATE_HISTORY_SECS - 1) as f64)
    }

    /// Applies one message; checks continuity and agreement.
    fn apply(&mut self, msg: ServerMsg, shared: &Shared) {
        match msg {
            ServerMsg::Snapshot(s) => {
                match s.reason {
                    Some(SnapshotReason::Subscribed) if !self.resuming => {}
                    // Resuming, a channel the client never had a position for (it left before
                    // that channel's first snapshot came) is subscribed afresh, by protocol.
                    Some(SnapshotReason::Subscribed)
                        if s.channels
                            .iter()
                            .all(|c| !self.positions.contains_key(&c.channel)) => {}
                    // A slow reader is caught up with the latest state (lagged), or resumes
                    // from further back than the history holds after the server gave up on
                    // it (it could not even answer pings): by protocol, not a loss.
                    Some(_) if self.role == Role::Slow => {
                        shared.slow_caught_up.fetch_add(1, Ordering::Relaxed);
                    }
                    // A client that resumes from further back than the server keeps is
                    // owed a snapshot, by protocol: more than `HISTORY` updates of a channel
                    // behind, or, for a state channel (quotes, candles, scores), its last
                    // update older than `STATE_HISTORY_SECS`. On a machine too busy for the
                    // soak's own clients to keep up they fall that far behind; the server is
                    // judged by its promise, not by how fast the machine is.
                    Some(SnapshotReason::HistoryExhausted)
                        if s.channels
                            .iter()
                            .any(|c| self.beyond_history(c.channel.clone(), c.seq)) =>
                    {
                        shared.beyond_history.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(_) => {
                        shared.unexpected_snapshots.fetch_add(1, Ordering::Relaxed);
                        let behind: Vec<String> = s
                            .channels
                            .iter()
                            .map(|c| {
                                let at = self.positions.get(&c.channel).copied().unwrap_or(0);
                                format!(
                                    "{} {} behind, last update {:.1} s old",
                                    c.channel,
                                    c.seq.saturating_sub(at),
                                    self.age_secs(&c.channel)
                                )
                            })
                            .collect();
                        eprintln!(
                            "client {} ({:?}): snapshot {:?} ({})",
                            self.id,
                            self.role,
                            s.reason,
                            behind.join(", "),
                        );
                    }
                    _ => {}
                }
                if s.epoch != self.epoch {
                    self.epoch = s.epoch;
                    self.positions.clear();
                }
                for c in s.channels {
                    self.position_ts.insert(c.channel.clone(), s.ts);
                    self.positions.insert(c.channel, c.seq);
                }
            }
            ServerMsg::Batch(b) => {
                let late = (chrono::Utc::now() - b.ts).num_microseconds().unwrap_or(0);
                let shard = &shared.latency[self.id % SHARDS];
                let _ = shard.lock().unwrap().record(late.max(1) as u64);
                shared
                    .updates
                    .fetch_add(b.updates.len() as u64, Ordering::Relaxed);
                for u in b.updates {
                    let Some(last) = self.positions.get(&u.channel).copied() else {
                        continue;
                    };
                    if u.seq == last + 1 {
                        let data = digest(&format!("{:?}", u.data));
                        if !shared.agree(self.epoch, digest(&u.channel), u.seq, data) {
                            shared.mismatches.fetch_add(1, Ordering::Relaxed);
                        }
                        self.position_ts.insert(u.channel.clone(), b.ts);
                        self.positions.insert(u.channel, u.seq);
                    } else if u.seq <= last {
                        shared.duplicates.fetch_add(1, Ordering::Relaxed);
                    } else {
                        shared.gaps.fetch_add(1, Ordering::Relaxed);
                        eprintln!(
                            "client {} ({:?}): gap on {} from {last} to {}",
                            self.id, self.role, u.channel, u.seq
                        );
                        self.positions.insert(u.channel, u.seq);
                    }
                }
            }
            ServerMsg::Error { .. } => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    async fn run(mut self, shared: Arc<Shared>) {
        let mut backoff = Duration::from_millis(100);
        while !shared.stop.load(Ordering::Relaxed) {
            let mut ws = match self.connect(&shared).await {
                Ok(ws) => {
                    backoff = Duration::from_millis(100);
                    ws
                }
                Err(e) => {
                    let what = e.split(':').next().unwrap_or_default().to_string();
                    *shared
                        .connect_errors
                        .lock()
                        .unwrap()
                        .entry(what)
                        .or_default() += 1;
                    tokio::time::sleep(
                        backoff + Duration::from_millis(self.rng.random_range(0..200)),
                    )
                    .await;
                    backoff = (backoff * 2).min(Duration::from_secs(3));
                    continue;
                }
            };
            let drop_at = (self.role == Role::Reconnecting).then(|| {
                let mean = self.reconnect_every.max(0.1);
                let wait = -mean * (1.0 - self.rng.random::<f64>()).ln();
                Instant::now() + Duration::from_secs_f64(wait)
            });
            let graceful = self.rng.random_bool(0.5);
            loop {
                if shared.stop.load(Ordering::Relaxed) {
                    let close = ws.websocket().close(None);
                    let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
                    shared.connected.fetch_sub(1, Ordering::Relaxed);
                    shared.connected_by_role[self.role as usize].fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                if let Some(at) = drop_at {
                    if Instant::now() >= at && !shared.calm.load(Ordering::Relaxed) {
                        if graceful {
                            let close = ws.websocket().send(Message::Close(Some(CloseFrame {
                                code: CloseCode::Normal,
                                reason: "".into(),
                            })));
                            let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
                        }
                        shared.reconnects.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                let next = tokio::time::timeout(Duration::from_millis(500), ws.recv()).await;
                match next {
                    Err(_) => continue,
                    Ok(Ok(msg)) => {
                        shared.messages.fetch_add(1, Ordering::Relaxed);
                        self.apply(msg, &shared);
                        if self.role == Role::Slow {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                    Ok(Err(Error::Protocol { .. })) => {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(Err(Error::Closed { code, .. })) => {
                        *shared
                            .closes
                            .lock()
                            .unwrap()
                            .entry(format!("{:?} {code}", self.role))
                            .or_default() += 1;
                        break;
                    }
                    Ok(Err(_)) => break,
                }
            }
            shared.connected.fetch_sub(1, Ordering::Relaxed);
            shared.connected_by_role[self.role as usize].fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What kind of failure `e` is, for the table of connect errors (the details vary per
/// connection; the kinds are what a reader compares).
fn error_kind(e: &Error) -> String {
    match e {
        Error::Connect { .. } => "connect".into(),
        Error::Rejected { status, .. } => format!("rejected {status}"),
        Error::Closed { code, .. } => format!("closed {code}"),
        Error::Silent { .. } => "silent".into(),
        Error::Dropped { .. } => "dropped".into(),
        Error::Protocol { .. } => "protocol".into(),
        _ => e.to_string(),
    }
}

/// What one sample saw.
#[derive(Clone, Debug)]
struct Sample {
    t: f64,
    connected: u64,
    rss_mib: f64,
    fds: usize,
    messages_per_sec: f64,
    updates_per_sec: f64,
    p99_ms: f64,
    reconnects: u64,
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// WebSocket connections the server counts as open (its `/metrics`).
async fn open_connections(addr: SocketAddr) -> u64 {
    let text = match reqwest::get(format!("http://{addr}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .find_map(|l| l.strip_prefix("livetape_connections{transport=\"ws\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(soak(args))
}

async fn soak(args: Args) -> std::process::ExitCode {
    std::fs::create_dir_all(&args.out).unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::fs::File::create(args.out.join("server.log")).unwrap();
    let server = Server(
        Command::new(&args.server_bin)
            .args(["--addr", &addr.to_string(), "--max-connections", "30000"])
            // Half an hour of simulated past: every channel's history ring is full from the
            // start, so RSS after the warm-up is the steady state, not rings still filling.
            .args(["--warmup-secs", "1800", "--history", &HISTORY.to_string()])
            .args(["--state-history-secs", &STATE_HISTORY_SECS.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", args.server_bin.display())),
    );
    let pid = server.0.id();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_fds = fds(pid);
    let idle_rss = rss_mib(pid);

    let shared = Arc::new(Shared::new());
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let n_reconnecting = (args.clients as f64 * args.reconnecting).round() as usize;
    let n_slow = (args.clients as f64 * args.slow).round() as usize;
    let started = Instant::now();
    let total = args.clients as u64 + 1;
    let tasks = spawn_clients(&args, addr, &shared, &mut rng).await;
    // Every client has connected once (not all at one instant: the reconnecting ones are
    // already dropping and coming back).
    if !all_arrived(&shared, total, started).await {
        return std::process::ExitCode::FAILURE;
    }
    println!(
        "soak: {} clients connected in {:.1} s ({n_reconnecting} reconnecting every ~{} s, {n_slow} slow, 1 reference); server pid {pid}, idle RSS {idle_rss:.1} MiB, {idle_fds} fds",
        total,
        started.elapsed().as_secs_f64(),
        args.reconnect_every
    );
    println!(
        "{:>6} {:>9} {:>9} {:>7} {:>10} {:>10} {:>8} {:>10}",
        "t (s)", "clients", "RSS MiB", "fds", "msgs/s", "updates/s", "p99 ms", "reconnects"
    );
    let warmup = args.warmup_secs.unwrap_or((args.secs / 5).clamp(10, 60));
    let soak_start = Instant::now();
    // RSS every second, for the memory verdict's trend (see `memory`).
    let readings = Arc::new(Mutex::new(Vec::<memory::Reading>::new()));
    let reader = {
        let readings = readings.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                let r = memory::Reading {
                    t: soak_start.elapsed().as_secs_f64(),
                    rss_mib: rss_mib(pid),
                };
                readings.lock().unwrap().push(r);
            }
        })
    };
    let mut samples: Vec<Sample> = Vec::new();
    let (mut last_msgs, mut last_updates) = (0, 0);
    shared.take_p99_ms();
    let mut window_reconnects = None;
    while soak_start.elapsed() < Duration::from_secs(args.secs) {
        tokio::time::sleep(Duration::from_secs(args.sample_secs)).await;
        let msgs = shared.messages.load(Ordering::Relaxed);
        let updates = shared.updates.load(Ordering::Relaxed);
        let s = Sample {
            t: soak_start.elapsed().as_secs_f64(),
            connected: shared.connected.load(Ordering::Relaxed),
            rss_mib: rss_mib(pid),
            fds: fds(pid),
            messages_per_sec: (msgs - last_msgs) as f64 / args.sample_secs as f64,
            updates_per_sec: (updates - last_updates) as f64 / args.sample_secs as f64,
            p99_ms: shared.take_p99_ms(),
            reconnects: shared.reconnects.load(Ordering::Relaxed),
        };
        (last_msgs, last_updates) = (msgs, updates);
        println!(
            "{:>6.0} {:>9} {:>9.1} {:>7} {:>10.0} {:>10.0} {:>8.1} {:>10}",
            s.t,
            s.connected,
            s.rss_mib,
            s.fds,
            s.messages_per_sec,
            s.updates_per_sec,
            s.p99_ms,
            s.reconnects
        );
        if window_reconnects.is_none() && s.t >= warmup as f64 {
            window_reconnects = Some((s.t, s.reconnects));
        }
        samples.push(s);
    }
    reader.abort();
    let window_end = soak_start.elapsed().as_secs_f64();
    let steady: Vec<memory::Reading> = readings
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|r| r.t >= warmup as f64)
        .collect();
    let reconnects_per_sec = window_reconnects.map_or(0.0, |(t, before)| {
        (shared.reconnects.load(Ordering::Relaxed) - before) as f64 / (window_end - t).max(1.0)
    });
    let under_load_rss = memory::median(&mut steady.iter().map(|r| r.rss_mib).collect::<Vec<_>>())
        .unwrap_or(idle_rss);
    // The churn stops; everyone reconnects; then the server should hold one descriptor per
    // client beyond its idle ones.
    shared.calm.store(true, Ordering::Relaxed);
    let settle = Instant::now();
    while shared.connected.load(Ordering::Relaxed) < total
        && settle.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let server_connections = open_connections(addr).await;
    let end_fds = fds(pid);
    let end_rss = rss_mib(pid);
    let connected = shared.connected.load(Ordering::Relaxed);
    let missing_by_role = [
        Role::Steady,
        Role::Reconnecting,
        Role::Slow,
        Role::Reference,
    ]
    .iter()
    .map(|&r| {
        format!(
            "{r:?} {}",
            shared.connected_by_role[r as usize].load(Ordering::Relaxed)
        )
    })
    .collect::<Vec<_>>()
    .join(", ");
    let after_leave = leave(tasks, &shared, addr, pid).await;
    // The returns: as many clients again, with the same churn, for a few seconds, and gone;
    // twice. Memory the allocator kept from the first round is reused by the next; what a
    // leak holds is taken again, for every connection each return opens (see `memory`).
    let mut returns = Vec::new();
    let mut readings = vec![after_leave];
    for round in 1..=2 {
        let returning = Arc::new(Shared::new());
        let return_started = Instant::now();
        let return_tasks = spawn_clients(&args, addr, &returning, &mut rng).await;
        let returned = all_arrived(&returning, total, return_started).await;
        if returned {
            tokio::time::sleep(Duration::from_secs(memory::return_secs(args.secs))).await;
        }
        let after = leave(return_tasks, &returning, addr, pid).await;
        println!(
            "return {round}: {} connections opened in {:.1} s; RSS after it {}",
            returning.opened.load(Ordering::Relaxed),
            return_started.elapsed().as_secs_f64(),
            after.map_or("-".into(), |r| format!("{r:.1} MiB")),
        );
        readings.push(after);
        returns.push((returning, returned));
    }
    drop(server);

    let memory = memory::Memory {
        idle_mib: idle_rss,
        slope_mib_per_min: memory::theil_sen(&steady).map(|s| s * 60.0),
        reconnects_per_sec,
        after_leave_mib: after_leave,
        connections_opened: shared.opened.load(Ordering::Relaxed),
        after_first_return_mib: readings[1],
        after_return_mib: readings[2],
        return_connections: returns[1].0.opened.load(Ordering::Relaxed),
        per_connection_kib: (under_load_rss - idle_rss) * 1024.0 / total as f64,
    };
    let bounds = memory::Bounds::for_secs(args.secs);
    // Every descriptor beyond the idle ones should be a connection the server counts as open
    // (a slow reader the server closed may still be draining its buffer on our side).
    let extra_fds = end_fds as i64 - idle_fds as i64 - server_connections as i64;
    let both = |f: fn(&Shared) -> &AtomicU64| {
        f(&shared).load(Ordering::Relaxed)
            + returns
                .iter()
                .map(|(r, _)| f(r).load(Ordering::Relaxed))
                .sum::<u64>()
    };
    let gaps = both(|s| &s.gaps);
    let dups = both(|s| &s.duplicates);
    let mismatches = both(|s| &s.mismatches);
    let unexpected = both(|s| &s.unexpected_snapshots);
    let errors = both(|s| &s.errors);
    let mut failures = Vec::new();
    let memory_failures = memory.judge(&bounds);
    if args.no_memory_verdict {
        for f in &memory_failures {
            println!("memory (not judged): {f}");
        }
    } else {
        failures.extend(memory_failures);
    }
    if extra_fds.unsigned_abs() > 10 {
        failures.push(format!(
            "{end_fds} fds for {server_connections} connections ({idle_fds} idle): {extra_fds} unaccounted for"
        ));
    }
    if server_connections + n_slow as u64 + 10 < total {
        failures.push(format!(
            "the server counts {server_connections} connections for {total} clients"
        ));
    }
    for (i, (returning, returned)) in returns.iter().enumerate() {
        if !returned {
            failures.push(format!(
                "only {} of {total} clients came back for return {}",
                returning.arrived.load(Ordering::Relaxed),
                i + 1
            ));
        }
    }
    if connected < total {
        failures.push(format!(
            "only {connected} of {total} clients connected at the end (connected by role: {})",
            missing_by_role
        ));
    }
    for (what, n) in [
        ("gaps", gaps),
        ("duplicates", dups),
        ("mismatches", mismatches),
        ("snapshots in place of a replay", unexpected),
        ("errors", errors),
    ] {
        if n > 0 {
            failures.push(format!("{n} {what}"));
        }
    }
    let summary = format!(
        "| | |\n|---|---|\n| clients | {total} ({n_reconnecting} reconnecting, {n_slow} slow, 1 reference) |\n| soak | {} s, sampled every {} s, warm-up {warmup} s |\n| server RSS | {}; end of the soak {end_rss:.1} MiB, max {:.1} MiB |\n| memory bounds | {} |\n| server fds | idle {idle_fds}, end {end_fds} for {server_connections} connections ({extra_fds:+} unaccounted) |\n| reconnects (resumed) | {} |\n| slow readers caught up (snapshots) | {} |\n| resumes from beyond the history (snapshots; clients more than {HISTORY} updates or {STATE_HISTORY_SECS} s of state behind) | {} |\n| closes sent by the server (role, code) | {} |\n| failed connection attempts | {} |\n| updates checked | {} |\n| gaps / duplicates / mismatches | {gaps} / {dups} / {mismatches} |\n| snapshots in place of a replay | {unexpected} |\n| p99 publish-to-receive (worst sample) | {:.1} ms |\n| result | {} |\n",
        args.secs,
        args.sample_secs,
        memory.summary(),
        samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max),
        bounds.summary(),
        shared.reconnects.load(Ordering::Relaxed),
        both(|s| &s.slow_caught_up),
        both(|s| &s.beyond_history),
        {
            let closes = shared.closes.lock().unwrap();
            if closes.is_empty() {
                "none".to_string()
            } else {
                closes
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        },
        {
            let mut all = shared.connect_errors.lock().unwrap().clone();
            for (returning, _) in &returns {
                for (k, v) in returning.connect_errors.lock().unwrap().iter() {
                    *all.entry(k.clone()).or_default() += v;
                }
            }
            if all.is_empty() {
                "none".to_string()
            } else {
                all.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        },
        shared.updates.load(Ordering::Relaxed),
        samples.iter().map(|s| s.p99_ms).fold(0.0, f64::max),
        if failures.is_empty() { "pass".to_string() } else { failures.join("; ") },
    );
    let mut table = String::from(
        "| t (s) | clients | RSS MiB | fds | messages/s | updates/s | p99 ms | reconnects |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &samples {
        table.push_str(&format!(
            "| {:.0} | {} | {:.1} | {} | {:.0} | {:.0} | {:.1} | {} |\n",
            s.t,
            s.connected,
            s.rss_mib,
            s.fds,
            s.messages_per_sec,
            s.updates_per_sec,
            s.p99_ms,
            s.reconnects
        ));
    }
    std::fs::write(
        args.out.join("soak.md"),
        format!("# Soak\n\n{summary}\n{table}"),
    )
    .unwrap();
    if let Err(e) = plot(&samples, &args.out.join("soak.svg")) {
        eprintln!("cannot write the plot: {e}");
    }
    println!(
        "\n{summary}\nwrote {}/soak.md and soak.svg",
        args.out.display()
    );
    if failures.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("soak failed: {}", failures.join("; "));
        std::process::ExitCode::FAILURE
    }
}

/// Updates the server keeps per channel for clients that resume (`--history`).
const HISTORY: u64 = 1024;

/// Seconds of quotes, candles and scores the server keeps (`--state-history-secs`).
const STATE_HISTORY_SECS: u64 = 30;

/// Starts `args.clients` clients and the reference client on `shared`: a few hundred at a
/// time, as a crowd arrives, not one burst.
async fn spawn_clients(
    args: &Args,
    addr: SocketAddr,
    shared: &Arc<Shared>,
    rng: &mut ChaCha8Rng,
) -> Vec<tokio::task::JoinHandle<()>> {
    let n_reconnecting = (args.clients as f64 * args.reconnecting).round() as usize;
    let n_slow = (args.clients as f64 * args.slow).round() as usize;
    let mut tasks = Vec::new();
    for id in 0..=args.clients {
        let role = if id == args.clients {
            Role::Reference
        } else if id < n_slow {
            Role::Slow
        } else if id < n_slow + n_reconnecting {
            Role::Reconnecting
        } else {
            Role::Steady
        };
        let client = Client {
            id,
            role,
            addr,
            channels: Vec::new(),
            epoch: 0,
            positions: BTreeMap::new(),
            subscribes: 0,
            rng: ChaCha8Rng::seed_from_u64(rng.random()),
            reconnect_every: args.reconnect_every,
            resuming: false,
            position_ts: BTreeMap::new(),
        };
        tasks.push(tokio::spawn(client.run(shared.clone())));
        if id % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tasks
}

/// Waits (up to 120 s) until `total` clients have subscribed once.
async fn all_arrived(shared: &Shared, total: u64, started: Instant) -> bool {
    while shared.arrived.load(Ordering::Relaxed) < total {
        if started.elapsed() > Duration::from_secs(120) {
            eprintln!(
                "only {} of {total} clients connected within 120 s",
                shared.arrived.load(Ordering::Relaxed)
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

/// Every client of `shared` leaves; once the server counts no connection, the server's RSS
/// (the median of five readings a second apart).
async fn leave(
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: &Shared,
    addr: SocketAddr,
    pid: u32,
) -> Option<f64> {
    shared.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let left = Instant::now();
    while open_connections(addr).await > 0 && left.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut after = Vec::new();
    for _ in 0..5 {
        after.push(rss_mib(pid));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    memory::median(&mut after)
}

/// Three stacked charts over time: server RSS, clients connected, p99.
fn plot(samples: &[Sample], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((3, 1));
    let t_max = samples.last().map_or(1.0, |s| s.t).max(1.0);
    let series: [Series; 3] = [
        ("Server RSS", "MiB", |s| s.rss_mib, RGBColor(31, 119, 180)),
        (
            "Clients connected",
            "clients",
            |s| s.connected as f64,
            RGBColor(44, 160, 44),
        ),
        (
            "Publish-to-receive p99",
            "ms",
            |s| s.p99_ms,
            RGBColor(214, 39, 40),
        ),
    ];
    for (area, (title, unit, get, color)) in areas.iter().zip(series) {
        let y_max = samples.iter().map(get).fold(0.0, f64::max).max(1.0) * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc(unit)
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart.draw_series(LineSeries::new(
            samples.iter().map(|s| (s.t, get(s))),
            color.stroke_width(2),
        ))?;
    }
    root.present()?;
    Ok(())
}
