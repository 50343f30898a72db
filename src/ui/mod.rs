//! The user interface: the reactive store and the components that read it. Compiled for both
//! the server (to render the first paint) and the browser (to hydrate and update it).

pub mod announcer;
pub mod detail;
pub mod format;
pub mod market;
pub mod scoreboard;
pub mod sparkline;
pub mod status;
pub mod store;
pub mod ticker;
