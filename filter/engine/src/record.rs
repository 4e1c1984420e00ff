//! The audit record (NIST 800-53 AU-3) as the filter builds it from
//! request facts.
//!
//! The filter encodes a [`RecordView`] (borrowed fields) straight into a
//! batch, with the bytes of the protobuf [`AuditRecord`] but none of its
//! owned copies; the collector decodes [`AuditRecord`] and turns it into
//! its canonical JSON (`observatory_proto::json`).

use std::collections::BTreeMap;

pub use observatory_proto::audit::AuditRecord;
use prost::encoding::{self, btree_map};
use serde::Serialize;

/// An [`AuditRecord`] whose text fields borrow from where the filter already
/// keeps them (request headers, the connection's peer, the configuration).
/// Built once per request at log time; encoding it allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub ts_unix_nanos: i64,
    pub correlation_id: &'a str,
    pub trace_id: &'a str,
    pub source_principal: &'a str,
    pub source_ip: &'a str,
    pub mtls: bool,
    pub destination_workload: &'a str,
    pub destination_namespace: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u32,
    pub duration_ms: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub user_agent: &'a str,
    pub decision: &'a str,
    pub shadow_decision: &'a str,
    pub rule: &'a str,
    pub redactions: &'a BTreeMap<String, u32>,
    pub proxy_id: &'a str,
    pub audit_policy: &'a str,
    pub query: &'a str,
    pub headers: &'a BTreeMap<String, String>,
    pub request_body: &'a str,
    pub response_body: &'a str,
    pub record_id: &'a str,
    pub client_request_id: &'a str,
    pub forwarded_for: &'a str,
    pub source_ip_origin: &'a str,
    pub response_details: &'a str,
}

impl RecordView<'_> {
    /// Appends the record's fields as `AuditRecord`'s protobuf encoding
    /// would (field numbers of `audit.proto`, proto3 defaults left out, in
    /// declaration order), without the enclosing tag and length.
    pub fn encode_raw(&self, buf: &mut Vec<u8>) {
        let text = |tag: u32, value: &str, buf: &mut Vec<u8>| {
            if !value.is_empty() {
                encoding::encode_key(tag, encoding::WireType::LengthDelimited, buf);
                encoding::encode_varint(value.len() as u64, buf);
                buf.extend_from_slice(value.as_bytes());
            }
        };
        if self.ts_unix_nanos != 0 {
            encoding::int64::encode(1, &self.ts_unix_nanos, buf);
        }
        text(2, self.correlation_id, buf);
        text(3, self.trace_id, buf);
        text(4, self.source_principal, buf);
        text(5, self.source_ip, buf);
        if self.mtls {
            encoding::bool::encode(6, &self.mtls, buf);
        }
        text(7, self.destination_workload, buf);
        text(8, self.destination_namespace, buf);
        text(9, self.method, buf);
        text(10, self.path, buf);
        if self.status != 0 {
            encoding::uint32::encode(11, &self.status, buf);
        }
        if self.duration_ms != 0.0 {
            encoding::double::encode(12, &self.duration_ms, buf);
        }
        if self.request_bytes != 0 {
            encoding::uint64::encode(13, &self.request_bytes, buf);
        }
        if self.response_bytes != 0 {
            encoding::uint64::encode(14, &self.response_bytes, buf);
        }
        text(15, self.user_agent, buf);
        text(16, self.decision, buf);
        text(17, self.shadow_decision, buf);
        text(18, self.rule, buf);
        btree_map::encode(
            encoding::string::encode,
            encoding::string::encoded_len,
            encoding::uint32::encode,
            encoding::uint32::encoded_len,
            19,
            self.redactions,
            buf,
        );
        text(20, self.proxy_id, buf);
        text(21, self.audit_policy, buf);
        text(22, self.query, buf);
        btree_map::encode(
            encoding::string::encode,
            encoding::string::encoded_len,
            encoding::string::encode,
            encoding::string::encoded_len,
            23,
            self.headers,
            buf,
        );
        text(24, self.request_body, buf);
        text(25, self.response_body, buf);
        text(26, self.record_id, buf);
        text(27, self.client_request_id, buf);
        text(28, self.forwarded_for, buf);
        text(29, self.source_ip_origin, buf);
        text(30, self.response_details, buf);
    }
}

