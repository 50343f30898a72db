//! `--source replay --replay FILE`: a recording played back through the same path as live
//! events. The first line lists the market the replay starts from; every later line is one
//! recorded tick.
//!
//! At a speed factor, a line is due when as much time has passed since the replay began as
//! passed since the recording began (divided by the factor), and its timestamps are moved by
//! the same rule so that clients see a live feed. At `max`, each line is one tick committed
//! as fast as the server can, keeping its recorded timestamps: the same file gives the same
//! ticks, seqs and frames every time. With `--loop` the recording starts again (its listing
//! line replayed as a tick), later in time by the recording's length each round, so that
//! time never runs backwards.

use super::draw::Draw;
use crate::protocol::publish::{PublishBatch, Published};
use crate::protocol::{Event, Game, Quote};
use crate::server::feed::hub::Hub;
use chrono::{DateTime, Duration, Utc};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// How fast a recording is replayed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// Recorded time divided by this factor.
    Times(f64),
    /// As fast as the server can commit, with the recorded timestamps.
    Max,
}

pub struct Replay {
    path: PathBuf,
    speed: Speed,
    looping: bool,
    lines: Box<dyn Iterator<Item = std::io::Result<String>> + Send>,
    /// Line number of the next line (1-based), for error messages.
    line_no: usize,
    /// The next recorded tick, read ahead.
    next: Option<PublishBatch>,
    /// The listing line: where each round starts.
    start: PublishBatch,
    recorded_start: DateTime<Utc>,
    recorded_end: DateTime<Utc>,
    /// When this round began (speed factor), and how far this round is moved in time.
    began: DateTime<Utc>,
    shift: Duration,
    /// The listing line is due as a tick (after a loop).
    relist: bool,
    pub(crate) finished: bool,
}

/// Opens `path` (`.gz`: gzip), reading lines lazily.
fn open_lines(
    path: &Path,
) -> std::io::Result<Box<dyn Iterator<Item = std::io::Result<String>> + Send>> {
    let file = std::fs::File::open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    Ok(if gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)).lines())
    } else {
        Box::new(BufReader::new(file).lines())
    })
}

fn bad(path: &Path, line: usize, why: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{} line {line}: {why}", path.display()),
    )
}

impl Replay {
    /// Opens a recording; its first line must list the market.
    pub fn open(
        path: &Path,
        speed: Speed,
        looping: bool,
        now: DateTime<Utc>,
    ) -> std::io::Result<Replay> {
        let mut lines = open_lines(path)?;
        let first = lines
            .next()
            .ok_or_else(|| bad(path, 1, "empty recording"))??;
        let start: PublishBatch = serde_json::from_str(&first).map_err(|e| bad(path, 1, e))?;
        if !start.listing {
            return Err(bad(
                path,
                1,
                "the first line must list the market (\"listing\":true)",
            ));
        }
        let recorded_start = start
            .ts
            .ok_or_else(|| bad(path, 1, "the listing line has no ts"))?;
        // The length of one round, for looping at max speed: the last line's time.
        let mut recorded_end = recorded_start;
        if looping {
            for (i, line) in open_lines(path)?.enumerate().skip(1) {
                let batch: PublishBatch =
                    serde_json::from_str(&line?).map_err(|e| bad(path, i + 1, e))?;
                recorded_end = batch.ts.unwrap_or(recorded_end).max(recorded_end);
            }
        }
        let mut replay = Replay {
            path: path.to_path_buf(),
            speed,
            looping,
            lines,
            line_no: 2,
            next: None,
            start,
            recorded_start,
            recorded_end,
            began: now,
            shift: Duration::zero(),
            relist: false,
            finished: false,
        };
        replay.read_ahead()?;
        Ok(replay)
    }

    /// The market the replay starts from (at its recorded time, or now at a speed factor):
    /// the time, the quotes in listing order, the games.
    pub(crate) fn start_state(&self) -> (DateTime<Utc>, Vec<Quote>, Vec<Game>) {
        let ts = self.moved(self.recorded_start);
        let (mut quotes, mut games) = (Vec::new(), Vec::new());
        for e in self.start.events.clone() {
            match e.into_parts(ts) {
                Published::Quote { mut quote, .. } => {
                    quote.ts = self.moved(quote.ts);
                    quotes.push(quote)
                }
                Published::Game(mut g) => {
                    g.ts = self.moved(g.ts);
                    games.push(g)
                }
                Published::Trade(_) => {}
            }
        }
        (ts, quotes, games)
    }

