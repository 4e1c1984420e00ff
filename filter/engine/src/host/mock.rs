//! A [`Host`] for unit tests: Envoy's state is set up front (properties,
//! headers, bodies, the clock, what the collector answers) and every call
//! that acts on Envoy is recorded in order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use super::{Body, Headers, Host, HostError};

/// A call that changed something in Envoy (reads are not recorded, except
/// properties in [`MockHost::property_reads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    SetHeader {
        map: Headers,
        name: String,
        value: Option<String>,
    },
    LocalReply {
        status: u32,
        details: String,
        headers: Vec<(String, String)>,
        body: String,
    },
    ReplaceBody {
        which: Body,
        data: Vec<u8>,
    },
    TickPeriod(Duration),
    OpenStream {
        service: Vec<u8>,
        metadata: Vec<(String, Vec<u8>)>,
    },
    Send {
        token: u32,
        message: Vec<u8>,
    },
    Cancel(u32),
}

#[derive(Debug)]
pub struct MockHost {
    /// Milliseconds since the Unix epoch.
    pub now_ms: Cell<u64>,
    pub properties: RefCell<HashMap<Vec<u8>, Vec<u8>>>,
    pub request_headers: RefCell<Vec<(String, String)>>,
    pub response_headers: RefCell<Vec<(String, String)>>,
    pub request_body: RefCell<Vec<u8>>,
    pub response_body: RefCell<Vec<u8>>,
    pub configuration: RefCell<Vec<u8>>,
    /// The VM's environment.
    pub env: RefCell<HashMap<String, String>>,
    /// The message the next gRPC message callback reads.
    pub grpc_inbox: RefCell<Vec<u8>>,
    pub grpc_status: RefCell<String>,
    /// Answers of the next `open_grpc_stream` calls; `Ok` with a fresh
    /// token once they run out.
    pub open_results: RefCell<VecDeque<Result<(), HostError>>>,
    pub calls: RefCell<Vec<Call>>,
    pub property_reads: RefCell<Vec<String>>,
    pub counters: RefCell<Vec<(String, u64)>>,
    next_token: Cell<u32>,
}

impl Default for MockHost {
    fn default() -> Self {
        MockHost {
            now_ms: Cell::new(1_700_000_000_000),
            properties: RefCell::default(),
            request_headers: RefCell::default(),
            response_headers: RefCell::default(),
            request_body: RefCell::default(),
            response_body: RefCell::default(),
            configuration: RefCell::default(),
            env: RefCell::default(),
            grpc_inbox: RefCell::default(),
            grpc_status: RefCell::default(),
            open_results: RefCell::default(),
            calls: RefCell::default(),
            property_reads: RefCell::default(),
            counters: RefCell::default(),
            next_token: Cell::new(1),
        }
    }
}

impl MockHost {
    pub fn with_config(json: &str) -> Self {
        let host = MockHost::default();
        *host.configuration.borrow_mut() = json.as_bytes().to_vec();
        host
    }

    pub fn advance(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }

    /// Sets the property of these path segments.
    pub fn set_property(&self, path: &[&str], value: &[u8]) {
        self.properties
            .borrow_mut()
            .insert(path.join("\0").into_bytes(), value.to_vec());
    }

    pub fn set_request_headers(&self, headers: &[(&str, &str)]) {
        *self.request_headers.borrow_mut() = owned(headers);
    }

    pub fn set_response_headers(&self, headers: &[(&str, &str)]) {
        *self.response_headers.borrow_mut() = owned(headers);
    }

    /// The calls recorded so far, which are then forgotten.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    /// The messages sent on gRPC streams so far (and forgets all calls).
    pub fn take_sent(&self) -> Vec<(u32, Vec<u8>)> {
        self.take_calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Send { token, message } => Some((token, message)),
                _ => None,
            })
            .collect()
    }

    fn record(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }

    fn map(&self, map: Headers) -> &RefCell<Vec<(String, String)>> {
        match map {
            Headers::Request => &self.request_headers,
            Headers::Response => &self.response_headers,
        }
    }

    fn buffer(&self, which: Body) -> &RefCell<Vec<u8>> {
        match which {
            Body::Request => &self.request_body,
            Body::Response => &self.response_body,
        }
    }
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
        .collect()
}

