//! The composition root: builds a server from its configuration and serves it.
//!
//! [`start`] reads as its steps: the feed (one process: the sources and the pump; or a cluster
//! node on Redis), the transports that stream it (the fan-out and the admission both `/ws` and
//! `/sse` go through), the HTTP surface (the page cache, the publish API, the router), and the
//! serve loop, which on shutdown also waits for the sessions' close handshakes. Nothing imports
//! this module: every other module takes the parts it needs as arguments.

use super::cluster::{self, publish_queue::Forwarder, store::Store, NodeConfig, Role};
use super::config::{Config, SourceKind};
use super::feed::archive::Archive;
use super::feed::clock::micros_now;
use super::feed::hub::Hub;
use super::feed::numbering::prepare;
use super::feed::state::LiveState;
use super::health::Health;
use super::http::page_cache::PageCache;
use super::http::publish::{Publish, Route};
use super::http::router::{router, AppState};
use super::metrics;
use super::net::serve::{serve, HttpLimits};
use super::net::{listen, open_files};
use super::sources::simulator::{SimConfig, Simulator};
use super::sources::{inbox, pump, recorder::Recorder, replay::Replay, Sources};
use super::transport::admission::Gate;
use super::transport::feed_view::FeedView;
use super::transport::websocket::fanout::FanOut;
use crate::protocol::{Epoch, Quote, Snapshot, SnapshotReason};
use axum::routing::get;
use axum::Router;
use leptos::prelude::LeptosOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for sessions to finish their close handshakes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A running server: the address it listens on, the handle that stops it, and a few readings
/// of its state (for the binary's log and for tests).
pub struct Running {
    pub addr: SocketAddr,
    /// Cancelling it shuts the server down as SIGTERM would.
    pub shutdown: CancellationToken,
    /// Ends once the server has stopped and its sessions have closed (or the grace ran out).
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    hub: Arc<Hub>,
    gate: Arc<Gate>,
    health: Arc<Health>,
}

impl Running {
    /// The last tick applied.
    pub fn tick(&self) -> u64 {
        self.hub.n()
    }

    /// The feed's epoch.
    pub fn epoch(&self) -> Epoch {
        self.hub.epoch()
    }

    /// Feed connections open (WebSocket and SSE).
    pub fn open_connections(&self) -> usize {
        self.gate.open()
    }

    /// `embedded`, `all`, `producer` or `edge`.
    pub fn role(&self) -> &'static str {
        self.health.role
    }

    /// Whether the task that moves the market failed (the process should exit with 70).
    pub fn has_failed(&self) -> bool {
        self.health.has_failed()
    }

    /// Every symbol's quote, in display order, and the time of the state they belong to.
    pub fn quotes(&self) -> (chrono::DateTime<chrono::Utc>, Vec<Quote>) {
        self.hub
            .read(|state, _, _, _| (state.ts, state.quotes().to_vec()))
    }

    /// What a dashboard shows (every quote and score), as the page would embed it.
    pub fn dashboard_snapshot(&self) -> Snapshot {
        self.hub
            .snapshot(&self.hub.dashboard_channels(), SnapshotReason::Page, 60)
            .0
    }
}

