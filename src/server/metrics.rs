//! Prometheus metrics, with the `metrics` facade and its Prometheus exporter: what is recorded
//! where it happens (`http::metrics` reads the rest at a scrape and renders `GET /metrics`).
//!
//! Nothing in the per-message hot path costs more than an atomic add: frames and bytes
//! written are plain counters (the fan-out adds them once per shard and tick), and everything
//! that lives elsewhere as state (connections open, the tick, the page cache, Redis) is read
//! when Prometheus scrapes. Events that happen per connection, per request or per tick (a
//! connection closed with its code, a resume and how it was answered, a tick and its size)
//! go through the facade's macros, and latency histograms are recorded once per fan-out pass
//! (the pass's slowest write), not once per frame.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `livetape_connections` | gauge | `transport` (`ws`, `sse`) |
//! | `livetape_connection_limit` | gauge | (feed connections served at once: `--max-connections`, or less when the open-files limit leaves less room) |
//! | `livetape_connections_accepted_total` | counter | `transport` |
//! | `livetape_connections_closed_total` | counter | `transport`, `code` (close code, `none` without one) |
//! | `livetape_http_refusals_total` | counter | `status` (403, 429, 503), `reason` |
//! | `livetape_subscriptions` | gauge | `kind` (`quotes`, `trades`, `candles`, `scores`) |
//! | `livetape_ticks_total`, `livetape_tick_updates` | counter, histogram | |
//! | `livetape_frames_sent_total`, `livetape_bytes_sent_total` | counters | `transport` |
//! | `livetape_publish_to_send_seconds` | histogram | (per fan-out pass, its slowest write) |
//! | `livetape_resumes_total` | counter | `outcome` (`replayed`, `snapshot`), `reason` |
//! | `livetape_lag_events_total`, `livetape_conflated_channels_total` | counters | |
//! | `livetape_errors_sent_total` | counter | `code` |
//! | `livetape_pages_rendered_total`, `livetape_pages_served_total`, `livetape_pages_shed_total` | counters | |
//! | `livetape_published_events_total` | counter | (events from POST /api/publish) |
//! | `livetape_epoch`, `livetape_tick`, `livetape_ready` | gauges | |
//! | `livetape_feed_age_seconds` | gauge | (since the feed's last tick or producer heartbeat) |
//! | `livetape_history_updates` | gauge | (updates held for resume: `--history`, `--state-history-secs`, `--history-secs`) |
//! | `livetape_redis_up`, `livetape_leading`, `livetape_redis_consumer_lag_ticks` | gauges | (with `--redis`) |
//! | `livetape_redis_commit_seconds` | histogram | (with `--redis`: a tick's round trip to Redis; with `--redis-wait-replicas`, until replicas hold it and it is published) |
//! | `livetape_redis_wait_timeouts_total` | counter | (with `--redis-wait-replicas`: waits that ended with too few replicas; the feed waited) |
//! | `livetape_redis_primary_changes_total` | counter | (with Sentinel: failovers this node followed) |

