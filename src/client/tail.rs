//! `livetape tail [URL] CHANNEL...`: the feed in a terminal, on the [`Client`]. NDJSON by
//! default (the protocol's own `snapshot` and `batch` messages, one per line, and a line per
//! connection change), or a compact live table (`--table`). Exits 1 with a message when the
//! server refuses the connection or a channel, 2 on a bad command line.

use super::{Client, Event};
use crate::protocol::{Channel, Data, ErrorReply, Game, Quote, ServerMsg};
use clap::Parser;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The feed of a livetape server in a terminal.
#[derive(Parser, Debug)]
#[command(name = "livetape tail", version)]
struct Args {
    /// An optional server URL first (ws://HOST:PORT/ws or http://HOST:PORT; several,
    /// comma-separated, are tried in turn; default ws://127.0.0.1:3000/ws), then the
    /// channels: quotes:SYM, trades:SYM, candles:SYM:1s|1m, scores:LEAGUE, breadth.
    #[arg(required = true, value_name = "[URL] CHANNEL")]
    args: Vec<String>,
    /// A live table of the channels' latest values instead of NDJSON.
    #[arg(long)]
    table: bool,
    /// Exit (status 0) after this many updates.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// Runs the subcommand; `args` starts with `tail`.
pub async fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let (urls, channels) = match split(&args.args) {
        Ok(v) => v,
        Err(message) => {
            eprintln!("livetape tail: {message}");
            return ExitCode::from(2);
        }
    };
    let mut client = Client::connect(urls.clone());
    client.subscribe(channels);
    let mut out = Output::new(args.table);
    let mut updates = 0u64;
    let mut connected_once = false;
    let mut failed = 0usize;
    while let Some(event) = client.next().await {
        out.event(&event);
        match event {
            Event::Connected { .. } => connected_once = true,
            Event::Disconnected { url, error, .. } => {
                failed += 1;
                // A refusal is final; a server that cannot be reached is final only before
                // the first connection (a typo, a server not started), once every URL failed.
                if error.is_refusal() || (!connected_once && failed >= urls.len()) {
                    eprintln!("livetape tail: {error}");
                    return ExitCode::FAILURE;
                }
                eprintln!("livetape tail: {url}: {error}; reconnecting");
            }
            Event::Refused { error, .. } => {
                eprintln!("livetape tail: the server refused: {}", error.message);
                return ExitCode::FAILURE;
            }
            Event::Batch(batch) => {
                updates += batch.updates.len() as u64;
                if args.count.is_some_and(|n| updates >= n) {
                    out.flush();
                    return ExitCode::SUCCESS;
                }
            }
            _ => {}
        }
    }
    ExitCode::FAILURE
}

/// The URLs (the first argument, when it is one) and the channels.
fn split(args: &[String]) -> Result<(Vec<String>, Vec<Channel>), String> {
    let (urls, rest) = match args.first() {
        Some(first) if first.contains("://") => {
            let urls = first.split(',').map(ws_url).collect::<Result<_, _>>()?;
            (urls, &args[1..])
        }
        _ => (vec!["ws://127.0.0.1:3000/ws".to_string()], args),
    };
    if rest.is_empty() {
        return Err("name at least one channel, e.g. quotes:AAPL".into());
    }
    let channels = rest
        .iter()
        .map(|c| c.parse::<Channel>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok((urls, channels))
}

/// `http://HOST:PORT` (the dashboard's address) becomes `ws://HOST:PORT/ws`.
fn ws_url(url: &str) -> Result<String, String> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let scheme = match scheme {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(format!(
                "{url:?}: unknown scheme {other:?} (ws:// or http://)"
            ))
        }
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    Ok(if rest.contains('/') {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{rest}/ws")
    })
}

/// Where events go: NDJSON lines, or a table redrawn at most four times a second.
struct Output {
    table: Option<Table>,
    stdout: std::io::BufWriter<std::io::Stdout>,
}

#[derive(Default)]
struct Table {
    quotes: BTreeMap<String, Quote>,
    games: BTreeMap<(String, u16), Game>,
    trades: BTreeMap<String, String>,
    status: String,
    drawn: Option<Instant>,
}

