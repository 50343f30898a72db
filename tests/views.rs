//! Views of the ranked universe, end to end against a real server: a client streams exactly
//! the window it shows, the window follows the ranking (checked against a reference client
//! that holds every quote and ranks the plain way), scrolling moves the subscriptions, a held
//! view stands still and stays live, limits are refused with their reason, and the market's
//! breadth is the reference's.

mod support;

use livetape::protocol::{
    Breadth, Channel, ClientMsg, Data, ErrorCode, Quote, Resume, ServerMsg, SortKey, ViewSpec,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use support::{config, server, Client};
use tokio::time::Instant;

/// A market of `symbols` that moves fast, so that rankings change every tick.
async fn busy_server(symbols: u16) -> livetape::server::Running {
    let mut cfg = config();
    cfg.symbols = symbols;
    cfg.quote_rate = 20.0;
    cfg.tick_ms = 50;
    server(cfg).await
}

fn spec(sort: SortKey, desc: bool, offset: u32, limit: u32) -> ViewSpec {
    ViewSpec {
        sort,
        desc,
        offset,
        limit,
        ..ViewSpec::default()
    }
}

async fn open_view(c: &mut Client, view: u32, spec: ViewSpec, resume: Option<Resume>) -> u64 {
    let id = 1000 + view as u64;
    c.send(&ClientMsg::View {
        id,
        view,
        spec,
        resume,
    })
    .await;
    id
}

/// What a client holds, as a careful client would: quote states by channel, its views' rows.
#[derive(Default)]
struct Viewer {
    quotes: BTreeMap<Channel, (u64, Quote)>,
    rows: HashMap<u32, (u64, u32, u32, Vec<String>)>,
    /// Quote channels that arrived in a batch while not in any window or subscription.
    strays: BTreeSet<Channel>,
    gaps: u64,
    rows_messages: u64,
    /// `rows` messages whose sparklines were not exactly those of the rows new to the window.
    spark_errors: Vec<String>,
}

impl Viewer {
    fn window(&self, view: u32) -> Vec<String> {
        self.rows
            .get(&view)
            .map(|r| r.3.clone())
            .unwrap_or_default()
    }

    /// Every row of every view, and every symbol subscribed on its own, has its quote.
    fn settled(&self, extra: &[String]) -> bool {
        self.rows
            .values()
            .flat_map(|r| r.3.iter())
            .chain(extra)
            .all(|s| self.quotes.contains_key(&Channel::Quotes(s.clone())))
    }

    fn holds(&self, symbol: &str, extra: &[String]) -> bool {
        self.rows.values().any(|r| r.3.iter().any(|s| s == symbol))
            || extra.iter().any(|s| s == symbol)
    }

    /// Applies one message; `extra` are symbols subscribed on their own.
    fn apply(&mut self, msg: &ServerMsg, extra: &[String]) {
        match msg {
            ServerMsg::Rows {
                view,
                n,
                total,
                offset,
                symbols,
                sparks,
            } => {
                self.rows_messages += 1;
                // Exactly the rows new to the window bring their sparkline, each with samples.
                let had = self.window(*view);
                let new: BTreeSet<&String> = symbols.iter().filter(|s| !had.contains(s)).collect();
                let sent: BTreeSet<&String> = sparks.keys().collect();
                if new != sent || sparks.values().any(|s| s.0.is_empty()) {
                    self.spark_errors
                        .push(format!("new rows {new:?}, sparklines for {sent:?}"));
                }
                self.rows
                    .insert(*view, (*n, *total, *offset, symbols.clone()));
                let held: Vec<String> = self.rows.values().flat_map(|r| r.3.clone()).collect();
                self.quotes.retain(|c, _| match c {
                    Channel::Quotes(s) => held.contains(s) || extra.contains(s),
                    _ => true,
                });
            }
            ServerMsg::Snapshot(s) => {
                for c in &s.channels {
                    if let Data::Quote(q) = &c.data {
                        self.quotes.insert(c.channel.clone(), (c.seq, q.clone()));
                    }
                }
            }
            ServerMsg::Batch(b) => {
                for u in &b.updates {
                    let Data::Quote(q) = &u.data else { continue };
                    let Channel::Quotes(symbol) = &u.channel else {
                        continue;
                    };
                    if !self.holds(symbol, extra) {
                        self.strays.insert(u.channel.clone());
                        continue;
                    }
                    match self.quotes.get(&u.channel) {
                        Some((seq, _)) if u.seq == seq + 1 => {
                            self.quotes.insert(u.channel.clone(), (u.seq, q.clone()));
                        }
                        Some((seq, _)) if u.seq <= *seq => {}
                        _ => self.gaps += 1,
                    }
                }
            }
            _ => {}
        }
    }
}

/// Reads for `d`, applying everything to `viewer`, then on until every row the viewer holds
/// has its quote: a `rows` message and the snapshot of the rows new to it are two messages,
/// and stopping between them would judge a state no client keeps. A server that never sends
/// the snapshot still fails: the reading ends after five more seconds either way.
async fn follow(c: &mut Client, viewer: &mut Viewer, d: Duration, extra: &[String]) {
    let until = Instant::now() + d;
    let settle_by = until + Duration::from_secs(5);
    loop {
        let now = Instant::now();
        if now >= settle_by || (now >= until && viewer.settled(extra)) {
            return;
        }
        let left = if now < until {
            until - now
        } else {
            settle_by - now
        };
        let msg = match tokio::time::timeout(left, c.next_within(Duration::from_secs(5))).await {
            Ok(msg) => msg,
            Err(_) => continue,
        };
        if let ServerMsg::Error(e) = &msg {
            panic!("refused: {e:?}");
        }
        viewer.apply(&msg, extra);
    }
}

/// The reference: every quote, in listing order, at every tick it applied.
struct Reference {
    client: Client,
    symbols: Vec<String>,
    now: Vec<Quote>,
    by_tick: BTreeMap<u64, Vec<Quote>>,
}

impl Reference {
    async fn start(server: &livetape::server::Running) -> Reference {
        let mut client = Client::connect(server).await;
        let symbols = client.symbols.clone();
        let channels = symbols.iter().map(|s| Channel::Quotes(s.clone())).collect();
        let (snap, _) = client.subscribe_all(channels).await;
        let mut now: Vec<Quote> = Vec::new();
        for s in &symbols {
            let q = snap
                .channels
                .iter()
                .find_map(|c| match &c.data {
                    Data::Quote(q) if &q.symbol == s => Some(q.clone()),
                    _ => None,
                })
                .unwrap();
            now.push(q);
        }
        Reference {
            client,
            symbols,
            now,
            by_tick: BTreeMap::new(),
        }
    }

    /// Reads the reference's stream until it has applied tick `n`.
    async fn until_tick(&mut self, n: u64) {
        while self.by_tick.keys().next_back().is_none_or(|&last| last < n) {
            if let ServerMsg::Batch(b) = self.client.next().await {
                for u in &b.updates {
                    if let (Channel::Quotes(s), Data::Quote(q)) = (&u.channel, &u.data) {
                        let i = self.symbols.iter().position(|x| x == s).unwrap();
                        self.now[i] = q.clone();
                    }
                }
                self.by_tick.insert(b.n, self.now.clone());
            }
        }
    }

    /// The ranking by % change at tick `n`, the plain way: sort everything.
    fn ranked_at(&self, n: u64, desc: bool) -> Option<Vec<String>> {
        let quotes = self.by_tick.get(&n)?;
        let mut rows: Vec<(usize, &Quote)> = quotes.iter().enumerate().collect();
        rows.sort_by(|(ia, a), (ib, b)| {
            let o = a.change_pct().total_cmp(&b.change_pct());
            (if desc { o.reverse() } else { o }).then(ia.cmp(ib))
        });
        Some(rows.into_iter().map(|(_, q)| q.symbol.clone()).collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_streams_its_window_and_follows_the_ranking_of_the_whole_universe() {
    let server = busy_server(300).await;
    let mut reference = Reference::start(&server).await;
    let mut c = Client::connect(&server).await;
    let id = open_view(&mut c, 1, spec(SortKey::ChangePct, true, 0, 20), None).await;
    match c.next_reply().await {
        ServerMsg::Ack { id: got, .. } => assert_eq!(got, id),
        other => panic!("expected an ack, got {other:?}"),
    }
    let mut viewer = Viewer::default();
    follow(&mut c, &mut viewer, Duration::from_secs(3), &[]).await;
    let (_, total, offset, rows) = viewer.rows[&1].clone();
    assert_eq!((total, offset, rows.len()), (300, 0, 20));
    assert!(
        viewer.rows_messages > 3,
        "the window followed the ranking ({} rows messages)",
        viewer.rows_messages
    );
    assert_eq!(viewer.gaps, 0);
    assert_eq!(viewer.spark_errors, Vec::<String>::new());
    assert!(
        viewer.strays.is_empty(),
        "quotes outside the window: {:?}",
        viewer.strays
    );
    assert_eq!(
        viewer.quotes.len(),
        20,
        "exactly the window's quotes are held and live"
    );
    // Every window the server sent is the reference's ranking of that tick.
    let mut checked = 0;
    for _ in 0..10 {
        let msg = c.next_within(Duration::from_secs(5)).await;
        viewer.apply(&msg, &[]);
        if let ServerMsg::Rows { n, symbols, .. } = msg {
            reference.until_tick(n).await;
            let ranked = reference
                .ranked_at(n, true)
                .expect("the reference saw that tick");
            assert_eq!(symbols, ranked[..20], "tick {n}");
            checked += 1;
        }
    }
    assert!(checked > 0, "no ranking to check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_moves_the_subscriptions_and_a_held_view_stands_still_but_stays_live() {
    let server = busy_server(500).await;
    let mut c = Client::connect(&server).await;
    let extra = vec![c.symbols[499].clone()];
    // A subscription of its own beside the view: scrolling never drops it.
    let (own, _) = c
        .subscribe_all(vec![Channel::Quotes(extra[0].clone())])
        .await;
    let mut viewer = Viewer::default();
    viewer.apply(&ServerMsg::Snapshot(own), &extra);
    open_view(&mut c, 1, spec(SortKey::Symbol, false, 0, 30), None).await;
    follow(&mut c, &mut viewer, Duration::from_millis(800), &extra).await;
    let mut sorted = c.symbols.clone();
    sorted.sort();
    assert_eq!(viewer.window(1), sorted[..30]);
    // Scroll: rows 200..230.
    open_view(&mut c, 1, spec(SortKey::Symbol, false, 200, 30), None).await;
    follow(&mut c, &mut viewer, Duration::from_millis(800), &extra).await;
    assert_eq!(viewer.window(1), sorted[200..230]);
    assert_eq!(
        viewer.quotes.len(),
        31,
        "the window and the symbol of its own"
    );
    assert!(viewer
        .quotes
        .contains_key(&Channel::Quotes(extra[0].clone())));
    assert!(viewer.strays.is_empty(), "{:?}", viewer.strays);
    // Ranked by % change and held: the rows stand still while prices move, and stay live.
    open_view(&mut c, 1, spec(SortKey::ChangePct, true, 0, 30), None).await;
    follow(&mut c, &mut viewer, Duration::from_millis(500), &extra).await;
    let mut held = spec(SortKey::ChangePct, true, 0, 30);
    held.hold = true;
    open_view(&mut c, 1, held, None).await;
    follow(&mut c, &mut viewer, Duration::from_millis(300), &extra).await;
    let (before, rows_before) = (viewer.window(1), viewer.rows_messages);
    let seqs_before: Vec<u64> = viewer.quotes.values().map(|(s, _)| *s).collect();
    follow(&mut c, &mut viewer, Duration::from_secs(2), &extra).await;
    assert_eq!(viewer.window(1), before, "a held window does not move");
    assert_eq!(viewer.rows_messages, rows_before, "no rows while held");
    let seqs_after: Vec<u64> = viewer.quotes.values().map(|(s, _)| *s).collect();
    assert!(
        seqs_after
            .iter()
            .zip(&seqs_before)
            .filter(|(a, b)| a > b)
            .count()
            > 10,
        "held rows stay live"
    );
    assert_eq!(viewer.gaps, 0);
    assert_eq!(viewer.spark_errors, Vec::<String>::new());
    // Closing the view drops its rows, not the subscription of its own.
    c.send(&ClientMsg::CloseView { id: 7, view: 1 }).await;
    follow(&mut c, &mut viewer, Duration::from_millis(300), &extra).await;
    viewer.rows.clear();
    viewer
        .quotes
        .retain(|c, _| *c == Channel::Quotes(extra[0].clone()));
    viewer.strays.clear();
    follow(&mut c, &mut viewer, Duration::from_millis(800), &extra).await;
    assert!(
        viewer.strays.is_empty(),
        "rows of a closed view: {:?}",
        viewer.strays
    );
    assert_eq!(viewer.quotes.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_finds_any_symbol_and_limits_are_refused_with_their_reason() {
    let server = busy_server(2_000).await;
    let mut c = Client::connect(&server).await;
    let last = c.symbols.last().unwrap().clone();
    let mut find = spec(SortKey::Listing, false, 0, 10);
    find.filter = last.to_lowercase();
    open_view(&mut c, 2, find, None).await;
    let mut viewer = Viewer::default();
    follow(&mut c, &mut viewer, Duration::from_millis(500), &[]).await;
    assert!(viewer.window(2).contains(&last), "{:?}", viewer.window(2));
    let (_, total, ..) = viewer.rows[&2];
    assert!(total >= 1 && (total as usize) < c.symbols.len());

    for (view, bad, says) in [
        (3, spec(SortKey::Volume, true, 0, 501), "at most 500 rows"),
        (
            3,
            ViewSpec {
                filter: "X".repeat(17),
                ..spec(SortKey::Volume, true, 0, 5)
            },
            "16 characters",
        ),
    ] {
        let id = open_view(&mut c, view, bad, None).await;
        let err = loop {
            match c.next().await {
                ServerMsg::Error(e) => break e,
                _ => continue,
            }
        };
        assert_eq!((err.id, err.code), (Some(id), ErrorCode::BadView));
        assert!(err.message.contains(says), "{}", err.message);
    }
    for view in [4, 5, 6] {
        open_view(&mut c, view, spec(SortKey::Listing, false, 0, 1), None).await;
    }
    let id = open_view(&mut c, 9, spec(SortKey::Listing, false, 0, 1), None).await;
    let err = loop {
        match c.next().await {
            ServerMsg::Error(e) => break e,
            _ => continue,
        }
    };
    assert_eq!((err.id, err.code), (Some(id), ErrorCode::BadView));
    assert!(err.message.contains("at most 4 views"), "{}", err.message);
    // Refused, not closed: the connection goes on.
    c.send(&ClientMsg::Ping { id: 77 }).await;
    loop {
        if let ServerMsg::Pong { id: 77, .. } = c.next().await {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_resumes_its_rows_by_seq() {
    let server = busy_server(200).await;
    let mut c = Client::connect(&server).await;
    open_view(&mut c, 1, spec(SortKey::Listing, false, 0, 10), None).await;
    let mut viewer = Viewer::default();
    follow(&mut c, &mut viewer, Duration::from_secs(1), &[]).await;
    let epoch = c.epoch;
    let from: BTreeMap<Channel, u64> = viewer
        .quotes
        .iter()
        .map(|(c, (seq, _))| (c.clone(), *seq))
        .collect();
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Client::connect(&server).await;
    open_view(
        &mut c,
        1,
        spec(SortKey::Listing, false, 0, 10),
        Some(Resume {
            epoch,
            from,
            latest: false,
        }),
    )
    .await;
    // Each row continues from its seq: replayed updates, no snapshot of them.
    let mut replayed = 0;
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        match c.next_within(Duration::from_secs(5)).await {
            ServerMsg::Snapshot(s) => panic!("a snapshot in place of a replay: {s:?}"),
            ServerMsg::Batch(b) => {
                for u in &b.updates {
                    let Some((seq, _)) = viewer.quotes.get(&u.channel) else {
                        panic!("not a row: {}", u.channel)
                    };
                    if u.seq == seq + 1 {
                        viewer.quotes.get_mut(&u.channel).unwrap().0 = u.seq;
                        replayed += 1;
                    } else {
                        assert!(u.seq <= *seq, "a gap on {}", u.channel);
                    }
                }
            }
            _ => {}
        }
    }
    assert!(replayed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_carries_a_view_and_the_breadth_is_the_whole_markets() {
    let server = busy_server(300).await;
    let url = format!(
        "http://{}/sse?channels=breadth&sort=volume&desc=1&limit=12",
        server.addr
    );
    let mut sse = support::sse::SseClient::connect(&url, None).await.unwrap();
    let mut rows = None;
    let mut quotes = 0;
    let mut breadth: Option<Breadth> = None;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until && (rows.is_none() || breadth.is_none() || quotes < 12) {
        let e = sse.next(Duration::from_secs(5)).await.expect("events");
        match e.msg {
            ServerMsg::Rows { symbols, total, .. } => {
                assert_eq!(e.kind, "rows");
                assert_eq!((symbols.len(), total), (12, 300));
                rows = Some(symbols);
            }
            ServerMsg::Snapshot(s) => {
                for c in s.channels {
                    match c.data {
                        Data::Quote(_) => quotes += 1,
                        Data::Breadth(b) => breadth = Some(b),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    assert!(rows.is_some(), "a rows event");
    assert_eq!(quotes, 12, "the window's quotes");
    let b = breadth.expect("the breadth");
    assert_eq!((b.up + b.down + b.flat) as usize, 300);
    assert!(!b.gainers.is_empty() && !b.active.is_empty());
    // Best first.
    assert!(b
        .gainers
        .windows(2)
        .all(|w| w[0].change_pct >= w[1].change_pct));
    assert!(b.active.windows(2).all(|w| w[0].volume >= w[1].volume));
}

/// The page's state as the server embedded it for hydration.
fn embedded_state(html: &str) -> livetape::testing::PageState {
    let start = html.find(r#"id="page-state">"#).unwrap() + r#"id="page-state">"#.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// A link names its view: the page rendered from `?sort=change_pct&desc=1&symbol=..&interval=1m`
/// is that order, that symbol and its one-minute candles, from the first byte; what an address
/// does not name (or names wrongly) is the default view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_view_is_rendered_as_that_view() {
    use livetape::protocol::Interval;
    let server = busy_server(200).await;
    let get = |query: &'static str| {
        let url = format!("http://{}/{query}", server.addr);
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let plain = embedded_state(&get("").await);
    let symbol = plain.rows[5].clone();
    let html = reqwest::get(format!(
        "http://{}/?sort=change_pct&desc=1&symbol={symbol}&interval=1m",
        server.addr
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let linked = embedded_state(&html);
    assert_eq!(
        (linked.view.sort, linked.view.desc),
        (SortKey::ChangePct, true)
    );
    assert_eq!(linked.selected, symbol);
    assert_eq!(linked.interval, Some(Interval::OneMinute));
    assert!(linked
        .snapshot
        .channels
        .iter()
        .any(|c| c.channel == Channel::Candles(symbol.clone(), Interval::OneMinute)));
    assert!(html.contains(&format!(r#"<span class="detail-sym">{symbol}</span>"#)));
    assert!(
        html.contains(r#"aria-sort="descending""#),
        "the sorted column says so"
    );
    // The rows are the ranking by % change, largest first.
    let pct = |s: &String| {
        linked
            .snapshot
            .channels
            .iter()
            .find_map(|c| match &c.data {
                Data::Quote(q) if c.channel == Channel::Quotes(s.clone()) => {
                    Some((q.last - q.open) / q.open)
                }
                _ => None,
            })
            .unwrap()
    };
    assert!(linked.rows.windows(2).all(|w| pct(&w[0]) >= pct(&w[1])));
    // Unknown values fall back to the defaults; the page is still served.
    let odd = embedded_state(&get("?sort=nope&interval=7y&symbol=NOPE").await);
    assert_eq!((odd.view.sort, odd.view.desc), (SortKey::Listing, false));
    assert_eq!(odd.interval, Some(Interval::OneSecond));
    assert_eq!(odd.selected, odd.rows[0]);
}
