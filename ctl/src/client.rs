//! The blocking connection to `cofferd`: connect (starting the daemon when
//! it is not running), exchange hellos, then one request and its response
//! at a time, each tagged with an id.

use std::io::{self, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_proto::dirs::Dirs;
use coffer_proto::envelope::HelloEnvelope;
use coffer_proto::frame::{self, FrameError};
use coffer_proto::request::NoParams;
use coffer_proto::{ErrorCode, Hello, Request, RequestEnvelope, ResponseEnvelope, MAX_LINE};
use serde::de::DeserializeOwned;

use crate::error::CliError;
use crate::launch;

/// How long to wait for any one answer: longer than any key derivation or
/// sync round, short enough that the CLI never hangs for good.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// This client's version, as sent in the hello.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether to start the daemon when it is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autostart {
    /// Start it (unless `COFFER_NO_AUTOSTART` is set).
    IfAllowed,
    /// Never start it (for `stop`).
    Never,
}

/// A connection to the daemon, past the hello.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    daemon: Hello,
    log_file: PathBuf,
}

impl Client {
    /// Connects to the daemon of `dirs`, starting it when allowed. Returns
    /// `Ok(None)` only with [`Autostart::Never`] when no daemon runs.
    pub fn connect(dirs: &Dirs, autostart: Autostart) -> Result<Option<Client>, CliError> {
        let socket = dirs.socket();
        let stream = match UnixStream::connect(&socket) {
            Ok(s) => s,
            Err(e) if not_running(&e) => {
                if autostart == Autostart::Never {
                    return Ok(None);
                }
                if std::env::var_os("COFFER_NO_AUTOSTART").is_some_and(|v| !v.is_empty()) {
                    return Err(CliError::NotRunning);
                }
                launch::start_and_connect(dirs)?
            }
            Err(source) => {
                return Err(CliError::Connect {
                    path: socket,
                    source,
                })
            }
        };
        Client::handshake(stream, dirs.log_file()).map(Some)
    }

    /// Connects, starting the daemon when allowed; never `None`.
    pub fn connect_or_start(dirs: &Dirs) -> Result<Client, CliError> {
        Client::connect(dirs, Autostart::IfAllowed)?
            .ok_or_else(|| CliError::Failed("cofferd is not running".into()))
    }

    /// Connects to the daemon already listening at `socket` (never starting
    /// one) and exchanges hellos, waiting at most `timeout` for each read
    /// or write: for a second connection beside a command's own, such as
    /// the progress display's subscription.
    pub fn connect_to(
        socket: &Path,
        log_file: PathBuf,
        timeout: Duration,
    ) -> Result<Client, CliError> {
        let stream = UnixStream::connect(socket).map_err(|source| CliError::Connect {
            path: socket.to_path_buf(),
            source,
        })?;
        Client::handshake_within(stream, log_file, timeout)
    }

    /// Exchanges hellos on a fresh connection.
    pub fn handshake(stream: UnixStream, log_file: PathBuf) -> Result<Client, CliError> {
        Client::handshake_within(stream, log_file, READ_TIMEOUT)
    }

    /// [`handshake`](Self::handshake), with `timeout` for each read and
    /// write instead of [`READ_TIMEOUT`]. The daemon's hello is checked
    /// here, so a protocol mismatch is reported the same way on every
    /// connection.
    fn handshake_within(
        stream: UnixStream,
        log_file: PathBuf,
        timeout: Duration,
    ) -> Result<Client, CliError> {
        let io_err = |e| CliError::io("cannot talk to cofferd", e);
        stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
        stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
        let mut writer = stream.try_clone().map_err(io_err)?;
        let mut reader = BufReader::new(stream);
        let hello = HelloEnvelope {
            hello: Hello {
                protocol: coffer_proto::PROTOCOL_VERSION,
                software: format!("coffer {VERSION}"),
                pid: std::process::id(),
            },
        };
        frame::write_line(&mut writer, &hello).map_err(|e| closed_or(e, &log_file))?;
        let line = frame::read_line(&mut reader, MAX_LINE)
            .map_err(|e| frame_error(e, &log_file, "the greeting"))?;
        let daemon = parse_hello(&line)?;
        Ok(Client {
            reader,
            writer,
            next_id: 1,
            daemon,
            log_file,
        })
    }