/// Binds, starts the feed and serves until `Running::shutdown` is cancelled (or SIGTERM or
/// Ctrl-C arrives), or the feed fails.
pub async fn start(config: &Config) -> std::io::Result<Running> {
    config
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = listen::bind(listen_addr(config))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let health = Arc::new(Health::new(
        match config.redis {
            None => "embedded",
            Some(_) => config.role.name(),
        },
        config.redis.is_some(),
        config.stale_after(),
    ));
    let feed = match &config.redis {
        None => embedded_feed(config, &health, &shutdown)?,
        Some(url) => cluster_feed(config, url, &health, &shutdown).await?,
    };
    let fanout = FanOut::new(std::thread::available_parallelism().map_or(1, |n| n.get()));
    fanout.spawn(&feed.hub);
    let mut admission = config.admission();
    admission.max_connections =
        open_files::connection_cap(admission.max_connections, open_files::raise());
    let gate = Arc::new(Gate::new(admission, config.limits(), shutdown.clone()));
    let transport = Arc::new(FeedView::new(feed.hub.clone(), feed.archive));
    let options = leptos_options(config);
    let pages = Arc::new(PageCache::new(
        transport.clone(),
        options.clone(),
        config.max_page_requests as usize,
    )?);
    metrics::spawn_upkeep(shutdown.clone());
    let state = AppState {
        leptos_options: options,
        hub: feed.hub.clone(),
        feed: transport,
        gate: gate.clone(),
        fanout,
        health: health.clone(),
        pages,
        publish: feed.publish,
    };
    if let Some(metrics_addr) = config.metrics_addr {
        serve_metrics_apart(metrics_addr, state.clone(), shutdown.clone()).await?;
    }
    let app = router(state, config.metrics_addr.is_none());
    let token = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        token.cancel();
    });
    let server = tokio::spawn(serve_until_stopped(
        listener,
        app,
        config.http_limits(),
        gate.clone(),
        shutdown.clone(),
    ));
    Ok(Running {
        addr,
        shutdown,
        server,
        hub: feed.hub,
        gate,
        health,
    })
}

/// `--addr`, else LEPTOS_SITE_ADDR (cargo-leptos sets it), else 127.0.0.1:3000.
fn listen_addr(config: &Config) -> SocketAddr {
    config.addr.unwrap_or_else(|| {
        std::env::var("LEPTOS_SITE_ADDR")
            .ok()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)))
    })
}

/// What the feed gives the rest of the server: the hub, where older history is kept (a
/// cluster's Redis), and the publish API's route (None: the API is off).
struct BuiltFeed {
    hub: Arc<Hub>,
    archive: Option<Arc<dyn Archive>>,
    publish: Option<Arc<Publish>>,
}

fn sim_config(config: &Config) -> SimConfig {
    SimConfig {
        seed: config.seed,
        symbols: usize::from(config.symbols),
        games: usize::from(config.games),
        quote_rate: config.quote_rate,
        trade_rate: config.trade_rate,
    }
}

fn publish_rules(config: &Config) -> inbox::Rules {
    inbox::Rules {
        allow_new_symbols: config.allow_new_symbols,
        max_age: chrono::Duration::seconds(i64::from(config.publish_max_age_secs)),
        max_skew: chrono::Duration::seconds(5),
    }
}

fn publish_api(config: &Config, route: Route) -> std::io::Result<Arc<Publish>> {
    Ok(Arc::new(Publish::new(
        &config.publish_tokens()?,
        f64::from(config.publish_rate),
        config.publish_max_bytes as usize,
        route,
    )))
}

/// One process: the sources (simulator or replay, publishers) and the pump that commits a tick
/// from them every interval.
fn embedded_feed(
    config: &Config,
    health: &Arc<Health>,
    shutdown: &CancellationToken,
) -> std::io::Result<BuiltFeed> {
    let mut sources = Sources::default();
    let hub = if config.sources(SourceKind::Sim) {
        let (hub, sim) = warmed_up(config);
        sources.sim = Some(sim);
        hub
    } else if let Some(path) = &config.replay {
        let replay = Replay::open(path, config.speed, config.replay_loop, micros_now())?;
        let (ts, quotes, games) = replay.start_state();
        sources.replay = Some(replay);
        Arc::new(fresh_hub(config, LiveState::new(ts, quotes, games)))
    } else {
        // Publishers only: an empty market that they list symbols on.
        Arc::new(fresh_hub(
            config,
            LiveState::new(micros_now(), Vec::new(), Vec::new()),
        ))
    };
    let publish = if config.sources(SourceKind::Api) {
        let (tx, inbox) = inbox::channel(publish_rules(config), 1024);
        sources.inbox = Some(inbox);
        Some(publish_api(config, Route::Local(tx))?)
    } else {
        None
    };
    if let Some(path) = &config.record {
        sources.recorder = Some(Recorder::start(path, config.record_max_bytes, &hub)?);
    }
    let pump = pump::spawn(
        sources,
        hub.clone(),
        health.clone(),
        config.tick(),
        shutdown.clone(),
    );
    supervise("feed", pump, health.clone(), shutdown.clone());
    Ok(BuiltFeed {
        hub,
        archive: None,
        publish,
    })
}

