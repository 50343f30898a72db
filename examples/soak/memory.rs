//! The soak's memory verdict: does the server leak?
//!
//! A leak is memory that keeps growing with the work done, not a high reading. The first
//! verdict (one end sample against one sample after the warm-up, within 10%) failed a healthy
//! server at random: RSS sits flat for a minute and then reads 10 MiB higher at the one moment
//! a reconnect wave overlaps the connections it replaces, or a slow reader is being caught up.
//! So the soak reads memory three ways, each of which a healthy server's noise cannot move and
//! a leak must:
//!
//! 1. **Trend** ([`theil_sen`]): RSS is sampled every second, and the slope over the steady
//!    window (after the warm-up, while the churn goes on) is the Theil–Sen estimate, the
//!    median of the slopes between every pair of samples. A spike moves only the pairs it is
//!    in, a minority, so the median ignores it; a leak moves every pair. The slope is judged
//!    per reconnect (a leak's unit): `slope / reconnects per second`.
//! 2. **Residual**: once every client has left, the median of several readings, minus the RSS
//!    before the first client came. What connections held goes back to the allocator (and
//!    mimalloc returns freed pages to the system within milliseconds); what a leak holds
//!    stays, and it is the sum over every connection the soak opened.
//! 3. **Per connection** (reported, not judged): the RSS under load above the idle RSS,
//!    divided by the connections open.
//!
//! The bounds ([`Bounds::for_secs`]) come from measured runs of a healthy server and of a
//! build that leaks on purpose (`--features soak-leak`, 4 KiB per closed connection); the
//! numbers and the reasoning are in docs/benchmarks.md ("The soak's memory verdict").

/// One reading of the server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// Seconds since the soak started.
    pub t: f64,
    pub rss_mib: f64,
}

/// The Theil–Sen slope of `points` (MiB per second): the median of the slopes between every
/// pair of readings taken at different times. `None` with fewer than two distinct times.
pub fn theil_sen(points: &[Reading]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dt = b.t - a.t;
            if dt.abs() > 1e-9 {
                slopes.push((b.rss_mib - a.rss_mib) / dt);
            }
        }
    }
    median(&mut slopes)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// What a healthy server stays within.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Growth of the trend per reconnect, in KiB.
    pub trend_kib_per_reconnect: f64,
    /// RSS left once every client has gone, above the idle RSS, in MiB.
    pub residual_mib: f64,
}

impl Bounds {
    /// The bounds for a soak of `secs` seconds. A longer soak has more readings in its trend
    /// and more reconnects under its residual, so it can be judged more strictly.
    pub fn for_secs(secs: u64) -> Bounds {
        if secs >= 300 {
            Bounds {
                trend_kib_per_reconnect: 0.5,
                residual_mib: 24.0,
            }
        } else {
            Bounds {
                trend_kib_per_reconnect: 1.5,
                residual_mib: 24.0,
            }
        }
    }
}

/// Everything the memory verdict looked at.
#[derive(Clone, Debug, PartialEq)]
pub struct Memory {
    /// RSS before the first client connected.
    pub idle_mib: f64,
    /// Trend over the steady window, MiB per minute (None: too few readings).
    pub slope_mib_per_min: Option<f64>,
    /// Reconnects per second over the same window.
    pub reconnects_per_sec: f64,
    /// RSS once every client had left (median of several readings), if it was measured.
    pub after_leave_mib: Option<f64>,
    /// Connections the soak opened in all (first connections and reconnects).
    pub connections_opened: u64,
    /// RSS per open connection under load, KiB.
    pub per_connection_kib: f64,
}

impl Memory {
    /// The trend, in KiB per reconnect (or per minute's worth of work if nobody reconnected).
    pub fn trend_kib_per_reconnect(&self) -> Option<f64> {
        let per_sec = self.slope_mib_per_min? / 60.0 * 1024.0;
        Some(per_sec / self.reconnects_per_sec.max(1.0))
    }

    pub fn residual_mib(&self) -> Option<f64> {
        self.after_leave_mib.map(|a| a - self.idle_mib)
    }

