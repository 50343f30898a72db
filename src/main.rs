//! The livetape server binary: parse the configuration, start, serve until Ctrl-C or SIGTERM.

use clap::Parser;
use livetape::server::{config::Config, start};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    let running = match start(&config).await {
        Ok(r) => r,
        Err(err) => {
            eprintln!("livetape: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "livetape serving http://{} ({} symbols, {} games, tick {} ms)",
        running.addr,
        config.symbols,
        config.games,
        config.tick_ms
    );
    match running.server.await {
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
