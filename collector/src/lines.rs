//! The loop shared by the streaming commands (`score`, `redact`): JSON lines
//! in, at most one JSON line out per input line, with errors that name the
//! input line.

use std::io::{BufRead, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// How a command reports the failures the shared loop can meet; each
/// command keeps its own error type (and message for a line that does not
/// parse).
pub trait LinesError {
    fn read(line: u64, source: std::io::Error) -> Self;
    fn parse(line: u64, source: serde_json::Error) -> Self;
    fn write(source: std::io::Error) -> Self;
}

/// Parses every non-blank line of `input` as `T` and hands it to `each`
/// with its line number (from 1); what `each` returns is written to
/// `output` as one line, `None` writes nothing. The first error stops the
/// run. Returns the number of blank lines, which are skipped.
pub fn map_json_lines<T, O, E>(
    input: impl BufRead,
    mut output: impl Write,
    mut each: impl FnMut(u64, T) -> Result<Option<O>, E>,
) -> Result<u64, E>
where
    T: DeserializeOwned,
    O: Serialize,
    E: LinesError,
{
    let mut blank = 0;
    for (i, line) in input.lines().enumerate() {
        let number = i as u64 + 1;
        let line = line.map_err(|source| E::read(number, source))?;
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        let parsed = serde_json::from_str(&line).map_err(|source| E::parse(number, source))?;
        let Some(out) = each(number, parsed)? else {
            continue;
        };
        serde_json::to_writer(&mut output, &out).map_err(|e| E::write(e.into()))?;
        output.write_all(b"\n").map_err(E::write)?;
    }
    output.flush().map_err(E::write)?;
    Ok(blank)
}
