//! Sparklines on the wire: a row's recent prices, so that a row arriving in a window (or in
//! the first page) draws its trend at once instead of starting from a single point.
//!
//! Written compactly, as one string: the first price in cents, then the change in cents from
//! each sample to the next (`"22380 5 -3 0"`). Samples are prices at the cent, so nothing is
//! lost, and integers parse far faster than floats in the browser (500 rows of 30 samples were
//! a 100 KB list of floats to parse before hydration).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A row's recent prices, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sparkline(pub Vec<f64>);

/// The compact form of `prices`.
pub fn encode(prices: &[f64]) -> String {
    let mut out = String::with_capacity(prices.len() * 4);
    let mut prev = 0i64;
    for (i, p) in prices.iter().enumerate() {
        let cents = (p * 100.0).round() as i64;
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&(cents - prev).to_string());
        prev = cents;
    }
    out
}

/// The prices of a compact form; an error names the first part that is not an integer.
pub fn decode(text: &str) -> Result<Vec<f64>, String> {
    let mut cents = 0i64;
    text.split_ascii_whitespace()
        .map(|delta| {
            let d = delta
                .parse::<i64>()
                .map_err(|_| format!("a sparkline is integers (cents), not {delta:?}"))?;
            cents = cents.saturating_add(d);
            Ok(cents as f64 / 100.0)
        })
        .collect()
}

impl Serialize for Sparkline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Sparkline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        decode(&text)
            .map(Sparkline)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_travels_as_cents_and_comes_back_to_the_cent() {
        let s = Sparkline(vec![223.8, 223.85, 223.79, 223.79]);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#""22380 5 -6 0""#);
        assert_eq!(serde_json::from_str::<Sparkline>(&json).unwrap(), s);
        assert_eq!(encode(&[]), "");
        assert_eq!(decode("").unwrap(), Vec::<f64>::new());
        let err = serde_json::from_str::<Sparkline>(r#""1 x""#).unwrap_err();
        assert!(err.to_string().contains("not \"x\""), "{err}");
    }
}