    /// The daemon's hello (its version and pid).
    pub fn daemon(&self) -> &Hello {
        &self.daemon
    }

    /// Sends `request` and returns its result, or the daemon's error.
    pub fn call(&mut self, request: Request) -> Result<serde_json::Value, CliError> {
        let id = self.next_id;
        self.next_id += 1;
        let method = request.method();
        let envelope = RequestEnvelope { id, request };
        frame::write_line(&mut self.writer, &envelope).map_err(|e| closed_or(e, &self.log_file))?;
        drop(envelope);
        loop {
            let line = frame::read_line(&mut self.reader, MAX_LINE)
                .map_err(|e| frame_error(e, &self.log_file, method))?;
            let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                CliError::Failed(format!(
                    "cofferd sent a line that is not JSON ({e}); see {}",
                    self.log_file.display()
                ))
            })?;
            if value.get("event").is_some() {
                continue;
            }
            let response: ResponseEnvelope = serde_json::from_value(value).map_err(|e| {
                CliError::Failed(format!(
                    "cofferd sent a malformed response to {method}: {e}"
                ))
            })?;
            if response.id.is_some() && response.id != Some(id) {
                continue;
            }
            if let Some(error) = response.error {
                return Err(CliError::Daemon(error));
            }
            return response.result.ok_or_else(|| {
                CliError::Failed(format!(
                    "cofferd answered {method} with neither a result nor an error"
                ))
            });
        }
    }

    /// Like [`call`](Self::call), decoding the result as `T`.
    pub fn call_as<T: DeserializeOwned>(&mut self, request: Request) -> Result<T, CliError> {
        let method = request.method();
        let value = self.call(request)?;
        decode(method, value)
    }

    /// Subscribes to the daemon's events and hands over the connection's
    /// reader, from which only event lines come from then on (with the
    /// connection's timeouts; the caller may change them).
    pub fn into_events(mut self) -> Result<BufReader<UnixStream>, CliError> {
        self.call(Request::Subscribe(NoParams {}))?;
        Ok(self.reader)
    }
}

/// Decodes a result, naming the method on failure.
pub fn decode<T: DeserializeOwned>(method: &str, value: serde_json::Value) -> Result<T, CliError> {
    serde_json::from_value(value).map_err(|e| {
        CliError::Failed(format!(
            "cofferd's answer to {method} is not what this coffer expects ({e}); \
             are coffer and cofferd the same version?"
        ))
    })
}

/// Whether a connect error means "nobody listens there".
fn not_running(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// The daemon's first line: a hello, or an error (protocol mismatch, or a
/// refusal).
fn parse_hello(line: &str) -> Result<Hello, CliError> {
    if let Ok(h) = serde_json::from_str::<HelloEnvelope>(line) {
        if h.hello.protocol != coffer_proto::PROTOCOL_VERSION {
            return Err(mismatch(h.hello.protocol.to_string()));
        }
        return Ok(h.hello);
    }
    match serde_json::from_str::<ResponseEnvelope>(line) {
        Ok(ResponseEnvelope {
            error: Some(body), ..
        }) => {
            if body.code == ErrorCode::ProtocolMismatch {
                let theirs = body
                    .data
                    .as_ref()
                    .and_then(|d| {
                        d.get("protocol")
                            .or_else(|| d.get("daemon_protocol"))
                            .and_then(|p| p.as_u64())
                    })
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "another version".into());
                Err(mismatch(theirs))
            } else {
                Err(CliError::Daemon(body))
            }
        }
        _ => Err(CliError::Failed(
            "cofferd did not greet as expected; is it the same version as coffer? \
             restart it with `coffer stop`"
                .into(),
        )),
    }
}

fn mismatch(theirs: String) -> CliError {
    CliError::ProtocolMismatch {
        client: VERSION,
        ours: coffer_proto::PROTOCOL_VERSION,
        theirs,
    }
}

fn closed_or(e: io::Error, log: &std::path::Path) -> CliError {
    match e.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => CliError::Failed(format!(
            "cofferd closed the connection; see {}",
            log.display()
        )),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(log),
        _ => CliError::io("cannot talk to cofferd", e),
    }
}

