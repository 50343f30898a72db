//! Where a tick's events come from: the simulator, a recording being replayed, publishers
//! (the publish API's inbox), in any combination the configuration allows. The feed task
//! draws from every source once per tick and commits what it drew as one tick, so nothing
//! downstream (seqs, history, candles, snapshots, resume) knows where an event came from.
//!
//! - `inbox`: publish requests waiting for the next tick, checked against the market.
//! - `replay`: a recording, played at its own pace or as fast as possible.
//! - `recorder`: writes every committed tick to a file (NDJSON, rotated by size).

pub mod inbox;
pub mod recorder;
pub mod replay;

use super::hub::Hub;
use super::simulator::Simulator;
use super::tick::TickNo;
use crate::protocol::{Event, Quote};
use chrono::{DateTime, Utc};

/// What the feed task draws from.
#[derive(Default)]
pub struct Sources {
    pub sim: Option<Simulator>,
    pub replay: Option<replay::Replay>,
    pub inbox: Option<inbox::Inbox>,
    pub recorder: Option<recorder::Recorder>,
}

/// One tick's worth of events from every source.
#[derive(Default)]
pub struct Draw {
    /// The tick's time when a source sets it (a replay at `max` keeps recorded time).
    pub ts: Option<DateTime<Utc>>,
    pub events: Vec<Event>,
    /// Symbols listed in this tick, each with its first quote (also among `events`).
    pub new_symbols: Vec<Quote>,
    /// Publish requests taken into this tick, answered once it is committed.
    pub accepted: Vec<inbox::Accepted>,
}

impl Draw {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.new_symbols.is_empty()
    }

    /// Whether `symbol` is listed by this tick (so far).
    pub fn lists(&self, symbol: &str) -> Option<&Quote> {
        self.new_symbols.iter().find(|q| q.symbol == symbol)
    }
}

impl Sources {
    /// A replay at `max` with more to play: the feed does not wait for the next tick.
    pub fn hurry(&self) -> bool {
        self.replay.as_ref().is_some_and(|r| r.hurry())
    }

    /// Everything due at `now`.
    pub fn draw(&mut self, hub: &Hub, now: DateTime<Utc>) -> Draw {
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
    pub fn committed(
        &mut self,
        hub: &Hub,
        ts: DateTime<Utc>,
        events: Option<&[Event]>,
        accepted: Vec<inbox::Accepted>,
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
    pub fn records(&self) -> bool {
        self.recorder.is_some()
    }
}
