//! The feed task: steps the simulator on a fixed tick and publishes each tick's events as one
//! committed tick (one frame per tick, however many events it holds).

use super::health::Health;
use super::hub::Hub;
use super::producer::prepare;
use super::simulator::Simulator;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Spawns the task that drives `sim` into `hub` every `tick` until `stop` is cancelled.
pub fn spawn(
    mut sim: Simulator,
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
            tokio::select! {
                _ = interval.tick() => {}
                _ = stop.cancelled() => return,
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
            let events = sim.step(now);
            if !events.is_empty() {
                let tick = prepare(&hub, now, events, Vec::new());
                if let Err(err) = hub.commit(tick) {
                    // The feed is the hub's only writer: this is a bug, not a condition.
                    tracing::error!(%err, "the hub refused the feed's own tick");
                }
            }
        }
    })
}
