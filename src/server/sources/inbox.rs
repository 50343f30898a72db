//! The publish API's inbox: requests the HTTP handler has authenticated and checked for
//! well-formed values wait here for the next tick, where each is checked against the market
//! (known symbols, the time window) and taken into the tick whole, or refused whole.
//!
//! Checking at the tick rather than at the request is what makes "nothing partially applied"
//! hold without locks: the pump is the only writer, so what it checks is what it commits.
//! A request is answered once its tick is committed, with the tick's number.

use super::draw::Draw;
use super::reply::{Accepted, Rejection, Request};
use crate::protocol::publish::{PublishEvent, Published};
use crate::protocol::{Event, Quote};
use crate::server::feed::hub::Hub;
use chrono::{DateTime, Duration, Utc};
use tokio::sync::mpsc;

/// The checks that depend on configuration.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    pub(crate) allow_new_symbols: bool,
    /// Oldest event timestamp accepted, before now.
    pub(crate) max_age: Duration,
    /// How far in the future a timestamp may be (clock skew).
    pub(crate) max_skew: Duration,
}

pub(crate) struct Inbox {
    rx: mpsc::Receiver<Request>,
    rules: Rules,
}

/// The sending side (for the HTTP handler) and the inbox (for the feed), holding up to
/// `capacity` requests between ticks.
pub(crate) fn channel(rules: Rules, capacity: usize) -> (mpsc::Sender<Request>, Inbox) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (tx, Inbox { rx, rules })
}

impl Inbox {
    /// Takes every waiting request that passes into `draw`; answers the others now.
    pub(crate) fn draw(&mut self, hub: &Hub, now: DateTime<Utc>, draw: &mut Draw) {
        while let Ok(request) = self.rx.try_recv() {
            let count = request.events.len();
            match admit(&self.rules, hub, now, request.events, draw) {
                Ok(listed) => draw.accepted.push(Accepted {
                    reply: request.reply,
                    events: count,
                    listed,
                }),
                Err(rejection) => {
                    let _ = request.reply.send(Err(rejection));
                }
            }
        }
    }
}

/// Checks `events` against the market as of `hub` plus what `draw` already holds, and adds
/// them to `draw` if every one passes (then returns the symbols they listed); otherwise
/// leaves `draw` as it was.
pub(crate) fn admit(
    rules: &Rules,
    hub: &Hub,
    now: DateTime<Utc>,
    events: Vec<PublishEvent>,
    draw: &mut Draw,
) -> Result<Vec<String>, Rejection> {
    let catalog = hub.catalog();
    // The current quotes of the symbols these events name (for defaults).
    let named: Vec<Option<Quote>> = hub.read(|state, _, _, _| {
        events
            .iter()
            .map(|e| {
                let i = catalog.symbol_index(e.symbol()?)?;
                state.quotes().get(i as usize).cloned()
            })
            .collect()
    });
    let mut request = Admitted::default();
    for (i, (event, current)) in events.into_iter().zip(named).enumerate() {
        let reject = |message: String| Rejection {
            index: Some(i),
            message,
        };
        event.check().map_err(reject)?;
        if let Some(ts) = event.ts() {
            check_time(rules, now, ts).map_err(reject)?;
        }
        // The symbol as listed before this event: on the market, earlier in this tick, or
        // earlier in this request.
        let before: Option<Quote> = event.symbol().and_then(|s| {
            current
                .or_else(|| draw.lists(s).cloned())
                .or_else(|| request.listed.iter().rev().find(|q| q.symbol == s).cloned())
        });
        request
            .take(rules, event.into_parts(now), before)
            .map_err(reject)?;
    }
    Ok(request.into_draw(draw))
}

/// A timestamp within the window a publisher may use.
fn check_time(rules: &Rules, now: DateTime<Utc>, ts: DateTime<Utc>) -> Result<(), String> {
    if ts > now + rules.max_skew {
        return Err(format!(
            "timestamp {} is {} ms in the future (clock skew allowed: {} ms)",
            ts.to_rfc3339(),
            (ts - now).num_milliseconds(),
            rules.max_skew.num_milliseconds()
        ));
    }
    if ts < now - rules.max_age {
        return Err(format!(
            "timestamp {} is older than {} s",
            ts.to_rfc3339(),
            rules.max_age.num_seconds()
        ));
    }
    Ok(())
}

/// One request's events as they pass, and the symbols it lists.
#[derive(Default)]
struct Admitted {
    events: Vec<Event>,
    listed: Vec<Quote>,
}