/// A cluster node: the hub follows (or, holding the lease, leads) the feed in Redis.
async fn cluster_feed(
    config: &Config,
    url: &str,
    health: &Arc<Health>,
    shutdown: &CancellationToken,
) -> std::io::Result<BuiltFeed> {
    let store = Store::open(
        url,
        &config.redis_prefix,
        cluster::store::Retention {
            ticks: config.redis_ticks,
            per_channel: config.redis_history,
        },
    )
    .await
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // An edge takes the world from Redis; a producer warms one up in case it is the first
    // and starts the cluster.
    let hub = if config.role == Role::Edge {
        Arc::new(configured_hub(
            config,
            0,
            LiveState::new(micros_now(), Vec::new(), Vec::new()),
        ))
    } else {
        warmed_up(config).0
    };
    let (settled_tx, settled) = tokio::sync::watch::channel(Default::default());
    let node = tokio::spawn(cluster::run(
        store.clone(),
        hub.clone(),
        health.clone(),
        NodeConfig {
            role: config.role,
            lease: Duration::from_millis(config.lease_ms),
            checkpoint_every: Duration::from_secs(config.checkpoint_secs),
            tick: config.tick(),
            sim: sim_config(config),
            block: Duration::from_secs(1),
            wait_replicas: config.redis_wait_replicas,
        },
        settled_tx,
        shutdown.clone(),
    ));
    supervise("cluster feed", node, health.clone(), shutdown.clone());
    let publish = if config.sources(SourceKind::Api) {
        let forwarder = Forwarder {
            store: store.clone(),
            hub: hub.clone(),
            rules: publish_rules(config),
            settled,
        };
        Some(publish_api(config, Route::Cluster(forwarder))?)
    } else {
        None
    };
    Ok(BuiltFeed {
        hub,
        archive: Some(store),
        publish,
    })
}

/// `/metrics` on an address of its own (an operator's network), not the public one.
async fn serve_metrics_apart(
    addr: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = listen::bind(addr)?;
    let metrics_only = Router::new()
        .route("/metrics", get(super::http::metrics::scrape))
        .with_state(state);
    tokio::spawn(serve(
        listener,
        metrics_only,
        HttpLimits::default(),
        shutdown,
    ));
    Ok(())
}

/// Serves until shutdown, then waits for the sessions: axum does not wait for upgraded
/// connections, and each session has been told to close with 1001 by the same token.
async fn serve_until_stopped(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    gate: Arc<Gate>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let served = serve(listener, app, limits, shutdown).await;
    gate.tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, gate.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sessions did not finish closing in {SHUTDOWN_GRACE:?}");
    }
    served
}

/// Leptos options from the environment cargo-leptos sets, with our defaults for a plain run of
/// the binary from the repository root.
fn leptos_options(config: &Config) -> LeptosOptions {
    let env = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_string());
    LeptosOptions::builder()
        .output_name(env("LEPTOS_OUTPUT_NAME", "livetape"))
        .site_root(
            config
                .site_root
                .clone()
                .unwrap_or_else(|| env("LEPTOS_SITE_ROOT", "target/site")),
        )
        .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR", "pkg"))
        .reload_port(
            env("LEPTOS_RELOAD_PORT", "3001")
                .parse::<u32>()
                .unwrap_or(3001),
        )
        .env(
            match env("LEPTOS_ENV", "PROD").to_ascii_uppercase().as_str() {
                "DEV" | "DEVELOPMENT" => leptos::prelude::Env::DEV,
                _ => leptos::prelude::Env::PROD,
            },
        )
        .build()
}

