//! Blocking, bounded line framing (the client's side; the daemon frames
//! with tokio but applies the same bound).

use std::io::{self, BufRead, Write};

use serde::Serialize;

/// Reading a line failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The peer closed the connection.
    #[error("the connection was closed")]
    Closed,
    /// The line exceeded the bound.
    #[error("a line exceeded {0} bytes")]
    TooLong(usize),
    /// The line was not UTF-8.
    #[error("a line was not valid UTF-8")]
    NotUtf8,
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads one `\n`-terminated line of at most `max` bytes (newline included)
/// and returns it without the newline. Never buffers more than `max` bytes.
pub fn read_line<R: BufRead>(r: &mut R, max: usize) -> Result<String, FrameError> {
    let mut buf = Vec::new();
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if available.is_empty() {
            return Err(FrameError::Closed);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        if buf.len() + chunk.len() > max {
            return Err(FrameError::TooLong(max));
        }
        buf.extend_from_slice(chunk);
        let used = chunk.len();
        r.consume(used);
        if done {
            buf.pop();
            return String::from_utf8(buf).map_err(|_| FrameError::NotUtf8);
        }
    }
}

/// Writes `value` as one JSON line and flushes.
pub fn write_line<W: Write, T: Serialize>(w: &mut W, value: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_lines_and_bounds_them() {
        let mut c = Cursor::new(b"abc\ndef\n".to_vec());
        assert_eq!(read_line(&mut c, 10).unwrap(), "abc");
        assert_eq!(read_line(&mut c, 10).unwrap(), "def");
        assert!(matches!(read_line(&mut c, 10), Err(FrameError::Closed)));
        let mut c = Cursor::new(vec![b'x'; 100]);
        assert!(matches!(
            read_line(&mut c, 10),
            Err(FrameError::TooLong(10))
        ));
        let mut c = Cursor::new(b"\xff\n".to_vec());
        assert!(matches!(read_line(&mut c, 10), Err(FrameError::NotUtf8)));
    }
}
