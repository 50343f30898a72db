//! How long to wait before the next connection attempt: exponential, with jitter, reset by a
//! connection that worked.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Exponential backoff with "equal jitter": attempt `k` waits between half of and all of
/// `min(max, first * 2^k)`. The jitter matters more than the curve: after a node dies, every
/// client that was on it retries at once, and without jitter they would keep arriving
/// together. The random half comes from std's per-process random hash keys, so the client
/// needs no random-number crate.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    attempt: u32,
    seed: RandomState,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max: max.max(first),
            attempt: 0,
            seed: RandomState::new(),
        }
    }

    /// The wait before the next attempt; each call doubles the ceiling up to `max`.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let ceiling = self
            .first
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let mut h = self.seed.build_hasher();
        h.write_u32(self.attempt);
        let unit = (h.finish() >> 11) as f64 / (1u64 << 53) as f64; // in [0, 1)
        ceiling / 2 + ceiling.mul_f64(unit / 2.0)
    }

    /// A connection worked (the server welcomed it): the next failure starts from `first`.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_ceiling_with_jitter_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let waits: Vec<Duration> = (0..8).map(|_| b.next_wait()).collect();
        let ceilings = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
        for (w, c) in waits.iter().zip(ceilings) {
            let c = Duration::from_millis(c);
            assert!(*w >= c / 2 && *w <= c, "{w:?} outside [{:?}, {c:?}]", c / 2);
        }
        // Not all at one point of their range: the jitter is there.
        let fractions: Vec<f64> = waits
            .iter()
            .zip(ceilings)
            .map(|(w, c)| w.as_secs_f64() / (c as f64 / 1000.0))
            .collect();
        assert!(fractions.iter().any(|f| (f - fractions[0]).abs() > 1e-6));
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(100));
    }

    #[test]
    fn two_clients_do_not_wait_alike() {
        let mut a = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let (wa, wb): (Vec<_>, Vec<_>) = (0..4).map(|_| (a.next_wait(), b.next_wait())).unzip();
        assert_ne!(wa, wb);
    }
}
