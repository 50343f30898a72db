//! A TCP proxy that cuts every connection abruptly (a reset, no close) after a random
//! lifetime: the drops a flaky network gives a client.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

pub struct Cutter {
    pub port: u16,
    cuts: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Cutter {
    /// Forwards to `target`, cutting each connection after a lifetime drawn from `lifetime`
    /// (milliseconds) by a seeded generator.
    pub async fn start(target: u16, lifetime: Range<u64>, seed: u64) -> Cutter {
        use rand::{Rng, SeedableRng};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(AtomicU64::new(0));
        let counted = cuts.clone();
        let task = tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let life = Duration::from_millis(rng.random_range(lifetime.clone()));
                let counted = counted.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    let piped = tokio::io::copy_bidirectional(&mut client, &mut server);
                    if tokio::time::timeout(life, piped).await.is_err() {
                        // A reset on both sides, as when a path dies: no FIN, no close frame.
                        let _ = client.set_zero_linger();
                        let _ = server.set_zero_linger();
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Cutter { port, cuts, task }
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for Cutter {
    fn drop(&mut self) {
        self.task.abort();
    }
}
