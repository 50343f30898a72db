//! One channel's position and recent past: its seq, and its last updates kept for clients that
//! resume ([`ChannelLog`]); and how far back in time those histories reach ([`Windows`]).
//!
//! A history is the largest thing the server holds at high rates (1,000 symbols at 10 quotes
//! per second fill 1,024 entries each in 100 s), so its entries are stored compactly: the
//! updates' JSON back to back in one byte ring per channel, and per update only its tick and
//! time. Seqs are not stored: a channel's seqs have no holes, so entry `i` is `base + 1 + i`.
//! Kept as [`Encoded`] values (each with its own `Bytes` and shared header) the same history
//! took 212 B per 87-byte quote; here it takes about the JSON plus 24 B. A replay, which is
//! rare next to a push, pays instead: it copies the entries it needs into one buffer.
//!
//! Invariants:
//! - `marks` and the items in `bytes` correspond one to one, oldest first;
//! - the entries are exactly the updates with seq `base + 1 ..= seq`; what came before `base`
//!   is not here (`base_n` is the tick that left the channel at `base`).

use crate::protocol::Seq;
use crate::server::feed::catalog::{Catalog, ChannelId, Kind};
use crate::server::feed::tick::{Encoded, TickNo};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;

/// One entry's tick, time and length in `bytes`, and whether its opening was left out.
#[derive(Clone, Copy, Debug)]
struct Mark {
    n: TickNo,
    ts_us: i64,
    len: u32,
    /// Stored without `prefix`, the seq and the comma after it.
    cut: bool,
}

/// One channel's seq and the updates kept for resume.
#[derive(Default)]
pub(crate) struct ChannelLog {
    /// The channel's last seq.
    pub(crate) seq: Seq,
    /// The seq just before the first entry, and the tick that left the channel there.
    base: Seq,
    base_n: TickNo,
    marks: VecDeque<Mark>,
    bytes: VecDeque<u8>,
    /// How this channel's items open, up to their seq (`{"c":"quotes:AAPL","s":`), learned
    /// from the first one. An item that opens with it, its seq and a comma is stored without
    /// them (a third of a quote) and given them back on replay; any other is stored whole.
    prefix: Option<Box<[u8]>>,
}

impl ChannelLog {
    /// A log at `seq`, left there by tick `n`, with nothing kept.
    pub(crate) fn starting_at(seq: Seq, n: TickNo) -> Self {
        ChannelLog {
            seq,
            base: seq,
            base_n: n,
            ..ChannelLog::default()
        }
    }

    /// The seq before the oldest entry: a resume from before it cannot be answered here.
    pub(crate) fn base(&self) -> Seq {
        self.base
    }

    /// The tick that left the channel at [`ChannelLog::base`].
    pub(crate) fn base_n(&self) -> TickNo {
        self.base_n
    }

    /// Entries kept.
    pub(crate) fn len(&self) -> usize {
        self.marks.len()
    }

    /// The tick of the channel's last update (or of its base).
    pub(crate) fn last_n(&self) -> TickNo {
        self.marks.back().map_or(self.base_n, |m| m.n)
    }

    /// Records the channel's next update (`e.seq` must be `seq + 1`), first dropping the
    /// oldest entry if `depth` are kept already.
    pub(crate) fn push(&mut self, e: &Encoded, depth: usize) {
        debug_assert_eq!(e.seq, self.seq + 1);
        if self.marks.len() >= depth {
            self.forget_oldest();
        }
        // Grown by a quarter, not doubled: a history that settles at some length should not
        // hold up to twice that (VecDeque's own growth) for as long as it lives.
        if self.marks.len() == self.marks.capacity() {
            self.marks.reserve_exact((self.marks.len() / 4).max(4));
        }
        let skip = self.opening_len(&e.json, e.seq);
        let body = &e.json[skip..];
        if self.bytes.len() + body.len() > self.bytes.capacity() {
            self.bytes
                .reserve_exact((self.bytes.len() / 4).max(body.len()));
        }
        self.bytes.extend(body);
        self.marks.push_back(Mark {
            n: e.n,
            ts_us: e.ts.timestamp_micros(),
            len: body.len() as u32,
            cut: skip > 0,
        });
        self.seq = e.seq;
    }

