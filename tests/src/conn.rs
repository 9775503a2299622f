//! [`RawConn`]: a raw connection to a daemon's socket, for protocol tests
//! that send what the CLI never would (garbage, huge lines, no hello).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A raw connection to a daemon's socket, for protocol tests. Every read
/// has a timeout.
pub struct RawConn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl RawConn {
    /// Connects without saying hello.
    pub fn connect(socket: &Path) -> std::io::Result<RawConn> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        Ok(RawConn {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    /// Connects and exchanges hellos; returns the daemon's hello line.
    pub fn hello(socket: &Path) -> std::io::Result<(RawConn, serde_json::Value)> {
        let mut c = RawConn::connect(socket)?;
        c.send_line(&format!(
            r#"{{"hello":{{"protocol":{},"software":"coffer-blackbox","pid":{}}}}}"#,
            coffer_proto::PROTOCOL_VERSION,
            std::process::id()
        ))?;
        let hello = c.read_json()?;
        Ok((c, hello))
    }

    /// Another handle on the socket, to write from another thread (its
    /// writes time out too).
    pub fn writer(&self) -> std::io::Result<UnixStream> {
        self.writer.try_clone()
    }

    /// Sends `line` and a newline.
    pub fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Reads one line and parses it as JSON.
    pub fn read_json(&mut self) -> std::io::Result<serde_json::Value> {
        let mut line = String::new();
        let n = (&mut self.reader).take(1024 * 1024).read_line(&mut line)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection",
            ));
        }
        serde_json::from_str(&line).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e}: {line}"))
        })
    }

    /// Sends a request line and reads the response.
    pub fn request(&mut self, line: &str) -> std::io::Result<serde_json::Value> {
        self.send_line(line)?;
        self.read_json()
    }
}
