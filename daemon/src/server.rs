//! The accept loop and one task per connection.
//!
//! Each connection: the peer's uid is checked (other users are refused),
//! the client's hello is read and answered (a protocol mismatch is an error
//! reply), then request lines are answered in order. Lines are bounded by
//! [`coffer_proto::MAX_LINE`]; a client that sends nothing for a while is
//! disconnected; a slow or hostile client only ever holds its own task, so
//! others keep being served. On shutdown the loop stops accepting, idle
//! connections close, and requests in flight finish before `run` returns.
//!
//! Memory stays bounded whatever clients send: each connection may buffer
//! [`FREE_LINE_BYTES`] of a line on its own, and anything beyond comes out
//! of one budget shared by all connections ([`LINE_BUDGET`]), so a thousand
//! clients sending huge lines at once cannot each hold [`MAX_LINE`]; and a
//! line with more JSON values than [`MAX_JSON_TOKENS`] is refused before
//! it is parsed (a 32 MiB line of `[0,0,0,…]` would otherwise become a
//! tree of gigabytes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coffer_proto::envelope::{HelloEnvelope, RawRequest};
use coffer_proto::{
    ErrorBody, ErrorCode, Hello, Request, ResponseEnvelope, MAX_LINE, PROTOCOL_VERSION,
};
use interprocess::local_socket::traits::tokio::{Listener as _, Stream as _};
use interprocess::local_socket::traits::StreamCommon;
use interprocess::os::unix::uds_local_socket::tokio::{Listener, Stream};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::daemon::Daemon;

/// How long a connection may take to send a whole line.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes of one line a connection may buffer without touching the shared
/// budget (every ordinary request fits).
pub const FREE_LINE_BYTES: usize = 64 * 1024;

/// Bytes of long lines that all connections together may buffer beyond
/// their free allowance: two imports of the largest size at once.
pub const LINE_BUDGET: usize = 2 * MAX_LINE;

/// The most JSON structural tokens (`[`, `{`, `,`, `:` outside strings)
/// one request line may have. Imports and restores carry their data as one
/// base64 string, so real requests stay far below.
pub const MAX_JSON_TOKENS: usize = 100_000;

/// Bytes currently held from [`LINE_BUDGET`].
static BUFFERED: AtomicUsize = AtomicUsize::new(0);

/// The part of [`LINE_BUDGET`] one line holds; given back on drop.
#[derive(Default)]
struct Reservation {
    held: usize,
}

impl Reservation {
    /// Makes room for a line of `len` bytes; `false` when the shared
    /// budget is exhausted.
    fn grow_to(&mut self, len: usize) -> bool {
        let need = len.saturating_sub(FREE_LINE_BYTES);
        if need <= self.held {
            return true;
        }
        let extra = need - self.held;
        let before = BUFFERED.fetch_add(extra, Ordering::AcqRel);
        if before + extra > LINE_BUDGET {
            BUFFERED.fetch_sub(extra, Ordering::AcqRel);
            return false;
        }
        self.held += extra;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held > 0 {
            BUFFERED.fetch_sub(self.held, Ordering::AcqRel);
        }
    }
}

