//! A node's part in the cluster.

/// A node's part in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Produce when holding the lease, and serve clients.
    All,
    /// Produce when holding the lease (a standby otherwise); not meant to take clients.
    Producer,
    /// Serve clients from the feed in Redis; never produce.
    Edge,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Producer => "producer",
            Role::Edge => "edge",
        }
    }

    pub(crate) fn produces(self) -> bool {
        !matches!(self, Role::Edge)
    }
}
