//! Sets of channels, and the frames they are sent.
//!
//! A dashboard subscribes to every quote and score plus the detail panel's two channels, a
//! benchmark client to every quote: thousands of sessions, a handful of distinct sets. Each
//! set is interned once ([`Interner::intern`]); the first of its sessions to forward a tick
//! builds the set's batch frame and caches it on the [`SubSet`], and every other session with
//! that set sends the same bytes. The per-tick cost is then one pass over the tick's updates
//! per distinct set, not per session, and no session looks at a single update while it is in
//! sync (see `subscriber`).

use crate::server::feed::catalog::ChannelId;
use crate::server::feed::tick::{batch_frame, Tick};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// A set of channel ids, sorted: equal sets are equal values (and hash alike). A viewer's set
/// is a few dozen channels of a universe of tens of thousands: 200 bytes as a list, where a
/// bitmap over the universe took 5 KB per distinct set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct ChannelSet {
    ids: Vec<ChannelId>,
}

impl ChannelSet {
    pub(crate) fn contains(&self, id: ChannelId) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    pub(crate) fn insert(&mut self, id: ChannelId) {
        if let Err(at) = self.ids.binary_search(&id) {
            self.ids.insert(at, id);
        }
    }

    pub(crate) fn remove(&mut self, id: ChannelId) {
        if let Ok(at) = self.ids.binary_search(&id) {
            self.ids.remove(at);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.ids.iter().copied()
    }
}

/// An interned channel set and its frame of the latest tick.
#[derive(Debug)]
pub(crate) struct SubSet {
    pub(crate) channels: ChannelSet,
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
    pub(crate) fn frame(&self, tick: &Tick) -> Option<Bytes> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 != tick.id {
            *cache = (tick.id, self.build(tick));
        }
        cache.1.clone()
    }

    /// The frame from the tick's shared bytes.
    fn build(&self, tick: &Tick) -> Option<Bytes> {
        let wanted = self.channels.updates_in(tick);
        match wanted.len() {
            0 => None,
            n if n == tick.updates.len() => Some(tick.full_frame()),
            _ => Some(batch_frame(
                tick.n,
                tick.ts,
                wanted.iter().map(|&i| &tick.updates[i].json[..]),
            )),
        }
    }
}

impl ChannelSet {
    /// Where this set's updates are in `tick.updates`, in the tick's order (channel order).
    /// It walks the shorter of the two lists: a viewer's 50 channels looked up in the tick's
    /// index (built once per tick for all sets), or a tick of 3 updates tested against a
    /// dashboard's set. Either way no set scans a tick much longer than itself.
    pub(crate) fn updates_in(&self, tick: &Tick) -> Vec<usize> {
        if self.ids.len() < tick.updates.len() {
            let index = tick.index();
            self.ids
                .iter()
                .filter_map(|&id| index.position(id))
                .collect()
        } else {
            tick.updates
                .iter()
                .enumerate()
                .filter(|(_, u)| self.contains(u.channel))
                .map(|(i, _)| i)
                .collect()
        }
    }
}

/// Interns channel sets so that sessions with equal sets share one [`SubSet`].
#[derive(Default)]
pub(crate) struct Interner {
    sets: Mutex<HashMap<ChannelSet, Weak<SubSet>>>,
}

impl Interner {
    pub(crate) fn intern(&self, channels: ChannelSet) -> Arc<SubSet> {
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
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        sets.values().filter(|w| w.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::feed::tick::{Encoded, TickKind};
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

    proptest::proptest! {
        /// A set's frame holds exactly its channels' updates, in the tick's order, whichever
        /// way `updates_in` walks (index lookup for a set smaller than the tick, a scan
        /// otherwise): checked against the plain filter over random sets and ticks.
        #[test]
        fn a_sets_frame_holds_exactly_its_channels_updates(
            tick_ids in proptest::collection::btree_set(0u32..400, 0..120),
            set_ids in proptest::collection::btree_set(0u32..400, 0..120),
        ) {
            let tick_ids: Vec<ChannelId> = tick_ids.into_iter().collect();
            let t = tick(&tick_ids);
            let s = set(&set_ids.iter().copied().collect::<Vec<_>>());
            let reference: Vec<usize> = (0..tick_ids.len())
                .filter(|&i| set_ids.contains(&tick_ids[i]))
                .collect();
            proptest::prop_assert_eq!(s.updates_in(&t), reference.clone());
            let frame = SubSet::new(s).frame(&t);
            match frame {
                None => proptest::prop_assert!(reference.is_empty()),
                Some(f) => {
                    let text = std::str::from_utf8(&f).unwrap().to_string();
                    let expected: Vec<String> =
                        reference.iter().map(|&i| format!("{{\"id\":{}}}", tick_ids[i])).collect();
                    let expected = format!("[{}]}}", expected.join(","));
                    proptest::prop_assert!(text.ends_with(&expected), "{} vs {}", text, expected);
                }
            }
        }
    }
}
