//! The feed task: steps the simulator on a fixed tick and publishes each tick's events to the
//! hub as one batch (one frame per tick, however many events it holds).

use super::hub::Hub;
use super::simulator::Simulator;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Spawns the task that drives `sim` into `hub` every `tick` until `stop` is cancelled.
pub fn spawn(
    mut sim: Simulator,
    hub: Arc<Hub>,
    tick: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        // After a stall, carry on from now rather than firing a burst of catch-up ticks: the
        // simulator already scales its step to the real elapsed time.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stop.cancelled() => return,
            }
            let now = Utc::now();
            let events = sim.step(now);
            if !events.is_empty() {
                hub.publish(now, events);
            }
        }
    })
}
