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

/// A set of channel ids as a bitmap; trailing zero words are trimmed so that equal sets are
/// equal values (and hash alike).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct ChannelSet {
    words: Vec<u64>,
}

impl ChannelSet {
    pub(crate) fn contains(&self, id: ChannelId) -> bool {
        let (w, b) = (id as usize / 64, id % 64);
        self.words.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    pub(crate) fn insert(&mut self, id: ChannelId) {
        let (w, b) = (id as usize / 64, id % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    pub(crate) fn remove(&mut self, id: ChannelId) {
        let (w, b) = (id as usize / 64, id % 64);
        if let Some(word) = self.words.get_mut(w) {
            *word &= !(1 << b);
        }
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            (0..64u32)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| (w * 64) as u32 + b)
        })
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
}
