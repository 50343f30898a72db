//! How a publish request is answered: a receipt once its tick is committed, or the reason it
//! was refused. Shared by the single-node inbox, the cluster's publish queue and the handler.

use crate::protocol::publish::PublishEvent;
use crate::server::feed::tick::TickNo;
use serde::Serialize;
use tokio::sync::oneshot;

/// One publish request.
pub(crate) struct Request {
    pub(crate) events: Vec<PublishEvent>,
    pub(crate) reply: oneshot::Sender<Result<Receipt, Rejection>>,
}

/// What a publisher is told when its events are on the feed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Receipt {
    /// The tick that carried them.
    pub(crate) tick: TickNo,
    pub(crate) events: usize,
    /// Symbols this request listed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) listed: Vec<String>,
}

/// Why a request was refused: the event (by index) and the reason.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rejection {
    pub(crate) index: Option<usize>,
    pub(crate) message: String,
}

/// A request taken into a tick, to answer after the commit.
pub struct Accepted {
    pub(super) reply: oneshot::Sender<Result<Receipt, Rejection>>,
    pub(super) events: usize,
    pub(super) listed: Vec<String>,
}

impl Accepted {
    pub(crate) fn answer(self, committed: Result<TickNo, String>) {
        let answer = committed
            .map(|tick| Receipt {
                tick,
                events: self.events,
                listed: self.listed,
            })
            .map_err(|message| Rejection {
                index: None,
                message,
            });
        // The publisher may have hung up: nothing to tell.
        let _ = self.reply.send(answer);
    }
}