impl Host for MockHost {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.now_ms.get())
    }

    fn property(&self, path: &[u8]) -> Option<Vec<u8>> {
        self.property_reads
            .borrow_mut()
            .push(String::from_utf8_lossy(path).replace('\0', "."));
        self.properties.borrow().get(path).cloned()
    }

    fn for_each_header(&self, map: Headers, mut visit: impl FnMut(&[u8], &[u8])) {
        for (name, value) in self.map(map).borrow().iter() {
            visit(name.as_bytes(), value.as_bytes());
        }
    }

    fn set_header(&self, map: Headers, name: &str, value: Option<&str>) {
        let mut headers = self.map(map).borrow_mut();
        headers.retain(|(n, _)| n != name);
        if let Some(v) = value {
            headers.push((name.to_string(), v.to_string()));
        }
        self.record(Call::SetHeader {
            map,
            name: name.to_string(),
            value: value.map(str::to_string),
        });
    }

    fn send_local_response(
        &self,
        status: u32,
        details: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        self.record(Call::LocalReply {
            status,
            details: details.to_string(),
            headers: owned(headers),
            body: String::from_utf8_lossy(body).into_owned(),
        });
        Ok(())
    }

    fn body(&self, which: Body, start: usize, size: usize) -> Vec<u8> {
        let body = self.buffer(which).borrow();
        let end = start.saturating_add(size).min(body.len());
        body.get(start.min(end)..end).unwrap_or_default().to_vec()
    }

    fn replace_body(&self, which: Body, size: usize, data: &[u8]) -> bool {
        let mut body = self.buffer(which).borrow_mut();
        let size = size.min(body.len());
        body.splice(..size, data.iter().copied());
        self.record(Call::ReplaceBody {
            which,
            data: data.to_vec(),
        });
        true
    }

    fn plugin_configuration(&self) -> Vec<u8> {
        self.configuration.borrow().clone()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env.borrow().get(name).cloned()
    }

    fn set_tick_period(&self, period: Duration) -> Result<(), HostError> {
        self.record(Call::TickPeriod(period));
        Ok(())
    }

    fn open_grpc_stream(
        &self,
        service: &str,
        _service_name: &str,
        _method: &str,
        initial_metadata: &[(&str, &[u8])],
    ) -> Result<u32, HostError> {
        self.record(Call::OpenStream {
            service: service.as_bytes().to_vec(),
            metadata: initial_metadata
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.to_vec()))
                .collect(),
        });
        self.open_results
            .borrow_mut()
            .pop_front()
            .unwrap_or(Ok(()))?;
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        Ok(token)
    }

    fn send_grpc_message(&self, token: u32, message: &[u8]) -> Result<(), HostError> {
        self.record(Call::Send {
            token,
            message: message.to_vec(),
        });
        Ok(())
    }

    fn cancel_grpc_stream(&self, token: u32) {
        self.record(Call::Cancel(token));
    }

    fn grpc_message(&self, size: usize) -> Vec<u8> {
        let inbox = self.grpc_inbox.borrow();
        inbox
            .get(..size.min(inbox.len()))
            .unwrap_or_default()
            .to_vec()
    }

    fn grpc_status_message(&self) -> String {
        self.grpc_status.borrow().clone()
    }

    fn define_counter(&self, name: &str) -> Result<u32, HostError> {
        let mut counters = self.counters.borrow_mut();
        if let Some(i) = counters.iter().position(|(n, _)| n == name) {
            return Ok(i as u32);
        }
        counters.push((name.to_string(), 0));
        Ok(counters.len() as u32 - 1)
    }

    fn increment_counter(&self, id: u32, by: u64) {
        if let Some((_, n)) = self.counters.borrow_mut().get_mut(id as usize) {
            *n += by;
        }
    }
}

impl MockHost {
    /// A counter's value as Envoy has it (after the flush on a tick).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, n)| *n)
    }
}

/// A plugin configured with `json` on a fresh mock host, its calls so far
/// forgotten.
pub fn configured(json: &str) -> (MockHost, crate::plugin::Plugin) {
    let host = MockHost::with_config(json);
    let mut plugin = crate::plugin::Plugin::new(1);
    assert!(plugin.on_configure(&host), "configuration rejected: {json}");
    host.take_calls();
    (host, plugin)
}

/// The batches sent so far (heartbeats included), decoded; forgets all calls.
pub fn sent_batches(host: &MockHost) -> Vec<observatory_proto::audit::AuditBatch> {
    use prost::Message;
    host.take_sent()
        .into_iter()
        .map(|(_, m)| observatory_proto::audit::AuditBatch::decode(m.as_slice()).unwrap())
        .collect()
}

/// The collector's `ack` arriving on stream `token`.
pub fn receive_ack(
    host: &MockHost,
    plugin: &crate::plugin::Plugin,
    token: u32,
    ack: &observatory_proto::audit::Ack,
) {
    use prost::Message;
    let bytes = ack.encode_to_vec();
    let size = bytes.len();
    *host.grpc_inbox.borrow_mut() = bytes;
    plugin.on_grpc_stream_message(host, token, size);
}

/// The records of the batches sent so far, in order; forgets all calls.
pub fn sent_records(host: &MockHost) -> Vec<observatory_proto::audit::AuditRecord> {
    records_in(&host.take_calls())
}

/// The records of the batches sent by `calls`, in order.
pub fn records_in(calls: &[Call]) -> Vec<observatory_proto::audit::AuditRecord> {
    use prost::Message;
    calls
        .iter()
        .filter_map(|c| match c {
            Call::Send { message, .. } => {
                observatory_proto::audit::AuditBatch::decode(message.as_slice()).ok()
            }
            _ => None,
        })
        .flat_map(|b| b.records)
        .collect()
}

/// Status and body of the local replies among `calls`.
pub fn local_replies(calls: &[Call]) -> Vec<(u32, String)> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::LocalReply { status, body, .. } => Some((*status, body.clone())),
            _ => None,
        })
        .collect()
}
