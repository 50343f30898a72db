//! How numbers and clocks read on screen, in the reader's style (`locale`: separators, time
//! zone). Shared by server render and browser.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{Game, GameStatus};
use crate::ui::locale;
use chrono::{DateTime, Timelike, Utc};

/// A time of day, `HH:MM:SS`, in the reader's zone (UTC unless the browser says otherwise).
/// Written by hand: chrono's `format` would pull its whole strftime machinery into the
/// browser bundle for two clocks.
pub(crate) fn time_of_day(t: DateTime<Utc>) -> String {
    let t = t + chrono::Duration::minutes(i64::from(locale::with(|s| s.offset_min)));
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// The zone times are shown in: `UTC`, `UTC+01:00`.
pub(crate) fn zone() -> String {
    locale::with(|s| s.zone.clone())
}

/// A price with cents: `1234.5` -> `1,234.50` (`1.234,50` in de-DE).
pub(crate) fn price(x: f64) -> String {
    let cents = (x * 100.0).round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let decimal = locale::with(|s| s.decimal);
    format!("{sign}{}{decimal}{:02}", grouped(cents / 100), cents % 100)
}

/// A price with cents and no grouping, as a reader would type it: `1234.50` (`1234,50`).
pub(crate) fn plain(x: f64) -> String {
    let text = format!("{x:.2}");
    locale::with(|s| text.replace('.', &s.decimal.to_string()))
}

/// A change with an explicit sign: `+1.25`, `-0.40`, `0.00`.
pub(crate) fn signed(x: f64) -> String {
    let cents = (x * 100.0).round() as i64;
    if cents > 0 {
        format!("+{}", price(x))
    } else if cents < 0 {
        price(x)
    } else {
        price(0.0)
    }
}

/// A percentage with sign and two decimals: `+1.25%`.
pub(crate) fn percent(x: f64) -> String {
    let hundredths = (x * 100.0).round() as i64;
    if hundredths == 0 {
        let decimal = locale::with(|s| s.decimal);
        format!("0{decimal}00%")
    } else {
        let text = format!("{}{:.2}%", if hundredths > 0 { "+" } else { "" }, x);
        locale::with(|s| {
            if s.decimal == '.' {
                text
            } else {
                text.replace('.', &s.decimal.to_string())
            }
        })
    }
}

/// An integer with thousands separators: `1234567` -> `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    locale::with(|s| {
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 * s.group.len());
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(&s.group);
            }
            out.push(c);
        }
        out
    })
}

/// How long ago, compactly: `4s`, `2m`, `1h`.
pub(crate) fn age(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else {
        format!("{}h", secs / 3600)
    }
}

