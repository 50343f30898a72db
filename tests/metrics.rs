//! `/metrics`: what happened is counted (connections by transport and close code, refusals,
//! errors, subscriptions, ticks, frames, latency, resumes), the scrape passes
//! `promtool check metrics`, a real Prometheus scrapes it, and every query of the Grafana
//! dashboard in deploy/grafana/ is valid PromQL that returns data.
#![cfg(feature = "ssr")]

mod support;

use livetape::protocol::{Channel, League, ServerMsg};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::cluster::free_port;
use support::{config, quotes, server, Client};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

async fn scrape(addr: SocketAddr) -> String {
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    resp.text().await.unwrap()
}

/// `name{labels}` -> value, for every sample line.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn value(s: &BTreeMap<String, f64>, series: &str) -> f64 {
    *s.get(series)
        .unwrap_or_else(|| panic!("no {series} in the scrape:\n{s:#?}"))
}

/// Some traffic of every kind: a WebSocket client that subscribes, sends nonsense and closes
/// with 1000; one that resumes; an event stream; a cross-site attempt.
async fn traffic(s: &livetape::server::Running) {
    let mut c = Client::connect(s).await;
    let (_, mut tracker) = c
        .subscribe_all(vec![quotes("AAPL"), Channel::Scores(League::Hockey)])
        .await;
    for _ in 0..10 {
        if let ServerMsg::Batch(b) = c.next().await {
            tracker.batch(&b);
        }
    }
    c.send_raw(Message::text("not json")).await;
    assert!(matches!(c.next_reply().await, ServerMsg::Error { .. }));
    c.send_raw(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await;
    let _ = c.end(Duration::from_secs(5)).await;

    let mut again = Client::connect(s).await;
    again
        .subscribe(
            vec![quotes("AAPL"), Channel::Scores(League::Hockey)],
            Some(tracker.resume(again.epoch)),
        )
        .await;
    for _ in 0..3 {
        again.next().await;
    }
    std::mem::forget(again); // stays open: one WebSocket connection in the gauge

    let sse = reqwest::get(format!("http://{}/sse?channels=quotes:AAPL", s.addr))
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    std::mem::forget(sse);

    let refused = reqwest::Client::new()
        .get(format!("http://{}/ws", s.addr))
        .header("Origin", "https://evil.example.net")
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Version", "13")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // Let the event stream send a little, and the fan-out record its passes.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrape_counts_what_happened_and_passes_promtool() {
    let s = server(config()).await;
    traffic(&s).await;
    let text = scrape(s.addr).await;
    let m = samples(&text);
    assert_eq!(value(&m, "livetape_connections{transport=\"ws\"}"), 1.0);
    assert_eq!(value(&m, "livetape_connections{transport=\"sse\"}"), 1.0);
    assert_eq!(
        value(&m, "livetape_connections_accepted_total{transport=\"ws\"}"),
        2.0
    );
    assert_eq!(
        value(
            &m,
            "livetape_connections_closed_total{transport=\"ws\",code=\"1000\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "livetape_http_refusals_total{status=\"403\",reason=\"origin\"}"
        ),
        1.0
    );
    // AAPL on the open WebSocket and on the event stream.
    assert_eq!(value(&m, "livetape_subscriptions{kind=\"quotes\"}"), 2.0);
    assert_eq!(value(&m, "livetape_subscriptions{kind=\"scores\"}"), 1.0);
    assert!(value(&m, "livetape_ticks_total") > 10.0);
    assert!(value(&m, "livetape_tick_updates_count") > 10.0);
    assert!(value(&m, "livetape_frames_sent_total{transport=\"ws\"}") >= 13.0);
    assert!(value(&m, "livetape_bytes_sent_total{transport=\"ws\"}") > 1000.0);
    assert!(value(&m, "livetape_frames_sent_total{transport=\"sse\"}") >= 2.0);
    assert!(value(&m, "livetape_publish_to_send_seconds_count") > 0.0);
    assert_eq!(
        value(
            &m,
            "livetape_resumes_total{outcome=\"replayed\",reason=\"\"}"
        ),
        2.0,
        "both channels replayed"
    );
    assert!(m
        .keys()
        .any(|k| k.starts_with("livetape_errors_sent_total{code=")));
    assert_eq!(value(&m, "livetape_ready"), 1.0);
    assert!(value(&m, "livetape_tick") > 0.0);
    assert!(
        value(&m, "livetape_history_updates") > 0.0,
        "the resume history holds the ticks so far"
    );

    // promtool's own lint: names, types, help, units.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/setup.sh installs prometheus)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_live_on_an_address_of_their_own() {
    let mut c = config();
    let metrics_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    c.metrics_addr = Some(metrics_addr);
    let s = server(c).await;
    let public = reqwest::get(format!("http://{}/metrics", s.addr))
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "not on the public address");
    let text = scrape(metrics_addr).await;
    assert!(text.contains("livetape_tick "));
}

/// A real Prometheus on a free port, scraping `target` every second.
struct Prometheus {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Prometheus {
    async fn start(target: SocketAddr) -> Prometheus {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("livetape-prometheus-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: livetape\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (scripts/setup.sh installs it)");
        Prometheus { child, port, dir }
    }

    /// An instant query: (status, result series).
    async fn query(&self, promql: &str) -> (String, Vec<serde_json::Value>) {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let resp = match reqwest::Client::new()
            .get(url)
            .query(&[("query", promql)])
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return (format!("unreachable: {e}"), Vec::new()),
        };
        let body: serde_json::Value =
            serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or_default();
        let status = body["status"].as_str().unwrap_or("?").to_string();
        let status = if status == "success" {
            status
        } else {
            format!("{status}: {}", body["error"])
        };
        let result = body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (status, result)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every PromQL expression of the dashboard, with Grafana's variables filled in.
fn dashboard_queries() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/livetape.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            let filled = expr
                .replace("$__rate_interval", "5s")
                .replace("$instance", ".*");
            out.push((panel["title"].as_str().unwrap().to_string(), filled));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_it_and_every_dashboard_query_works() {
    let s = server(config()).await;
    let prom = Prometheus::start(s.addr).await;
    traffic(&s).await;
    // Wait for a few scrapes (rates need two samples within the window).
    let mut up = false;
    for _ in 0..100 {
        let (_, r) = prom
            .query("count_over_time(up{job=\"livetape\"}[1m])")
            .await;
        if r.first()
            .and_then(|x| x["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|n| n >= 4.0)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(up, "Prometheus scraped livetape four times");
    let (_, r) = prom.query("up{job=\"livetape\"}").await;
    assert_eq!(r[0]["value"][1], "1", "the scrape target is up");

    let queries = dashboard_queries();
    assert!(queries.len() >= 15, "{} queries", queries.len());
    let mut empty = Vec::new();
    for (title, q) in &queries {
        let (status, result) = prom.query(q).await;
        assert_eq!(status, "success", "{title}: {q}");
        if result.is_empty() {
            empty.push(format!("{title}: {q}"));
        }
    }
    // Only what needs Redis or a client that fell behind may be empty on one quiet node.
    let unexpected: Vec<&String> = empty
        .iter()
        .filter(|e| {
            !e.contains("redis")
                && !e.contains("leading")
                && !e.contains("lag_events")
                && !e.contains("conflated")
                && !e.contains("shed")
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "panels with no data: {unexpected:#?}"
    );
}

#[test]
fn every_metric_the_dashboard_uses_is_one_the_server_exports() {
    let exported = include_str!("../src/server/metrics.rs");
    for (title, q) in dashboard_queries() {
        for name in q
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("livetape_"))
        {
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum");
            assert!(
                exported.contains(&format!("\"{base}\"")),
                "{title}: {name} is not a metric the server describes"
            );
        }
    }
}
