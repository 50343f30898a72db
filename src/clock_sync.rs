//! Clock offset and rate estimates for a feed client, as plain logic (no browser, no I/O), so
//! that they are unit-tested natively and used by the browser client.
//!
//! The offset is measured NTP-style: the client pings, and the server stamps the pong. The
//! server read its clock somewhere inside the round trip; assuming the middle, the error is at
//! most half the round trip, so the sample with the shortest round trip wins. A ping queued
//! behind a large snapshot has a long, lopsided trip and is not trusted over a quick one.
//!
//! Compiled for both the server's render and the browser; each uses a part of it (and the
//! server runs its tests), so what only the browser calls is not dead code.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use chrono::{DateTime, Duration, Utc};

/// How often a client re-measures the offset (each ping is a few dozen bytes).
pub(crate) const PING_EVERY: Duration = Duration::seconds(2);

/// The estimate of `server clock - local clock`.
#[derive(Debug, Default)]
pub(crate) struct ClockSync {
    offset: Duration,
    best_rtt: Option<Duration>,
    pending: Option<(u64, DateTime<Utc>)>,
    last_ping: Option<DateTime<Utc>>,
}

impl ClockSync {
    /// Starts over on a new connection, from a rough first guess (a server timestamp that has
    /// just arrived: off by the one-way delay).
    pub(crate) fn reset(&mut self, server_ts: DateTime<Utc>, now: DateTime<Utc>) {
        *self = ClockSync {
            offset: server_ts - now,
            ..ClockSync::default()
        };
    }

    pub(crate) fn offset(&self) -> Duration {
        self.offset
    }

    /// True once a ping has measured the offset.
    pub(crate) fn measured(&self) -> bool {
        self.best_rtt.is_some()
    }

    /// True when a new ping should be sent.
    pub(crate) fn due(&self, now: DateTime<Utc>) -> bool {
        self.pending.is_none() && self.last_ping.is_none_or(|t| now - t >= PING_EVERY)
    }

    /// Records that ping `id` left at `now`.
    pub(crate) fn sent(&mut self, id: u64, now: DateTime<Utc>) {
        self.pending = Some((id, now));
        self.last_ping = Some(now);
    }

    /// Takes the pong for ping `id`, stamped `server_ts`, arriving at `now`.
    pub(crate) fn pong(&mut self, id: u64, server_ts: DateTime<Utc>, now: DateTime<Utc>) {
        let Some((pending, sent)) = self.pending else {
            return;
        };
        if pending != id {
            return;
        }
        self.pending = None;
        let rtt = now - sent;
        if self.best_rtt.is_none_or(|best| rtt < best) {
            self.best_rtt = Some(rtt);
            self.offset = server_ts - (sent + rtt / 2);
        }
    }
}

/// Counts events per whole second; reports the last complete second.
#[derive(Debug, Default)]
pub(crate) struct RateMeter {
    second: i64,
    count: u64,
    previous: u64,
}

impl RateMeter {
    pub(crate) fn add(&mut self, second: i64, n: u64) {
        if second != self.second {
            self.previous = if second == self.second + 1 {
                self.count
            } else {
                0
            };
            self.second = second;
            self.count = 0;
        }
        self.count += n;
    }

    /// Events in the last complete second before `now` (a second number).
    pub(crate) fn per_second(&self, now: i64) -> u64 {
        match now - self.second {
            0 => self.previous,
            1 => self.count,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_790_000_000_000 + ms).unwrap()
    }

    #[test]
    fn the_shortest_round_trip_sets_the_offset() {
        let mut c = ClockSync::default();
        // The server's clock is 100 ms ahead.
        c.reset(at(100 + 5), at(0));
        assert!(!c.measured());
        assert!(c.due(at(0)));
        // A slow, lopsided trip: sent at 0, stamped at 140 (server), back at 60.
        c.sent(1, at(0));
        assert!(!c.due(at(5000)), "one ping at a time");
        c.pong(1, at(140), at(60));
        assert_eq!(c.offset(), Duration::milliseconds(110));
        // A quick one wins: sent at 3000, stamped 3101, back at 3002.
        assert!(c.due(at(3000)));
        c.sent(2, at(3000));
        c.pong(2, at(3101), at(3002));
        assert_eq!(c.offset(), Duration::milliseconds(100));
        // A slower one later does not replace it; a stale id is ignored.
        c.sent(3, at(6000));
        c.pong(9, at(0), at(6001));
        c.pong(3, at(6200), at(6050));
        assert_eq!(c.offset(), Duration::milliseconds(100));
        assert!(c.measured());
    }

    #[test]
    fn rates_are_per_complete_second() {
        let mut r = RateMeter::default();
        r.add(10, 5);
        r.add(10, 7);
        assert_eq!(r.per_second(10), 0, "the current second is not complete");
        assert_eq!(r.per_second(11), 12);
        r.add(11, 3);
        assert_eq!(r.per_second(11), 12);
        assert_eq!(r.per_second(12), 3);
        assert_eq!(r.per_second(14), 0, "silence is zero");
        r.add(20, 1);
        assert_eq!(r.per_second(20), 0, "a gap of seconds is not carried over");
    }
}
