//! The pump: every tick, draws what is due from the sources (the simulator, a replay,
//! publishers) and commits it as one tick (one frame per tick, however many events it holds).
//! It is the hub's only writer in a single-node server.
//!
//! [`Sources`] are what it draws from: each is optional, and which run together is the
//! configuration's choice (`--source`).

use super::draw::Draw;
use super::inbox::Inbox;
use super::recorder::Recorder;
use super::replay::Replay;
use super::reply::Accepted;
use super::simulator::Simulator;
use crate::protocol::Event;
use crate::server::feed::clock::micros_now;
use crate::server::feed::hub::Hub;
use crate::server::feed::numbering::prepare;
use crate::server::feed::tick::TickNo;
use crate::server::health::Health;
use crate::server::metrics;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// What the pump draws from.
#[derive(Default)]
pub(crate) struct Sources {
    pub(crate) sim: Option<Simulator>,
    pub(crate) replay: Option<Replay>,
    pub(crate) inbox: Option<Inbox>,
    pub(crate) recorder: Option<Recorder>,
}

impl Sources {
    /// A replay at `max` with more to play: the feed does not wait for the next tick.
    pub(crate) fn hurry(&self) -> bool {
        self.replay.as_ref().is_some_and(|r| r.hurry())
    }

    /// Everything due at `now`.
    pub(crate) fn draw(&mut self, hub: &Hub, now: DateTime<Utc>) -> Draw {
        let mut draw = Draw::default();
        if let Some(sim) = self.sim.as_mut() {
            draw.events = sim.step(now);
        }
        if let Some(replay) = self.replay.as_mut() {
            replay.draw(hub, now, &mut draw);
        }
        if let Some(inbox) = self.inbox.as_mut() {
            inbox.draw(hub, now, &mut draw);
        }
        draw
    }

    /// After the commit: record the tick, answer its publishers.
    pub(crate) fn committed(
        &mut self,
        hub: &Hub,
        ts: DateTime<Utc>,
        events: Option<&[Event]>,
        accepted: Vec<Accepted>,
        result: Result<TickNo, String>,
    ) {
        if let (Some(recorder), Some(events), Ok(_)) = (self.recorder.as_mut(), events, &result) {
            recorder.tick(hub, ts, events);
        }
        for a in accepted {
            a.answer(result.clone());
        }
    }

    /// Whether the recorder wants the tick's events (they are cloned for it).
    pub(crate) fn records(&self) -> bool {
        self.recorder.is_some()
    }
}

/// Spawns the task that drives `sources` into `hub` every `tick` until `stop` is cancelled.
pub(crate) fn spawn(
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
            let now = micros_now();
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
            let result = hub
                .commit(tick)
                .map(|updates| {
                    metrics::tick(updates);
                    n
                })
                .map_err(|err| {
                    // The feed is the hub's only writer: this is a bug, not a condition.
                    tracing::error!(%err, "the hub refused the feed's own tick");
                    "the server could not commit this tick".to_string()
                });
            sources.committed(&hub, ts, recorded.as_deref(), draw.accepted, result);
        }
    })
}
