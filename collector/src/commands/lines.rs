//! What the streaming commands (`score`, `redact`) share: their `--input`
//! and `--output`, and the loop of JSON lines in, at most one JSON line out
//! per input line, with errors that name the input line.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
    output: impl Write,
    mut each: impl FnMut(u64, T) -> Result<Option<O>, E>,
) -> Result<u64, E>
where
    T: DeserializeOwned,
    O: Serialize,
    E: LinesError,
{
    map_lines(input, output, |number, line| {
        let parsed = serde_json::from_str(line).map_err(|source| E::parse(number, source))?;
        each(number, parsed)
    })
}

/// [`map_json_lines`] for a `T` that borrows from its line: `each` gets the
/// line itself (without its end) and parses it, e.g. with [`parse`].
pub fn map_lines<O, E>(
    mut input: impl BufRead,
    mut output: impl Write,
    mut each: impl FnMut(u64, &str) -> Result<Option<O>, E>,
) -> Result<u64, E>
where
    O: Serialize,
    E: LinesError,
{
    let (mut blank, mut number) = (0, 0);
    // One buffer for every line.
    let mut buf = String::new();
    loop {
        buf.clear();
        number += 1;
        let read = input
            .read_line(&mut buf)
            .map_err(|source| E::read(number, source))?;
        if read == 0 {
            break;
        }
        let line = buf.strip_suffix('\n').unwrap_or(&buf);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        let Some(out) = each(number, line)? else {
            continue;
        };
        serde_json::to_writer(&mut output, &out).map_err(|e| E::write(e.into()))?;
        output.write_all(b"\n").map_err(E::write)?;
    }
    output.flush().map_err(E::write)?;
    Ok(blank)
}

/// Line `number` as a `T`, borrowing from it where it can.
pub fn parse<'a, T: Deserialize<'a>, E: LinesError>(number: u64, line: &'a str) -> Result<T, E> {
    serde_json::from_str(line).map_err(|source| E::parse(number, source))
}

/// The opened `--input` and `--output` of a streaming command.
pub type Io = (Box<dyn BufRead>, Box<dyn Write>);

/// `--input` and `--output` of a streaming command; `-` is stdin/stdout.
pub fn open_io(input: &Path, output: &Path) -> Result<Io, OpenError> {
    fn open(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError + '_ {
        move |source| OpenError {
            path: path.to_owned(),
            source,
        }
    }
    let reader: Box<dyn BufRead> = if input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(BufReader::new(File::open(input).map_err(open(input))?))
    };
    let writer: Box<dyn Write> = if output.as_os_str() == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(File::create(output).map_err(open(output))?))
    };
    Ok((reader, writer))
}

#[derive(Debug, thiserror::Error)]
#[error("opening {}: {source}", path.display())]
pub struct OpenError {
    path: PathBuf,
    source: std::io::Error,
}