use ::metrics::Unit;
use ::metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Frames and bytes written outside the fan-out (sessions catching up, control frames,
/// event streams), added where they are written.
pub(crate) static WS_FRAMES: AtomicU64 = AtomicU64::new(0);
pub(crate) static WS_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static SSE_EVENTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static SSE_BYTES: AtomicU64 = AtomicU64::new(0);
/// Subscriptions held, by kind (`KINDS`).
pub(crate) static SUBSCRIPTIONS: [AtomicI64; KINDS.len()] =
    [const { AtomicI64::new(0) }; KINDS.len()];
/// Connections open, by transport.
pub(crate) static OPEN_WS: AtomicI64 = AtomicI64::new(0);
pub(crate) static OPEN_SSE: AtomicI64 = AtomicI64::new(0);

pub(crate) const KINDS: [&str; 5] = ["quotes", "trades", "candles", "scores", "breadth"];

/// The process's recorder (one per process: tests start many servers in one).
pub(crate) fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let latency = [
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("livetape_tick_updates".into()),
                    &[
                        1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
                    ],
                )
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (a test harness) keeps its place.
        let _ = ::metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// What each metric is: (kind, name, unit, help), as `/metrics` describes it.
const DESCRIPTIONS: &[(Kind, &str, Option<Unit>, &str)] = &[
    (Kind::Gauge, "livetape_connections", None, "Feed connections open, by transport."),
    (Kind::Gauge, "livetape_connection_limit", None, "Feed connections served at once: --max-connections, or less when the open-files limit leaves less room."),
    (Kind::Counter, "livetape_connections_accepted_total", None, "Feed connections accepted."),
    (Kind::Counter, "livetape_connections_closed_total", None, "Feed connections ended, by close code (none: ended without one)."),
    (Kind::Counter, "livetape_http_refusals_total", None, "Requests refused before any feed traffic: 403 origin, 429 per-address cap, 503 capacity."),
    (Kind::Gauge, "livetape_subscriptions", None, "Channel subscriptions held, by channel kind."),
    (Kind::Counter, "livetape_ticks_total", None, "Ticks applied to this node's hub."),
    (Kind::Histogram, "livetape_tick_updates", None, "Channel updates per tick."),
    (Kind::Counter, "livetape_frames_sent_total", None, "Messages written to clients."),
    (Kind::Counter, "livetape_bytes_sent_total", Some(Unit::Bytes), "Bytes of messages written to clients."),
    (Kind::Histogram, "livetape_publish_to_send_seconds", Some(Unit::Seconds), "From a tick's time to its frame handed to the last socket of a fan-out pass."),
    (Kind::Counter, "livetape_resumes_total", None, "Channels resumed, by outcome."),
    (Kind::Counter, "livetape_lag_events_total", None, "Times a client fell behind the feed."),
    (Kind::Counter, "livetape_conflated_channels_total", None, "Channels sent as their latest state to a client that fell behind."),
    (Kind::Counter, "livetape_errors_sent_total", None, "Error replies sent, by code."),
    (Kind::Counter, "livetape_pages_rendered_total", None, "Dashboard pages rendered (at most one per tick)."),
    (Kind::Counter, "livetape_pages_served_total", None, "Dashboard pages served from the render of their tick."),
    (Kind::Counter, "livetape_pages_shed_total", None, "Page requests refused with 503 when too many were in flight."),
    (Kind::Counter, "livetape_published_events_total", None, "Events publishers got onto the feed through POST /api/publish."),
    (Kind::Gauge, "livetape_epoch", None, "The feed's epoch."),
    (Kind::Gauge, "livetape_tick", None, "The last tick applied."),
    (Kind::Gauge, "livetape_history_updates", None, "Updates held for clients that resume (bounded by --history, --state-history-secs and --history-secs)."),
    (Kind::Gauge, "livetape_ready", None, "1 when /readyz says ready."),
    (Kind::Gauge, "livetape_feed_age_seconds", Some(Unit::Seconds), "Since the feed's last sign of life (a tick, or in a quiet cluster the producer's heartbeat): a node that stopped receiving ticks shows it here and in /readyz."),
    (Kind::Gauge, "livetape_redis_up", None, "1 when Redis answers (with --redis)."),
    (Kind::Gauge, "livetape_leading", None, "1 on the producer that holds the lease (with --redis)."),
    (Kind::Gauge, "livetape_redis_consumer_lag_ticks", None, "Ticks Redis holds that this node has not applied yet (with --redis)."),
    (Kind::Histogram, "livetape_redis_commit_seconds", Some(Unit::Seconds), "A tick's numbering round trip to Redis (with --redis); with --redis-wait-replicas, from staging it until replicas hold it and it is published."),
    (Kind::Counter, "livetape_redis_wait_timeouts_total", None, "Waits for replicas (--redis-wait-replicas) that timed out with too few acknowledgements: the feed waited."),
    (Kind::Counter, "livetape_redis_primary_changes_total", None, "Times Sentinel named another primary and this node moved to it (with a redis+sentinel URL)."),
];

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
    Histogram,
}

fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram};
    for &(kind, name, unit, help) in DESCRIPTIONS {
        match (kind, unit) {
            (Kind::Gauge, _) => describe_gauge!(name, help),
            (Kind::Counter, Some(unit)) => describe_counter!(name, unit, help),
            (Kind::Counter, None) => describe_counter!(name, help),
            (Kind::Histogram, Some(unit)) => describe_histogram!(name, unit, help),
            (Kind::Histogram, None) => describe_histogram!(name, help),
        }
    }
}

/// Drains recorded histogram samples into their buckets every few seconds, scraped or not:
/// the recorder keeps raw samples until then (a server nobody scrapes would otherwise grow).
pub(crate) fn spawn_upkeep(stop: tokio_util::sync::CancellationToken) {
    let handle = handle();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = every.tick() => handle.run_upkeep(),
                _ = stop.cancelled() => return,
            }
        }
    });
}

/// A connection was accepted.
pub(crate) fn accepted(transport: &'static str) {
    counter!("livetape_connections_accepted_total", "transport" => transport).increment(1);
    match transport {
        "sse" => OPEN_SSE.fetch_add(1, Ordering::Relaxed),
        _ => OPEN_WS.fetch_add(1, Ordering::Relaxed),
    };
}

/// A connection ended, with the close code sent or received.
pub(crate) fn closed(transport: &'static str, code: Option<u16>) {
    let code = code.map_or_else(|| "none".to_string(), |c| c.to_string());
    counter!("livetape_connections_closed_total", "transport" => transport, "code" => code)
        .increment(1);
    match transport {
        "sse" => OPEN_SSE.fetch_sub(1, Ordering::Relaxed),
        _ => OPEN_WS.fetch_sub(1, Ordering::Relaxed),
    };
}

pub(crate) fn refused(status: u16, reason: &'static str) {
    counter!("livetape_http_refusals_total", "status" => status.to_string(), "reason" => reason)
        .increment(1);
}

pub(crate) fn error_sent(code: crate::protocol::ErrorCode) {
    let code = serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    counter!("livetape_errors_sent_total", "code" => code).increment(1);
}

pub(crate) fn tick(updates: usize) {
    counter!("livetape_ticks_total").increment(1);
    histogram!("livetape_tick_updates").record(updates as f64);
}

pub(crate) fn publish_to_send(seconds: f64) {
    histogram!("livetape_publish_to_send_seconds").record(seconds.max(0.0));
}

pub(crate) fn resumed(outcome: &'static str, reason: &'static str, channels: usize) {
    if channels > 0 {
        counter!("livetape_resumes_total", "outcome" => outcome, "reason" => reason)
            .increment(channels as u64);
    }
}

pub(crate) fn lagged(conflated: usize) {
    counter!("livetape_lag_events_total").increment(1);
    counter!("livetape_conflated_channels_total").increment(conflated as u64);
}

/// Events a publisher got onto the feed.
pub(crate) fn published(events: usize) {
    counter!("livetape_published_events_total").increment(events as u64);
}

pub(crate) fn redis_commit(seconds: f64) {
    histogram!("livetape_redis_commit_seconds").record(seconds);
}

/// Fewer replicas than `--redis-wait-replicas` acknowledged a staged tick in time.
pub(crate) fn redis_wait_timeout() {
    counter!("livetape_redis_wait_timeouts_total").increment(1);
}

/// Sentinel named another primary and the store moved to it.
pub(crate) fn redis_primary_changed() {
    counter!("livetape_redis_primary_changes_total").increment(1);
}

pub(crate) fn consumer_lag(ticks: u64) {
    gauge!("livetape_redis_consumer_lag_ticks").set(ticks as f64);
}
