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

use super::catalog::ChannelId;
use super::hub::Hub;
use super::outlet::{Delivery, Outlet};
use super::tick::{batch_frame, Tick, TickKind};
use super::websocket::deflate;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast::error::RecvError;

/// A set of channel ids as a bitmap; trailing zero words are trimmed so that equal sets are
/// equal values (and hash alike).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChannelSet {
    words: Vec<u64>,
}

impl ChannelSet {
    pub fn contains(&self, id: ChannelId) -> bool {
        let (w, b) = (id as usize / 64, id % 64);
        self.words.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    pub fn insert(&mut self, id: ChannelId) {
        let (w, b) = (id as usize / 64, id % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    pub fn remove(&mut self, id: ChannelId) {
        let (w, b) = (id as usize / 64, id % 64);
        if let Some(word) = self.words.get_mut(w) {
            *word &= !(1 << b);
        }
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            (0..64u32)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| (w * 64) as u32 + b)
        })
    }
}

/// An interned channel set and its frame of the latest tick.
#[derive(Debug)]
pub struct SubSet {
    pub channels: ChannelSet,
    /// (tick id, the set's frame of that tick: `None` when the tick has nothing for it).
    cache: Mutex<(u64, Option<Bytes>)>,
}

impl SubSet {
    fn new(channels: ChannelSet) -> Self {
        SubSet {
            channels,
            cache: Mutex::new((0, None)),
        }
    }

    /// This set's batch frame of `tick`, built once per tick for all its sessions.
    pub fn frame(&self, tick: &Tick) -> Option<Bytes> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 != tick.id {
            *cache = (tick.id, self.build(tick));
        }
        cache.1.clone()
    }

    fn build(&self, tick: &Tick) -> Option<Bytes> {
        let wanted = tick
            .updates
            .iter()
            .filter(|u| self.channels.contains(u.channel))
            .count();
        match wanted {
            0 => None,
            n if n == tick.updates.len() => Some(tick.full_frame()),
            _ => Some(batch_frame(
                tick.n,
                tick.ts,
                tick.updates
                    .iter()
                    .filter(|u| self.channels.contains(u.channel))
                    .map(|u| &u.json[..]),
            )),
        }
    }
}

/// Interns channel sets so that sessions with equal sets share one [`SubSet`].
#[derive(Default)]
pub struct Interner {
    sets: Mutex<HashMap<ChannelSet, Weak<SubSet>>>,
}

impl Interner {
    pub fn intern(&self, channels: ChannelSet) -> Arc<SubSet> {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = sets.get(&channels).and_then(Weak::upgrade) {
            return set;
        }
        // Drop sets nobody holds any more, now and then (amortised over new sets).
        if sets.len() >= 64 && sets.len().is_power_of_two() {
            sets.retain(|_, w| w.strong_count() > 0);
        }
        let set = Arc::new(SubSet::new(channels.clone()));
        sets.insert(channels, Arc::downgrade(&set));
        set
    }

    /// Distinct sets currently held by some session.
    pub fn live(&self) -> usize {
        let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.values().filter(|w| w.strong_count() > 0).count()
    }
}

/// Attached outlets of one channel set, each with the attachment it was listed under.
struct Group {
    set: Arc<SubSet>,
    members: Vec<(Arc<Outlet>, u64)>,
}

#[derive(Default)]
struct Shard {
    groups: Mutex<Vec<Group>>,
}

/// What the shards have written, for metrics.
#[derive(Debug, Default)]
pub struct FanOutCounters {
    pub frames: AtomicUsize,
    pub bytes: AtomicUsize,
}

/// The shard tasks that write ticks to attached WebSocket connections.
pub struct FanOut {
    shards: Vec<Shard>,
    next: AtomicUsize,
    pub counters: FanOutCounters,
}

impl FanOut {
    /// A fan-out with `shards` tasks (one per core is right: each shard's pass is a loop of
    /// non-blocking writes). Start them with [`FanOut::spawn`].
    pub fn new(shards: usize) -> Arc<Self> {
        Arc::new(FanOut {
            shards: (0..shards.max(1)).map(|_| Shard::default()).collect(),
            next: AtomicUsize::new(0),
            counters: FanOutCounters::default(),
        })
    }