    /// The length of `json`'s opening (the prefix, `seq` and a comma) if it can be left out
    /// and rebuilt exactly, else 0.
    fn opening_len(&mut self, json: &[u8], seq: Seq) -> usize {
        if self.prefix.is_none() {
            self.prefix = learn_prefix(json).map(Into::into);
        }
        let Some(prefix) = &self.prefix else {
            return 0;
        };
        let mut buf = [0; 20];
        let digits = decimal(seq, &mut buf);
        let end = prefix.len() + digits.len() + 1;
        let fits = json.len() > end
            && json.starts_with(prefix)
            && &json[prefix.len()..end - 1] == digits
            && json[end - 1] == b',';
        if fits {
            end
        } else {
            0
        }
    }

    /// Drops the oldest entry, moving the base past it.
    pub(crate) fn forget_oldest(&mut self) {
        if let Some(old) = self.marks.pop_front() {
            self.bytes.drain(..old.len as usize);
            self.base += 1;
            self.base_n = old.n;
        }
    }

    /// Drops the entries from before `cutoff`.
    pub(crate) fn expire(&mut self, cutoff: DateTime<Utc>) {
        let cutoff = cutoff.timestamp_micros();
        while self.marks.front().is_some_and(|m| m.ts_us < cutoff) {
            self.forget_oldest();
        }
        // A channel that was busy and went quiet gives its room back.
        if self.marks.capacity() > 64 && self.marks.len() < self.marks.capacity() / 4 {
            self.marks.shrink_to(self.marks.len() * 2);
            self.bytes.shrink_to(self.bytes.len() * 2);
        }
    }

    /// Every entry, oldest first.
    pub(crate) fn all(&self, channel: ChannelId, out: &mut Vec<Encoded>) {
        self.replay_from(0, channel, out);
    }

    /// The entries with a seq above `seq`; `seq` must not be below the base.
    pub(crate) fn after_seq(&self, seq: Seq, channel: ChannelId, out: &mut Vec<Encoded>) {
        let first = seq.saturating_sub(self.base) as usize;
        self.replay_from(first, channel, out);
    }

    /// The entries published after tick `n`.
    pub(crate) fn after_tick(&self, n: TickNo, channel: ChannelId, out: &mut Vec<Encoded>) {
        let first = self.marks.partition_point(|m| m.n <= n);
        self.replay_from(first, channel, out);
    }

    /// Entries `first..` as [`Encoded`] values sharing one copy of their bytes.
    fn replay_from(&self, first: usize, channel: ChannelId, out: &mut Vec<Encoded>) {
        if first >= self.marks.len() {
            return;
        }
        let mut from: usize = self.marks.range(..first).map(|m| m.len as usize).sum();
        let (front, back) = self.bytes.as_slices();
        let prefix = self.prefix.as_deref().unwrap_or_default();
        let mut copy = Vec::with_capacity(self.bytes.len() - from);
        let mut ends = Vec::with_capacity(self.marks.len() - first);
        for (i, m) in self.marks.range(first..).enumerate() {
            let seq = self.base + 1 + (first + i) as Seq;
            if m.cut {
                copy.extend_from_slice(prefix);
                copy.extend_from_slice(decimal(seq, &mut [0; 20]));
                copy.push(b',');
            }
            let to = from + m.len as usize;
            // The body, from the ring's two halves.
            let split = front.len();
            copy.extend_from_slice(&front[from.min(split)..to.min(split)]);
            copy.extend_from_slice(&back[from.max(split) - split..to.max(split) - split]);
            from = to;
            ends.push(copy.len());
        }
        let copy = Bytes::from(copy);
        let mut at = 0;
        for (i, (m, end)) in self.marks.range(first..).zip(ends).enumerate() {
            out.push(Encoded {
                channel,
                seq: self.base + 1 + (first + i) as Seq,
                n: m.n,
                ts: DateTime::from_timestamp_micros(m.ts_us).unwrap_or_default(),
                json: copy.slice(at..end),
            });
            at = end;
        }
    }
}

