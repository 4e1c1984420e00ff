//! proxy-wasm's serialized header map, as the host returns and takes it: a `u32`
//! count, then a (name length, value length) `u32` pair per header, then
//! each name and each value followed by a NUL byte; integers little-endian.
//!
//! Parsed here rather than by the SDK, whose parser allocates two `String`s
//! per header and panics on a value that is not UTF-8 (HTTP/1 allows
//! obs-text bytes in values, so a client could stop the VM with one header).

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed header map: {0}")]
pub struct MalformedMap(&'static str);

/// Calls `visit` with each header's name and value, in order, borrowing
/// from `bytes`. Stops at the first inconsistency; the headers before it
/// have been visited.
pub fn for_each(bytes: &[u8], mut visit: impl FnMut(&[u8], &[u8])) -> Result<(), MalformedMap> {
    if bytes.is_empty() {
        return Ok(());
    }
    let count = read_u32(bytes, 0).ok_or(MalformedMap("no header count"))?;
    let sizes_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .filter(|&end| end <= bytes.len())
        .ok_or(MalformedMap("header count larger than the map"))?;
    let mut data = sizes_end;
    for entry in 0..count {
        let at = 4 + entry * 8;
        let (Some(name_len), Some(value_len)) = (read_u32(bytes, at), read_u32(bytes, at + 4))
        else {
            return Err(MalformedMap("truncated sizes"));
        };
        let name = take(bytes, &mut data, name_len).ok_or(MalformedMap("truncated name"))?;
        let value = take(bytes, &mut data, value_len).ok_or(MalformedMap("truncated value"))?;
        visit(name, value);
    }
    Ok(())
}

/// The map in the same format, for calls that hand headers to the host.
pub fn serialize<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> Vec<u8> {
    let size = pairs
        .iter()
        .fold(4, |n, (k, v)| n + 10 + k.as_ref().len() + v.as_ref().len());
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&len_u32(pairs.len()));
    for (name, value) in pairs {
        out.extend_from_slice(&len_u32(name.as_ref().len()));
        out.extend_from_slice(&len_u32(value.as_ref().len()));
    }
    for (name, value) in pairs {
        out.extend_from_slice(name.as_ref());
        out.push(0);
        out.extend_from_slice(value.as_ref());
        out.push(0);
    }
    out
}

fn len_u32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    let n = u32::from_le_bytes(<[u8; 4]>::try_from(raw).ok()?);
    usize::try_from(n).ok()
}

/// The `len` bytes at `*at`, skipping the NUL that follows them.
fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> Option<&'a [u8]> {
    let end = at.checked_add(len)?;
    let field = bytes.get(*at..end)?;
    *at = end.checked_add(1)?;
    Some(field)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn collect(bytes: &[u8]) -> (Pairs, Result<(), MalformedMap>) {
        let mut seen = Vec::new();
        let result = for_each(bytes, |n, v| seen.push((n.to_vec(), v.to_vec())));
        (seen, result)
    }

    #[test]
    fn visits_every_pair_in_order() {
        let pairs: [(&[u8], &[u8]); 3] = [
            (b":method", b"GET"),
            (b":path", b"/a?b=c"),
            (b"x-empty", b""),
        ];
        let (seen, result) = collect(&serialize(&pairs));
        assert_eq!(result, Ok(()));
        let expected: Vec<_> = pairs
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn values_that_are_not_utf8_pass_through() {
        let (seen, result) = collect(&serialize(&[(b"user-agent", b"caf\xe9 \xff")]));
        assert_eq!(result, Ok(()));
        assert_eq!(seen[0].1, b"caf\xe9 \xff");
    }

    #[test]
    fn empty_map_is_no_headers() {
        assert_eq!(collect(&[]), (Vec::new(), Ok(())));
        assert_eq!(collect(&serialize::<&str, &str>(&[])), (Vec::new(), Ok(())));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = serialize(&[("host", "example"), ("accept", "*/*")]);
        for cut in 1..full.len() - 1 {
            let (seen, result) = collect(&full[..cut]);
            assert!(result.is_err(), "cut at {cut} accepted");
            assert!(seen.len() < 2, "cut at {cut} visited both headers");
        }
    }

    #[test]
    fn absurd_count_is_rejected() {
        let mut bytes = u32::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 16]);
        assert_eq!(
            collect(&bytes).1,
            Err(MalformedMap("header count larger than the map"))
        );
    }
}
