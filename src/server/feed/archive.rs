//! Where a channel's updates older than the hub's history can be read.
//!
//! One process keeps what it keeps; a cluster node can also read a channel's older updates
//! from its Redis (a client coming from another node, or back after a long absence). The
//! transports ask [`older_updates`] before answering a resume, and the hub joins what it got
//! with its own history (see `Hub::open_with`). Whatever cannot be read in time is answered
//! with a snapshot instead, as a resume from beyond the history always is.

use super::catalog::ChannelId;
use super::hub::{Hub, Start};
use super::tick::Encoded;
use crate::protocol::{Epoch, Seq};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A future that an [`Archive`] returns (boxed: the trait is used as an object).
pub(crate) type Fetch<'a> = Pin<Box<dyn Future<Output = Result<Vec<Encoded>, String>> + Send + 'a>>;

/// A store of older updates.
pub(crate) trait Archive: Send + Sync {
    /// Channel `id`'s updates of `epoch` after seq `after`, up to `upto` included, in order,
    /// as far as the archive holds them.
    fn updates(&self, epoch: Epoch, id: ChannelId, after: Seq, upto: Seq) -> Fetch<'_>;
}

/// How long a resume waits for the archive before it settles for snapshots.
const WAIT: Duration = Duration::from_secs(2);

/// The updates the resumes among `starts` need from before `hub`'s history, by channel.
pub(crate) async fn older_updates(
    archive: Option<&dyn Archive>,
    hub: &Hub,
    starts: &[(ChannelId, Start)],
) -> BTreeMap<ChannelId, Vec<Encoded>> {
    let mut older = BTreeMap::new();
    let Some(archive) = archive else {
        return older;
    };
    let missing = hub.missing_history(starts);
    if missing.is_empty() {
        return older;
    }
    let epoch = hub.epoch();
    let fetch = async {
        for (id, seq, base) in missing {
            match archive.updates(epoch, id, seq, base).await {
                Ok(updates) => {
                    older.insert(id, updates);
                }
                Err(err) => {
                    tracing::debug!(%err, "cannot read older history");
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(WAIT, fetch).await;
    older
}
