//! Publishing in a cluster: whichever node a publisher reaches, its batch is numbered once,
//! by the producer, and reaches every node through the tick stream.
//!
//! The node checks the batch against its own copy of the market (so nearly every refusal is
//! immediate), queues it in Redis's inbox stream (`XADD <prefix>:inbox`), and waits until a
//! tick settles it: the producer reads the inbox after its cursor every tick, takes each
//! batch whole or refuses it (a race with another publisher, say), commits the tick with a
//! mark saying through which inbox id it settled requests and which it refused, and stores
//! the cursor in the same Lua script that numbers the tick. A producer that takes over reads
//! the cursor and goes on from it: a request is applied once, whoever leads. Every node sees
//! the mark in the tick stream and answers the publishers waiting on it.

use crate::protocol::publish::{PublishBatch, PublishEvent};
use crate::server::cluster::store::Store;
use crate::server::feed::hub::{Hub, InboxMark};
use crate::server::feed::tick::TickNo;
use crate::server::sources::inbox::{admit, Rules};
use crate::server::sources::reply::{Receipt, Rejection};
use crate::server::sources::Draw;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a publisher waits for its batch to be settled.
const SETTLE_WITHIN: Duration = Duration::from_secs(10);
/// Refusals remembered for publishers still waiting.
const REMEMBER: usize = 1_000;

/// What the ticks this node applied have settled so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settled {
    /// Inbox requests through this stream id are settled...
    pub(crate) to: String,
    /// ...by this tick (or an earlier one).
    pub(crate) tick: TickNo,
    /// The latest refusals: (stream id, reason).
    pub(crate) rejected: Vec<(String, String)>,
}

impl Settled {
    /// Folds in the mark of committed tick `n`.
    pub(crate) fn add(&mut self, mark: &InboxMark, n: TickNo) {
        self.to = mark.to.clone();
        self.tick = n;
        self.rejected.extend(mark.rejected.iter().cloned());
        let extra = self.rejected.len().saturating_sub(REMEMBER);
        self.rejected.drain(..extra);
    }
}

/// A stream id `ms-seq` as a pair that orders like Redis does.
pub(crate) fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Why a batch was not published.
pub(crate) enum Refused {
    Invalid(Rejection),
    Unavailable(String),
}

/// A node's way into the cluster's inbox.
pub(crate) struct Forwarder {
    pub(crate) store: Arc<Store>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) rules: Rules,
    pub(crate) settled: watch::Receiver<Settled>,
}

impl Forwarder {
    /// Checks, queues and waits for `events` to be on the feed.
    pub(crate) async fn forward(&self, events: Vec<PublishEvent>) -> Result<Receipt, Refused> {
        let count = events.len();
        let mut scratch = Draw::default();
        let listed = admit(
            &self.rules,
            &self.hub,
            Utc::now(),
            events.clone(),
            &mut scratch,
        )
        .map_err(Refused::Invalid)?;
        let json = serde_json::to_string(&PublishBatch {
            ts: None,
            listing: false,
            events,
        })
        .expect("publish batches always serialise");
        let mut settled = self.settled.clone();
        let id = self
            .store
            .inbox_add(&json)
            .await
            .map_err(|e| Refused::Unavailable(format!("the cluster's inbox: {e}")))?;
        let mine = stream_id(&id);
        let deadline = tokio::time::Instant::now() + SETTLE_WITHIN;
        loop {
            {
                let now = settled.borrow_and_update();
                if stream_id(&now.to) >= mine {
                    if let Some((_, why)) = now.rejected.iter().find(|(r, _)| *r == id) {
                        return Err(Refused::Invalid(Rejection {
                            index: None,
                            message: why.clone(),
                        }));
                    }
                    return Ok(Receipt {
                        tick: now.tick,
                        events: count,
                        listed,
                    });
                }
            }
            if tokio::time::timeout_at(deadline, settled.changed())
                .await
                .map_or(true, |r| r.is_err())
            {
                return Err(Refused::Unavailable(format!(
                    "queued as {id}, but no producer took it within {} s (it will be published when one does)",
                    SETTLE_WITHIN.as_secs()
                )));
            }
        }
    }
}

/// The producer's side: the queued requests after `cursor`, checked and added to `draw`;
/// the mark for the tick (None when nothing was queued).
pub(crate) async fn take(
    store: &Store,
    hub: &Hub,
    cursor: &str,
    draw: &mut Draw,
) -> Result<Option<InboxMark>, crate::server::cluster::store::Refused> {
    let queued = store.inbox_after(cursor, 256).await?;
    let Some(last) = queued.last().map(|(id, _)| id.clone()) else {
        return Ok(None);
    };
    // The node that queued a request checked it with its own rules (tokens, time window,
    // new symbols); here only what can have changed since: the market.
    let rules = Rules {
        allow_new_symbols: true,
        max_age: chrono::Duration::days(365),
        max_skew: chrono::Duration::days(365),
    };
    let now = Utc::now();
    let mut rejected = Vec::new();
    for (id, json) in queued {
        let result = serde_json::from_str::<PublishBatch>(&json)
            .map_err(|e| e.to_string())
            .and_then(|batch| {
                admit(&rules, hub, now, batch.events, draw).map_err(|r| match r.index {
                    Some(i) => format!("event {i}: {}", r.message),
                    None => r.message,
                })
            });
        if let Err(why) = result {
            rejected.push((id, why));
        }
    }
    Ok(Some(InboxMark { to: last, rejected }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_like_redis() {
        assert!(stream_id("1700000000000-10") > stream_id("1700000000000-9"));
        assert!(stream_id("1700000000001-0") > stream_id("1700000000000-99"));
        assert!(stream_id("0-0") < stream_id("1-0"));
    }
}
