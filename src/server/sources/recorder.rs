//! `--record FILE`: every committed tick's events as one NDJSON line (a [`PublishBatch`] with
//! the tick's time), the whole market (every quote and game) on the first line of each file,
//! so that any file replays on its own.
//!
//! The feed task only formats the line and hands it to a writer thread through a bounded
//! queue: a slow or stalled disk costs recorded lines (counted and logged), never the feed.
//! Past `max_bytes` the file is rotated: FILE.2 becomes FILE.3, FILE.1 FILE.2, FILE FILE.1,
//! and a new FILE starts with the market as it is at that tick.

use crate::protocol::publish::{PublishBatch, PublishEvent};
use crate::protocol::Event;
use crate::server::feed::hub::Hub;
use chrono::{DateTime, Utc};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

/// Older files kept beside the current one.
const KEEP: u32 = 3;
/// Lines waiting for the writer thread.
const QUEUE: usize = 4096;

enum Line {
    Tick(String),
    /// Start a new file with this listing line.
    Rotate(String),
}

pub(crate) struct Recorder {
    tx: SyncSender<Line>,
    /// Bytes in the current file, as the feed counts them.
    bytes: u64,
    max_bytes: u64,
    /// Lines the writer could not keep up with.
    pub(crate) dropped: Arc<AtomicU64>,
}

/// The whole market as a listing line.
pub(crate) fn listing(hub: &Hub, ts: DateTime<Utc>) -> String {
    let events = hub.read(|state, _, _, _| {
        state
            .quotes()
            .iter()
            .map(PublishEvent::quote)
            .chain(state.games().iter().map(PublishEvent::game))
            .collect()
    });
    line(&PublishBatch {
        ts: Some(ts),
        listing: true,
        events,
    })
}

fn line(batch: &PublishBatch) -> String {
    let mut text = serde_json::to_string(batch).expect("publish batches always serialise");
    text.push('\n');
    text
}

impl Recorder {
    /// Starts recording to `path` (an existing file is rotated away first, never
    /// overwritten), beginning with the market in `hub`.
    pub(crate) fn start(path: &Path, max_bytes: u64, hub: &Hub) -> std::io::Result<Recorder> {
        if path.exists() {
            rotate(path)?;
        }
        let first = listing(hub, hub.read(|state, _, _, _| state.ts));
        let mut file = BufWriter::new(std::fs::File::create(path)?);
        file.write_all(first.as_bytes())?;
        file.flush()?;
        let (tx, rx) = sync_channel::<Line>(QUEUE);
        let path = path.to_path_buf();
        let bytes = first.len() as u64;
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || write_lines(path, file, rx))?;
        Ok(Recorder {
            tx,
            bytes,
            max_bytes,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Records one committed tick.
    pub(crate) fn tick(&mut self, hub: &Hub, ts: DateTime<Utc>, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let text = line(&PublishBatch {
            ts: Some(ts),
            listing: false,
            events: events.iter().map(to_publish).collect(),
        });
        self.bytes += text.len() as u64;
        self.send(Line::Tick(text));
        if self.bytes >= self.max_bytes {
            // After this tick, so the new file's listing includes it.
            let first = listing(hub, ts);
            self.bytes = first.len() as u64;
            self.send(Line::Rotate(first));
        }
    }

    fn send(&self, line: Line) {
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::error!(
                        dropped = n,
                        "the recording cannot keep up; ticks are missing from it"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 {
                    tracing::error!("the recording stopped (see the error above)");
                }
            }
        }
    }
}

fn to_publish(e: &Event) -> PublishEvent {
    match e {
        Event::Quote(q) => PublishEvent::quote(q),
        Event::Trade(t) => PublishEvent::trade(t),
        Event::Game(g) => PublishEvent::game(g),
    }
}

/// The writer thread: ends when the recorder is dropped, or on a write error (logged).
fn write_lines(
    path: PathBuf,
    mut file: BufWriter<std::fs::File>,
    rx: std::sync::mpsc::Receiver<Line>,
) {
    let write = |file: &mut BufWriter<std::fs::File>, line: Line| -> std::io::Result<()> {
        match line {
            Line::Tick(text) => file.write_all(text.as_bytes()),
            Line::Rotate(first) => {
                file.flush()?;
                rotate(&path)?;
                *file = BufWriter::new(std::fs::File::create(&path)?);
                file.write_all(first.as_bytes())
            }
        }
    };
    let result = (|| -> std::io::Result<()> {
        while let Ok(line) = rx.recv() {
            write(&mut file, line)?;
            // Everything queued, then a flush: a reader of the file sees whole lines soon.
            while let Ok(more) = rx.try_recv() {
                write(&mut file, more)?;
            }
            file.flush()?;
        }
        Ok(())
    })();
    if let Err(err) = result {
        tracing::error!(%err, path = %path.display(), "recording failed");
    }
}

/// FILE.2 -> FILE.3, FILE.1 -> FILE.2, FILE -> FILE.1.
fn rotate(path: &Path) -> std::io::Result<()> {
    let numbered = |k: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{k}"));
        PathBuf::from(p)
    };
    for k in (1..KEEP).rev() {
        if numbered(k).exists() {
            std::fs::rename(numbered(k), numbered(k + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Quote;
    use crate::server::feed::numbering::prepare;
    use crate::server::feed::state::LiveState;

    fn quote(last: f64) -> Quote {
        crate::server::feed::fixtures::quote("AAPL", last)
    }

    #[test]
    fn ticks_are_lines_and_files_rotate_each_starting_with_the_market() {
        let dir = std::env::temp_dir().join(format!("livetape-rec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rec.ndjson");
        let hub = Hub::new(
            1,
            LiveState::new(Utc::now(), vec![quote(1.0)], Vec::new()),
            8,
            8,
        );
        let mut rec = Recorder::start(&path, 4096, &hub).unwrap();
        for i in 0..100 {
            let events = vec![Event::Quote(quote(2.0 + i as f64))];
            let ts = Utc::now();
            hub.commit(prepare(&hub, ts, events.clone(), Vec::new()))
                .unwrap();
            rec.tick(&hub, ts, &events);
        }
        drop(rec);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        assert_eq!(
            files,
            ["rec.ndjson", "rec.ndjson.1", "rec.ndjson.2", "rec.ndjson.3"]
        );
        let current = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<PublishBatch> = current
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(lines[0].listing, "each file starts with the market");
        let last = lines.last().unwrap();
        let PublishEvent::Quote { last: price, .. } = last.events[0] else {
            panic!()
        };
        assert_eq!(price, 101.0, "the last tick is in the current file");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
