//! Everything that only runs on the server (feature `ssr`).

pub mod bucket;
pub mod candles;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod fanout;
pub mod feed;
pub mod health;
pub mod history;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod outlet;
pub mod page;
pub mod page_cache;
pub mod producer;
pub mod publish;
pub mod session;
pub mod simulator;
pub mod sources;
pub mod sse;
pub mod state;
pub mod subscriber;
pub mod tick;
pub mod websocket;
pub mod ws;

use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use config::{Config, SourceKind};
use hub::Hub;
use leptos::prelude::LeptosOptions;
use simulator::{SimConfig, Simulator};
use state::LiveState;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use ws::Sessions;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub hub: Arc<Hub>,
    pub sessions: Arc<Sessions>,
    pub health: Arc<health::Health>,
    pub pages: Arc<page_cache::PageCache>,
    /// The publish API (None: no token configured, the API is off).
    pub publish: Option<Arc<publish::Publish>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Arc<Hub> {
    fn from_ref(state: &AppState) -> Self {
        state.hub.clone()
    }
}

/// The HTTP routes: the page, `/ws` and `/sse`, health, metrics (unless they have an address
/// of their own), and the static site (bundle, CSS, favicon).
pub fn router(state: AppState, with_metrics: bool) -> Router {
    // The bundle's brotli and gzip forms are written at build time (scripts/precompress.sh);
    // where they are missing (a dev build) the compression layer below compresses instead.
    let site = ServeDir::new(state.leptos_options.site_root.as_ref())
        .precompressed_br()
        .precompressed_gzip();
    let router = Router::new()
        .route("/", get(page::render))
        .fallback_service(site)
        // Compress the page and the bundle; the feed's routes are added after the layer: the
        // upgrade response is left alone, and an event stream must not wait in a compressor.
        .layer(CompressionLayer::new())
        .route("/ws", get(ws::upgrade))
        .route("/sse", get(sse::stream))
        .route("/api/publish", axum::routing::post(publish::publish))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    let router = if with_metrics {
        router.route("/metrics", get(metrics::scrape))
    } else {
        router
    };
    router.with_state(state)
}

