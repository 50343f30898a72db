//! The page's own work on the browser's timeline (User Timing), where DevTools' performance
//! panel and the browser benchmark (`end2end/bench`) read it: hydration's tasks told apart
//! from the browser's parse and first layout of the server's HTML, and timed.

/// Marks `name` now.
pub(crate) fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

/// Runs `work` as the measure `name` (from a mark `name` before it to its end).
pub(crate) fn timed<T>(name: &str, work: impl FnOnce() -> T) -> T {
    mark(name);
    let out = work();
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.measure_with_start_mark(name, name);
    }
    out
}
