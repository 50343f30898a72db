//! The open-files limit, and how many feed connections it leaves room for.
//!
//! Every feed connection holds a socket, so `RLIMIT_NOFILE` caps the clients one node can
//! serve. Two things follow:
//! - At start the soft limit is raised to the hard one (what Go's runtime and nginx's
//!   `worker_rlimit_nofile` do): a soft limit of 1,024, the default of many shells and
//!   services, would otherwise stop a node at about a thousand clients while the system
//!   allows far more.
//! - Feed connections are capped a reserve below the limit. A node that runs out of
//!   descriptors can do nothing useful: `accept` fails with `EMFILE`, so the next client gets
//!   a reset instead of a 503 that says why, pages, assets, `/metrics` and `/readyz` stop
//!   answering, and a lost Redis connection cannot be opened again. With the reserve, a full
//!   node refuses the next client with 503 ("connection limit reached"), the balancer sends
//!   it elsewhere, and everything else keeps working.

/// Descriptors kept for everything but feed connections: page and asset requests, `/metrics`,
/// Redis, the log file and the runtime's own. A quarter of a small limit, 256 of a large one.
pub(crate) fn reserve(limit: u64) -> u64 {
    (limit / 4).min(256)
}

/// Raises the soft open-files limit to the hard one and returns the limit in force, or `None`
/// where it cannot be read.
pub(crate) fn raise() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            tracing::warn!(%err, "cannot raise the open-files limit");
            rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft)
        }
    }
}

/// Feed connections a node may hold: `configured` (`--max-connections`), or fewer when the
/// open-files `limit` leaves less room (a reserve kept for everything else).
pub(crate) fn connection_cap(configured: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return configured;
    };
    let room = usize::try_from(limit - reserve(limit)).unwrap_or(usize::MAX);
    if configured > room {
        tracing::warn!(
            configured,
            open_files = limit,
            serving = room,
            "--max-connections is more than the open-files limit leaves room for: feed \
             connections are capped at {room} ({} descriptors kept for pages, Redis and \
             files); raise the limit (ulimit -n, systemd LimitNOFILE=) to serve more",
            reserve(limit)
        );
    }
    configured.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_limit_keeps_256_and_a_small_one_a_quarter() {
        assert_eq!(connection_cap(20_000, Some(20_000)), 19_744);
        assert_eq!(connection_cap(20_000, Some(1_024)), 768);
        assert_eq!(connection_cap(20_000, Some(400)), 300);
        assert_eq!(
            connection_cap(500, Some(20_000)),
            500,
            "a smaller cap stays"
        );
        assert_eq!(
            connection_cap(20_000, None),
            20_000,
            "unknown: as configured"
        );
    }
}
