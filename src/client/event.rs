//! What a [`Client`](super::Client) hands its user.

use super::error::Error;
use crate::protocol::{Batch, Channel, Epoch, ErrorReply, Snapshot};
use std::time::Duration;

/// One thing that happened on the feed, in the order it happened.
///
/// Invariant: per channel and epoch, the updates handed over continue exactly from the last
/// state or update handed over (no gap, no duplicate). Whenever that cannot hold, a
/// [`Event::Snapshot`] replaces the channel's state and its `reason` says why
/// (`epoch_changed`: the server restarted or the cluster moved to a new epoch;
/// `history_exhausted`: the server no longer held what was missed; `lagged`: this reader fell
/// too far behind). Nothing is dropped silently.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A connection was welcomed by the server at `url`, in `epoch`; the client's channels
    /// are being subscribed (resumed) on it.
    Connected { url: String, epoch: Epoch },
    /// The connection ended or could not start; the client tries again in `retry_in` (the
    /// next URL when this one could not be reached).
    Disconnected {
        url: String,
        error: Error,
        retry_in: Duration,
    },
    /// Whole states of channels: on subscribing (`reason` `subscribed`), or in place of what
    /// could not be replayed (see above).
    Snapshot(Snapshot),
    /// The updates of one tick for this client's channels, in order.
    Batch(Batch),
    /// The server refused to subscribe these channels (an unknown symbol, a limit): the
    /// client no longer asks for them.
    Refused {
        channels: Vec<Channel>,
        error: ErrorReply,
    },
}
