//! The feed as the transports see it.

use super::channel_sets::Interner;
use crate::server::feed::archive::Archive;
use crate::server::feed::hub::Hub;
use crate::server::feed::ranking::Rankings;
use std::sync::Arc;

/// The feed as the transports see it: the hub, where older updates may be read, the channel
/// sets the sessions hold, and the rankings their views share.
pub(crate) struct FeedView {
    pub(crate) hub: Arc<Hub>,
    archive: Option<Arc<dyn Archive>>,
    pub(crate) sets: Interner,
    pub(crate) rankings: Rankings,
}

impl FeedView {
    pub(crate) fn new(hub: Arc<Hub>, archive: Option<Arc<dyn Archive>>) -> Self {
        FeedView {
            hub,
            archive,
            sets: Interner::default(),
            rankings: Rankings::default(),
        }
    }

    /// Where updates older than the hub's history may be read (a cluster's Redis).
    pub(crate) fn archive(&self) -> Option<&dyn Archive> {
        self.archive.as_deref()
    }
}
