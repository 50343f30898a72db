//! Command-line and environment configuration of the server.

pub use crate::server::cluster::Role;
use crate::server::feed::history::Windows;
use crate::server::net::serve::HttpLimits;
pub use crate::server::sources::replay::Speed;
use crate::server::transport::admission::{Limits, Rules};
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;

/// livetape: a live market and sports dashboard.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on. Defaults to LEPTOS_SITE_ADDR (set by cargo-leptos), else
    /// 127.0.0.1:3000.
    #[arg(long, env = "LIVETAPE_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Number of simulated symbols.
    #[arg(long, env = "LIVETAPE_SYMBOLS", default_value_t = 60,
          value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub symbols: u16,

    /// Number of simulated games on the scoreboard.
    #[arg(long, env = "LIVETAPE_GAMES", default_value_t = 6,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub games: u16,

    /// Quote moves per symbol per second (at most one per tick).
    #[arg(long, env = "LIVETAPE_QUOTE_RATE", default_value_t = 3.0, value_parser = rate)]
    pub quote_rate: f64,

    /// Trades per symbol per second (at most one per tick).
    #[arg(long, env = "LIVETAPE_TRADE_RATE", default_value_t = 1.2, value_parser = rate)]
    pub trade_rate: f64,

    /// Seed of the simulation: the same seed gives the same sequence of events.
    #[arg(long, env = "LIVETAPE_SEED", default_value_t = 7)]
    pub seed: u64,

    /// Milliseconds between simulator ticks; each tick is one frame to every client.
    #[arg(long, env = "LIVETAPE_TICK_MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(5..=5_000))]
    pub tick_ms: u64,

    /// Seconds of market and games simulated before the server starts, so that the first page
    /// already has charts, sparklines and trades.
    #[arg(long, env = "LIVETAPE_WARMUP_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u32).range(0..=3_600))]
    pub warmup_secs: u32,

    /// Ticks a client may fall behind before it is caught up (conflated to the latest state,
    /// trades replayed from history).
    #[arg(long, env = "LIVETAPE_LAG_CAPACITY", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub lag_capacity: u32,

    /// Updates kept per channel for clients that reconnect and resume.
    #[arg(long, env = "LIVETAPE_HISTORY", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub history: u32,

    /// Seconds of quotes, candles and scores kept for clients that resume, on top of
    /// `--history` per channel (never less than the lag ring; 0: only `--history` bounds
    /// them). A client back from further gets their latest state, which is all a board, a
    /// chart or a scoreboard shows; trade prints are kept to `--history` (or `--history-secs`).
    #[arg(long, env = "LIVETAPE_STATE_HISTORY_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub state_history_secs: u32,

    /// Seconds of updates of every kind, trades included, kept for clients that resume, on
    /// top of `--history` per channel (never less than the lag ring). Unset, trades keep
    /// their whole `--history`; set, a client away longer, or a reader that falls further
    /// behind, loses trade prints (told by a snapshot).
    #[arg(long, env = "LIVETAPE_HISTORY_SECS",
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub history_secs: Option<u32>,

    /// Channels one connection may subscribe to.
    #[arg(long, env = "LIVETAPE_MAX_SUBSCRIPTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_subscriptions: u32,

    /// Feed connections (WebSocket and SSE) served at once; more are refused with HTTP 503.
    /// Capped below the open-files limit, which the server raises to the hard limit at start.
    #[arg(long, env = "LIVETAPE_MAX_CONNECTIONS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// An origin allowed to open the feed besides the page's own and localhost
    /// (repeatable), e.g. https://dash.example.com.
    #[arg(
        long = "allow-origin",
        env = "LIVETAPE_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// Longest silence on a connection before the server sends a heartbeat, in ms.
    #[arg(long, env = "LIVETAPE_HEARTBEAT_MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub heartbeat_ms: u64,

    /// How often the server pings each client, in ms.
    #[arg(long, env = "LIVETAPE_PING_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(50..=300_000))]
    pub ping_ms: u64,

    /// A client that sends nothing, not even a pong, for this long is closed, in ms.
    #[arg(long, env = "LIVETAPE_CLIENT_TIMEOUT_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub client_timeout_ms: u64,

    /// Requests per second a client may send on average (bursts of twice that).
    #[arg(long, env = "LIVETAPE_RATE", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,

    /// Directory with the built site (the pkg/ bundle, CSS, favicon). Defaults to
    /// LEPTOS_SITE_ROOT, else target/site.
    #[arg(long, env = "LIVETAPE_SITE_ROOT")]
    pub site_root: Option<String>,

    /// Log lines as human-readable text or as one JSON object per line. Filter with RUST_LOG
    /// as usual (default: info).
    #[arg(long, env = "LIVETAPE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Serve /metrics on this address instead of the main one (keep it off the internet).
    #[arg(long, env = "LIVETAPE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// A client must send its whole request head within this many ms (slowloris defence).
    #[arg(long, env = "LIVETAPE_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=300_000))]
    pub header_timeout_ms: u64,

    /// Largest request head (request line and headers) accepted, in bytes; more gets 431.
    #[arg(long, env = "LIVETAPE_MAX_HEADER_BYTES", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(1_024..=1_048_576))]
    pub max_header_bytes: u32,

    /// Connections one address may hold at once: TCP connections per peer, and feed
    /// connections per client (the address a trusted proxy forwards for). 0: no limit.
    #[arg(long, env = "LIVETAPE_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: u32,

    /// A proxy (a balancer) whose X-Forwarded-For is believed for the client's address
    /// (repeatable). Its own connections are not limited per address.
    #[arg(
        long = "trusted-proxy",
        env = "LIVETAPE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Page requests served at once (the page is rendered at most once per tick, so nearly
    /// all are copies); more get a fast 503 with Retry-After instead of queueing.
    #[arg(long, env = "LIVETAPE_MAX_PAGE_REQUESTS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_page_requests: u32,

    /// Join a cluster on this Redis, e.g. redis://127.0.0.1:6379/0, or on the primary Redis
    /// Sentinel names: redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]
    /// (a failover moves every node to the promoted replica by itself). Without it livetape
    /// is one process with everything in memory.
    #[arg(long, env = "LIVETAPE_REDIS")]
    pub redis: Option<String>,

    /// This node's part in the cluster: `all` (produce when holding the lease, and serve),
    /// `producer` (produce or stand by), `edge` (serve the feed from Redis). Needs --redis.
    #[arg(long, env = "LIVETAPE_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,

    /// Prefix of every key livetape keeps in Redis (several clusters can share one Redis).
    #[arg(long, env = "LIVETAPE_REDIS_PREFIX", default_value = "livetape")]
    pub redis_prefix: String,

    /// The producer lease, in ms: a standby takes over this long after the active producer
    /// stops renewing it.
    #[arg(long, env = "LIVETAPE_LEASE_MS", default_value_t = 1_500,
          value_parser = clap::value_parser!(u64).range(300..=60_000))]
    pub lease_ms: u64,

    /// Publish a tick only once this many Redis replicas acknowledge it (`WAIT`): a Sentinel
    /// failover to a replica that acknowledged keeps the epoch, where asynchronous
    /// replication may lose the last ticks and move every client to a new one. Set it to the
    /// number of replicas for that guarantee whichever replica Sentinel promotes; the feed
    /// waits (and says so in the log and in `livetape_redis_wait_timeouts_total`) while
    /// fewer are reachable. 0: asynchronous, no waiting.
    #[arg(long, env = "LIVETAPE_REDIS_WAIT_REPLICAS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=16))]
    pub redis_wait_replicas: u32,

    /// Seconds between the producer's checkpoints of the whole state in Redis (where a node
    /// that starts, or a standby taking over after a long absence, begins).
    #[arg(long, env = "LIVETAPE_CHECKPOINT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub checkpoint_secs: u64,

    /// Updates kept per channel in Redis, for resumes on any node.
    #[arg(long, env = "LIVETAPE_REDIS_HISTORY", default_value_t = 2_048,
          value_parser = clap::value_parser!(u32).range(16..=1_000_000))]
    pub redis_history: u32,

    /// Ticks kept in Redis's tick stream (nodes reconnecting read on from it).
    #[arg(long, env = "LIVETAPE_REDIS_TICKS", default_value_t = 6_000,
          value_parser = clap::value_parser!(u32).range(100..=1_000_000))]
    pub redis_ticks: u32,

    /// Where the data comes from, comma-separated: `sim` (the simulator), `replay` (a
    /// recording, see --replay), `api` (POST /api/publish; implied by a publish token).
    /// `sim` and `replay` both move the market and do not go together.
    #[arg(
        long,
        env = "LIVETAPE_SOURCE",
        value_enum,
        value_delimiter = ',',
        default_value = "sim"
    )]
    pub source: Vec<SourceKind>,

    /// A bearer token that may publish (repeatable; env: comma-separated). Turns the publish
    /// API on; without any token POST /api/publish answers 404.
    #[arg(
        long = "publish-token",
        env = "LIVETAPE_PUBLISH_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub publish_tokens: Vec<String>,

    /// A file of publish tokens, one per line (blank lines and `#` comments skipped).
    #[arg(long, env = "LIVETAPE_PUBLISH_TOKEN_FILE")]
    pub publish_token_file: Option<std::path::PathBuf>,

    /// Let publishers list new symbols (a quote for an unknown symbol lists it; open
    /// dashboards are told). Without it an unknown symbol is refused.
    #[arg(long, env = "LIVETAPE_ALLOW_NEW_SYMBOLS")]
    pub allow_new_symbols: bool,

    /// Events per second one token may publish on average (bursts of twice that).
    #[arg(long, env = "LIVETAPE_PUBLISH_RATE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub publish_rate: u32,

    /// Largest publish body (or NDJSON line) accepted, in bytes; more gets 413.
    #[arg(long, env = "LIVETAPE_PUBLISH_MAX_BYTES", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u32).range(1_024..=64 << 20))]
    pub publish_max_bytes: u32,

    /// Oldest event timestamp accepted, in seconds before now (events from the future are
    /// refused past a 5 s clock skew).
    #[arg(long, env = "LIVETAPE_PUBLISH_MAX_AGE_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub publish_max_age_secs: u32,

    /// Record every tick's events to this file as NDJSON (the publish format, one line per
    /// tick, the whole market on the first line of each file).
    #[arg(long, env = "LIVETAPE_RECORD")]
    pub record: Option<std::path::PathBuf>,

    /// Start a new recording file past this size; the previous ones are kept as FILE.1 ..
    /// FILE.3.
    #[arg(long, env = "LIVETAPE_RECORD_MAX_BYTES", default_value_t = 64 << 20,
          value_parser = clap::value_parser!(u64).range(4_096..))]
    pub record_max_bytes: u64,

    /// The recording to replay with `--source replay` (NDJSON, or gzip-compressed `.gz`).
    #[arg(long, env = "LIVETAPE_REPLAY")]
    pub replay: Option<std::path::PathBuf>,

    /// Replay speed: `1` (as recorded), `10`, any factor, or `max` (as fast as possible, with
    /// the recorded timestamps: the same file gives the same frames).
    #[arg(long, env = "LIVETAPE_SPEED", default_value = "1", value_parser = speed)]
    pub speed: Speed,

    /// Start the recording again when it ends.
    #[arg(long = "loop", env = "LIVETAPE_LOOP")]
    pub replay_loop: bool,
}