#[cfg(test)]
impl<'a> From<&'a AuditRecord> for RecordView<'a> {
    fn from(r: &'a AuditRecord) -> Self {
        RecordView {
            ts_unix_nanos: r.ts_unix_nanos,
            correlation_id: &r.correlation_id,
            trace_id: &r.trace_id,
            source_principal: &r.source_principal,
            source_ip: &r.source_ip,
            mtls: r.mtls,
            destination_workload: &r.destination_workload,
            destination_namespace: &r.destination_namespace,
            method: &r.method,
            path: &r.path,
            status: r.status,
            duration_ms: r.duration_ms,
            request_bytes: r.request_bytes,
            response_bytes: r.response_bytes,
            user_agent: &r.user_agent,
            decision: &r.decision,
            shadow_decision: &r.shadow_decision,
            rule: &r.rule,
            redactions: &r.redactions,
            proxy_id: &r.proxy_id,
            audit_policy: &r.audit_policy,
            query: &r.query,
            headers: &r.headers,
            request_body: &r.request_body,
            response_body: &r.response_body,
            record_id: &r.record_id,
            client_request_id: &r.client_request_id,
            forwarded_for: &r.forwarded_for,
            source_ip_origin: &r.source_ip_origin,
            response_details: &r.response_details,
        }
    }
}

/// JSON body of a reply the filter sends itself (403 denial, 503 audit
/// unavailable): `{"correlation_id":…,"error":…,"rule":…}`.
pub fn local_reply_body(error: &str, correlation_id: &str, rule: &str) -> String {
    /// Written from a struct, not a `serde_json::Value` map: the filter
    /// builds no `Value` then.
    #[derive(Serialize)]
    struct LocalReply<'a> {
        correlation_id: &'a str,
        error: &'a str,
        rule: &'a str,
    }
    let reply = LocalReply {
        correlation_id,
        error,
        rule,
    };
    serde_json::to_string(&reply).unwrap_or_default()
}

/// The path of a `:path` value, without query string or fragment.
pub fn path_without_query(path: &str) -> &str {
    // Bytes, not chars: both delimiters are ASCII, and every request's path
    // goes through here.
    match path.bytes().position(|b| b == b'?' || b == b'#') {
        Some(i) => path.get(..i).unwrap_or(path),
        None => path,
    }
}

/// The trace id of a W3C `traceparent` header
/// (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`), if valid.
pub fn trace_id_from_traceparent(header: &str) -> Option<&str> {
    let mut parts = header.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent_id = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let all_zero = |s: &str| s.bytes().all(|b| b == b'0');
    (hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && !all_zero(trace_id)
        && hex(parent_id, 16)
        && !all_zero(parent_id)
        && hex(flags, 2))
    .then_some(trace_id)
}

/// Formats 128 random bits as a version 4 UUID.
pub fn uuid_v4(random: u128) -> String {
    Uuid::new(random).as_str().to_owned()
}

/// A version 4 UUID in its text form, on the stack: a record id costs no
/// allocation.
#[derive(Debug, Clone, Copy)]
pub struct Uuid([u8; 36]);

impl Uuid {
    /// The UUID of 128 random bits (version and variant bits set), written
    /// a byte (two hex digits) at a time into the dashed layout.
    pub fn new(random: u128) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        /// Where each byte's two digits go in `8-4-4-4-12`.
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut bytes = random.to_be_bytes();
        bytes[6] = bytes[6] & 0x0F | 0x40;
        bytes[8] = bytes[8] & 0x3F | 0x80;
        let mut out = [b'-'; 36];
        for (&at, &b) in AT.iter().zip(&bytes) {
            if let Some(pair) = out.get_mut(at..at + 2) {
                pair.copy_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
            }
        }
        Uuid(out)
    }

    pub fn as_str(&self) -> &str {
        // Hex digits and dashes only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Whether a client's `x-request-id` may be the correlation id: at most
/// `max` bytes of `[A-Za-z0-9._:-]`, so that it cannot inject into logs,
/// JSON or queries, nor bloat every record and line that carries it.
pub fn is_safe_request_id(id: &[u8], max: usize) -> bool {
    !id.is_empty() && id.len() <= max && id.iter().all(|&b| ID_BYTES[usize::from(b)])
}

/// The bytes of an acceptable request id, as a table: every request's id
/// is checked.
const ID_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-');
        b += 1;
    }
    table
};

