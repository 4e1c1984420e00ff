//! The OTLP logs sink itself: `write` turns the stored lines into log
//! records and exports them in requests of at most `batch_max_records`, in
//! order, each until the receiver confirmed or refused it for good.

use std::path::Path;
use std::time::SystemTime;

use async_trait::async_trait;
use observatory_proto::json::unix_nanos;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::config::{OtlpLogsConfig, DEAD_LETTER_FILE_NAME};
use super::error::OtlpLogsError;
use super::record::{kv, log_record, string};
use super::service::{Delivery, Transport};
use crate::sink::jsonl::JsonlFile;
use crate::sink::metrics::SinkMetrics;
use crate::sink::net::Backoff;
use crate::sink::{Sink, SinkError};
use crate::trail::Lines;

/// Instrumentation scope of the exported records.
const SCOPE: &str = "observatory-collector/audit";

/// A [`Sink`] whose `write` waits for the OTLP receiver.
pub struct OtlpLogsSink {
    delivery: Delivery,
    resource: Resource,
    batch_max_records: usize,
}

impl OtlpLogsSink {
    /// Checks `config`, opens the dead-letter file (default
    /// `<data_dir>/otlp-logs-dead-letter.jsonl`). Once `shutdown` is
    /// cancelled, failed exports are no longer retried: their writes fail
    /// and the entries stay in the WAL.
    pub fn open(
        config: &OtlpLogsConfig,
        data_dir: &Path,
        metrics: SinkMetrics,
        shutdown: CancellationToken,
    ) -> Result<Self, OtlpLogsError> {
        let endpoint = config.validate()?;
        let transport = Transport::new(config, &endpoint)?;
        let target = transport.target(&endpoint);
        let dead_letter_path = config
            .dead_letter_file
            .clone()
            .unwrap_or_else(|| data_dir.join(DEAD_LETTER_FILE_NAME));
        let dead_letters = JsonlFile::open(&dead_letter_path).map_err(OtlpLogsError::DeadLetter)?;
        info!(endpoint = %target, protocol = ?config.protocol, dead_letter = %dead_letter_path.display(), "OTLP logs sink enabled");
        let backoff = Backoff {
            min: config.min_backoff(),
            max: config.max_backoff(),
        };
        Ok(OtlpLogsSink {
            delivery: Delivery {
                transport,
                target,
                dead_letters,
                backoff,
                metrics,
                shutdown,
            },
            resource: Resource {
                attributes: vec![kv(
                    "service.name".to_owned(),
                    string(config.service_name.clone()),
                )],
                ..Resource::default()
            },
            batch_max_records: config.batch_max_records.get(),
        })
    }

    fn request(&self, lines: &[&str]) -> ExportLogsServiceRequest {
        let observed = u64::try_from(unix_nanos(SystemTime::now())).unwrap_or(0);
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: SCOPE.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    log_records: lines
                        .iter()
                        .map(|line| log_record(line, observed))
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

#[async_trait]
impl Sink for OtlpLogsSink {
    async fn write(&self, lines: &Lines) -> Result<(), SinkError> {
        let lines: Vec<&str> = lines.iter().collect();
        for chunk in lines.chunks(self.batch_max_records) {
            let request = self.request(chunk);
            self.delivery.deliver(&request, chunk).await?;
        }
        Ok(())
    }
}
