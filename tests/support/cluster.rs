//! Real processes for cluster tests: `redis-server`, livetape nodes (the binary under test)
//! and HAProxy with the committed `deploy/haproxy.cfg`, each on a free loopback port, all
//! killed when dropped. `scripts/setup.sh` installs Redis and HAProxy.
#![allow(dead_code)]

use livetape::protocol::{Channel, ClientMsg, Data, Epoch, Resume, Seq, ServerMsg, SnapshotReason};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_listening(port: u16, what: &str) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} is not listening on port {port}");
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "livetape-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    aof: bool,
    /// More `redis-server` arguments (e.g. `--replicaof`).
    extra: Vec<String>,
}

impl Redis {
    /// A Redis on a free port; `aof` keeps an append-only file (a restart loses nothing).
    pub async fn start(aof: bool) -> Redis {
        Self::start_with(aof, Vec::new()).await
    }

    /// A replica of `primary` (with an append-only file, as a primary's replica would have).
    pub async fn replica_of(primary: &Redis) -> Redis {
        Self::replica_of_port(primary.port).await
    }

    /// A replica of the primary reached at `port` (e.g. through a proxy that can freeze).
    pub async fn replica_of_port(port: u16) -> Redis {
        let args = vec!["--replicaof".into(), "127.0.0.1".into(), port.to_string()];
        Self::start_with(true, args).await
    }

    async fn start_with(aof: bool, extra: Vec<String>) -> Redis {
        let mut r = Redis {
            child: None,
            port: free_port(),
            dir: scratch_dir("redis"),
            aof,
            extra,
        };
        r.spawn().await;
        r
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                if self.aof { "yes" } else { "no" },
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/setup.sh installs it)");
        self.child = Some(child);
        wait_listening(self.port, "redis-server").await;
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `kill -9`: no chance to write anything more.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port and data directory (with `aof`, the data comes back).
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }
}

/// `redis-cli -p PORT ARGS...`, its output trimmed (a Redis or a Sentinel).
fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One Redis Sentinel watching `primary` as master `m`, with quorum 1, a primary counted down
/// after 1 s without an answer (`down-after-milliseconds` 1000).
pub struct Sentinel {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Sentinel {
    pub async fn start(primary: &Redis) -> Sentinel {
        Self::start_at(primary.port).await
    }

    /// A Sentinel that knows the primary at `primary_port` (e.g. a proxy in front of it: every
    /// node then reaches the primary through the proxy).
    pub async fn start_at(primary_port: u16) -> Sentinel {
        let port = free_port();
        let dir = scratch_dir("sentinel");
        // Sentinel rewrites its configuration file: it lives in the scratch directory.
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\n\
                 sentinel monitor m 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds m 1000\nsentinel failover-timeout m 5000\n",
                dir.display(),
                dir.join("sentinel.log").display(),
                primary_port
            ),
        )
        .unwrap();
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-sentinel runs (scripts/setup.sh installs it)");
        wait_listening(port, "redis-sentinel").await;
        Sentinel {
            child: Some(child),
            port,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("redis+sentinel://127.0.0.1:{}/m", self.port)
    }

    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    /// What Sentinel logged (its events: `+sdown`, `+switch-master`...), for a failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A livetape process.
pub struct Node {
    child: Option<Child>,
    pub port: u16,
    pub role: String,
    /// Where its log (stdout) goes.
    pub log: PathBuf,
}

impl Node {
    /// `livetape --role ROLE --redis URL` on a free port, with a short warm-up and frequent
    /// checkpoints.
    pub async fn start(role: &str, redis: &Redis, extra: &[&str]) -> Node {
        Self::start_url(role, &redis.url(), extra).await
    }

    pub async fn start_url(role: &str, redis_url: &str, extra: &[&str]) -> Node {
        let mut args = vec![
            "--redis",
            redis_url,
            "--role",
            role,
            "--checkpoint-secs",
            "1",
        ];
        args.extend_from_slice(extra);
        Self::spawn(role, &args, &[], None).await
    }

    /// One livetape process on its own (no Redis), with a short warm-up.
    pub async fn embedded(extra: &[&str], env: &[(&str, &str)]) -> Node {
        Self::spawn("embedded", extra, env, None).await
    }

    /// One livetape process on its own started with the open-files limit `(soft, hard)`.
    pub async fn embedded_with_open_files(extra: &[&str], soft: u64, hard: u64) -> Node {
        Self::spawn_limited("embedded", extra, &[], None, Some((soft, hard))).await
    }

