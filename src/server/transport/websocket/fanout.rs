//! Fan-out by channel set: sessions that subscribe to the same channels share one frame per
//! tick, and sessions in sync are written to without being woken.
//!
//! A dashboard subscribes to every quote and score plus the detail panel's two channels, a
//! benchmark client to every quote: thousands of sessions, a handful of distinct sets. Each
//! set is interned once ([`Interner::intern`]); the first of its sessions to forward a tick
//! builds the set's batch frame and caches it on the [`SubSet`], and every other session with
//! that set sends the same bytes. The per-tick cost is then one pass over the tick's updates
//! per distinct set, not per session, and no session looks at a single update while it is in
//! sync (see `subscriber`).
//!
//! [`FanOut`] goes one step further for WebSocket sessions in sync: its shard tasks (one per
//! core) write each tick's frame to every attached connection's socket themselves (see
//! `outlet`), so a tick costs one task wake per shard instead of one per session. A session
//! that is not in sync (catching up, changing its channels, a slow reader) is detached and
//! forwards ticks itself until it is in sync again.

use crate::server::feed::hub::Hub;
use crate::server::feed::tick::{Tick, TickKind};
use crate::server::rfc6455::deflate;
use crate::server::transport::channel_sets::SubSet;
use crate::server::transport::websocket::outlet::{Delivery, Outlet};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;

/// Attached outlets of one channel set, each with the attachment it was listed under.
struct Group {
    set: Arc<SubSet>,
    members: Vec<(Arc<Outlet>, u64)>,
}

/// A group's key: the address of its interned set (equal sets are one `SubSet`, and the group
/// holds it, so the address is neither reused nor shared while the group exists). With
/// personalised sets there is a group per client: attaching and merging find a group by this
/// key in a map, not by a walk over every group.
type SetKey = usize;

fn key(set: &Arc<SubSet>) -> SetKey {
    Arc::as_ptr(set) as SetKey
}

#[derive(Default)]
struct Shard {
    groups: Mutex<HashMap<SetKey, Group>>,
}

/// What the shards have written, for metrics.
#[derive(Debug, Default)]
pub(crate) struct FanOutCounters {
    pub(crate) frames: AtomicUsize,
    pub(crate) bytes: AtomicUsize,
}

/// The shard tasks that write ticks to attached WebSocket connections.
pub(crate) struct FanOut {
    shards: Vec<Shard>,
    next: AtomicUsize,
    pub(crate) counters: FanOutCounters,
}

impl FanOut {
    /// A fan-out with `shards` tasks (one per core is right: each shard's pass is a loop of
    /// non-blocking writes). Start them with [`FanOut::spawn`].
    pub(crate) fn new(shards: usize) -> Arc<Self> {
        Arc::new(FanOut {
            shards: (0..shards.max(1)).map(|_| Shard::default()).collect(),
            next: AtomicUsize::new(0),
            counters: FanOutCounters::default(),
        })
    }

    /// Starts the shard tasks on `hub`'s ticks; they end when the hub does.
    pub(crate) fn spawn(self: &Arc<Self>, hub: &Arc<Hub>) {
        for i in 0..self.shards.len() {
            let mut rx = hub.receiver();
            let fanout = self.clone();
            tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(tick) => fanout.deliver(i, &tick),
                        // This shard fell behind the ring: every member missed ticks.
                        Err(RecvError::Lagged(_)) => fanout.kick_all(i),
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
    }

    /// Lists an attached outlet (`generation` from `Outlet::attach`) under its channel set.
    pub(crate) fn attach(&self, outlet: Arc<Outlet>, generation: u64, set: Arc<SubSet>) {
        let shard = &self.shards[self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()];
        let mut groups = shard.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups
            .entry(key(&set))
            .or_insert_with(|| Group {
                set,
                members: Vec::new(),
            })
            .members
            .push((outlet, generation));
    }

    /// One shard's pass over a tick. The list is taken out for the pass, so attaching never
    /// waits for it; outlets attached meanwhile get this tick from their session.
    fn deliver(&self, shard: usize, tick: &Tick) {
        let shard = &self.shards[shard];
        let mut groups =
            std::mem::take(&mut *shard.groups.lock().unwrap_or_else(|p| p.into_inner()));
        let (mut frames, mut bytes) = (0, 0);
        for group in groups.values_mut() {
            if let TickKind::Reset(_) = tick.kind {
                for (outlet, _) in group.members.drain(..) {
                    outlet.kick();
                }
                continue;
            }
            let frame = group.set.frame(tick);
            // Compressed once for the group's clients that agreed to permessage-deflate (and,
            // through the shared cache, once for every group and shard with this frame). A
            // group of one (a personalised channel set) is compressed directly: its frame
            // serves nobody else, and a thousand of them per tick would only push the shared
            // frames out of the cache.
            let alone = group.members.len() == 1;
            let mut deflated: Option<Option<Bytes>> = None;
            group.members.retain(|(outlet, generation)| {
                let body = match &frame {
                    Some(f) if outlet.deflates() => {
                        let compress = || {
                            if alone {
                                deflate::compress(f)
                            } else {
                                deflate::shared(f)
                            }
                        };
                        match deflated.get_or_insert_with(compress) {
                            Some(c) => Some((&*c, true)),
                            None => Some((f, false)),
                        }
                    }
                    Some(f) => Some((f, false)),
                    None => None,
                };
                let len = body.map_or(0, |(b, _)| b.len());
                match outlet.deliver(tick.n, body, *generation) {
                    Delivery::Written | Delivery::Partial => {
                        frames += 1;
                        bytes += len;
                        true
                    }
                    Delivery::Skipped => true,
                    Delivery::Detached | Delivery::Stale => false,
                }
            });
        }
        groups.retain(|_, g| !g.members.is_empty());
        if frames > 0 {
            // The pass's last write is its slowest: one sample per shard and tick.
            let late = chrono::Utc::now() - tick.ts;
            crate::server::metrics::publish_to_send(
                late.num_microseconds().unwrap_or(0) as f64 / 1e6,
            );
        }
        self.counters.frames.fetch_add(frames, Ordering::Relaxed);
        self.counters.bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut shared = shard.groups.lock().unwrap_or_else(|p| p.into_inner());
        for (k, added) in shared.drain() {
            match groups.get_mut(&k) {
                Some(g) => g.members.extend(added.members),
                None => {
                    groups.insert(k, added);
                }
            }
        }
        *shared = groups;
    }

    fn kick_all(&self, shard: usize) {
        let groups = std::mem::take(
            &mut *self.shards[shard]
                .groups
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for g in groups.into_values() {
            for (outlet, _) in g.members {
                outlet.kick();
            }
        }
    }
}