impl Output {
    fn new(table: bool) -> Output {
        Output {
            table: table.then(Table::default),
            stdout: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    fn event(&mut self, event: &Event) {
        match &mut self.table {
            None => {
                let line = ndjson(event);
                // A closed pipe (`| head`) ends the program quietly.
                if writeln!(self.stdout, "{line}")
                    .and_then(|()| self.stdout.flush())
                    .is_err()
                {
                    std::process::exit(0);
                }
            }
            Some(table) => {
                table.apply(event);
                if table
                    .drawn
                    .is_none_or(|t| t.elapsed() >= Duration::from_millis(250))
                {
                    table.drawn = Some(Instant::now());
                    let text = table.render();
                    let _ = write!(self.stdout, "\x1b[H\x1b[2J{text}");
                    let _ = self.stdout.flush();
                }
            }
        }
    }

    fn flush(&mut self) {
        if let Some(table) = &self.table {
            let _ = write!(self.stdout, "\x1b[H\x1b[2J{}", table.render());
        }
        let _ = self.stdout.flush();
    }
}

/// One NDJSON line: the protocol's own message for data, a small object for the rest.
fn ndjson(event: &Event) -> String {
    match event {
        Event::Snapshot(s) => ServerMsg::Snapshot(s.clone()).encode(),
        Event::Batch(b) => ServerMsg::Batch(b.clone()).encode(),
        Event::Connected { url, epoch } => {
            serde_json::json!({"type": "connected", "url": url, "epoch": epoch}).to_string()
        }
        Event::Disconnected {
            url,
            error,
            retry_in,
        } => serde_json::json!({
            "type": "disconnected",
            "url": url,
            "error": error.to_string(),
            "retry_in_ms": retry_in.as_millis() as u64,
        })
        .to_string(),
        Event::Refused { channels, error } => {
            let ErrorReply { code, message, .. } = error;
            serde_json::json!({"type": "refused", "channels": channels, "code": code, "message": message})
                .to_string()
        }
    }
}

impl Table {
    fn apply(&mut self, event: &Event) {
        let mut data = |d: &Data| match d {
            Data::Quote(q) => {
                self.quotes.insert(q.symbol.clone(), q.clone());
            }
            Data::Games(games) => {
                for g in games {
                    self.games
                        .insert((g.league.slug().to_string(), g.slot), g.clone());
                }
            }
            Data::Trades(trades) => {
                if let Some(t) = trades.last() {
                    let line = format!("{} x {} {:?}", t.size, t.price, t.side);
                    self.trades.insert(t.symbol.clone(), line);
                }
            }
            Data::Candles(_) | Data::Breadth(_) => {}
        };
        match event {
            Event::Snapshot(s) => s.channels.iter().for_each(|c| data(&c.data)),
            Event::Batch(b) => b.updates.iter().for_each(|u| data(&u.data)),
            Event::Connected { url, epoch } => self.status = format!("live: {url} (epoch {epoch})"),
            Event::Disconnected {
                error, retry_in, ..
            } => self.status = format!("{error}; again in {:.1} s", retry_in.as_secs_f64()),
            Event::Refused { error, .. } => self.status = error.message.clone(),
        }
    }

    fn render(&self) -> String {
        let mut s = format!("{}\n", self.status);
        if !self.quotes.is_empty() {
            s += &format!(
                "\n{:<8} {:>10} {:>10} {:>10} {:>8} {:>12}  last trade\n",
                "symbol", "last", "bid", "ask", "chg %", "volume"
            );
            for q in self.quotes.values() {
                let trade = self.trades.get(&q.symbol).map_or("", String::as_str);
                s += &format!(
                    "{:<8} {:>10.2} {:>10.2} {:>10.2} {:>+8.2} {:>12}  {trade}\n",
                    q.symbol,
                    q.last,
                    q.bid,
                    q.ask,
                    q.change_pct(),
                    q.volume
                );
            }
        }
        if !self.games.is_empty() {
            s += "\n";
            for g in self.games.values() {
                s += &format!(
                    "{:<10} {:>4} {:>3} - {:<3} {:<4}  period {} {:?}\n",
                    g.league.slug(),
                    g.home.code,
                    g.home_score,
                    g.away_score,
                    g.away.code,
                    g.period,
                    g.status
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_channels() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (urls, ch) = split(&args(&["quotes:AAPL", "scores:hockey"])).unwrap();
        assert_eq!(urls, ["ws://127.0.0.1:3000/ws"]);
        assert_eq!(ch.len(), 2);
        let (urls, _) = split(&args(&["http://a:1,ws://b:2/ws", "breadth"])).unwrap();
        assert_eq!(urls, ["ws://a:1/ws", "ws://b:2/ws"]);
        assert!(split(&args(&["ws://a:1"]))
            .unwrap_err()
            .contains("at least one channel"));
        assert!(split(&args(&["quotes"]))
            .unwrap_err()
            .contains("unknown channel"));
        assert!(split(&args(&["ftp://x", "breadth"]))
            .unwrap_err()
            .contains("scheme"));
    }
}
