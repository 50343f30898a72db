//! What the hub hands to sessions: one [`Tick`] per published batch of updates, each update
//! encoded once as JSON and shared by every frame that carries it.
//!
//! Ticks are numbered `1, 2, 3, …` within an epoch (`n`); a session's position in the stream is
//! the last tick it has fully sent, which is cheaper to keep than a seq per channel and is the
//! same on every node of a cluster (the producer numbers ticks, see `cluster`).

use crate::protocol::{Seq, SnapshotReason};
use crate::server::feed::catalog::ChannelId;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Number of a tick within an epoch; 0 is "before the first".
pub(crate) type TickNo = u64;

/// One channel's update, encoded as an item of its tick's batch (timestamps equal to `ts`
/// left out, see `protocol::wire`).
#[derive(Clone, Debug)]
pub(crate) struct Encoded {
    pub(crate) channel: ChannelId,
    pub(crate) seq: Seq,
    /// The tick it was published in, and that tick's time.
    pub(crate) n: TickNo,
    pub(crate) ts: DateTime<Utc>,
    pub(crate) json: Bytes,
}

/// What a tick tells sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TickKind {
    /// New updates.
    Data,
    /// The hub's state was replaced (a new epoch, or a node that lost the feed's continuity
    /// reloaded it): every session sends a snapshot of each of its channels for this reason.
    Reset(SnapshotReason),
}

/// Everything published at once.
#[derive(Debug)]
pub(crate) struct Tick {
    /// Unique in the process, for caches keyed by tick.
    pub(crate) id: u64,
    pub(crate) n: TickNo,
    pub(crate) ts: DateTime<Utc>,
    pub(crate) kind: TickKind,
    pub(crate) updates: Vec<Encoded>,
    /// The batch frame with every update, built once by the first session that wants all.
    full: OnceLock<Bytes>,
    /// Where each channel's update is in `updates`, built once by the first set that looks.
    index: OnceLock<TickIndex>,
}

/// A tick's updates by channel: a dense table over the channels the tick reaches up to (a
/// few tens of thousands of entries at most, filled once per tick), so that a set of channels
/// finds its updates in one lookup each, however many updates the tick holds.
#[derive(Debug)]
pub(crate) struct TickIndex {
    positions: Vec<u32>,
}

impl TickIndex {
    const NONE: u32 = u32::MAX;

    fn of(updates: &[Encoded]) -> Self {
        let len = updates
            .iter()
            .map(|u| u.channel as usize + 1)
            .max()
            .unwrap_or(0);
        let mut positions = vec![Self::NONE; len];
        for (i, u) in updates.iter().enumerate() {
            positions[u.channel as usize] = i as u32;
        }
        TickIndex { positions }
    }

    /// The position of channel `id`'s update in the tick, if it has one.
    pub(crate) fn position(&self, id: ChannelId) -> Option<usize> {
        match self.positions.get(id as usize) {
            Some(&p) if p != Self::NONE => Some(p as usize),
            _ => None,
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Tick {
    pub(crate) fn new(n: TickNo, ts: DateTime<Utc>, kind: TickKind, updates: Vec<Encoded>) -> Self {
        Tick {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            n,
            ts,
            kind,
            updates,
            full: OnceLock::new(),
            index: OnceLock::new(),
        }
    }

    /// Where each channel's update is.
    pub(crate) fn index(&self) -> &TickIndex {
        self.index.get_or_init(|| TickIndex::of(&self.updates))
    }

    /// The whole tick as one batch frame.
    pub(crate) fn full_frame(&self) -> Bytes {
        self.full
            .get_or_init(|| batch_frame(self.n, self.ts, self.updates.iter().map(|u| &u.json[..])))
            .clone()
    }
}

/// The `batch` message of tick `n` from pre-encoded items (all encoded for a batch at `ts`),
/// by concatenation. The items are walked twice, once to size the buffer: a 40 KiB frame
/// grown by doubling would copy itself about eight times.
pub fn batch_frame<'a>(
    n: TickNo,
    ts: DateTime<Utc>,
    items: impl Iterator<Item = &'a [u8]> + Clone,
) -> Bytes {
    // Head and tail (at most 80 bytes), and one comma per item.
    let size = 80 + items.clone().map(|item| item.len() + 1).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(br#"{"type":"batch","n":"#);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(br#","ts":"#);
    out.extend_from_slice(ts.timestamp_micros().to_string().as_bytes());
    out.extend_from_slice(br#","updates":["#);
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Channel, Data, Quote, ServerMsg, Update};

    #[test]
    fn a_concatenated_batch_is_the_batch_the_protocol_reads() {
        // The protocol carries microseconds.
        let ts = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        let update = |sym: &str, seq| Update {
            channel: Channel::Quotes(sym.into()),
            seq,
            data: Data::Quote(Quote {
                symbol: sym.into(),
                bid: 1.0,
                ask: 1.01,
                last: 1.0,
                open: 0.9,
                volume: 10,
                ts,
            }),
        };
        let items = [update("A", 3), update("B", 9)];
        let encoded: Vec<String> = items.iter().map(|u| u.encode_in(ts)).collect();
        let frame = batch_frame(7, ts, encoded.iter().map(|s| s.as_bytes()));
        let ServerMsg::Batch(b) = serde_json::from_slice(&frame).unwrap() else {
            panic!("not a batch")
        };
        assert_eq!(b.updates, items);
        assert_eq!(b.n, 7);
        assert_eq!(b.ts.timestamp_micros(), ts.timestamp_micros());
    }
}
