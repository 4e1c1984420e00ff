//! The on-disk form of one WAL record (one accepted batch) and the scan that
//! finds the last good record of a segment.
//!
//! ```text
//! u32 LE  body length
//! u32 LE  CRC-32C of the body
//! body:   u64 LE index (1, 2, … across segments)
//!         i64 LE accepted at (Unix ns, for the backlog age)
//!         u16 LE length + proxy_id, u16 LE length + instance_id, u64 LE seq
//!         the batch's entries as JSON lines (exactly what audit.jsonl gets)
//! ```
//! The checksum covers everything a torn write or bit rot could change; a
//! record is valid only whole, with a matching checksum and the expected
//! index.

use std::io::{self, Read};

use crate::dedupe::SenderKey;

/// Length and checksum.
pub const HEADER_BYTES: usize = 8;
/// Larger lengths are corruption: a batch is at most a few MiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// One batch as stored in the WAL.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub index: u64,
    pub accepted_nanos: i64,
    pub sender: SenderKey,
    pub seq: u64,
    /// JSON lines, each ending in `\n`.
    pub lines: Vec<u8>,
}

/// Appends one whole record to `out` (header, index, sender, seq) with the
/// lines `lines` appends (JSON lines, each ending in `\n`), written in
/// place; returns its size.
pub fn write_with(
    out: &mut Vec<u8>,
    index: u64,
    accepted_nanos: i64,
    sender: &SenderKey,
    seq: u64,
    lines: impl FnOnce(&mut Vec<u8>),
) -> usize {
    let start = out.len();
    // Length and checksum are filled in once the body is known.
    out.extend_from_slice(&[0; HEADER_BYTES]);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&accepted_nanos.to_le_bytes());
    for field in [&sender.proxy_id, &sender.instance_id] {
        // Validation caps ids far below 64 KiB; a longer one is cut, not refused.
        let bytes = &field.as_bytes()[..field.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&seq.to_le_bytes());
    lines(out);
    let body = &out[start + HEADER_BYTES..];
    let (len, crc) = (
        (body.len() as u32).to_le_bytes(),
        crc32c::crc32c(body).to_le_bytes(),
    );
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + HEADER_BYTES].copy_from_slice(&crc);
    out.len() - start
}

/// [`write_with`] for lines at hand.
pub fn write(
    out: &mut Vec<u8>,
    index: u64,
    accepted_nanos: i64,
    sender: &SenderKey,
    seq: u64,
    lines: &[u8],
) -> usize {
    write_with(out, index, accepted_nanos, sender, seq, |out| {
        out.extend_from_slice(lines)
    })
}

/// Why reading stopped before the end of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The file ends inside a record (a write cut short by a crash).
    Torn,
    /// The length field is impossible.
    BadLength(u32),
    /// The checksum does not match.
    BadChecksum,
    /// A valid record with an unexpected index.
    BadIndex { expected: u64, found: u64 },
    /// The body does not parse.
    BadBody,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Torn => f.write_str("torn record (file ends inside it)"),
            Damage::BadLength(len) => write!(f, "impossible record length {len}"),
            Damage::BadChecksum => f.write_str("checksum mismatch"),
            Damage::BadIndex { expected, found } => {
                write!(f, "record index {found} where {expected} was expected")
            }
            Damage::BadBody => f.write_str("record body does not parse"),
        }
    }
}

/// What reading the next record gave.
pub enum Next {
    Record(Record, usize),
    /// Clean end of the file.
    End,
    Damaged(Damage),
}

