//! `GET /api/candles`: a chart's older candles, from the history the server keeps.
#![cfg(feature = "ssr")]

mod support;

use support::cluster::http_get;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_candles_come_oldest_first_before_a_time_and_bad_requests_say_why() {
    let mut cfg = config();
    cfg.warmup_secs = 30;
    let server = server(cfg).await;
    let port = server.addr.port();
    let c = connect(&server).await;
    let symbol = c.symbols[0].clone();
    let get = |path: String| async move { http_get(port, &path).await.expect("an answer") };
    let (status, body) = get(format!("/api/candles?symbol={symbol}&interval=1s&limit=10")).await;
    assert_eq!(status, 200, "{body}");
    let all: serde_json::Value = serde_json::from_str(&body).unwrap();
    let candles = all["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 10, "a 30 s warm-up made more than 10");
    let starts: Vec<i64> = candles.iter().map(|c| c["t"].as_i64().unwrap()).collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {starts:?}"
    );
    assert_eq!(all["complete"], false);
    // Before the fifth: the four before it, and as many older ones as asked.
    let before = starts[4];
    let (_, body) = get(format!(
        "/api/candles?symbol={symbol}&before={before}&limit=4"
    ))
    .await;
    let older: serde_json::Value = serde_json::from_str(&body).unwrap();
    let got: Vec<i64> = older["candles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["t"].as_i64().unwrap())
        .collect();
    assert_eq!(got, starts[..4].to_vec());
    // Everything there is: `complete`.
    let (_, body) = get(format!("/api/candles?symbol={symbol}&limit=300")).await;
    let whole: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(whole["complete"], true);
    for (path, status, says) in [
        ("/api/candles?symbol=NOPE".to_string(), 404, "not listed"),
        (
            format!("/api/candles?symbol={symbol}&limit=0"),
            400,
            "limit",
        ),
        (
            format!("/api/candles?symbol={symbol}&interval=5m"),
            400,
            "interval",
        ),
        (
            format!("/api/candles?symbol={symbol}&before=soon"),
            400,
            "before",
        ),
        ("/api/candles".to_string(), 400, "symbol"),
    ] {
        let (got, body) = get(path.clone()).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
}