/// Where events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    Sim,
    Replay,
    Api,
}

fn speed(text: &str) -> Result<Speed, String> {
    if text.eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    match text.trim_end_matches(['x', 'X']).parse::<f64>() {
        Ok(f) if f.is_finite() && (0.01..=10_000.0).contains(&f) => Ok(Speed::Times(f)),
        _ => Err(format!("{text}: a factor from 0.01 to 10000, or max")),
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A rate per second: a finite number from 0 to 1000.
fn rate(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if value.is_finite() && (0.0..=1_000.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text} is not a rate from 0 to 1000 per second"))
    }
}

impl Config {
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }

    /// How far back the resume histories reach, in tick time, by kind of channel: trades
    /// `--history-secs` (if set), states the shorter of that and `--state-history-secs` (if
    /// not 0). Never less than the lag ring (`--lag-capacity` ticks), so that a client caught
    /// up from inside the ring is replayed exactly rather than given a snapshot.
    pub(crate) fn history_windows(&self) -> Windows {
        let ring =
            chrono::Duration::milliseconds(self.tick_ms as i64 * i64::from(self.lag_capacity));
        let secs = |s: u32| chrono::Duration::seconds(i64::from(s)).max(ring);
        let states = (self.state_history_secs > 0).then_some(self.state_history_secs);
        let states = [self.history_secs, states].into_iter().flatten().min();
        Windows {
            states: states.map(secs),
            events: self.history_secs.map(secs),
        }
    }

    /// The per-session rules this configuration sets.
    pub(crate) fn limits(&self) -> Limits {
        let client_timeout = Duration::from_millis(self.client_timeout_ms);
        Limits {
            max_subscriptions: self.max_subscriptions as usize,
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            ping_interval: Duration::from_millis(self.ping_ms),
            client_timeout,
            rate_per_sec: f64::from(self.rate),
            burst: 2.0 * f64::from(self.rate),
            send_timeout: client_timeout,
            lag_ticks: u64::from(self.lag_capacity),
            view_refresh: self.tick(),
        }
    }

    /// Who may open a feed connection.
    pub(crate) fn admission(&self) -> Rules {
        Rules {
            max_connections: self.max_connections as usize,
            max_per_ip: match self.max_connections_per_ip {
                0 => usize::MAX,
                n => n as usize,
            },
            allowed_origins: self.allow_origins.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// Connection-level HTTP limits.
    pub(crate) fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_millis(self.header_timeout_ms),
            max_header_bytes: self.max_header_bytes as usize,
            max_per_ip: match self.max_connections_per_ip {
                0 => usize::MAX,
                n => n as usize,
            },
            trusted_proxies: self.trusted_proxies.clone(),
            ..Default::default()
        }
    }

    /// Checks the options that depend on each other.
    pub fn validate(&self) -> Result<(), String> {
        if self.redis.is_none() && self.role != Role::All {
            return Err(format!(
                "--role {} needs --redis: without a broker there is nothing to share",
                self.role.name()
            ));
        }
        let has = |k| self.source.contains(&k);
        if has(SourceKind::Sim) && has(SourceKind::Replay) {
            return Err("--source sim,replay: both move the market; choose one".into());
        }
        if has(SourceKind::Replay) && self.redis.is_some() {
            return Err(
                "--source replay runs on one node: a cluster's producer runs the simulator (publish into it through the API)"
                    .into(),
            );
        }
        if has(SourceKind::Replay) != self.replay.is_some() {
            return Err("--source replay and --replay FILE go together".into());
        }
        if has(SourceKind::Api)
            && self.publish_tokens.is_empty()
            && self.publish_token_file.is_none()
        {
            return Err(
                "--source api needs --publish-token or --publish-token-file (the API is off without one)"
                    .into(),
            );
        }
        if !has(SourceKind::Sim) && !has(SourceKind::Replay) && !self.allow_new_symbols {
            return Err(
                "--source api alone starts with no symbols: add --allow-new-symbols, or sim".into(),
            );
        }
        if self.redis_wait_replicas > 0 && self.redis.is_none() {
            return Err(
                "--redis-wait-replicas needs --redis: without Redis there are no replicas to wait for"
                    .into(),
            );
        }
        if self.tokens_given() && self.redis.is_some() && self.role == Role::Producer {
            return Err(
                "a producer serves no HTTP publishers: give tokens to edges or `all` nodes".into(),
            );
        }
        Ok(())
    }

    fn tokens_given(&self) -> bool {
        !self.publish_tokens.is_empty() || self.publish_token_file.is_some()
    }

    /// Whether `kind` feeds this server (a publish token turns the API on by itself).
    pub fn sources(&self, kind: SourceKind) -> bool {
        self.source.contains(&kind) || (kind == SourceKind::Api && self.tokens_given())
    }

    /// Every publish token: from the command line and the token file.
    pub fn publish_tokens(&self) -> std::io::Result<Vec<String>> {
        let mut tokens: Vec<String> = self
            .publish_tokens
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(path) = &self.publish_token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        if let Some(short) = tokens.iter().find(|t| t.len() < 16) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a publish token of {} characters: use at least 16 (e.g. openssl rand -hex 24)",
                    short.len()
                ),
            ));
        }
        Ok(tokens)
    }

    /// How long the feed may be silent before the node reports not ready: a few ticks, and
    /// never less than a producer failover takes.
    pub fn stale_after(&self) -> Duration {
        (self.tick() * 30).max(Duration::from_millis(self.lease_ms * 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rates_are_refused_with_a_reason() {
        for bad in ["nan", "inf", "-1", "1001", "fast"] {
            let arg = format!("--quote-rate={bad}");
            let err = Config::try_parse_from(["livetape", arg.as_str()]).unwrap_err();
            assert!(err.to_string().contains("quote-rate"), "{bad}: {err}");
        }
        let c = Config::try_parse_from(["livetape", "--quote-rate", "10"]).unwrap();
        assert_eq!(c.quote_rate, 10.0);
    }

    #[test]
    fn sources_that_cannot_work_together_are_refused_with_a_reason() {
        let check = |args: &[&str]| {
            let mut all = vec!["livetape"];
            all.extend_from_slice(args);
            Config::try_parse_from(all).unwrap().validate()
        };
        let token = "0123456789abcdef0123";
        assert!(check(&[]).is_ok());
        assert!(check(&["--source", "sim,api", "--publish-token", token]).is_ok());
        assert!(check(&["--source", "replay", "--replay", "x.ndjson"]).is_ok());
        for (args, says) in [
            (
                &["--source", "sim,replay", "--replay", "x"][..],
                "choose one",
            ),
            (&["--source", "replay"][..], "go together"),
            (&["--replay", "x.ndjson"][..], "go together"),
            (&["--source", "sim,api"][..], "needs --publish-token"),
            (
                &["--source", "api", "--publish-token", token][..],
                "no symbols",
            ),
            (
                &[
                    "--source",
                    "replay",
                    "--replay",
                    "x",
                    "--redis",
                    "redis://127.0.0.1",
                ][..],
                "one node",
            ),
            (
                &[
                    "--redis",
                    "redis://127.0.0.1",
                    "--role",
                    "producer",
                    "--publish-token",
                    token,
                ][..],
                "a producer serves no HTTP publishers",
            ),
            (&["--role", "edge"][..], "needs --redis"),
            (
                &["--redis-wait-replicas", "1"][..],
                "no replicas to wait for",
            ),
        ] {
            let err = check(args).expect_err(&format!("{args:?} accepted"));
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn history_windows_bound_states_by_default_and_everything_when_asked() {
        let windows = |args: &[&str]| {
            let mut all = vec!["livetape"];
            all.extend_from_slice(args);
            let w = Config::try_parse_from(all).unwrap().history_windows();
            (
                w.states.map(|d| d.num_milliseconds()),
                w.events.map(|d| d.num_milliseconds()),
            )
        };
        // The lag ring is 256 ticks of 100 ms: no window is shorter.
        assert_eq!(windows(&[]), (Some(30_000), None));
        assert_eq!(windows(&["--state-history-secs", "0"]), (None, None));
        assert_eq!(
            windows(&["--state-history-secs", "5"]),
            (Some(25_600), None)
        );
        assert_eq!(
            windows(&["--history-secs", "60"]),
            (Some(30_000), Some(60_000))
        );
        assert_eq!(
            windows(&["--history-secs", "40", "--state-history-secs", "0"]),
            (Some(40_000), Some(40_000))
        );
    }
}