/// Reads the record at the reader's position; `expected` is its index.
pub fn read(reader: &mut impl Read, expected: u64) -> io::Result<Next> {
    let mut header = [0u8; HEADER_BYTES];
    match read_full(reader, &mut header)? {
        0 => return Ok(Next::End),
        HEADER_BYTES => {}
        _ => return Ok(Next::Damaged(Damage::Torn)),
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let body_len = len as usize;
    if !(16..=MAX_BODY_BYTES).contains(&body_len) {
        return Ok(Next::Damaged(Damage::BadLength(len)));
    }
    let mut body = vec![0u8; body_len];
    if read_full(reader, &mut body)? < body_len {
        return Ok(Next::Damaged(Damage::Torn));
    }
    if crc32c::crc32c(&body) != crc {
        return Ok(Next::Damaged(Damage::BadChecksum));
    }
    let Some(record) = parse(body) else {
        return Ok(Next::Damaged(Damage::BadBody));
    };
    if record.index != expected {
        return Ok(Next::Damaged(Damage::BadIndex {
            expected,
            found: record.index,
        }));
    }
    Ok(Next::Record(record, HEADER_BYTES + body_len))
}

/// The record in `body`; its lines keep `body`'s allocation.
fn parse(mut body: Vec<u8>) -> Option<Record> {
    let mut rest = body.as_slice();
    let index = u64::from_le_bytes(take(&mut rest, 8)?.try_into().ok()?);
    let accepted_nanos = i64::from_le_bytes(take(&mut rest, 8)?.try_into().ok()?);
    let mut text = || -> Option<String> {
        let len = u16::from_le_bytes(take(&mut rest, 2)?.try_into().ok()?);
        String::from_utf8(take(&mut rest, usize::from(len))?.to_vec()).ok()
    };
    let proxy_id = text()?;
    let instance_id = text()?;
    let seq = u64::from_le_bytes(take(&mut rest, 8)?.try_into().ok()?);
    let header = body.len() - rest.len();
    body.drain(..header);
    Some(Record {
        index,
        accepted_nanos,
        sender: SenderKey {
            proxy_id,
            instance_id,
        },
        seq,
        lines: body,
    })
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

/// Like `read_exact`, but says how much it got before the end of the file.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sender() -> SenderKey {
        SenderKey {
            proxy_id: "p".into(),
            instance_id: "i".into(),
        }
    }

    fn two_records() -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, 7, 5, &sender(), 3, b"{\"a\":1}\n");
        write(&mut out, 8, 6, &sender(), 4, b"{\"b\":2}\n");
        out
    }

    fn first(bytes: &[u8], expected: u64) -> Result<Record, Option<Damage>> {
        match read(&mut &bytes[..], expected).unwrap() {
            Next::Record(r, _) => Ok(r),
            Next::End => Err(None),
            Next::Damaged(d) => Err(Some(d)),
        }
    }

    #[test]
    fn round_trip_in_order() {
        let bytes = two_records();
        let mut reader = &bytes[..];
        let Next::Record(a, size) = read(&mut reader, 7).unwrap() else {
            unreachable!()
        };
        assert_eq!(
            (a.index, a.accepted_nanos, a.seq, a.lines.as_slice()),
            (7, 5, 3, &b"{\"a\":1}\n"[..])
        );
        assert_eq!(a.sender, sender());
        assert!(size < bytes.len());
        assert!(matches!(read(&mut reader, 8).unwrap(), Next::Record(b, _) if b.seq == 4));
        assert!(matches!(read(&mut reader, 9).unwrap(), Next::End));
    }

    #[test]
    fn every_kind_of_damage_is_told_apart() {
        let bytes = two_records();
        assert_eq!(first(&bytes[..5], 7), Err(Some(Damage::Torn)));
        assert_eq!(first(&bytes[..20], 7), Err(Some(Damage::Torn)));
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert_eq!(first(&flipped, 7), Err(Some(Damage::BadChecksum)));
        let mut huge = bytes.clone();
        huge[3] = 0xff;
        assert!(matches!(first(&huge, 7), Err(Some(Damage::BadLength(_)))));
        assert_eq!(
            first(&bytes, 9),
            Err(Some(Damage::BadIndex {
                expected: 9,
                found: 7
            }))
        );
        assert_eq!(first(&[], 7), Err(None));
    }
}