/// `{"c":"<name>","s":` if `json` opens like an item. A `"` inside the name is escaped, so the
/// first `","s":` ends the name.
fn learn_prefix(json: &[u8]) -> Option<&[u8]> {
    const OPEN: &[u8] = br#"{"c":""#;
    const SEQ: &[u8] = br#"","s":"#;
    if !json.starts_with(OPEN) {
        return None;
    }
    let at = json.windows(SEQ.len()).position(|w| w == SEQ)?;
    Some(&json[..at + SEQ.len()])
}

/// `n` in decimal, as JSON writes it, in `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// How far back in tick time the histories reach, by kind of channel (none: only the depth
/// bounds them).
///
/// Quotes, candles and scores are states: a client back from further than their window gets
/// the latest state (a snapshot), which is all a quote board, a chart or a scoreboard shows.
/// Trades are events: every print belongs on the tape, so by default they keep their whole
/// depth. Without a window, a history's memory grows with channels x depth whatever the rate:
/// 1,000 symbols at 10 quotes/s filled 1,024 entries each in 100 s and held 220 MB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Windows {
    pub(crate) states: Option<Duration>,
    pub(crate) events: Option<Duration>,
}

impl Windows {
    /// The window of the channel `id`.
    pub(crate) fn of(&self, id: ChannelId) -> Option<Duration> {
        match Catalog::kind(id).0 {
            Kind::Trades => self.events,
            Kind::Quotes | Kind::Candles(_) | Kind::Scores(_) | Kind::Breadth => self.states,
        }
    }

    /// True if no channel has a window.
    pub(crate) fn is_none(&self) -> bool {
        self.states.is_none() && self.events.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: Seq, n: TickNo, json: &str) -> Encoded {
        Encoded {
            channel: 3,
            seq,
            n,
            ts: DateTime::from_timestamp_micros(1_000_000 * n as i64).unwrap(),
            json: Bytes::copy_from_slice(json.as_bytes()),
        }
    }

    fn jsons(v: &[Encoded]) -> Vec<(Seq, TickNo, &str)> {
        v.iter()
            .map(|e| (e.seq, e.n, std::str::from_utf8(&e.json).unwrap()))
            .collect()
    }

    #[test]
    fn a_log_replays_exactly_what_it_keeps_across_the_ring_s_wrap() {
        let mut log = ChannelLog::starting_at(10, 4);
        // Depth 3, items of varying length, enough pushes to wrap the byte ring many times.
        for i in 0..50u64 {
            let json = format!("{{\"x\":{}}}", "7".repeat((i % 5) as usize + 1));
            log.push(&entry(11 + i, 5 + i, &json), 3);
        }
        assert_eq!(log.seq, 60);
        assert_eq!(log.len(), 3);
        assert_eq!((log.base(), log.base_n()), (57, 51));
        let mut all = Vec::new();
        log.all(3, &mut all);
        let want = |i: u64| format!("{{\"x\":{}}}", "7".repeat((i % 5) as usize + 1));
        let expect: Vec<(Seq, TickNo, String)> =
            (47..50).map(|i| (11 + i, 5 + i, want(i))).collect();
        let got: Vec<(Seq, TickNo, String)> = jsons(&all)
            .into_iter()
            .map(|(s, n, j)| (s, n, j.to_string()))
            .collect();
        assert_eq!(got, expect);
        assert_eq!(all[0].ts.timestamp_micros(), 52_000_000);

        let mut after = Vec::new();
        log.after_seq(58, 3, &mut after);
        assert_eq!(
            jsons(&after).iter().map(|e| e.0).collect::<Vec<_>>(),
            [59, 60]
        );
        let mut after = Vec::new();
        log.after_seq(60, 3, &mut after);
        assert!(after.is_empty());
        let mut after = Vec::new();
        log.after_tick(52, 3, &mut after);
        assert_eq!(
            jsons(&after).iter().map(|e| e.1).collect::<Vec<_>>(),
            [53, 54]
        );
        let mut after = Vec::new();
        log.after_tick(10, 3, &mut after);
        assert_eq!(after.len(), 3);
    }

