//! A token bucket: `rate` tokens a second, at most `burst` saved up. Client messages on a
//! session and events from a publish token are both limited with one.

// tokio's clock, so that tests can move time on (it is std's outside a paused test runtime).
use tokio::time::Instant;

pub(crate) struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Bucket {
            tokens: burst,
            at: Instant::now(),
            rate,
            burst,
        }
    }

    /// Takes `cost` tokens; false (taking none) if there are not enough.
    pub(crate) fn take(&mut self, cost: f64) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Seconds until `cost` tokens are there (for Retry-After).
    pub(crate) fn wait_for(&self, cost: f64) -> f64 {
        ((cost.min(self.burst) - self.tokens) / self.rate).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_refills_at_its_rate_up_to_its_burst() {
        let mut b = Bucket::new(10.0, 5.0);
        for _ in 0..5 {
            assert!(b.take(1.0));
        }
        assert!(!b.take(1.0), "burst spent");
        assert!((b.wait_for(1.0) - 0.1).abs() < 1e-9);
        tokio::time::advance(Duration::from_millis(300)).await;
        assert!(b.take(1.0) && b.take(1.0) && b.take(1.0));
        assert!(!b.take(1.0));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!b.take(6.0), "never more than the burst");
        assert!(b.take(5.0));
    }
}
