//! What the server embeds in the page for hydration (`#page-state`): the state the HTML shows,
//! with every channel's seq, so that the browser starts from exactly it and resumes the feed
//! from there.

use crate::protocol::{Interval, Snapshot, ViewSpec};
use serde::{Deserialize, Serialize};

/// The page's state: the snapshot of every channel it shows (the grid's window, the scores,
/// the breadth, the selected symbol's quote, candles and trades), the tick it stands at, the
/// sparklines of its quotes, the selection and the grid's view and window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PageState {
    pub snapshot: Snapshot,
    /// The tick the snapshot stands at: the page's state covers every channel through it.
    #[serde(default)]
    pub tick: u64,
    /// Per quote in the snapshot, in the same order. Written compactly (see [`spark_codec`]):
    /// 500 rows of 30 samples were a 100 KB list of floats to parse before hydration.
    #[serde(with = "spark_codec")]
    pub sparks: Vec<Vec<f64>>,
    pub selected: String,
    pub interval: Option<Interval>,
    /// The grid's view (its `offset` is where `rows` start) and its window: the symbols of
    /// rows `offset ..`, in order, of `total` that match.
    #[serde(default)]
    pub view: ViewSpec,
    #[serde(default)]
    pub rows: Vec<String>,
    #[serde(default)]
    pub total: u32,
    /// Symbols the server lists: what the filter searches.
    #[serde(default)]
    pub universe: u32,
    /// The grid shows this watchlist only (its name and symbols, from a link: `?list=&watch=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<(String, Vec<String>)>,
}

/// Sparklines in the page as one string per row (see [`crate::protocol::sparkline`]).
pub(crate) mod spark_codec {
    use crate::protocol::sparkline::{decode, encode};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(rows: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(rows.iter().map(|row| encode(row)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        let rows = Vec::<String>::deserialize(d)?;
        rows.iter()
            .map(|row| decode(row).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_travel_compactly_and_come_back_to_the_cent() {
        let p = PageState {
            sparks: vec![vec![223.8, 223.85, 223.79, 223.79], vec![], vec![0.05]],
            ..PageState::default()
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains(r#""sparks":["22380 5 -6 0","","5"]"#),
            "{json}"
        );
        let back: PageState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.sparks, p.sparks);
    }
}
