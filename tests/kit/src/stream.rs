//! One audit stream to a collector (in process or a child process), driven
//! batch by batch.

use observatory_proto::audit::audit_service_client::AuditServiceClient;
use observatory_proto::audit::{Ack, AuditBatch};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

use crate::record::batch;

/// A test waiting longer for an answer fails instead of hanging.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One bidirectional stream, driven step by step.
pub struct Stream {
    batches: mpsc::Sender<AuditBatch>,
    pub acks: Streaming<Ack>,
}

impl Stream {
    pub async fn open(client: &mut AuditServiceClient<Channel>) -> Self {
        match Stream::try_open(client, &[]).await {
            Ok(stream) => stream,
            Err(status) => panic!("opening the stream: {status:?}"),
        }
    }

    /// Opens a stream with these request headers (e.g. the
    /// `x-forwarded-client-cert` a sidecar would add); the status when the
    /// collector refuses it.
    pub async fn try_open(
        client: &mut AuditServiceClient<Channel>,
        headers: &[(&'static str, &str)],
    ) -> Result<Self, tonic::Status> {
        let (batches, rx) = mpsc::channel(16);
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        for (name, value) in headers {
            let value = value
                .parse()
                .map_err(|_| tonic::Status::invalid_argument(format!("header value {value:?}")))?;
            request.metadata_mut().append(*name, value);
        }
        let acks = client.stream(request).await?.into_inner();
        Ok(Stream { batches, acks })
    }

    /// Sends a batch and returns what came back: an ack or the status that
    /// ended the stream.
    pub async fn send(&mut self, batch: AuditBatch) -> Result<u64, tonic::Status> {
        if self.batches.send(batch).await.is_err() {
            return Err(tonic::Status::unavailable("the stream is closed"));
        }
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, self.acks.message())
            .await
            .expect("neither an ack nor a status within the answer timeout");
        match answer? {
            Some(ack) => Ok(ack.seq),
            None => Err(tonic::Status::unknown("stream ended without a status")),
        }
    }

    pub async fn heartbeat(&mut self) -> Result<u64, tonic::Status> {
        self.send(batch(0, vec![])).await
    }
}
