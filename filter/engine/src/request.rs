//! What the filter reads of a request: its headers (one host call for all
//! of them), its correlation id, its peer (cached per connection), and the
//! whole exchange of a request Envoy ended before the filter saw it.

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::active::Active;
use crate::body::Extra;
use crate::exchange::Exchange;
use crate::host::{Headers, Host};
use crate::metrics::Counter;
use crate::peer::Peer;
use crate::record::{escape_bounded, is_safe_request_id, trace_id_from_traceparent, uuid_v4};
use crate::text::{number, text};

/// Bytes of `X-Forwarded-For` kept in a record.
const MAX_FORWARDED_FOR: usize = 256;

/// What the headers said about the request's ids.
#[derive(Debug, Default)]
pub struct Ids {
    /// The client sent an `x-request-id` that is not taken.
    pub request_id_refused: bool,
    pub traceparent: Option<String>,
}

/// Reads the request headers into `ex`; with a `redaction` section, the
/// ones it records go to `extra`. A client `x-request-id` becomes the
/// correlation id only when [`is_safe_request_id`] and sent once;
/// otherwise the (first) value is kept cut and escaped as
/// `client_request_id`.
pub fn read_headers<H: Host>(
    host: &H,
    active: &Active,
    ex: &mut Exchange,
    mut extra: Option<&mut Extra>,
) -> Ids {
    let config = &active.settings.config;
    let max_id = config.request_id_max_bytes;
    let mut ids = Ids::default();
    let mut seen_request_id = false;
    host.for_each_header(Headers::Request, |name, value| match name {
        b":method" => ex.method = text(value),
        b":path" => ex.path = text(value),
        b"user-agent" => {
            // Every line, as HTTP joins them: not only the one a sender
            // put last.
            if !ex.user_agent.is_empty() {
                ex.user_agent.push_str(", ");
            }
            ex.user_agent.push_str(&crate::text::lossy(value));
        }
        b"x-request-id" => {
            if seen_request_id {
                // Two ids name no request: neither is taken.
                if ex.client_request_id.is_empty() {
                    ex.client_request_id = std::mem::take(&mut ex.correlation_id);
                }
                ex.correlation_id.clear();
                ids.request_id_refused = true;
            } else if is_safe_request_id(value, max_id) {
                ex.correlation_id = text(value);
            } else {
                ex.client_request_id = escape_bounded(value, max_id);
                ids.request_id_refused = true;
            }
            seen_request_id = true;
        }
        b"traceparent" => ids.traceparent = Some(text(value)),
        b"content-length" => ex.request_bytes = number(value),
        b"x-forwarded-for" => {
            let room = MAX_FORWARDED_FOR.saturating_sub(ex.forwarded_for.len());
            if room > 2 {
                if !ex.forwarded_for.is_empty() {
                    ex.forwarded_for.push_str(", ");
                }
                ex.forwarded_for
                    .push_str(&escape_bounded(value, room.saturating_sub(2)));
            }
        }
        _ => {
            if let Some(extra) = extra.as_deref_mut() {
                extra.request_header(&config.capture, name, value);
            }
        }
    });
    ex.trace_id = ids
        .traceparent
        .as_deref()
        .and_then(trace_id_from_traceparent)
        .map(str::to_string)
        .unwrap_or_default();
    ids
}

/// Gives a request without an acceptable `x-request-id` a generated one;
/// `forward` also sets it on the request, so the upstream sees the id the
/// record and the client's echo carry.
pub fn correlate<H: Host>(host: &H, active: &Active, ex: &mut Exchange, ids: &Ids, forward: bool) {
    if !ex.correlation_id.is_empty() {
        return;
    }
    // Envoy normally generates x-request-id when there is none; cover
    // setups that turn that off, and ids that were refused.
    ex.correlation_id = uuid_v4(fastrand::u128(..));
    if forward {
        host.set_header(Headers::Request, "x-request-id", Some(&ex.correlation_id));
    }
    if ids.request_id_refused {
        active.metrics.add(Counter::RequestIdsReplaced, 1);
    }
}

/// The peer of the request's connection, read on its first request.
pub fn peer<H: Host>(host: &H, active: &Active) -> Rc<Peer> {
    let read = || Peer::read(host);
    match active.peers.try_borrow_mut() {
        Ok(mut peers) => peers.get_or_read(host.property_u64(b"connection\0id"), read),
        Err(_) => Rc::new(read()),
    }
}

/// The exchange of a request Envoy rejected or reset before the filter saw
/// its headers (a codec error): it started when Envoy says the stream
/// started, gets a generated correlation id and whatever headers Envoy
/// parsed; its status and the reason are read when it is settled.
pub fn incomplete<H: Host>(host: &H, active: &Active, now: SystemTime) -> Exchange {
    let mut ex = Exchange {
        start: host
            .property_i64(b"request\0time")
            .and_then(|ns| u64::try_from(ns).ok())
            .map(|ns| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
            .filter(|&start| start > SystemTime::UNIX_EPOCH && start <= now)
            .unwrap_or(now),
        ..Exchange::default()
    };
    let config = &active.settings.config;
    // With a `redaction` section, nothing is recorded unredacted: the path
    // and recorded headers of these requests too.
    let mut extra = config.redaction.as_ref().map(|_| Box::<Extra>::default());
    let ids = read_headers(host, active, &mut ex, extra.as_deref_mut());
    ex.extra = extra;
    ex.peer = Some(peer(host, active));
    correlate(host, active, &mut ex, &ids, false);
    active.metrics.add(Counter::IncompleteRequests, 1);
    ex
}

#[cfg(test)]
mod tests;