    #[test]
    fn items_are_stored_without_their_opening_and_replayed_byte_for_byte() {
        let mut log = ChannelLog::default();
        let item = |seq: Seq| format!(r#"{{"c":"quotes:A\"B","s":{seq},"q":{{"b":1.5}}}}"#);
        // Seqs across digit counts, then items that do not open as learned.
        let mut sent: Vec<String> = (1..=12).map(item).collect();
        sent.push(r#"{"c":"quotes:A"B","s":013,"q":{}}"#.to_string()); // not canonical
        sent.push(r#"{"c":"quotes:Z","s":14,"q":{}}"#.to_string()); // another name
        sent.push(r#"{"c":"quotes:A"B","s":15}"#.to_string()); // nothing after the seq
        sent.push(r#"{"c":"quotes:A"B","s":99,"q":{}}"#.to_string()); // not its seq
        sent.push(r#"[1,2]"#.to_string());
        for (i, json) in sent.iter().enumerate() {
            log.push(&entry(i as Seq + 1, i as TickNo + 1, json), 100);
        }
        assert_eq!(log.marks.iter().filter(|m| m.cut).count(), 12);
        assert!(log.bytes.len() < sent.iter().map(String::len).sum::<usize>() - 12 * 20);
        let mut all = Vec::new();
        log.all(3, &mut all);
        let got: Vec<&str> = jsons(&all).into_iter().map(|e| e.2).collect();
        assert_eq!(got, sent);
        let mut after = Vec::new();
        log.after_seq(9, 3, &mut after);
        assert_eq!(jsons(&after)[0].2, item(10));
    }

    #[test]
    fn a_log_of_odd_items_learns_no_prefix_and_stores_them_whole() {
        let mut log = ChannelLog::default();
        for i in 1..=3 {
            log.push(&entry(i, i, "{\"x\":1}"), 10);
        }
        assert!(log.prefix.is_none());
        assert_eq!(log.bytes.len(), 3 * 7);
    }

    #[test]
    fn decimal_writes_like_json() {
        for n in [0, 7, 10, 99, 100, 123_456_789, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }

    #[test]
    fn expiry_moves_the_base_and_gives_room_back() {
        let mut log = ChannelLog::default();
        for i in 1..=1000u64 {
            log.push(&entry(i, i, "{\"q\":1}"), 1024);
        }
        let held = log.marks.capacity();
        assert!((1000..1300).contains(&held), "grown by quarters: {held}");
        // Everything before tick 990 (its time is 990 s).
        log.expire(DateTime::from_timestamp_micros(990_000_000).unwrap());
        assert_eq!(log.len(), 11);
        assert_eq!((log.base(), log.base_n()), (989, 989));
        assert!(log.marks.capacity() < 100, "{}", log.marks.capacity());
        let mut all = Vec::new();
        log.all(3, &mut all);
        assert_eq!(all.first().map(|e| e.seq), Some(990));
        assert_eq!(all.last().map(|e| e.seq), Some(1000));
        log.expire(DateTime::from_timestamp_micros(5_000_000_000).unwrap());
        assert_eq!(log.len(), 0);
        assert_eq!((log.base(), log.last_n()), (1000, 1000));
    }
}