/// A client-controlled value as printable ASCII: its first `max` bytes,
/// with bytes outside `' '..='~'` and `\` written as `\xNN`.
pub fn escape_bounded(value: &[u8], max: usize) -> String {
    let value = value.get(..max).unwrap_or(value);
    let mut out = String::with_capacity(value.len());
    for &b in value {
        if (b' '..=b'~').contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The IP of an Envoy `source.address` (`1.2.3.4:5678`, `[::1]:5678`).
pub fn ip_of_address(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn view_encodes_to_the_bytes_of_the_owned_record() {
        use prost::Message;
        let full = AuditRecord {
            ts_unix_nanos: -5,
            correlation_id: "c1".into(),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            source_principal: "spiffe://cluster.local/ns/a/sa/b".into(),
            source_ip: "10.0.0.1".into(),
            mtls: true,
            destination_workload: "w".into(),
            destination_namespace: "ns".into(),
            method: "POST".into(),
            path: "/p".into(),
            status: 201,
            duration_ms: 0.573,
            request_bytes: 1 << 40,
            response_bytes: 7,
            user_agent: "ua é".into(),
            decision: "allow".into(),
            shadow_decision: "deny".into(),
            rule: "p/r".into(),
            redactions: BTreeMap::from([("EMAIL".into(), 2), ("PHONE".into(), 0)]),
            proxy_id: "proxy".into(),
            audit_policy: "audit".into(),
            query: "q=[REDACTED:EMAIL]".into(),
            headers: BTreeMap::from([
                ("referer".into(), "r".into()),
                ("x-empty".into(), String::new()),
            ]),
            request_body: "{}".into(),
            response_body: "[]".into(),
            record_id: "r1".into(),
            client_request_id: "c\\u0009".into(),
            forwarded_for: "203.0.113.9".into(),
            source_ip_origin: "peer".into(),
            response_details: "http1.invalid_characters".into(),
        };
        for r in [
            full,
            AuditRecord::default(),
            AuditRecord {
                path: "/only".into(),
                ..Default::default()
            },
        ] {
            let mut bytes = Vec::new();
            RecordView::from(&r).encode_raw(&mut bytes);
            assert_eq!(bytes, r.encode_to_vec(), "{r:?}");
            assert_eq!(AuditRecord::decode(bytes.as_slice()).unwrap(), r);
        }
    }

    #[test]
    fn local_replies_are_json_with_sorted_keys_and_escapes() {
        assert_eq!(
            local_reply_body("forbidden", "c-1", "no \"admin\"\n"),
            r#"{"correlation_id":"c-1","error":"forbidden","rule":"no \"admin\"\n"}"#
        );
    }

    #[test]
    fn query_and_fragment_are_cut() {
        assert_eq!(path_without_query("/a/b?x=1#f"), "/a/b");
        assert_eq!(path_without_query("/a#f?x"), "/a");
        assert_eq!(path_without_query("/plain"), "/plain");
        assert_eq!(path_without_query("?only"), "");
    }

    #[test]
    fn traceparent_yields_trace_id_only_when_valid() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id_from_traceparent(tp),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-ü4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id_from_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn uuid_v4_has_version_and_variant_bits() {
        for r in [0u128, u128::MAX, 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef] {
            let u = uuid_v4(r);
            assert_eq!(u.len(), 36);
            let b = u.as_bytes();
            assert_eq!((b[8], b[13], b[18], b[23]), (b'-', b'-', b'-', b'-'));
            assert_eq!(b[14], b'4', "{u}");
            assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'), "{u}");
        }
        assert_ne!(uuid_v4(1), uuid_v4(2));
        assert_eq!(
            uuid_v4(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            "01234567-89ab-4def-8123-456789abcdef"
        );
    }

    #[test]
    fn client_request_ids_are_accepted_only_when_short_and_plain() {
        assert!(is_safe_request_id(b"4bf92f35-77b3.4da6_a3ce:1", 128));
        assert!(is_safe_request_id(&[b'a'; 128], 128));
        for bad in [
            &b""[..],
            &[b'a'; 129],
            b"a b",
            b"a\tb",
            b"a\nb",
            br#"x","decision":"allow"#,
            b"caf\xc3\xa9",
            b"a/b",
        ] {
            assert!(!is_safe_request_id(bad, 128), "{bad:?}");
        }
    }

    #[test]
    fn client_values_are_cut_and_escaped() {
        assert_eq!(escape_bounded(b"plain id-1", 128), "plain id-1");
        assert_eq!(
            escape_bounded(b"a\tb\nc\\d\"e\xff", 128),
            r#"a\x09b\x0ac\x5cd"e\xff"#
        );
        assert_eq!(escape_bounded(&[b'x'; 8192], 128).len(), 128);
        assert_eq!(escape_bounded(b"\n\n\n", 2), r"\x0a\x0a");
    }

    #[test]
    fn ip_is_taken_from_address() {
        assert_eq!(ip_of_address("10.1.2.3:443"), "10.1.2.3");
        assert_eq!(ip_of_address("[::1]:8080"), "::1");
        assert_eq!(ip_of_address("::1"), "::1");
        assert_eq!(ip_of_address("10.1.2.3"), "10.1.2.3");
        assert_eq!(ip_of_address("[broken"), "broken");
    }
}