/// Whether `line` has at most `max` JSON structural tokens outside strings.
fn within_token_limit(line: &str, max: usize) -> bool {
    let mut count = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in line.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' | b',' | b':' => {
                count += 1;
                if count > max {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

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

/// Reads one bounded line, holding what it buffers beyond
/// [`FREE_LINE_BYTES`] in `budget`. `Ok(None)` on a clean end of stream.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
    budget: &mut Reservation,
) -> Result<Option<String>, ErrorBody> {
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
                Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    "the connection closed mid-line",
                ))
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
        // Grow the buffer by doubling (capped at `max`), after the budget
        // allows it, so what is reserved is what is allocated.
        if buf.len() + n > buf.capacity() {
            let new_cap = (buf.len() + n).max(buf.capacity() * 2).min(max);
            if !budget.grow_to(new_cap) {
                return Err(ErrorBody::new(
                    ErrorCode::RateLimited,
                    "cofferd is busy reading other large requests; the connection is closed, try again",
                ));
            }
            buf.reserve_exact(new_cap - buf.len());
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

async fn send<W: AsyncWriteExt + Unpin, T: serde::Serialize>(
    w: &mut W,
    v: &T,
) -> std::io::Result<()> {
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
    let mut r = BufReader::with_capacity(8192, r);
    if uid != Some(my_uid()) {
        tracing::warn!(peer_uid = ?uid, peer_pid = ?pid, "refused a connection from another user");
        // Take the client's hello first (briefly, bounded, never parsed):
        // closing with it unread would reset the connection, and the client
        // would see "connection reset" instead of the reason.
        let mut nothing = Reservation::default();
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            read_line(&mut r, 4096, &mut nothing),
        )
        .await;
        let e = ErrorBody::new(
            ErrorCode::BadRequest,
            "connections from other users are refused",
        );
        let _ = send(&mut w, &ResponseEnvelope::err(None, e)).await;
        return;
    }
    // The hello.
    let mut hello_budget = Reservation::default();
    let hello = match tokio::time::timeout(
        LINE_TIMEOUT,
        read_line(&mut r, 64 * 1024, &mut hello_budget),
    )
    .await
    {
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
        // Held until the request is answered: the line lives that long.
        let mut budget = Reservation::default();
        let line = tokio::select! {
            l = tokio::time::timeout(LINE_TIMEOUT, read_line(&mut r, MAX_LINE, &mut budget)) => l,
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
        if !within_token_limit(&line, MAX_JSON_TOKENS) {
            tracing::debug!("rejected a request with too many JSON values");
            let e = ErrorBody::new(
                ErrorCode::BadRequest,
                format!("the request has more than {MAX_JSON_TOKENS} JSON values; it was not read"),
            );
            if send(&mut w, &ResponseEnvelope::err(None, e)).await.is_err() {
                return;
            }
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
            if send(
                &mut w,
                &ResponseEnvelope::ok(
                    id,
                    serde_json::to_value(coffer_proto::reply::Subscribed { subscribed: true })
                        .expect("a struct of one bool serializes"),
                ),
            )
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
        let response = match crate::handlers::dispatch(daemon.clone(), request).await {
            Ok(v) => ResponseEnvelope::ok(id, v),
            Err(e) => {
                tracing::debug!(id, method, code = e.code.as_str(), "request failed");
                ResponseEnvelope::err(Some(id), e)
            }
        };
        if send(&mut w, &response).await.is_err() {
            return;
        }
        crate::handlers::after_reply(&daemon, method).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tokens_outside_strings_only() {
        assert!(within_token_limit(r#"{"id":1,"method":"status"}"#, 4));
        assert!(!within_token_limit(r#"{"id":1,"method":"status"}"#, 3));
        // Brackets, commas and escaped quotes inside strings do not count.
        assert!(within_token_limit(r#"{"a":"[[[,,,{{\":::"}"#, 2));
        let flood = format!("[{}0]", "0,".repeat(1000));
        assert!(!within_token_limit(&flood, 500));
    }

    #[tokio::test]
    async fn lines_share_one_budget() {
        let mut a = Reservation::default();
        assert!(
            a.grow_to(FREE_LINE_BYTES),
            "the free allowance needs no budget"
        );
        assert_eq!(a.held, 0);
        assert!(a.grow_to(FREE_LINE_BYTES + LINE_BUDGET));
        let mut b = Reservation::default();
        assert!(!b.grow_to(FREE_LINE_BYTES + 1), "the budget is spent");
        drop(a);
        assert!(b.grow_to(FREE_LINE_BYTES + 1024));
        drop(b);
        // A line over the free allowance read through the real reader.
        let data = vec![b'x'; FREE_LINE_BYTES * 3];
        let mut input = data.clone();
        input.push(b'\n');
        let mut r = tokio::io::BufReader::new(&input[..]);
        let mut res = Reservation::default();
        let line = read_line(&mut r, MAX_LINE, &mut res)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line.len(), data.len());
        assert!(res.held >= FREE_LINE_BYTES * 2);
    }
}