    /// The failures, if any, against `bounds`.
    pub fn judge(&self, bounds: &Bounds) -> Vec<String> {
        let mut failures = Vec::new();
        match self.trend_kib_per_reconnect() {
            Some(k) if k > bounds.trend_kib_per_reconnect => failures.push(format!(
                "RSS grows {:.2} MiB/min over the steady window, {k:.2} KiB per reconnect (bound {} KiB)",
                self.slope_mib_per_min.unwrap_or(0.0),
                bounds.trend_kib_per_reconnect
            )),
            Some(_) => {}
            None => failures.push("too few RSS readings in the steady window".into()),
        }
        match self.residual_mib() {
            Some(r) if r > bounds.residual_mib => failures.push(format!(
                "{r:.1} MiB stayed after every client left ({:.2} KiB per connection opened; bound {} MiB)",
                r * 1024.0 / self.connections_opened.max(1) as f64,
                bounds.residual_mib
            )),
            Some(_) => {}
            None => failures.push("RSS after the clients left was not measured".into()),
        }
        failures
    }

    /// One line for the report.
    pub fn summary(&self) -> String {
        format!(
            "idle {:.1} MiB; trend {} ({} per reconnect at {:.0} reconnects/s); after every client left {} ({} above idle, {} per connection opened); {:.1} KiB per open connection under load",
            self.idle_mib,
            self.slope_mib_per_min
                .map_or("-".into(), |s| format!("{s:+.2} MiB/min")),
            self.trend_kib_per_reconnect()
                .map_or("-".into(), |k| format!("{k:+.3} KiB")),
            self.reconnects_per_sec,
            self.after_leave_mib
                .map_or("-".into(), |a| format!("{a:.1} MiB")),
            self.residual_mib()
                .map_or("-".into(), |r| format!("{r:+.1} MiB")),
            self.residual_mib().map_or("-".into(), |r| format!(
                "{:+.2} KiB",
                r * 1024.0 / self.connections_opened.max(1) as f64
            )),
            self.per_connection_kib,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat_with_spikes(n: usize) -> Vec<Reading> {
        (0..n)
            .map(|i| Reading {
                t: i as f64,
                // A flat 80 MiB with a spike of +10 MiB every 17 s and the last reading high,
                // as in the run that failed the old verdict.
                rss_mib: 80.0 + if i % 17 == 5 || i == n - 1 { 10.0 } else { 0.0 },
            })
            .collect()
    }

    #[test]
    fn spikes_do_not_move_the_trend() {
        let slope = theil_sen(&flat_with_spikes(48)).unwrap();
        assert!(slope.abs() < 1e-9, "{slope}");
    }

    #[test]
    fn a_steady_leak_is_its_slope_whatever_the_noise() {
        // 4 KiB per reconnect at 50 reconnects/s, over the same noise.
        let leak_mib_per_sec = 4.0 * 50.0 / 1024.0;
        let points: Vec<Reading> = flat_with_spikes(48)
            .into_iter()
            .map(|r| Reading {
                rss_mib: r.rss_mib + leak_mib_per_sec * r.t,
                ..r
            })
            .collect();
        let slope = theil_sen(&points).unwrap();
        assert!((slope - leak_mib_per_sec).abs() < 1e-9, "{slope}");
        let memory = Memory {
            idle_mib: 30.0,
            slope_mib_per_min: Some(slope * 60.0),
            reconnects_per_sec: 50.0,
            after_leave_mib: Some(35.0),
            connections_opened: 13_000,
            per_connection_kib: 5.0,
        };
        assert!((memory.trend_kib_per_reconnect().unwrap() - 4.0).abs() < 1e-9);
        let failures = memory.judge(&Bounds::for_secs(60));
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("per reconnect"), "{failures:?}");
    }

    #[test]
    fn memory_that_stays_after_the_clients_leave_fails() {
        let memory = Memory {
            idle_mib: 30.0,
            slope_mib_per_min: Some(0.0),
            reconnects_per_sec: 50.0,
            after_leave_mib: Some(30.0 + 50.0),
            connections_opened: 13_000,
            per_connection_kib: 5.0,
        };
        let failures = memory.judge(&Bounds::for_secs(60));
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("stayed after every client left"));
        let healthy = Memory {
            after_leave_mib: Some(36.0),
            ..memory
        };
        assert!(healthy.judge(&Bounds::for_secs(60)).is_empty());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(
            theil_sen(&[Reading {
                t: 1.0,
                rss_mib: 1.0
            }]),
            None
        );
    }
}
