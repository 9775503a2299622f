//! The accept loop and one task per connection.
//!
//! Each connection: the peer's uid is checked (other users are refused),
//! the client's hello is read and answered (a protocol mismatch is an error
//! reply), then request lines are answered in order. Lines are bounded by
//! [`coffer_proto::MAX_LINE`]; a client that sends nothing for a while is
//! disconnected; a slow or hostile client only ever holds its own task, so
//! others keep being served. On shutdown the loop stops accepting, idle
//! connections close, and requests in flight finish before `run` returns.

use std::sync::Arc;
use std::time::Duration;

use coffer_proto::envelope::{HelloEnvelope, RawRequest};
use coffer_proto::{ErrorBody, ErrorCode, Hello, Request, ResponseEnvelope, MAX_LINE, PROTOCOL_VERSION};
use interprocess::local_socket::traits::tokio::{Listener as _, Stream as _};
use interprocess::local_socket::traits::StreamCommon;
use interprocess::os::unix::uds_local_socket::tokio::{Listener, Stream};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::daemon::Daemon;

/// How long a connection may take to send a whole line.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves until `shutdown` turns true, then waits for connections to finish.
pub async fn run(listener: Listener, daemon: Arc<Daemon>, mut shutdown: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    let d = daemon.clone();
                    let sd = shutdown.clone();
                    tasks.spawn(async move { connection(stream, d, sd).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tracing::debug!(open = tasks.len(), "waiting for connections to finish");
    while tasks.join_next().await.is_some() {}
}

fn my_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// Reads one bounded line. `Ok(None)` on a clean end of stream.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> Result<Option<String>, ErrorBody> {
    let mut buf = Vec::new();
    loop {
        let available = r
            .fill_buf()
            .await
            .map_err(|e| ErrorBody::new(ErrorCode::BadRequest, format!("read failed: {e}")))?;
        if available.is_empty() {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(ErrorBody::new(ErrorCode::BadRequest, "the connection closed mid-line"))
            };
        }
        let (n, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + n > max {
            return Err(ErrorBody::new(
                ErrorCode::LineTooLong,
                format!("a request line exceeded {max} bytes; the connection is closed"),
            ));
        }
        buf.extend_from_slice(&available[..n]);
        r.consume(n);
        if done {
            buf.pop();
            return String::from_utf8(buf)
                .map(Some)
                .map_err(|_| ErrorBody::new(ErrorCode::BadRequest, "the request is not UTF-8"));
        }
    }
}

async fn send<W: AsyncWriteExt + Unpin, T: serde::Serialize>(w: &mut W, v: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

async fn connection(stream: Stream, daemon: Arc<Daemon>, mut shutdown: watch::Receiver<bool>) {
    let creds = stream.peer_creds();
    let uid = creds.as_ref().ok().and_then(|c| c.euid());
    let pid = creds.as_ref().ok().and_then(|c| c.pid());
    #[allow(deprecated)] // separate halves let a subscription read and write at once
    let (r, mut w) = stream.split();
    if uid != Some(my_uid()) {
        tracing::warn!(peer_uid = ?uid, peer_pid = ?pid, "refused a connection from another user");
        let e = ErrorBody::new(ErrorCode::BadRequest, "connections from other users are refused");
        let _ = send(&mut w, &ResponseEnvelope::err(None, e)).await;
        return;
    }
    let mut r = BufReader::with_capacity(8192, r);
    // The hello.
    let hello = match tokio::time::timeout(LINE_TIMEOUT, read_line(&mut r, 64 * 1024)).await {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) | Err(_) => return,
        Ok(Err(e)) => {
            let _ = send(&mut w, &ResponseEnvelope::err(None, e)).await;
            return;
        }
    };
    match serde_json::from_str::<HelloEnvelope>(&hello) {
        Ok(h) if h.hello.protocol == PROTOCOL_VERSION => {}
        Ok(h) => {
            let e = ErrorBody::new(
                ErrorCode::ProtocolMismatch,
                format!(
                    "{} speaks protocol {}, this cofferd speaks {}: update one of them, then run `coffer stop` to restart the daemon",
                    h.hello.software, h.hello.protocol, PROTOCOL_VERSION
                ),
            );
            let _ = send(&mut w, &ResponseEnvelope::err(None, e)).await;
            return;
        }
        Err(_) => {
            let e = ErrorBody::new(
                ErrorCode::BadRequest,
                "the first line must be a hello: {\"hello\":{\"protocol\":1,\"software\":…,\"pid\":…}}",
            );
            let _ = send(&mut w, &ResponseEnvelope::err(None, e)).await;
            return;
        }
    }
    let mine = HelloEnvelope {
        hello: Hello {
            protocol: PROTOCOL_VERSION,
            software: format!("cofferd {}", env!("CARGO_PKG_VERSION")),
            pid: std::process::id(),
        },
    };
    if send(&mut w, &mine).await.is_err() {
        return;
    }
    loop {
        let line = tokio::select! {
            l = tokio::time::timeout(LINE_TIMEOUT, read_line(&mut r, MAX_LINE)) => l,
            _ = shutdown.changed() => return,
        };
        let line = match line {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => return,
            Err(_) => {
                tracing::debug!("closing a connection that sent nothing for {LINE_TIMEOUT:?}");
                return;
            }
            Ok(Err(e)) => {
                let _ = send(&mut w, &ResponseEnvelope::err(None, e)).await;
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let (id, request) = match RawRequest::decode(&line) {
            Ok(x) => x,
            Err((id, e)) => {
                tracing::debug!(code = e.code.as_str(), "rejected a request");
                if send(&mut w, &ResponseEnvelope::err(id, e)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if let Request::Subscribe(_) = request {
            let mut rx = daemon.subscribe();
            if send(&mut w, &ResponseEnvelope::ok(id, serde_json::json!({"subscribed": true})))
                .await
                .is_err()
            {
                return;
            }
            loop {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Ok(ev) => if send(&mut w, &ev).await.is_err() { return },
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::debug!(missed = n, "a subscriber lagged");
                        }
                        Err(_) => return,
                    },
                    _ = shutdown.changed() => return,
                    // The client closing its side ends the subscription.
                    n = r.fill_buf() => match n {
                        Ok(b) if !b.is_empty() => { let k = b.len(); r.consume(k); }
                        _ => return,
                    },
                }
            }
        }
        let method = request.method();
        tracing::debug!(id, method, "request");
        let response = match daemon.clone().handle(request).await {
            Ok(v) => ResponseEnvelope::ok(id, v),
            Err(e) => {
                tracing::debug!(id, method, code = e.code.as_str(), "request failed");
                ResponseEnvelope::err(Some(id), e)
            }
        };
        if send(&mut w, &response).await.is_err() {
            return;
        }
    }
}
