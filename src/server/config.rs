//! Command-line and environment configuration of the server.

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

    /// Seed of the simulation: the same seed gives the same sequence of events.
    #[arg(long, env = "LIVETAPE_SEED", default_value_t = 7)]
    pub seed: u64,

    /// Milliseconds between simulator ticks; each tick is one frame to every client.
    #[arg(long, env = "LIVETAPE_TICK_MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(5..=5_000))]
    pub tick_ms: u64,

    /// Batches a client may fall behind before it is resynchronised with a snapshot.
    #[arg(long, env = "LIVETAPE_LAG_CAPACITY", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub lag_capacity: u32,

    /// Directory with the built site (the pkg/ bundle, CSS, favicon). Defaults to
    /// LEPTOS_SITE_ROOT, else target/site.
    #[arg(long, env = "LIVETAPE_SITE_ROOT")]
    pub site_root: Option<String>,
}

impl Config {
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }

    /// Defaults for tests: the same as the command line with no arguments, on an ephemeral port.
    pub fn for_tests() -> Self {
        let mut c = Config::parse_from(["livetape"]);
        c.addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c
    }
}
