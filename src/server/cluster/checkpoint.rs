//! A checkpoint: the producer's whole state at one tick, so that a node that starts (or lost
//! the stream's continuity, or a producer taking over) can continue from it and the ticks
//! after it, instead of from the beginning of time.
//!
//! It is a snapshot of every channel in the protocol's own form, plus what a snapshot does
//! not carry: the tick, every channel's seq, the symbol order and the sparklines.

use crate::protocol::{ChannelState, Data, Epoch, Snapshot, SnapshotReason};
use crate::server::feed::catalog::Catalog;
use crate::server::feed::hub::HubImage;
use crate::server::feed::state::LiveState;
use chrono::DateTime;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Wire {
    epoch: Epoch,
    n: u64,
    symbols: Vec<String>,
    seqs: Vec<u64>,
    sparks: Vec<Vec<f64>>,
    next_spark: i64,
    state: Snapshot,
}

pub fn encode(image: &HubImage) -> String {
    let catalog = Catalog::new(image.symbols.clone());
    let channels = (0..catalog.len() as u32)
        .map(|id| ChannelState {
            channel: catalog.channel(id),
            seq: image.seqs.get(id as usize).copied().unwrap_or(0),
            data: image.state.state_of(id),
        })
        .collect();
    serde_json::to_string(&Wire {
        epoch: image.epoch,
        n: image.n,
        symbols: image.symbols.clone(),
        seqs: image.seqs.clone(),
        sparks: image.state.sparks(),
        next_spark: image.state.next_spark().timestamp_micros(),
        state: Snapshot {
            epoch: image.epoch,
            ts: image.state.ts,
            reason: Some(SnapshotReason::Page),
            channels,
        },
    })
    .expect("checkpoints always serialise")
}

pub fn decode(json: &str) -> Result<HubImage, String> {
    let wire: Wire = serde_json::from_str(json).map_err(|e| format!("checkpoint: {e}"))?;
    let catalog = Catalog::new(wire.symbols.clone());
    let mut quotes = Vec::with_capacity(wire.symbols.len());
    let mut games = Vec::new();
    for c in &wire.state.channels {
        match &c.data {
            Data::Quote(q) => quotes.push(q.clone()),
            Data::Games(g) => games.extend(g.iter().cloned()),
            _ => {}
        }
    }
    if quotes.len() != wire.symbols.len() {
        return Err(format!(
            "checkpoint: {} quotes for {} symbols",
            quotes.len(),
            wire.symbols.len()
        ));
    }
    let mut state = LiveState::new(wire.state.ts, quotes, games);
    for c in &wire.state.channels {
        if let Data::Trades(_) | Data::Candles(_) = c.data {
            let id = catalog.id(&c.channel).map_err(|(_, why)| why)?;
            state.apply(id, &c.data);
        }
    }
    state.set_sparks(
        wire.sparks,
        DateTime::from_timestamp_micros(wire.next_spark).ok_or("checkpoint: bad time")?,
    );
    Ok(HubImage {
        epoch: wire.epoch,
        n: wire.n,
        state,
        symbols: wire.symbols,
        seqs: wire.seqs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::feed::hub::Hub;
    use crate::server::feed::numbering::prepare;
    use crate::server::sources::simulator::{SimConfig, Simulator};
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn a_checkpoint_restores_the_whole_state() {
        let start = Utc.timestamp_millis_opt(1_790_000_000_000).unwrap();
        let mut sim = Simulator::new(&SimConfig::default(), start);
        let hub = Hub::new(9, LiveState::new(start, sim.quotes(), sim.games()), 8, 8);
        for i in 1..=300 {
            let t = start + Duration::milliseconds(100 * i);
            let events = sim.step(t);
            hub.commit(prepare(&hub, t, events, vec![])).unwrap();
        }
        let image = hub.image();
        let back = decode(&encode(&image)).unwrap();
        assert_eq!((back.epoch, back.n), (image.epoch, image.n));
        assert_eq!(back.seqs, image.seqs);
        assert_eq!(back.symbols, image.symbols);
        assert_eq!(back.state, image.state);
        assert!(decode("{}").is_err());
    }
}
