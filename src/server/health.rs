//! What a node reports about itself: `/healthz` (the process is alive) and `/readyz` (it
//! should get traffic) answer from it (`http::probes`), and so does the `livetape_ready` gauge.
//!
//! Ready means the feed is fresh (a tick applied, or on a quiet feed a sign of life from its
//! producer, within `stale_after`) and, in a cluster, Redis is reachable and this node has
//! applied everything Redis holds. The balancer routes new connections by `/readyz`; existing
//! connections are not touched by it, so a Redis outage leaves clients connected (and Stale).

use chrono::Utc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

/// What a node reports about itself.
pub(crate) struct Health {
    /// `embedded`, `all`, `producer` or `edge`.
    pub(crate) role: &'static str,
    pub(crate) clustered: bool,
    redis_up: AtomicBool,
    caught_up: AtomicBool,
    leading: AtomicBool,
    /// Wall-clock µs of the feed's last sign of life.
    beat_us: AtomicI64,
    /// The feed task died (a bug): never ready again, see the log.
    feed_failed: AtomicBool,
    pub(crate) stale_after: Duration,
}

impl Health {
    pub(crate) fn new(role: &'static str, clustered: bool, stale_after: Duration) -> Self {
        Health {
            role,
            clustered,
            redis_up: AtomicBool::new(false),
            caught_up: AtomicBool::new(!clustered),
            leading: AtomicBool::new(false),
            beat_us: AtomicI64::new(Utc::now().timestamp_micros()),
            feed_failed: AtomicBool::new(false),
            stale_after,
        }
    }

    /// The feed is alive (a tick was applied or produced, or the producer was seen).
    pub(crate) fn beat(&self) {
        self.beat_us
            .store(Utc::now().timestamp_micros(), Ordering::Relaxed);
    }

    pub(crate) fn set_redis_up(&self, up: bool) {
        self.redis_up.store(up, Ordering::Relaxed);
    }

    pub(crate) fn redis_up(&self) -> bool {
        self.redis_up.load(Ordering::Relaxed)
    }

    pub(crate) fn set_caught_up(&self, yes: bool) {
        self.caught_up.store(yes, Ordering::Relaxed);
    }

    pub(crate) fn set_leading(&self, yes: bool) {
        self.leading.store(yes, Ordering::Relaxed);
    }

    pub(crate) fn leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    pub(crate) fn feed_failed(&self) {
        self.feed_failed.store(true, Ordering::Relaxed);
    }

    /// Whether the feed task failed (the process should exit: see main.rs).
    pub(crate) fn has_failed(&self) -> bool {
        self.feed_failed.load(Ordering::Relaxed)
    }

    /// Milliseconds since the feed's last sign of life.
    pub(crate) fn feed_age_ms(&self) -> i64 {
        (Utc::now().timestamp_micros() - self.beat_us.load(Ordering::Relaxed)) / 1000
    }

    /// Whether to send this node traffic, and the facts behind the answer.
    pub(crate) fn readiness(
        &self,
        epoch: u64,
        tick: u64,
        connections: usize,
    ) -> (bool, serde_json::Value) {
        let age = self.feed_age_ms();
        let fresh = age <= self.stale_after.as_millis() as i64;
        let failed = self.feed_failed.load(Ordering::Relaxed);
        let redis = self.redis_up();
        let caught_up = self.caught_up.load(Ordering::Relaxed);
        let mut why = Vec::new();
        if failed {
            why.push("the feed task failed (see the log)".to_string());
        }
        if !fresh {
            why.push(format!("no feed for {age} ms"));
        }
        if self.clustered && !redis {
            why.push("Redis unreachable".to_string());
        }
        if self.clustered && !caught_up {
            why.push("catching up with the feed in Redis".to_string());
        }
        let ready = why.is_empty();
        let body = serde_json::json!({
            "ready": ready,
            "role": self.role,
            "leading": self.leading(),
            "epoch": epoch,
            "tick": tick,
            "feed_age_ms": age,
            "redis": if !self.clustered { "off" } else if redis { "up" } else { "down" },
            "caught_up": caught_up,
            "connections": connections,
            "why": if ready { "serving".to_string() } else { why.join("; ") },
        });
        (ready, body)
    }
}
