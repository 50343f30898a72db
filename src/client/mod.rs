//! Everything that only runs in the browser (feature `hydrate`).

mod feed;

pub use feed::start;
