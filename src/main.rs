//! The livetape server binary: parse the configuration, start, serve until Ctrl-C or SIGTERM.
//! `livetape tail ...` is the feed's terminal client instead (`livetape::client::tail`).
//!
//! Logs go to stdout through a non-blocking writer: a log reader that stalls (a full pipe)
//! loses log lines, never holds up the feed. Exit codes: 0 after a clean shutdown, 1 when the
//! server cannot start or fails, 70 when the feed task failed (a bug, logged): the process
//! does not go on serving a market that no longer moves; a supervisor restarts it and clients
//! resume (on this node or, in a cluster, on the others).

use clap::Parser;
use livetape::server::config::{Config, LogFormat};
use livetape::server::start;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `EX_SOFTWARE` from sysexits.h: an internal error.
const FEED_FAILED: u8 = 70;

#[tokio::main]
async fn main() -> ExitCode {
    // `livetape tail [URL] CHANNEL...`: the feed in a terminal (livetape::client::tail).
    if std::env::args_os().nth(1).is_some_and(|a| a == "tail") {
        return livetape::client::tail::main(std::env::args_os().skip(1)).await;
    }
    let config = Config::parse();
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .finish(std::io::stdout());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match config.log_format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Pretty => logs.init(),
    }
    let mut running = match start(&config).await {
        Ok(r) => r,
        Err(err) => {
            eprintln!("livetape: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        addr = %running.addr,
        role = running.role(),
        symbols = config.symbols,
        games = config.games,
        tick_ms = config.tick_ms,
        "livetape serving http://{}",
        running.addr
    );
    let served = (&mut running.server).await;
    if running.has_failed() {
        tracing::error!("exiting: the feed failed");
        return ExitCode::from(FEED_FAILED);
    }
    match served {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("livetape: server error: {err}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("livetape: server task failed: {err}");
            ExitCode::FAILURE
        }
    }
}