/// Minutes and seconds: `754_000` ms -> `12:34`.
pub(crate) fn clock(ms: u32) -> String {
    let secs = ms / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// What the scoreboard says about where a game stands at `now`: "Q3 4:21", "2H 67'",
/// "End P2", "Half", "Final/OT", "Starts soon".
pub(crate) fn game_clock(g: &Game, now: DateTime<Utc>) -> String {
    let label = g.league.period_label(g.period);
    match g.status {
        GameStatus::Scheduled => match g.starts {
            // In the reader's zone; a start on the minute reads as one.
            Some(t) if t.second() == 0 => format!("Starts {}", &time_of_day(t)[..5]),
            Some(t) => format!("Starts {}", time_of_day(t)),
            None => "Starts soon".into(),
        },
        GameStatus::Final if g.period > g.league.periods() => format!("Final/{label}"),
        GameStatus::Final => "Final".into(),
        GameStatus::Break if g.league.periods() == 2 && g.period == 1 => "Half".into(),
        GameStatus::Break => format!("End {label}"),
        GameStatus::Live if g.league.clock_counts_up() => {
            // Soccer shows the match minute: 1' .. 90'.
            let before = u32::from(g.period - 1) * g.league.period_ms();
            let minute = (before + g.clock_at(now)) / 60_000 + 1;
            format!("{label} {minute}'")
        }
        GameStatus::Live => format!("{label} {}", clock(g.clock_at(now))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_matches_chrono() {
        use chrono::TimeZone;
        for secs in [0, 59, 3_600 * 9 + 61, 86_399, 1_795_430_937] {
            let t = Utc.timestamp_opt(secs, 123_000_000).unwrap();
            assert_eq!(time_of_day(t), t.format("%H:%M:%S").to_string());
        }
    }
    use crate::protocol::{League, Team};

    #[test]
    fn numbers() {
        assert_eq!(price(1234.5), "1,234.50");
        assert_eq!(price(0.004), "0.00");
        assert_eq!(price(-12.345), "-12.35");
        assert_eq!(signed(1.25), "+1.25");
        assert_eq!(signed(-0.4), "-0.40");
        assert_eq!(signed(0.001), "0.00");
        assert_eq!(percent(1.254), "+1.25%");
        assert_eq!(percent(-0.5), "-0.50%");
        assert_eq!(percent(0.001), "0.00%");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(clock(754_000), "12:34");
        assert_eq!(clock(59_999), "0:59");
        assert_eq!(age(-1), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(61), "1m");
        assert_eq!(age(7_300), "2h");
    }

    #[test]
    fn a_reader_s_own_separators_and_zone() {
        // Each test runs on a thread of its own: the style set here stays here.
        std::thread::spawn(|| {
            locale::set(locale::Style {
                group: ".".into(),
                decimal: ',',
                offset_min: 90,
                zone: locale::Style::zone_for(90),
            });
            assert_eq!(price(1234.5), "1.234,50");
            assert_eq!(signed(-0.4), "-0,40");
            assert_eq!(percent(1.254), "+1,25%");
            assert_eq!(percent(0.0), "0,00%");
            assert_eq!(grouped(1_234_567), "1.234.567");
            let t = DateTime::<Utc>::from_timestamp(23 * 3600 + 59 * 60, 0).unwrap();
            assert_eq!(time_of_day(t), "01:29:00", "the next day, local");
            assert_eq!(zone(), "UTC+01:30");
            assert_eq!(locale::Style::zone_for(-240), "UTC-04:00");
            assert_eq!(locale::Style::zone_for(0), "UTC");
            locale::set(locale::Style {
                group: "\u{202f}".into(),
                ..locale::Style::default()
            });
            assert_eq!(grouped(12_345), "12\u{202f}345");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn game_clocks() {
        let now = Utc::now();
        let team = |c: &str| Team {
            code: c.into(),
            name: c.into(),
        };
        let mut g = Game {
            id: 1,
            slot: 0,
            league: League::Basketball,
            home: team("A"),
            away: team("B"),
            home_score: 0,
            away_score: 0,
            period: 3,
            clock_ms: 261_000,
            status: GameStatus::Live,
            ts: now,
            starts: None,
        };
        assert_eq!(game_clock(&g, now), "Q3 4:21");
        assert_eq!(
            game_clock(&g, now + chrono::Duration::seconds(21)),
            "Q3 4:00"
        );
        g.status = GameStatus::Break;
        assert_eq!(game_clock(&g, now), "End Q3");
        g.status = GameStatus::Final;
        g.period = 5;
        assert_eq!(game_clock(&g, now), "Final/OT");
        g.league = League::Soccer;
        g.status = GameStatus::Live;
        g.period = 2;
        g.clock_ms = 21 * 60_000 + 5_000;
        assert_eq!(game_clock(&g, now), "2H 67'");
        g.status = GameStatus::Break;
        g.period = 1;
        assert_eq!(game_clock(&g, now), "Half");
        g.status = GameStatus::Scheduled;
        assert_eq!(game_clock(&g, now), "Starts soon");
        g.starts = DateTime::<Utc>::from_timestamp(19 * 3600 + 30 * 60, 0);
        assert_eq!(game_clock(&g, now), "Starts 19:30");
        g.starts = DateTime::<Utc>::from_timestamp(19 * 3600 + 30 * 60 + 5, 0);
        assert_eq!(game_clock(&g, now), "Starts 19:30:05");
    }
}