fn timed_out(log: &std::path::Path) -> CliError {
    CliError::Failed(format!(
        "cofferd did not answer within {} s; see {}",
        READ_TIMEOUT.as_secs(),
        log.display()
    ))
}

fn frame_error(e: FrameError, log: &std::path::Path, what: &str) -> CliError {
    match e {
        FrameError::Closed => CliError::Failed(format!(
            "cofferd closed the connection before answering {what}; see {}",
            log.display()
        )),
        FrameError::Io(e) => closed_or(e, log),
        other => CliError::Failed(format!("cofferd's answer to {what} is unreadable: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Write};
    use std::os::unix::net::UnixListener;

    #[test]
    fn hello_and_mismatch() {
        let h =
            parse_hello(r#"{"hello":{"protocol":1,"software":"cofferd 0.1.0","pid":7}}"#).unwrap();
        assert_eq!(h.pid, 7);
        let e =
            parse_hello(r#"{"hello":{"protocol":2,"software":"cofferd 9","pid":7}}"#).unwrap_err();
        assert!(e.to_string().contains("cofferd speaks 2"), "{e}");
        let e = parse_hello(
            r#"{"id":null,"error":{"code":"protocol_mismatch","message":"m","data":{"protocol":3}}}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "speaks protocol 1, cofferd speaks 3: restart the daemon with `coffer stop`"
            ),
            "{e}"
        );
        let e = parse_hello(r#"{"id":null,"error":{"code":"protocol_mismatch","message":"m"}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("another version"), "{e}");
        assert!(parse_hello("garbage").is_err());
    }

    /// A fake daemon on a temporary socket: checks the hello, then answers
    /// a request with an event line, a stray id and finally its answer.
    #[test]
    fn request_response_round_trip_over_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = std::io::BufReader::new(stream);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let hello: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(hello["hello"]["protocol"], 1);
            assert!(hello["hello"]["software"]
                .as_str()
                .unwrap()
                .starts_with("coffer "));
            w.write_all(b"{\"hello\":{\"protocol\":1,\"software\":\"cofferd t\",\"pid\":99}}\n")
                .unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
            let req: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(req["method"], "rm");
            assert_eq!(req["params"]["query"], "Mail");
            let id = req["id"].as_u64().unwrap();
            w.write_all(b"{\"event\":{\"kind\":\"state\",\"state\":\"locked\"},\"at_ms\":1}\n")
                .unwrap();
            w.write_all(b"{\"id\":12345,\"result\":{}}\n").unwrap();
            let ok = serde_json::json!({"id": id, "result": {"message": "removed"}});
            w.write_all(format!("{ok}\n").as_bytes()).unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
            let req: serde_json::Value = serde_json::from_str(&line).unwrap();
            let err = serde_json::json!({"id": req["id"], "error": {"code": "no_such_item", "message": "no item matches \"x\""}});
            w.write_all(format!("{err}\n").as_bytes()).unwrap();
        });
        let stream = UnixStream::connect(&path).unwrap();
        let mut client = Client::handshake(stream, dir.path().join("log")).unwrap();
        assert_eq!(client.daemon().pid, 99);
        let v = client
            .call(Request::Remove(coffer_proto::request::QueryParams {
                query: "Mail".into(),
            }))
            .unwrap();
        assert_eq!(v["message"], "removed");
        let e = client
            .call(Request::Get(coffer_proto::request::QueryParams {
                query: "x".into(),
            }))
            .unwrap_err();
        assert_eq!(e.exit_code(), 4);
        server.join().unwrap();
    }

    #[test]
    fn daemon_closing_early_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            drop(stream);
        });
        let stream = UnixStream::connect(&path).unwrap();
        server.join().unwrap();
        let e = match Client::handshake(stream, dir.path().join("cofferd.log")) {
            Err(e) => e,
            Ok(_) => panic!("handshake with a closed socket succeeded"),
        };
        assert!(e.to_string().contains("closed the connection"), "{e}");
        assert!(e.to_string().contains("cofferd.log"), "{e}");
    }
}
