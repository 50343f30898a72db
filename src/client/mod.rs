//! Everything that only runs in the browser (feature `hydrate`).

mod feed;
mod prefs;

pub use feed::start;
