//! The user interface: the reactive store and the components that read it. Compiled for both
//! the server (to render the first paint) and the browser (to hydrate and update it).
//!
//! Compiled for both the server's render and the browser; each uses a part of it (and the
//! server runs its tests), so what only the browser calls is not dead code.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

pub(crate) mod announcer;
pub(crate) mod detail;
pub(crate) mod format;
pub(crate) mod market;
pub(crate) mod scoreboard;
pub(crate) mod sparkline;
pub(crate) mod status;
pub(crate) mod store;
pub(crate) mod ticker;
