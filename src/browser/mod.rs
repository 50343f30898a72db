//! Everything that only runs in the browser (feature `hydrate`).

mod feed;
mod prefs;
mod transport;

pub use feed::start;
