//! The feed task: every tick, draws what is due from the sources (the simulator, a replay,
//! publishers) and commits it as one tick (one frame per tick, however many events it holds).
//! It is the hub's only writer in a single-node server.

use super::health::Health;
use super::hub::Hub;
use super::producer::prepare;
use super::sources::Sources;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Spawns the task that drives `sources` into `hub` every `tick` until `stop` is cancelled.
pub fn spawn(
    mut sources: Sources,
    hub: Arc<Hub>,
    health: Arc<Health>,
    tick: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    // A test hook for the fault suite (debug builds only): panic after this many ticks.
    #[cfg(debug_assertions)]
    let panic_after: Option<u64> = std::env::var("LIVETAPE_FAULT_FEED_PANIC_AFTER")
        .ok()
        .and_then(|v| v.parse().ok());
    tokio::spawn(async move {
        #[cfg(debug_assertions)]
        let mut ticks = 0u64;
        let mut interval = tokio::time::interval(tick);
        // After a stall, carry on from now rather than firing a burst of catch-up ticks: the
        // simulator already scales its step to the real elapsed time.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if sources.hurry() {
                // A replay at max speed: one recorded tick after another, letting the rest of
                // the server run in between.
                if stop.is_cancelled() {
                    return;
                }
                tokio::task::yield_now().await;
            } else {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stop.cancelled() => return,
                }
            }
            #[cfg(debug_assertions)]
            {
                ticks += 1;
                if panic_after.is_some_and(|n| ticks > n) {
                    panic!("fault injected: LIVETAPE_FAULT_FEED_PANIC_AFTER");
                }
            }
            let now = super::cluster::micros_now();
            health.beat();
            let draw = sources.draw(&hub, now);
            if draw.is_empty() {
                // Requests that listed nothing new and changed nothing still get an answer.
                sources.committed(&hub, now, None, draw.accepted, Ok(hub.n()));
                continue;
            }
            let ts = draw.ts.unwrap_or(now);
            let recorded = sources.records().then(|| draw.events.clone());
            let tick = prepare(&hub, ts, draw.events, draw.new_symbols);
            let n = tick.n;
            let result = hub.commit(tick).map(|_| n).map_err(|err| {
                // The feed is the hub's only writer: this is a bug, not a condition.
                tracing::error!(%err, "the hub refused the feed's own tick");
                "the server could not commit this tick".to_string()
            });
            sources.committed(&hub, ts, recorded.as_deref(), draw.accepted, result);
        }
    })
}