    /// Starts the shard tasks on `hub`'s ticks; they end when the hub does.
    pub fn spawn(self: &Arc<Self>, hub: &Arc<Hub>) {
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
    pub fn attach(&self, outlet: Arc<Outlet>, generation: u64, set: Arc<SubSet>) {
        let shard = &self.shards[self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()];
        let mut groups = shard.groups.lock().unwrap_or_else(|p| p.into_inner());
        match groups.iter_mut().find(|g| Arc::ptr_eq(&g.set, &set)) {
            Some(g) => g.members.push((outlet, generation)),
            None => groups.push(Group {
                set,
                members: vec![(outlet, generation)],
            }),
        }
    }

    /// One shard's pass over a tick. The list is taken out for the pass, so attaching never
    /// waits for it; outlets attached meanwhile get this tick from their session.
    fn deliver(&self, shard: usize, tick: &Tick) {
        let shard = &self.shards[shard];
        let mut groups =
            std::mem::take(&mut *shard.groups.lock().unwrap_or_else(|p| p.into_inner()));
        let (mut frames, mut bytes) = (0, 0);
        for group in &mut groups {
            if let TickKind::Reset(_) = tick.kind {
                for (outlet, _) in group.members.drain(..) {
                    outlet.kick();
                }
                continue;
            }
            let frame = group.set.frame(tick);
            // Compressed once for the group's clients that agreed to permessage-deflate (and,
            // through the shared cache, once for every group and shard with this frame).
            let mut deflated: Option<Option<Bytes>> = None;
            group.members.retain(|(outlet, generation)| {
                let body = match &frame {
                    Some(f) if outlet.deflates() => {
                        match deflated.get_or_insert_with(|| deflate::shared(f)) {
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
        groups.retain(|g| !g.members.is_empty());
        if frames > 0 {
            // The pass's last write is its slowest: one sample per shard and tick.
            let late = chrono::Utc::now() - tick.ts;
            super::metrics::publish_to_send(late.num_microseconds().unwrap_or(0) as f64 / 1e6);
        }
        self.counters.frames.fetch_add(frames, Ordering::Relaxed);
        self.counters.bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut shared = shard.groups.lock().unwrap_or_else(|p| p.into_inner());
        for added in shared.drain(..) {
            match groups.iter_mut().find(|g| Arc::ptr_eq(&g.set, &added.set)) {
                Some(g) => g.members.extend(added.members),
                None => groups.push(added),
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
        for g in groups {
            for (outlet, _) in g.members {
                outlet.kick();
            }
        }
    }

    /// Outlets listed (attached or about to be dropped from the lists).
    pub fn listed(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.groups
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|g| g.members.len())
                    .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::tick::{Encoded, TickKind};
    use chrono::Utc;

    fn tick(ids: &[ChannelId]) -> Tick {
        let ts = Utc::now();
        Tick::new(
            1,
            ts,
            TickKind::Data,
            ids.iter()
                .map(|&channel| Encoded {
                    channel,
                    seq: 1,
                    n: 1,
                    ts,
                    json: Bytes::from(format!("{{\"id\":{channel}}}")),
                })
                .collect(),
        )
    }

    fn set(ids: &[ChannelId]) -> ChannelSet {
        let mut s = ChannelSet::default();
        for &id in ids {
            s.insert(id);
        }
        s
    }

    #[test]
    fn sets_are_values() {
        let mut a = set(&[1, 70, 200]);
        assert!(a.contains(70) && !a.contains(71));
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![1, 70, 200]);
        a.remove(200);
        assert_eq!(a, set(&[1, 70]), "trimmed: equal to a set never that large");
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn equal_sets_share_one_subset_and_one_frame_per_tick() {
        let interner = Interner::default();
        let a = interner.intern(set(&[1, 3]));
        let b = interner.intern(set(&[3, 1]));
        assert!(Arc::ptr_eq(&a, &b));
        let t = tick(&[1, 2, 3]);
        let fa = a.frame(&t).unwrap();
        let fb = b.frame(&t).unwrap();
        assert_eq!(fa.as_ptr(), fb.as_ptr(), "the same bytes, built once");
        assert!(std::str::from_utf8(&fa)
            .unwrap()
            .ends_with(r#"[{"id":1},{"id":3}]}"#));
        let all = interner.intern(set(&[1, 2, 3, 4]));
        assert_eq!(
            all.frame(&t).unwrap(),
            t.full_frame(),
            "a superset sends the tick as is"
        );
        assert!(interner.intern(set(&[9])).frame(&t).is_none());
        drop((a, b, all));
        assert_eq!(interner.live(), 0);
    }
}
