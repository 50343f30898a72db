//! The HTTP/1.1 serve loop (`serve`): accepts connections, enforces connection-level limits,
//! and says who a request comes from (its peer, and the client behind a trusted proxy);
//! `open_files`: the open-files limit raised at start, and the feed connections it leaves
//! room for; `listen`: the listening socket, with the system's largest accept queue.

pub(crate) mod listen;
pub(crate) mod open_files;
pub mod serve;
