//! The HTTP/1.1 serve loop (`serve`): accepts connections, enforces connection-level limits,
//! and says who a request comes from (its peer, and the client behind a trusted proxy).

pub mod serve;