    /// Spawns the binary on a free port with `args` and `env`; its stdout (the log) goes to
    /// `stdout` or, by default, to a file in the temp dir ([`Node::log`]).
    pub async fn spawn(
        role: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdout: Option<Stdio>,
    ) -> Node {
        Self::spawn_limited(role, args, env, stdout, None).await
    }

    async fn spawn_limited(
        role: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdout: Option<Stdio>,
        open_files: Option<(u64, u64)>,
    ) -> Node {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("livetape-node-{port}.log"));
        let stdout = stdout.unwrap_or_else(|| {
            std::fs::File::create(&log)
                .map(Stdio::from)
                .unwrap_or(Stdio::null())
        });
        let mut command = Command::new(env!("CARGO_BIN_EXE_livetape"));
        command
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--warmup-secs", "5"])
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(Stdio::inherit());
        if let Some((soft, hard)) = open_files {
            // SAFETY: between fork and exec only setrlimit runs, a plain system call.
            unsafe {
                command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard));
            }
        }
        let child = command.spawn().expect("the livetape binary runs");
        wait_listening(port, "livetape").await;
        Node {
            child: Some(child),
            port,
            role: role.to_string(),
            log,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("running");
        let ok = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {pid}");
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub async fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return status.code();
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Bytes waiting unread in the process's stdout pipe (when spawned with a pipe).
    pub fn stdout_pending(&self) -> usize {
        use std::os::fd::AsRawFd;
        let Some(out) = self.child.as_ref().and_then(|c| c.stdout.as_ref()) else {
            return 0;
        };
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int for a valid pipe descriptor, which `out` owns.
        let rc = unsafe { libc::ioctl(out.as_raw_fd(), libc::FIONREAD, &mut n) };
        if rc == 0 {
            n as usize
        } else {
            0
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `/readyz` as JSON (with `ready` false when the node does not answer).
    pub async fn readyz(&self) -> serde_json::Value {
        match http_get(self.port, "/readyz").await {
            Some((_, body)) => serde_json::from_str(&body).unwrap_or_default(),
            None => serde_json::json!({"ready": false}),
        }
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.readyz().await["ready"] == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node on {} not ready: {}", self.port, self.readyz().await);
    }

    pub async fn tick(&self) -> u64 {
        self.readyz().await["tick"].as_u64().unwrap_or(0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A plain HTTP GET: (status, body).
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut tcp = tokio::time::timeout(
        Duration::from_secs(2),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .ok()?
    .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.get(9..12)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

/// The payload of a chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

pub struct Balancer {
    child: Option<Child>,
    pub port: u16,
}

impl Balancer {
    /// HAProxy with `deploy/haproxy.cfg` in front of up to three edges.
    pub async fn start(edges: &[&Node]) -> Balancer {
        let port = free_port();
        let edge = |i: usize| {
            edges
                .get(i)
                .map(|n| format!("127.0.0.1:{}", n.port))
                // An unused address for a missing edge: its health check just fails.
                .unwrap_or_else(|| format!("127.0.0.1:{}", free_port()))
        };
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg"))
            .env("LIVETAPE_BIND", format!("127.0.0.1:{port}"))
            .env("EDGE1", edge(0))
            .env("EDGE2", edge(1))
            .env("EDGE3", edge(2))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy runs (scripts/setup.sh installs it)");
        wait_listening(port, "haproxy").await;
        Balancer {
            child: Some(child),
            port,
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

type Ws = livetape::client::Connection;

/// A client that follows its channels across reconnects, node changes and epochs, and
/// checks every update like a careful client: applied, duplicate, gap; per epoch.
pub struct Follower {
    pub channels: Vec<Channel>,
    ws: Option<Ws>,
    pub epoch: Epoch,
    pub positions: BTreeMap<Channel, Seq>,
    /// What each (epoch, channel, seq) carried, to compare with other clients.
    pub seen: HashMap<(Epoch, Channel, Seq), Data>,
    pub applied: u64,
    pub duplicates: u64,
    pub gaps: u64,
    pub reasons: Vec<SnapshotReason>,
    /// Which edge each connection went to (HAProxy's X-Livetape-Edge header).
    pub edges: Vec<String>,
    /// A (epoch, channel, seq) that came twice with different data: a reissued seq.
    pub conflicts: u64,
    pub keep_data: bool,
}

impl Follower {
    pub fn new(channels: Vec<Channel>) -> Follower {
        Follower {
            channels,
            ws: None,
            epoch: 0,
            positions: BTreeMap::new(),
            seen: HashMap::new(),
            applied: 0,
            duplicates: 0,
            gaps: 0,
            reasons: Vec::new(),
            edges: Vec::new(),
            conflicts: 0,
            keep_data: true,
        }
    }

    /// Connects to `port` and subscribes (resuming from its positions, if any). Errors are
    /// returned, not panicked on: a node may be dying.
    pub async fn connect(&mut self, port: u16) -> Result<(), String> {
        self.ws = None;
        let url = format!("ws://127.0.0.1:{port}/ws");
        let mut ws = Ws::open(&url, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())?;
        if let Some(edge) = ws.header("x-livetape-edge") {
            self.edges.push(edge.to_string());
        }
        let resume = (!self.positions.is_empty()).then(|| Resume {
            epoch: self.epoch,
            from: self.positions.clone(),
            latest: false,
        });
        ws.subscribe(self.channels.clone(), resume)
            .await
            .map_err(|e| e.to_string())?;
        // Follow the list of symbols (no names now, only what is listed from here on).
        let follow = ClientMsg::Symbols {
            id: 0,
            offset: 0,
            limit: 0,
        };
        ws.send(&follow).await.map_err(|e| e.to_string())?;
        self.ws = Some(ws);
        Ok(())
    }

    /// Sends one request on the open connection.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), String> {
        let ws = self.ws.as_mut().ok_or("not connected")?;
        ws.send(msg).await.map_err(|e| e.to_string())
    }

    pub fn connected(&self) -> bool {
        self.ws.is_some()
    }

    /// Drops the connection without a close handshake (as a network failure would).
    pub fn drop_connection(&mut self) {
        self.ws = None;
    }

    /// Reads and applies the next message; Err when the connection failed or closed.
    pub async fn step(&mut self, limit: Duration) -> Result<Option<ServerMsg>, String> {
        let Some(ws) = self.ws.as_mut() else {
            return Err("not connected".into());
        };
        let msg = match tokio::time::timeout(limit, ws.recv()).await {
            Err(_) => return Err("timeout".into()),
            Ok(Ok(msg)) => msg,
            Ok(Err(e)) => {
                self.ws = None;
                return Err(e.to_string());
            }
        };
        match &msg {
            ServerMsg::Snapshot(s) => {
                if let Some(r) = s.reason {
                    self.reasons.push(r);
                }
                if s.epoch != self.epoch {
                    self.epoch = s.epoch;
                    self.positions.clear();
                }
                for c in &s.channels {
                    self.positions.insert(c.channel.clone(), c.seq);
                }
            }
            ServerMsg::Batch(b) => {
                for u in &b.updates {
                    let Some(last) = self.positions.get(&u.channel).copied() else {
                        continue;
                    };
                    if u.seq == last + 1 {
                        self.applied += 1;
                        self.positions.insert(u.channel.clone(), u.seq);
                        if self.keep_data {
                            let key = (self.epoch, u.channel.clone(), u.seq);
                            if let Some(old) = self.seen.insert(key, u.data.clone()) {
                                if old != u.data {
                                    self.conflicts += 1;
                                }
                            }
                        }
                    } else if u.seq <= last {
                        self.duplicates += 1;
                    } else {
                        self.gaps += 1;
                        self.positions.insert(u.channel.clone(), u.seq);
                    }
                }
            }
            _ => {}
        }
        Ok(Some(msg))
    }

    /// Reads for `d`, applying everything; Err if the connection broke.
    pub async fn read_for(&mut self, d: Duration) -> Result<(), String> {
        let until = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < until {
            let left = until - tokio::time::Instant::now();
            match self.step(left.min(Duration::from_secs(5))).await {
                Ok(_) => {}
                Err(e) if e == "timeout" => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until the position of `channel` reaches `seq` (within `limit`).
    pub async fn read_until(
        &mut self,
        channel: &Channel,
        seq: Seq,
        limit: Duration,
    ) -> Result<(), String> {
        let until = tokio::time::Instant::now() + limit;
        while self.positions.get(channel).copied().unwrap_or(0) < seq {
            if tokio::time::Instant::now() >= until {
                return Err(format!(
                    "{channel} stuck at {:?}",
                    self.positions.get(channel)
                ));
            }
            self.step(Duration::from_secs(5)).await?;
        }
        Ok(())
    }
}

/// The next text frame (pings and pongs skipped); "timeout" when nothing came in time.
/// A TCP proxy that can freeze: forwarding stops on every connection open at that moment,
/// and those connections stay open (a half-open path after a failover), while connections
/// made later are forwarded normally. It can also cut one process off (`cut`): every
/// connection that process has through it, open or opened later, carries nothing until
/// `heal` (a network partition between that process and the server behind the proxy).
pub struct FreezingProxy {
    pub port: u16,
    /// Connections numbered below this are frozen.
    frozen_below: std::sync::Arc<std::sync::atomic::AtomicU64>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
    cut: std::sync::Arc<Cut>,
    task: tokio::task::JoinHandle<()>,
}

/// The process cut off (0: none), and per open connection its client's port and whether it
/// carries nothing now.
#[derive(Default)]
struct Cut {
    pid: std::sync::atomic::AtomicU32,
    open: std::sync::Mutex<Vec<(u16, std::sync::Weak<std::sync::atomic::AtomicBool>)>>,
}

/// Whether the client end of a loopback TCP connection (its local port `client`, connected
/// to port `server`) belongs to process `pid`: its socket's inode among the process's open
/// files.
fn owned_by(pid: u32, client: u16, server: u16) -> bool {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    let inode = tcp.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && port(f[1]) == Some(client) && port(f[2]) == Some(server))
            .then(|| f[9].to_string())
    });
    let Some(inode) = inode else { return false };
    let socket = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == socket))
}

impl FreezingProxy {
    pub async fn start(target: u16) -> FreezingProxy {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen_below = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(1));
        let cut = Arc::new(Cut::default());
        let (f, g, c) = (frozen_below.clone(), next.clone(), cut.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, peer)) = listener.accept().await else {
                    return;
                };
                let my = g.fetch_add(1, Ordering::SeqCst);
                let held = Arc::new(AtomicBool::new(false));
                let pid = c.pid.load(Ordering::SeqCst);
                if pid != 0 && owned_by(pid, peer.port(), port) {
                    held.store(true, Ordering::SeqCst);
                }
                c.open
                    .lock()
                    .unwrap()
                    .push((peer.port(), Arc::downgrade(&held)));
                let f = f.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    async fn pipe(
                        mut r: tokio::net::tcp::OwnedReadHalf,
                        mut w: tokio::net::tcp::OwnedWriteHalf,
                        frozen_below: Arc<AtomicU64>,
                        held: Arc<AtomicBool>,
                        my: u64,
                    ) {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match r.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            while my < frozen_below.load(Ordering::SeqCst)
                                || held.load(Ordering::SeqCst)
                            {
                                // Frozen: hold the bytes, keep the connection open.
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            if w.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                    let a = tokio::spawn(pipe(cr, sw, f.clone(), held.clone(), my));
                    let b = tokio::spawn(pipe(sr, cw, f, held, my));
                    let _ = tokio::join!(a, b);
                });
            }
        });
        FreezingProxy {
            port,
            frozen_below,
            next,
            cut,
            task,
        }
    }

    /// Freezes every connection open now.
    pub fn freeze_open_connections(&self) {
        use std::sync::atomic::Ordering;
        self.frozen_below
            .store(self.next.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Cuts process `pid` off: its connections through the proxy, open now or later, carry
    /// nothing (and stay open) until `heal`.
    pub fn cut(&self, pid: u32) {
        use std::sync::atomic::Ordering;
        self.cut.pid.store(pid, Ordering::SeqCst);
        let mut open = self.cut.open.lock().unwrap();
        open.retain(|(_, held)| held.strong_count() > 0);
        for (client, held) in open.iter() {
            if let Some(held) = held.upgrade() {
                if owned_by(pid, *client, self.port) {
                    held.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    /// Ends the cut: everything held flows on.
    pub fn heal(&self) {
        use std::sync::atomic::Ordering;
        self.cut.pid.store(0, Ordering::SeqCst);
        for (_, held) in self.cut.open.lock().unwrap().iter() {
            if let Some(held) = held.upgrade() {
                held.store(false, Ordering::SeqCst);
            }
        }
    }

    /// Connections made through the proxy so far.
    pub fn connections(&self) -> u64 {
        self.next.load(std::sync::atomic::Ordering::SeqCst) - 1
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
