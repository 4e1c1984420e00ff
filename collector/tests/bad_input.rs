//! A batch that cannot be decoded, or whose envelope is wrong, ends only the offending
//! stream, with a status that says why (a wrong record alone does not: `invalid_records.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{batch, record, start, start_with};
use observatory_proto::audit::Ack;
use prost::bytes::{Buf as _, BufMut as _};
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Status};

#[tokio::test]
async fn invalid_batch_ends_its_stream_while_others_go_on() {
    let collector = start().await;
    let mut good = collector.open().await;
    let mut bad = collector.open().await;
    assert_eq!(good.send(batch(1, vec![record(1)])).await.unwrap(), 1);

    let mut anonymous = batch(7, vec![record(10), record(11)]);
    anonymous.instance_id.clear();
    let status = bad.send(anonymous).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "batch seq 7: instance_id must not be empty"
    );

    assert_eq!(good.send(batch(2, vec![record(2)])).await.unwrap(), 2);
    // Nothing of the rejected batch was stored.
    let ids: Vec<String> = collector
        .json_lines()
        .await
        .iter()
        .map(|l| l["correlation_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["corr-1", "corr-2"]);
    assert_eq!(collector.stats.snapshot().batches_rejected, 1);
}

#[tokio::test]
async fn envelope_errors_are_invalid_argument() {
    let collector = start_with(|c| c.max_records_per_batch = common::limit(2)).await;
    let cases = [
        (
            {
                let mut b = batch(1, vec![]);
                b.proxy_id.clear();
                b
            },
            "batch seq 1: proxy_id must not be empty",
        ),
        (
            batch(0, vec![record(1)]),
            "batch seq 0 is a heartbeat and must carry no records and no gap",
        ),
        (
            batch(3, vec![record(1), record(2), record(3)]),
            "batch seq 3: 3 records exceed the limit of 2",
        ),
    ];
    for (bad, message) in cases {
        let status = collector.open().await.send(bad).await.unwrap_err();
        assert_eq!(
            (status.code(), status.message()),
            (Code::InvalidArgument, message)
        );
    }
}

#[tokio::test]
async fn oversized_batch_is_resource_exhausted() {
    let collector = start_with(|c| c.max_batch_bytes = common::limit(1024)).await;
    let mut stream = collector.open().await;
    assert_eq!(stream.send(batch(1, vec![record(1)])).await.unwrap(), 1);
    let mut huge = record(2);
    huge.path = "/x".repeat(1024);
    let status = stream.send(batch(2, vec![huge])).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("max_batch_bytes"), "{status:?}");
    assert_eq!(collector.lines().await.len(), 1);
    assert_eq!(collector.stats.snapshot().batches_rejected, 1);
    // The collector still serves.
    assert_eq!(collector.open().await.heartbeat().await.unwrap(), 1);
}

#[tokio::test]
async fn undecodable_bytes_get_a_status_not_a_crash() {
    let collector = start().await;
    let cases: [(&str, &[u8]); 3] = [
        // Field 1 (proxy_id) announces 127 bytes and ends.
        ("truncated", &[0x0a, 0x7f, b'p']),
        // Field 1 (proxy_id) holds invalid UTF-8.
        ("invalid UTF-8", &[0x0a, 0x02, 0xc3, 0x28]),
        // Wire type 7 does not exist.
        ("bad wire type", &[0x0f]),
    ];
    for (what, bytes) in cases {
        let status = send_raw(collector.addr, bytes.to_vec()).await.unwrap_err();
        // INTERNAL is gRPC's code for an unparsable message (tonic's choice too).
        assert_eq!(status.code(), Code::Internal, "{what}: {status:?}");
        assert!(
            status
                .message()
                .starts_with("failed to decode Protobuf message"),
            "{what}: {status:?}"
        );
    }
    // An empty message decodes as a batch with nothing set.
    let status = send_raw(collector.addr, Vec::new()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // Other streams were never affected.
    assert_eq!(collector.open().await.heartbeat().await.unwrap(), 0);
    assert!(collector.lines().await.is_empty());
    // Each was counted as a refused batch.
    assert_eq!(collector.stats.snapshot().batches_rejected, 4);
}

/// Sends `bytes` as the one message of an `AuditService/Stream` call and
/// returns the first ack or the status.
async fn send_raw(addr: std::net::SocketAddr, bytes: Vec<u8>) -> Result<Ack, Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = PathAndQuery::from_static("/observatory.audit.v1.AuditService/Stream");
    let request = tonic::Request::new(tokio_stream::iter([bytes]));
    let mut acks = grpc.streaming(request, path, RawCodec).await?.into_inner();
    acks.message()
        .await?
        .ok_or_else(|| Status::unknown("stream ended without a status"))
}

/// Sends raw bytes as the message body; decodes acks with prost.
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Ack;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Ack;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Ack>, Status> {
        let ack = Ack::decode(src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Some(ack))
    }
}
