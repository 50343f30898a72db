//! Publishes a CSV of quotes to a livetape server through `POST /api/publish`.
//!
//! The CSV has a header row and the columns `symbol,bid,ask,last`, optionally `volume` and
//! `ts` (integer microseconds or RFC 3339; without it the server stamps the tick). Rows are
//! sent in batches of `--batch` rows, `--every` milliseconds apart; each batch is applied
//! whole or refused whole, and the server's answer is printed. A 429 or 503 is retried after
//! the server's `Retry-After`; any other error stops the run with the server's message.
//!
//! ```text
//! livetape --source sim,api --publish-token "$TOKEN" --allow-new-symbols &
//! cargo run --release --features ssr --example publish_csv -- \
//!     --server http://127.0.0.1:3000 --token "$TOKEN" data/quotes.csv
//! ```

use clap::Parser;
use livetape::protocol::publish::{parse_timestamp, PublishBatch, PublishEvent};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Publish a CSV of quotes to livetape's /api/publish")]
struct Args {
    /// The CSV file (header: symbol,bid,ask,last[,volume][,ts]).
    csv: PathBuf,
    /// The server's base address.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    server: String,
    /// A publish token the server was started with.
    #[arg(long, env = "LIVETAPE_PUBLISH_TOKEN")]
    token: String,
    /// Rows per request.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Milliseconds between requests.
    #[arg(long, default_value_t = 100)]
    every: u64,
}

/// One row of the CSV.
#[derive(Deserialize)]
struct Row {
    symbol: String,
    bid: f64,
    ask: f64,
    last: f64,
    #[serde(default)]
    volume: Option<u64>,
    #[serde(default)]
    ts: Option<String>,
}

impl Row {
    /// The row as a publish event; a bad `ts` or price fails here, with its line, before
    /// anything is sent.
    fn event(self, line: u64) -> Result<PublishEvent, String> {
        let ts = match self.ts.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(text) => Some(parse_timestamp(text).map_err(|e| format!("line {line}: {e}"))?),
        };
        let event = PublishEvent::Quote {
            symbol: self.symbol,
            bid: self.bid,
            ask: self.ask,
            last: self.last,
            open: None,
            volume: self.volume,
            ts,
        };
        event.check().map_err(|e| format!("line {line}: {e}"))?;
        Ok(event)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("publish_csv: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&args.csv)
        .map_err(|e| format!("{}: {e}", args.csv.display()))?;
    let mut events = Vec::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        // Line 1 is the header.
        let line = i as u64 + 2;
        let row = row.map_err(|e| format!("{}: line {line}: {e}", args.csv.display()))?;
        events.push(row.event(line)?);
    }
    if events.is_empty() {
        return Err(format!("{}: no rows", args.csv.display()));
    }
    let client = reqwest::Client::new();
    let url = format!("{}/api/publish", args.server.trim_end_matches('/'));
    let (mut sent, mut requests) = (0usize, 0usize);
    for chunk in events.chunks(args.batch.max(1)) {
        let batch = PublishBatch {
            events: chunk.to_vec(),
            ..Default::default()
        };
        let body = serde_json::to_string(&batch).expect("a batch encodes");
        loop {
            let answer = client
                .post(&url)
                .bearer_auth(&args.token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = answer.status();
            let retry_after = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let text = answer.text().await.unwrap_or_default();
            if status.is_success() {
                println!("rows {}..{}: {text}", sent + 1, sent + chunk.len());
                break;
            }
            if let (429 | 503, Some(secs)) = (status.as_u16(), retry_after) {
                eprintln!("{status}: retrying in {secs} s");
                tokio::time::sleep(Duration::from_secs(secs.max(1))).await;
                continue;
            }
            return Err(format!(
                "rows {}..{} refused: {status} {text}",
                sent + 1,
                sent + chunk.len()
            ));
        }
        sent += chunk.len();
        requests += 1;
        tokio::time::sleep(Duration::from_millis(args.every)).await;
    }
    println!("published {sent} quotes in {requests} requests");
    Ok(())
}