    /// A replay at `max` with more to play.
    pub(crate) fn hurry(&self) -> bool {
        self.speed == Speed::Max && !self.finished
    }

    fn read_ahead(&mut self) -> std::io::Result<()> {
        self.next = match self.lines.next() {
            None => None,
            Some(line) => {
                let line = line?;
                let no = self.line_no;
                self.line_no += 1;
                if line.trim().is_empty() {
                    return self.read_ahead();
                }
                let batch: PublishBatch =
                    serde_json::from_str(&line).map_err(|e| bad(&self.path, no, e))?;
                if batch.ts.is_none() {
                    return Err(bad(&self.path, no, "a recorded tick without ts"));
                }
                Some(batch)
            }
        };
        Ok(())
    }

    /// Recorded time to replayed time.
    fn moved(&self, ts: DateTime<Utc>) -> DateTime<Utc> {
        match self.speed {
            Speed::Max => ts + self.shift,
            Speed::Times(f) => {
                let since = (ts - self.recorded_start).num_microseconds().unwrap_or(0) as f64 / f;
                self.began + Duration::microseconds(since as i64)
            }
        }
    }

    /// Starts the next round, or finishes.
    fn restart(&mut self, now: DateTime<Utc>) -> std::io::Result<()> {
        if !self.looping {
            self.finished = true;
            return Ok(());
        }
        self.lines = open_lines(&self.path)?;
        self.lines.next(); // the listing, replayed as a tick instead
        self.line_no = 2;
        self.relist = true;
        match self.speed {
            Speed::Max => {
                // One round later, and one recorded tick's gap after the last.
                self.shift +=
                    (self.recorded_end - self.recorded_start) + Duration::milliseconds(100);
            }
            Speed::Times(_) => self.began = now,
        }
        self.read_ahead()
    }

    /// Adds what is due at `now` to `draw`.
    pub(crate) fn draw(&mut self, hub: &Hub, now: DateTime<Utc>, draw: &mut Draw) {
        if let Err(err) = self.draw_inner(hub, now, draw) {
            tracing::error!(%err, "the replay stopped");
            self.finished = true;
        }
    }

    fn draw_inner(
        &mut self,
        hub: &Hub,
        now: DateTime<Utc>,
        draw: &mut Draw,
    ) -> std::io::Result<()> {
        if self.finished {
            return Ok(());
        }
        let mut batches = Vec::new();
        if self.relist {
            self.relist = false;
            batches.push(self.start.clone());
            if self.speed == Speed::Max {
                draw.ts = Some(self.moved(self.recorded_start));
                self.add(hub, batches, draw);
                return Ok(());
            }
        }
        loop {
            let Some(next) = &self.next else {
                self.restart(now)?;
                break;
            };
            let ts = next.ts.expect("checked on reading");
            match self.speed {
                Speed::Max => {
                    draw.ts = Some(self.moved(ts));
                    batches.push(self.next.take().expect("just seen"));
                    self.read_ahead()?;
                    if self.next.is_none() {
                        self.restart(now)?;
                    }
                    break;
                }
                Speed::Times(_) => {
                    if self.moved(ts) > now {
                        break;
                    }
                    batches.push(self.next.take().expect("just seen"));
                    self.read_ahead()?;
                }
            }
        }
        self.add(hub, batches, draw);
        Ok(())
    }

    /// The events of `batches`, with moved timestamps; symbols the market does not list yet
    /// are listed (a recording is trusted: it was made by a server).
    fn add(&self, hub: &Hub, batches: Vec<PublishBatch>, draw: &mut Draw) {
        let catalog = hub.catalog();
        for batch in batches {
            let tick_ts = self.moved(batch.ts.unwrap_or(self.recorded_start));
            for event in batch.events {
                let event = match event.into_parts(tick_ts) {
                    Published::Quote { mut quote, .. } => {
                        quote.ts = self.moved(quote.ts);
                        if catalog.symbol_index(&quote.symbol).is_none()
                            && draw.lists(&quote.symbol).is_none()
                        {
                            draw.new_symbols.push(quote.clone());
                        }
                        Event::Quote(quote)
                    }
                    Published::Trade(mut t) => {
                        t.ts = self.moved(t.ts);
                        Event::Trade(t)
                    }
                    Published::Game(mut g) => {
                        g.ts = self.moved(g.ts);
                        Event::Game(g)
                    }
                };
                draw.events.push(event);
            }
        }
    }
}