/// How long shutdown waits for sessions to finish their close handshakes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A running server: the address it listens on, the hub it publishes to, and the handle that
/// stops it.
pub struct Running {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    /// The WebSocket sessions: `sessions.open()` counts them.
    pub sessions: Arc<Sessions>,
    pub health: Arc<health::Health>,
    /// Cancelling it shuts the server down as SIGTERM would.
    pub shutdown: CancellationToken,
    /// Ends once the server has stopped and its sessions have closed (or the grace ran out).
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Leptos options from the environment cargo-leptos sets, with our defaults for a plain run of
/// the binary from the repository root.
pub fn leptos_options(config: &Config) -> LeptosOptions {
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

/// Binds, starts the simulator feed and serves until the returned task is aborted or fails.
pub async fn start(config: &Config) -> std::io::Result<Running> {
    config
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let addr = config.addr.unwrap_or_else(|| {
        std::env::var("LEPTOS_SITE_ADDR")
            .ok()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)))
    });
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;

    let sim_config = SimConfig {
        seed: config.seed,
        symbols: usize::from(config.symbols),
        games: usize::from(config.games),
        quote_rate: config.quote_rate,
        trade_rate: config.trade_rate,
    };
    let shutdown = CancellationToken::new();
    let role_name = match config.redis {
        None => "embedded",
        Some(_) => config.role.name(),
    };
    let health = Arc::new(health::Health::new(
        role_name,
        config.redis.is_some(),
        config.stale_after(),
    ));
    let tokens = config.publish_tokens()?;
    let rules = sources::inbox::Rules {
        allow_new_symbols: config.allow_new_symbols,
        max_age: chrono::Duration::seconds(i64::from(config.publish_max_age_secs)),
        max_skew: chrono::Duration::seconds(5),
    };
    let publish_api = |route| {
        Arc::new(publish::Publish::new(
            &tokens,
            f64::from(config.publish_rate),
            config.publish_max_bytes as usize,
            route,
        ))
    };
    let (hub, store, publish) = match &config.redis {
        None => {
            let mut sources = sources::Sources::default();
            let hub = if config.sources(SourceKind::Sim) {
                let (hub, sim) = warmed_up(config, &sim_config);
                sources.sim = Some(sim);
                hub
            } else if let Some(path) = &config.replay {
                let replay = sources::replay::Replay::open(
                    path,
                    config.speed,
                    config.replay_loop,
                    cluster::micros_now(),
                )?;
                let (ts, quotes, games) = replay.start_state();
                sources.replay = Some(replay);
                Arc::new(fresh_hub(config, LiveState::new(ts, quotes, games)))
            } else {
                // Publishers only: an empty market that they list symbols on.
                Arc::new(fresh_hub(
                    config,
                    LiveState::new(cluster::micros_now(), Vec::new(), Vec::new()),
                ))
            };
            let publish = if config.sources(SourceKind::Api) {
                let (tx, inbox) = sources::inbox::channel(rules, 1024);
                sources.inbox = Some(inbox);
                Some(publish_api(publish::Route::Local(tx)))
            } else {
                None
            };
            if let Some(path) = &config.record {
                sources.recorder = Some(sources::recorder::Recorder::start(
                    path,
                    config.record_max_bytes,
                    &hub,
                )?);
            }
            let feed = feed::spawn(
                sources,
                hub.clone(),
                health.clone(),
                config.tick(),
                shutdown.clone(),
            );
            supervise("feed", feed, health.clone(), shutdown.clone());
            (hub, None, publish)
        }
        Some(url) => {
            let store = cluster::store::Store::open(
                url,
                &config.redis_prefix,
                cluster::store::Retention {
                    ticks: config.redis_ticks,
                    per_channel: config.redis_history,
                },
            )
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let store = Arc::new(store);
            // An edge takes the world from Redis; a producer warms one up in case it is the
            // first and starts the cluster.
            let hub = if config.role == cluster::Role::Edge {
                Arc::new(configured_hub(
                    config,
                    0,
                    LiveState::new(cluster::micros_now(), Vec::new(), Vec::new()),
                ))
            } else {
                warmed_up(config, &sim_config).0
            };
            let (settled_tx, settled) = tokio::sync::watch::channel(Default::default());
            let node = tokio::spawn(cluster::run(
                store.clone(),
                hub.clone(),
                health.clone(),
                cluster::NodeConfig {
                    role: config.role,
                    lease: Duration::from_millis(config.lease_ms),
                    checkpoint_every: Duration::from_secs(config.checkpoint_secs),
                    tick: config.tick(),
                    sim: sim_config.clone(),
                    block: Duration::from_secs(1),
                },
                settled_tx,
                shutdown.clone(),
            ));
            supervise("cluster feed", node, health.clone(), shutdown.clone());
            let publish = config.sources(SourceKind::Api).then(|| {
                publish_api(publish::Route::Cluster(cluster::inbox::Forwarder {
                    store: store.clone(),
                    hub: hub.clone(),
                    rules,
                    settled,
                }))
            });
            (hub, Some(store), publish)
        }
    };

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fanout = fanout::FanOut::new(workers);
    fanout.spawn(&hub);
    let sessions = Arc::new(Sessions {
        limits: config.limits(),
        fanout,
        store,
        max_per_ip: match config.max_connections_per_ip {
            0 => usize::MAX,
            n => n as usize,
        },
        per_ip: Default::default(),
        trusted_proxies: config.trusted_proxies.clone(),
        max_connections: config.max_connections as usize,
        allowed_origins: config.allow_origins.clone(),
        active: AtomicUsize::new(0),
        shutdown: shutdown.clone(),
        tracker: TaskTracker::new(),
    });
    let pages = Arc::new(page_cache::PageCache::new(
        hub.clone(),
        leptos_options(config),
        config.max_page_requests as usize,
    )?);
    metrics::spawn_upkeep(shutdown.clone());
    let state = AppState {
        publish,
        pages,
        leptos_options: leptos_options(config),
        hub: hub.clone(),
        sessions: sessions.clone(),
        health: health.clone(),
    };
    if let Some(metrics_addr) = config.metrics_addr {
        // Metrics on an address of their own (an operator's network), not the public one.
        let listener = TcpListener::bind(metrics_addr).await?;
        let metrics_only = Router::new()
            .route("/metrics", get(metrics::scrape))
            .with_state(state.clone());
        let token = shutdown.clone();
        tokio::spawn(http::serve(
            listener,
            metrics_only,
            http::HttpLimits::default(),
            token,
        ));
    }
    let app = router(state, config.metrics_addr.is_none());
    let token = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        token.cancel();
    });
    let sessions_handle = sessions.clone();
    let limits = config.http_limits();
    let token = shutdown.clone();
    let server = tokio::spawn(async move {
        let served = http::serve(listener, app, limits, token).await;
        // axum does not wait for upgraded connections: wait for the sessions ourselves, each
        // of which has been told to close with 1001 by the same token.
        sessions.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, sessions.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sessions did not finish closing in {SHUTDOWN_GRACE:?}");
        }
        served
    });
    Ok(Running {
        addr,
        hub,
        health,
        sessions: sessions_handle,
        shutdown,
        server,
    })
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
    let epoch = cluster::micros_now().timestamp_micros().unsigned_abs();
    configured_hub(config, epoch, state)
}

/// A hub holding `warmup_secs` of simulated past (so that charts, sparklines and tapes have
/// history from the first page), and the simulator to continue it.
fn warmed_up(config: &Config, sim_config: &SimConfig) -> (Arc<Hub>, Simulator) {
    let now = cluster::micros_now();
    let start = now - chrono::Duration::seconds(i64::from(config.warmup_secs));
    let mut sim = Simulator::new(sim_config, start);
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
            let c = producer::prepare(&hub, t, events, Vec::new());
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
    health: Arc<health::Health>,
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
        let health = Arc::new(health::Health::new(
            "embedded",
            false,
            Duration::from_secs(5),
        ));
        let hub = Hub::new(
            1,
            LiveState::new(cluster::micros_now(), Vec::new(), Vec::new()),
            16,
            16,
        );
        assert!(health.readiness(&hub, 0).0, "ready before the fault");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(async { panic!("a bug in the feed") });
        supervise("feed", task, health.clone(), shutdown.clone());
        tokio::time::timeout(Duration::from_secs(5), shutdown.cancelled())
            .await
            .expect("the server is told to shut down");
        let (ready, why) = health.readiness(&hub, 0);
        assert!(!ready);
        assert!(why["why"].as_str().unwrap().contains("feed task failed"));
        assert!(health.has_failed());
    }

    #[tokio::test]
    async fn a_feed_task_stopped_by_shutdown_is_not_a_failure() {
        let health = Arc::new(health::Health::new(
            "embedded",
            false,
            Duration::from_secs(5),
        ));
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move { stop.cancelled().await });
        supervise("feed", task, health.clone(), shutdown.clone());
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!health.has_failed());
    }
}
