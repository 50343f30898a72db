//! Command-line and environment configuration of the server.

use crate::server::cluster::Role;
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

    /// Channels one connection may subscribe to.
    #[arg(long, env = "LIVETAPE_MAX_SUBSCRIPTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_subscriptions: u32,

    /// WebSocket connections served at once; more are refused with HTTP 503.
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

    /// Join a cluster on this Redis, e.g. redis://127.0.0.1:6379/0. Without it livetape is one
    /// process with everything in memory.
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

    /// The per-session rules this configuration sets.
    pub fn limits(&self) -> crate::server::session::Limits {
        let client_timeout = Duration::from_millis(self.client_timeout_ms);
        crate::server::session::Limits {
            max_subscriptions: self.max_subscriptions as usize,
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            ping_interval: Duration::from_millis(self.ping_ms),
            client_timeout,
            rate_per_sec: f64::from(self.rate),
            burst: 2.0 * f64::from(self.rate),
            send_timeout: client_timeout,
            lag_ticks: u64::from(self.lag_capacity),
        }
    }

    /// Connection-level HTTP limits.
    pub fn http_limits(&self) -> crate::server::http::HttpLimits {
        crate::server::http::HttpLimits {
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
        Ok(())
    }

    /// How long the feed may be silent before the node reports not ready: a few ticks, and
    /// never less than a producer failover takes.
    pub fn stale_after(&self) -> Duration {
        (self.tick() * 30).max(Duration::from_millis(self.lease_ms * 2))
    }

    /// Defaults for tests: the same as the command line with no arguments, on an ephemeral port.
    pub fn for_tests() -> Self {
        let mut c = Config::parse_from(["livetape"]);
        c.addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        // Integration tests start many servers; a short warm-up keeps them quick.
        c.warmup_secs = 5;
        c
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
}
