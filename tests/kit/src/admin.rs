//! The collector's admin server: `/metrics`, `/healthz`, `/readyz`.

use std::net::SocketAddr;

/// One collector's admin server, read with one HTTP client (a client per
/// request costs more than the request when polled every few ms).
pub struct Admin {
    addr: SocketAddr,
    client: reqwest::Client,
}

impl Admin {
    pub fn new(addr: SocketAddr) -> Admin {
        // Err only means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Admin {
            addr,
            client: reqwest::Client::new(),
        }
    }

    /// `GET http://{addr}{path}`: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let url = format!("http://{}{path}", self.addr);
        let response = self.client.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

/// `GET http://{addr}{path}`: status and body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    Admin::new(addr).get(path).await
}

/// The value of the sample `series` (name and labels, e.g.
/// `observatory_sink_records_confirmed_total{sink="loki"}`) in the text
/// exposition `text`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse::<f64>()
            .ok()
    })
}

/// Polls `/metrics` (250 times, 20 ms apart) until the sample `series`
/// satisfies `condition`; returns it.
pub async fn metric_until(admin: SocketAddr, series: &str, condition: impl Fn(f64) -> bool) -> f64 {
    let mut last = None;
    for _ in 0..250 {
        let (_, text) = get(admin, "/metrics").await;
        last = sample(&text, series);
        if let Some(value) = last.filter(|v| condition(*v)) {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {series} (last {last:?})");
}
