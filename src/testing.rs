//! The internals that the integration tests, the fuzz targets and the benchmark tools drive
//! directly (feature `test-support`; never part of a release build).
//!
//! Everything else in the server is `pub(crate)`: a test that needs more than this goes
//! through the server's public face (`server::start`, the protocol) like any client.

/// Our WebSocket codec (`server::rfc6455`): the Autobahn echo server, the raw test client and
/// the fuzz targets use it.
pub mod websocket {
    pub use crate::server::rfc6455::{accept, upgraded, Accepted, Refusal};

    pub mod frame {
        pub use crate::server::rfc6455::frame::{
            close_payload, encode_masked, header, parse, parse_close, Frame, Opcode, Violation,
        };
    }

    pub mod deflate {
        pub use crate::server::rfc6455::deflate::{
            compress, compress_with, inflate_with, negotiate, Agreed, Inflater,
        };
    }

    pub mod conn {
        pub use crate::server::rfc6455::conn::{Conn, Incoming, ReadError};
    }

    /// A connection's write side, as sessions use it.
    pub use crate::server::transport::websocket::outlet::Outlet;
}

/// The HTTP/1.1 serve loop and its limits.
pub use crate::server::net::serve::{serve, HttpLimits};

/// The rules of a session (defaults as the server's).
pub use crate::server::transport::admission::Limits;

/// Rows of the grid the server renders in the page (the browser streams the rest of its window).
pub const FIRST_ROWS: u32 = crate::ui::grid::FIRST_ROWS;

/// The simulated market, for tools that produce livetape's own frames.
pub use crate::server::sources::simulator::Market;

/// A tick's batch frame from pre-encoded items.
pub use crate::server::feed::tick::batch_frame;

/// A tick as the cluster's tick stream stores it.
pub mod payload {
    pub use crate::server::cluster::payload::{decode, encode};
    pub use crate::server::feed::hub::Commit;
}

/// `/sse`'s channels and position, read from the URL.
pub use crate::server::transport::sse::{parse_channels, parse_position};

/// A recording opened for replay.
pub use crate::server::sources::replay::Replay;

/// What the page embeds for hydration.
pub use crate::ui::page_state::PageState;
