//! The fan-out hub: one producer publishes batches, any number of clients receive them.
//!
//! The hub keeps the live state (so it can hand out snapshots) and a `tokio::sync::broadcast`
//! channel of encoded frames. Each batch is serialised exactly once and the bytes are shared by
//! every client (`Utf8Bytes` clones are reference counts), so the cost of a tick does not grow
//! with the number of clients beyond one pointer copy each.
//!
//! Invariant: [`Hub::subscribe`] takes the snapshot and the receiver under the same lock that
//! [`Hub::publish`] holds while it applies, numbers and sends a batch. A subscriber therefore
//! receives exactly the batches after its snapshot's `seq`: none missing, none twice.
//!
//! The broadcast ring has a fixed capacity, which bounds the memory a slow client can pin. A
//! client that falls further behind than that gets `Lagged` and must be resynchronised with a
//! fresh snapshot (see `ws.rs`); nobody else waits for it.

use crate::protocol::{Batch, Epoch, Event, Seq, ServerMsg, Snapshot};
use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// An encoded [`ServerMsg::Batch`], ready to send to any client.
pub type Frame = Utf8Bytes;

/// The live state plus what is needed to apply events to it by key.
struct Live {
    snapshot: Snapshot,
    quote_index: HashMap<String, usize>,
}

impl Live {
    fn new(snapshot: Snapshot) -> Self {
        let quote_index = snapshot
            .quotes
            .iter()
            .enumerate()
            .map(|(i, q)| (q.symbol.clone(), i))
            .collect();
        Live {
            snapshot,
            quote_index,
        }
    }

    /// Replaces the row each event names: quotes by symbol, games by board slot.
    fn apply(&mut self, event: &Event) {
        match event {
            Event::Quote(q) => match self.quote_index.get(&q.symbol) {
                Some(&i) => self.snapshot.quotes[i] = q.clone(),
                None => {
                    self.quote_index
                        .insert(q.symbol.clone(), self.snapshot.quotes.len());
                    self.snapshot.quotes.push(q.clone());
                }
            },
            Event::Game(g) => match self.snapshot.games.get_mut(usize::from(g.slot)) {
                Some(slot) => *slot = g.clone(),
                None => self.snapshot.games.push(g.clone()),
            },
            // Trades are reflected in the quote that follows them; the snapshot keeps no tape.
            Event::Trade(_) => {}
        }
    }
}

/// Shared by the feed task (publisher), the `/ws` endpoint and the page renderer.
pub struct Hub {
    live: Mutex<Live>,
    tx: broadcast::Sender<Frame>,
}

impl Hub {
    /// `capacity` is how many batches a client may fall behind before it is resynchronised.
    pub fn new(
        epoch: Epoch,
        ts: DateTime<Utc>,
        quotes: Vec<crate::protocol::Quote>,
        games: Vec<crate::protocol::Game>,
        capacity: usize,
    ) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Hub {
            live: Mutex::new(Live::new(Snapshot {
                epoch,
                seq: 0,
                ts,
                quotes,
                games,
            })),
            tx,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        // A panic while holding the lock cannot leave `Live` half-updated in a way that matters
        // (every write replaces a whole row), so a poisoned lock is still usable.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies one tick's events, gives them the next sequence number, encodes the batch once
    /// and sends it to every subscriber. Returns the batch's sequence number.
    pub fn publish(&self, ts: DateTime<Utc>, events: Vec<Event>) -> Seq {
        let mut live = self.lock();
        for e in &events {
            live.apply(e);
        }
        live.snapshot.seq += 1;
        live.snapshot.ts = ts;
        let seq = live.snapshot.seq;
        let frame = ServerMsg::Batch(Batch { seq, ts, events }).encode();
        // No subscribers is not an error: the batch is in the state for the next snapshot.
        let _ = self.tx.send(Frame::from(frame));
        seq
    }

    /// The current state and a receiver of every batch after it (see the module invariant).
    pub fn subscribe(&self) -> (Snapshot, broadcast::Receiver<Frame>) {
        let live = self.lock();
        (live.snapshot.clone(), self.tx.subscribe())
    }

    /// The current state, for rendering the page.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot.clone()
    }

    /// Clients currently subscribed.
    pub fn receivers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Quote;

    fn quote(symbol: &str, last: f64) -> Quote {
        Quote {
            symbol: symbol.into(),
            bid: last - 0.01,
            ask: last + 0.01,
            last,
            open: 10.0,
            volume: 1,
            ts: Utc::now(),
        }
    }

    #[test]
    fn subscribers_get_exactly_the_batches_after_their_snapshot() {
        let hub = Hub::new(1, Utc::now(), vec![quote("A", 10.0)], vec![], 64);
        hub.publish(Utc::now(), vec![Event::Quote(quote("A", 11.0))]);
        let (snap, mut rx) = hub.subscribe();
        assert_eq!(snap.seq, 1);
        assert_eq!(snap.quotes[0].last, 11.0);
        hub.publish(Utc::now(), vec![Event::Quote(quote("A", 12.0))]);
        let frame = rx.try_recv().unwrap();
        let ServerMsg::Batch(b) = serde_json::from_str(frame.as_str()).unwrap() else {
            panic!("{frame}")
        };
        assert_eq!(b.seq, 2);
        assert!(rx.try_recv().is_err(), "nothing else queued");
        assert_eq!(hub.snapshot().quotes[0].last, 12.0);
    }

    #[test]
    fn a_lagging_receiver_is_told_not_blocked() {
        let hub = Hub::new(1, Utc::now(), vec![], vec![], 4);
        let (_, mut rx) = hub.subscribe();
        for _ in 0..10 {
            hub.publish(Utc::now(), vec![]);
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(6))
        ));
    }
}
