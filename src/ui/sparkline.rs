//! A sparkline: recent prices as one SVG polyline, no chart library.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use leptos::prelude::*;

const WIDTH: f64 = 80.0;
const HEIGHT: f64 = 22.0;

/// The polyline's points for `values` scaled into the box, oldest on the left, each to a tenth.
///
/// Written into one string with integer formatting: the grid computes one for each of its
/// rows while hydrating and again on every new point, and formatting each coordinate as a
/// float (`{:.1}`) and joining the pieces was 11% of the grid's hydration in a profile.
pub(crate) fn points(values: &[f64]) -> String {
    use std::fmt::Write;
    if values.is_empty() {
        return String::new();
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = if values.len() > 1 {
        WIDTH / (values.len() - 1) as f64
    } else {
        0.0
    };
    // Both coordinates lie in the box, so they are never negative.
    let tenths = |v: f64| (v * 10.0).round().max(0.0) as u32;
    let mut out = String::with_capacity(values.len() * 10);
    for (i, v) in values.iter().enumerate() {
        let y = if hi > lo {
            HEIGHT - 1.0 - (v - lo) / span * (HEIGHT - 2.0)
        } else {
            HEIGHT / 2.0
        };
        let (x, y) = (tenths(i as f64 * step), tenths(y));
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(out, "{sep}{}.{},{}.{}", x / 10, x % 10, y / 10, y % 10);
    }
    out
}

#[component]
pub(crate) fn Sparkline(points: RwSignal<Vec<f64>>) -> impl IntoView {
    let trend = move || {
        points.with(|p| match (p.first(), p.last()) {
            (Some(a), Some(b)) if b > a => "spark up",
            (Some(a), Some(b)) if b < a => "spark down",
            _ => "spark flat",
        })
    };
    view! {
        <svg
            class=trend
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            width=WIDTH
            height=HEIGHT
            aria-hidden="true"
            focusable="false"
        >
            <polyline fill="none" stroke-width="1.5" points=move || points.with(|p| self::points(p))/>
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_span_the_box() {
        assert_eq!(points(&[]), "");
        assert_eq!(points(&[5.0]), "0.0,11.0");
        assert_eq!(points(&[1.0, 2.0, 3.0]), "0.0,21.0 40.0,11.0 80.0,1.0");
        assert_eq!(
            points(&[2.0, 2.0]),
            "0.0,11.0 80.0,11.0",
            "flat is mid-height"
        );
        // Tenths, rounded: a third of the box is 26.7 across.
        assert_eq!(
            points(&[0.0, 1.0, 0.5, 0.25]),
            "0.0,21.0 26.7,1.0 53.3,11.0 80.0,16.0"
        );
    }
}