impl Admitted {
    /// Takes one event, given the symbol's quote before it (`None`: not listed yet).
    fn take(
        &mut self,
        rules: &Rules,
        event: Published,
        before: Option<Quote>,
    ) -> Result<(), String> {
        match (event, before) {
            (
                Published::Quote {
                    mut quote,
                    open_given,
                    volume_given,
                },
                Some(prev),
            ) => {
                if !open_given {
                    quote.open = prev.open;
                }
                if !volume_given {
                    quote.volume = prev.volume;
                }
                self.events.push(Event::Quote(quote));
            }
            (Published::Quote { quote, .. }, None) if rules.allow_new_symbols => {
                self.listed.push(quote.clone());
                self.events.push(Event::Quote(quote));
            }
            (Published::Quote { quote, .. }, None) => {
                return Err(format!(
                "unknown symbol {} (the server lists new symbols only with --allow-new-symbols)",
                quote.symbol
            ))
            }
            (Published::Trade(trade), Some(_)) => self.events.push(Event::Trade(trade)),
            (Published::Trade(trade), None) if rules.allow_new_symbols => {
                return Err(format!(
                    "unknown symbol {}: list it with a quote first (in this request or before)",
                    trade.symbol
                ))
            }
            (Published::Trade(trade), None) => {
                return Err(format!("unknown symbol {}", trade.symbol))
            }
            (Published::Game(game), _) => self.events.push(Event::Game(game)),
        }
        Ok(())
    }

    /// Adds the request to the tick; returns the symbols it listed. A symbol listed twice in
    /// one request is listed once, with its last quote.
    fn into_draw(self, draw: &mut Draw) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for q in self.listed.iter().rev() {
            if !names.contains(&q.symbol) {
                names.push(q.symbol.clone());
                draw.new_symbols.push(q.clone());
            }
        }
        draw.events.extend(self.events);
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Side;
    use crate::server::feed::state::LiveState;

    fn hub() -> Hub {
        let q = Quote {
            symbol: "AAPL".into(),
            bid: 1.0,
            ask: 1.1,
            last: 1.05,
            open: 1.0,
            volume: 500,
            ts: Utc::now(),
        };
        Hub::new(1, LiveState::new(Utc::now(), vec![q], Vec::new()), 8, 8)
    }

    fn rules(allow_new_symbols: bool) -> Rules {
        Rules {
            allow_new_symbols,
            max_age: Duration::seconds(60),
            max_skew: Duration::seconds(5),
        }
    }

    fn quote(symbol: &str, ts: Option<DateTime<Utc>>) -> PublishEvent {
        PublishEvent::Quote {
            symbol: symbol.into(),
            bid: 2.0,
            ask: 2.1,
            last: 2.05,
            open: None,
            volume: None,
            ts,
        }
    }

    fn trade(symbol: &str) -> PublishEvent {
        PublishEvent::Trade {
            symbol: symbol.into(),
            price: 2.0,
            size: 10,
            side: Side::Buy,
            ts: None,
        }
    }

    #[test]
    fn a_quote_keeps_the_symbols_open_and_volume_unless_given() {
        let hub = hub();
        let mut draw = Draw::default();
        admit(
            &rules(false),
            &hub,
            Utc::now(),
            vec![quote("AAPL", None)],
            &mut draw,
        )
        .unwrap();
        let Event::Quote(q) = &draw.events[0] else {
            panic!()
        };
        assert_eq!((q.open, q.volume, q.last), (1.0, 500, 2.05));
    }

    #[test]
    fn one_bad_event_refuses_the_whole_request_and_leaves_the_tick_alone() {
        let hub = hub();
        let mut draw = Draw::default();
        let now = Utc::now();
        for (events, index, says) in [
            (
                vec![quote("AAPL", None), trade("NOPE")],
                1,
                "unknown symbol NOPE",
            ),
            (
                vec![quote("AAPL", Some(now + Duration::seconds(60)))],
                0,
                "in the future",
            ),
            (
                vec![trade("AAPL"), quote("AAPL", Some(now - Duration::hours(2)))],
                1,
                "older than 60 s",
            ),
        ] {
            let err = admit(&rules(false), &hub, now, events, &mut draw).unwrap_err();
            assert_eq!(err.index, Some(index));
            assert!(err.message.contains(says), "{}", err.message);
            assert!(draw.is_empty());
        }
    }

    #[test]
    fn new_symbols_are_listed_by_a_quote_when_allowed() {
        let hub = hub();
        let mut draw = Draw::default();
        let now = Utc::now();
        let err = admit(&rules(true), &hub, now, vec![trade("ACME")], &mut draw).unwrap_err();
        assert!(err.message.contains("list it with a quote first"));
        let listed = admit(
            &rules(true),
            &hub,
            now,
            vec![quote("ACME", None), trade("ACME"), quote("ACME", None)],
            &mut draw,
        )
        .unwrap();
        assert_eq!(listed, vec!["ACME".to_string()]);
        assert_eq!(draw.new_symbols.len(), 1);
        assert_eq!(draw.events.len(), 3);
        // Listed in this tick: a second request may trade it.
        admit(&rules(false), &hub, now, vec![trade("ACME")], &mut draw).unwrap();
    }
}