/// A hub at tick 0 of `epoch` holding `state`, with the configured lag capacity and history.
fn configured_hub(config: &Config, epoch: u64, state: LiveState) -> Hub {
    Hub::new(
        epoch,
        state,
        config.lag_capacity as usize,
        config.history as usize,
    )
    .with_history_windows(config.history_windows())
}

/// [`configured_hub`] in a new epoch.
fn fresh_hub(config: &Config, state: LiveState) -> Hub {
    let epoch = micros_now().timestamp_micros().unsigned_abs();
    configured_hub(config, epoch, state)
}

/// A hub holding `warmup_secs` of simulated past (so that charts, sparklines and tapes have
/// history from the first page), and the simulator to continue it.
fn warmed_up(config: &Config) -> (Arc<Hub>, Simulator) {
    let now = micros_now();
    let start = now - chrono::Duration::seconds(i64::from(config.warmup_secs));
    let mut sim = Simulator::new(&sim_config(config), start);
    // The epoch only needs to differ between runs; the start time in microseconds does.
    let epoch = now.timestamp_micros().unsigned_abs();
    let hub = Arc::new(configured_hub(
        config,
        epoch,
        LiveState::new(start, sim.quotes(), sim.games()),
    ));
    let tick = chrono::Duration::milliseconds(config.tick_ms as i64);
    let mut t = start;
    while t + tick <= now {
        t += tick;
        let events = sim.step(t);
        if !events.is_empty() {
            let c = prepare(&hub, t, events, Vec::new());
            hub.commit(c).expect("the warm-up is the hub's only writer");
        }
    }
    (hub, sim)
}

/// Watches the task that moves the market. If it ends before shutdown was asked for (it
/// panicked: a bug), the node must not go on serving a market that no longer moves as if it
/// were live: it is marked failed (`/readyz` says so), the panic is logged, and the server
/// shuts down (sessions close with 1001, clients resume elsewhere or after the restart), and
/// `main` exits with 70 for the supervisor to restart it. Restarting the task in-process
/// instead would run on state a panic left half-updated; a fresh process starts clean and
/// clients lose nothing (they resume from their positions).
fn supervise(
    what: &'static str,
    task: tokio::task::JoinHandle<()>,
    health: Arc<Health>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let ended = task.await;
        if shutdown.is_cancelled() {
            return;
        }
        match ended {
            Err(err) if err.is_panic() => {
                let panic = err.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_string());
                tracing::error!(task = what, panic = %message, "the {what} task panicked: shutting down");
            }
            _ => tracing::error!(
                task = what,
                "the {what} task ended on its own: shutting down"
            ),
        }
        health.feed_failed();
        shutdown.cancel();
    });
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, do not treat that as a request to stop.
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_feed_task_that_panics_makes_the_node_unready_and_shuts_it_down() {
        let health = Arc::new(Health::new("embedded", false, Duration::from_secs(5)));
        assert!(health.readiness(1, 0, 0).0, "ready before the fault");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(async { panic!("a bug in the feed") });
        supervise("feed", task, health.clone(), shutdown.clone());
        tokio::time::timeout(Duration::from_secs(5), shutdown.cancelled())
            .await
            .expect("the server is told to shut down");
        let (ready, why) = health.readiness(1, 0, 0);
        assert!(!ready);
        assert!(why["why"].as_str().unwrap().contains("feed task failed"));
        assert!(health.has_failed());
    }

    #[tokio::test]
    async fn a_feed_task_stopped_by_shutdown_is_not_a_failure() {
        let health = Arc::new(Health::new("embedded", false, Duration::from_secs(5)));
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move { stop.cancelled().await });
        supervise("feed", task, health.clone(), shutdown.clone());
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!health.has_failed());
    }
}
