//! Decoded copies of values (JSON escapes, percent-encoding) that remember
//! where each byte came from, so findings in them map back to the input.
//! Filled by the walkers that decode (`json`, `form`), searched by `scan`.

/// Decoded bytes and, for each, the input position it came from (plus the
/// end position), so findings map back to the input.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub text: Vec<u8>,
    origins: Vec<usize>,
}

impl Decoded {
    pub fn clear(&mut self) {
        self.text.clear();
        self.origins.clear();
    }

    pub fn push(&mut self, byte: u8, origin: usize) {
        self.text.push(byte);
        self.origins.push(origin);
    }

    /// Records where the decoded text ends in the input.
    pub fn finish(&mut self, end: usize) {
        self.origins.push(end);
    }

    /// Input position of decoded position `i` (`i == len` is the end).
    pub fn origin(&self, i: usize) -> usize {
        self.origins
            .get(i)
            .or(self.origins.last())
            .copied()
            .unwrap_or(i)
    }
}
