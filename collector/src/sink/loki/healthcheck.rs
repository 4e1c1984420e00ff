//! Readiness of the Loki sink for `/readyz`: Loki answers its `/ready`.

use std::sync::Arc;

use async_trait::async_trait;
use url::Url;

use super::config::{PUSH_PATH, SINK_NAME};
use super::service::{message, Client};
use crate::sink::net::with_causes;
use crate::telemetry::health::ReadyCheck;

pub struct LokiReady {
    client: Arc<Client>,
    /// Loki's readiness endpoint (`<base>/ready`).
    ready_url: Url,
}

impl LokiReady {
    pub fn new(client: Arc<Client>) -> Self {
        let push_url = client.push_url();
        let mut ready_url = push_url.clone();
        let base = push_url.path().strip_suffix(PUSH_PATH).unwrap_or("/");
        ready_url.set_path(&format!("{base}ready"));
        LokiReady { client, ready_url }
    }
}

#[async_trait]
impl ReadyCheck for LokiReady {
    fn name(&self) -> &str {
        SINK_NAME
    }

    /// `GET <base>/ready`: Loki answers 200 once it accepts pushes.
    async fn check(&self) -> Result<(), String> {
        let request = self.client.get(self.ready_url.clone());
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                Err(format!(
                    "{}: {status}: {}",
                    self.ready_url,
                    message(response).await
                ))
            }
            Err(e) => Err(format!("{}: {}", self.ready_url, with_causes(&e))),
        }
    }
}
