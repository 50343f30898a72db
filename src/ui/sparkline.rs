//! A sparkline: recent prices as one SVG polyline, no chart library.

#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use leptos::prelude::*;

const WIDTH: f64 = 80.0;
const HEIGHT: f64 = 22.0;

/// The polyline's points for `values` scaled into the box, oldest on the left.
pub(crate) fn points(values: &[f64]) -> String {
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
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = if hi > lo {
                HEIGHT - 1.0 - (v - lo) / span * (HEIGHT - 2.0)
            } else {
                HEIGHT / 2.0
            };
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    }
}
