//! The user interface: the reactive store and the components that read it. Compiled for both
//! the server (to render the first paint) and the browser (to hydrate and update it).

pub mod format;
pub mod market;
pub mod scoreboard;
pub mod status;
pub mod store;
