//! The agent socket: binding it safely and serving the OpenSSH agent
//! protocol on it.
//!
//! [`AgentSocket::bind`] puts the socket in a 0700 directory owned by the
//! user (repaired when ours, refused when not), replaces a stale socket
//! only when nobody answers on it, refuses a symlink or a foreign-owned
//! path, and makes the socket 0600: the same rules as the main socket,
//! through the same checks ([`crate::socket::check_runtime_dir`] and
//! [`crate::socket::clear_stale`]).
//!
//! [`serve`] accepts connections until shutdown. Each connection's peer uid
//! is checked (`SO_PEERCRED`) and another user's is answered with a
//! failure and closed. Frames are bounded ([`AgentOptions::max_message_len`],
//! 256 KiB as in OpenSSH's agent), a started frame must arrive in
//! [`AgentOptions::frame_timeout`], and every backend call is bounded by
//! [`AgentOptions::call_timeout`]: a client always gets an answer, a
//! failure when the vault is locked or the daemon is busy, never a hang.
//!
//! The protocol's message types come from `ssh-agent-lib`; the accept loop
//! and framing are ours, because its `listen` has no shutdown, no peer
//! check and no bound on a frame's length.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ssh_agent_lib::proto::{
    AddIdentity, Identity, KeyConstraint, PrivateCredential, PublicCredential, Request, Response,
    SignRequest,
};
use ssh_agent_lib::ssh_encoding::{Decode, Encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use zeroize::{Zeroize, Zeroizing};

use super::backend::{AgentBackend, Refusal};
use super::keys::{fingerprint, SigningKey};
use crate::socket::{check_runtime_dir, clear_stale, SocketError};

/// The agent socket's file name in the runtime directory
/// (`$XDG_RUNTIME_DIR/coffer/ssh-agent.sock`).
pub const SOCKET_NAME: &str = coffer_proto::dirs::SSH_AGENT_SOCKET;

/// The agent socket in `runtime_dir` (the directory of the main socket).
pub fn socket_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join(SOCKET_NAME)
}

/// What to do with a key that a client offers with `ssh-add FILE`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AddPolicy {
    /// Refuse it (the default): coffer's agent serves the keys stored in
    /// coffer, and a key belongs there through `coffer add --ssh-key`.
    #[default]
    Refuse,
    /// Hand it to [`AgentBackend::add`], which stores it as an item.
    Store,
}

/// The agent's limits and policies.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// The longest a backend call may take before the client is answered
    /// with a failure (default 5 s).
    pub call_timeout: Duration,
    /// How long the rest of a frame may take once its length has arrived
    /// (default 10 s); a client that stalls mid-frame is disconnected.
    pub frame_timeout: Duration,
    /// The longest request accepted (default 256 KiB, OpenSSH's limit); a
    /// longer one closes the connection.
    pub max_message_len: usize,
    /// How many connections are served at once (default 64); more are
    /// closed at once with a log line.
    pub max_connections: usize,
    /// What to do with keys that `ssh-add` offers.
    pub add_policy: AddPolicy,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(5),
            frame_timeout: Duration::from_secs(10),
            max_message_len: 256 * 1024,
            max_connections: 64,
            add_policy: AddPolicy::Refuse,
        }
    }
}

fn my_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// A bound agent socket. When it was bound by path, dropping it removes
/// the socket file, but only if the file is still the one we bound (a
/// newer daemon's socket is left alone).
#[derive(Debug)]
pub struct AgentSocket {
    listener: std::os::unix::net::UnixListener,
    /// The path and inode to remove on drop; `None` for a socket handed
    /// over by a service manager.
    owned: Option<(PathBuf, u64, u64)>,
}

impl AgentSocket {
    /// Binds the agent socket at `path` (see the module docs for the
    /// checks) and makes it 0600.
    pub fn bind(path: &Path) -> Result<Self, SocketError> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        check_runtime_dir(dir)?;
        clear_stale(path)?;
        let io_err = |source| SocketError::Io {
            path: path.display().to_string(),
            source,
        };
        let listener = std::os::unix::net::UnixListener::bind(path).map_err(io_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
        let meta = std::fs::symlink_metadata(path).map_err(io_err)?;
        Ok(Self {
            listener,
            owned: Some((path.to_path_buf(), meta.dev(), meta.ino())),
        })
    }

    /// Wraps a listening socket handed over by systemd or launchd (never
    /// unlinked: the file belongs to the service manager).
    pub fn from_listener(listener: std::os::unix::net::UnixListener) -> Self {
        Self {
            listener,
            owned: None,
        }
    }

    /// The socket's path, when it was bound by path.
    pub fn path(&self) -> Option<&Path> {
        self.owned.as_ref().map(|(p, _, _)| p.as_path())
    }
}

impl Drop for AgentSocket {
    fn drop(&mut self) {
        if let Some((path, dev, ino)) = &self.owned {
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if meta.dev() == *dev && meta.ino() == *ino {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

/// Resolves when `shutdown` says true, or when its sender is gone.
async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves the agent protocol on `socket` until `shutdown` turns true (or
/// its sender is dropped), then waits for the open connections, which stop
/// after the request they are answering.
pub async fn serve(
    socket: AgentSocket,
    backend: Arc<dyn AgentBackend>,
    options: AgentOptions,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    socket.listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(socket.listener.try_clone()?)?;
    let options = Arc::new(options);
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut connections = JoinSet::new();
    tracing::info!(path = ?socket.path(), "SSH agent listening");
    loop {
        tokio::select! {
            _ = shutting_down(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(max = options.max_connections, "too many SSH agent connections; closing a new one");
                        continue;
                    };
                    let backend = backend.clone();
                    let options = options.clone();
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        connection(stream, backend, options, shutdown).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // EMFILE and the like pass; back off instead of spinning.
                    tracing::warn!(error = %e, "SSH agent accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    // Stop taking connections (and remove the socket file) first, then let
    // the open ones finish the request they are answering.
    drop(listener);
    drop(socket);
    while connections.join_next().await.is_some() {}
    tracing::info!("SSH agent stopped");
    Ok(())
}

/// Why a frame could not be read.
enum FrameError {
    /// The length prefix exceeds the limit.
    TooLong(usize),
    /// The rest of the frame did not arrive in time.
    Stalled,
    /// The connection failed or closed mid-frame.
    Io(io::Error),
}

/// Reads one length-prefixed frame; `Ok(None)` at a clean end of stream.
async fn read_frame(
    stream: &mut UnixStream,
    options: &AgentOptions,
) -> Result<Option<Zeroizing<Vec<u8>>>, FrameError> {
    let mut len = [0u8; 4];
    match stream.read(&mut len[..1]).await {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(FrameError::Io(e)),
    }
    let rest = async {
        stream.read_exact(&mut len[1..]).await?;
        let n = u32::from_be_bytes(len) as usize;
        if n > options.max_message_len {
            return Ok(Err(n));
        }
        let mut body = Zeroizing::new(vec![0u8; n]);
        stream.read_exact(&mut body).await?;
        Ok::<_, io::Error>(Ok(body))
    };
    match tokio::time::timeout(options.frame_timeout, rest).await {
        Err(_) => Err(FrameError::Stalled),
        Ok(Err(e)) => Err(FrameError::Io(e)),
        Ok(Ok(Err(n))) => Err(FrameError::TooLong(n)),
        Ok(Ok(Ok(body))) => Ok(Some(body)),
    }
}

async fn write_response(stream: &mut UnixStream, response: &Response) -> io::Result<()> {
    let mut out = Vec::new();
    let encoded = response
        .encoded_len()
        .and_then(|n| {
            let n = u32::try_from(n).map_err(|_| ssh_agent_lib::ssh_encoding::Error::Length)?;
            n.encode(&mut out)?;
            response.encode(&mut out)
        })
        .map_err(io::Error::other);
    if let Err(e) = encoded {
        // Our own answer failed to encode (an identity the wire cannot
        // carry): the client still gets an answer.
        tracing::warn!(error = %e, "cannot encode an SSH agent answer; answering failure");
        out.clear();
        out.extend_from_slice(&[0, 0, 0, 1, 5]);
    }
    stream.write_all(&out).await?;
    stream.flush().await
}

async fn connection(
    mut stream: UnixStream,
    backend: Arc<dyn AgentBackend>,
    options: Arc<AgentOptions>,
    mut shutdown: watch::Receiver<bool>,
) {
    let cred = stream.peer_cred().ok();
    let uid = cred.map(|c| c.uid());
    let pid = cred.and_then(|c| c.pid());
    if uid != Some(my_uid()) {
        tracing::warn!(peer_uid = ?uid, peer_pid = ?pid, "refused an SSH agent connection from another user");
        // Answer its first request (bounded, never parsed) with a failure,
        // so that the client reports "agent refused operation" rather than
        // a reset connection.
        let brief = AgentOptions {
            frame_timeout: Duration::from_secs(2),
            ..(*options).clone()
        };
        if let Ok(Ok(Some(_))) =
            tokio::time::timeout(Duration::from_secs(2), read_frame(&mut stream, &brief)).await
        {
            let _ = write_response(&mut stream, &Response::Failure).await;
        }
        return;
    }
    loop {
        let frame = tokio::select! {
            _ = shutting_down(&mut shutdown) => return,
            frame = read_frame(&mut stream, &options) => frame,
        };
        let body = match frame {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(FrameError::TooLong(n)) => {
                tracing::warn!(len = n, max = options.max_message_len, peer_pid = ?pid, "SSH agent request too long; closing the connection");
                return;
            }
            Err(FrameError::Stalled) => {
                tracing::debug!(peer_pid = ?pid, "SSH agent client stalled mid-request; closing");
                return;
            }
            Err(FrameError::Io(e)) => {
                tracing::debug!(error = %e, peer_pid = ?pid, "SSH agent connection ended");
                return;
            }
        };
        let response = answer(&body, backend.as_ref(), &options).await;
        drop(body);
        if let Err(e) = write_response(&mut stream, &response).await {
            tracing::debug!(error = %e, "cannot answer the SSH agent client");
            return;
        }
    }
}

/// Runs a backend call under the call timeout.
async fn bounded<T>(
    options: &AgentOptions,
    what: &str,
    call: impl std::future::Future<Output = Result<T, Refusal>>,
) -> Result<T, Refusal> {
    match tokio::time::timeout(options.call_timeout, call).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(request = what, timeout = ?options.call_timeout, "the daemon did not answer the SSH agent in time; answering failure");
            Err(Refusal::Failed("timed out".into()))
        }
    }
}

/// The answer to one request (already unframed).
async fn answer(body: &[u8], backend: &dyn AgentBackend, options: &AgentOptions) -> Response {
    let request = match Request::decode(&mut &body[..]) {
        Ok(r) => r,
        Err(e) => {
            // The error names the message type or the field; it never
            // carries the message's bytes.
            tracing::debug!(msg_type = body.first().copied(), error = %e, "unsupported or malformed SSH agent request; answering failure");
            return Response::Failure;
        }
    };
    match request {
        Request::RequestIdentities => {
            match bounded(options, "list", backend.identities()).await {
                Ok(ids) => Response::IdentitiesAnswer(
                    ids.into_iter()
                        .map(|id| Identity {
                            credential: PublicCredential::Key(id.public_key),
                            comment: id.comment,
                        })
                        .collect(),
                ),
                // OpenSSH's own agent lists nothing while locked.
                Err(Refusal::Locked) => Response::IdentitiesAnswer(Vec::new()),
                Err(r) => {
                    tracing::info!(reason = %r, "SSH agent listing refused");
                    Response::Failure
                }
            }
        }
        Request::SignRequest(req) => sign(req, backend, options).await,
        Request::AddIdentity(identity) => add(identity, backend, options).await,
        Request::AddIdConstrained(c) => {
            let kinds: Vec<&str> = c
                .constraints
                .iter()
                .map(|k| match k {
                    KeyConstraint::Lifetime(_) => "lifetime (ssh-add -t)",
                    KeyConstraint::Confirm => "confirm (ssh-add -c)",
                    KeyConstraint::Extension(e) => e.name.as_str(),
                })
                .collect();
            tracing::warn!(constraints = ?kinds, "refused a key offered with constraints: coffer's agent does not support them; import the key with coffer add --ssh-key FILE");
            Response::Failure
        }
        Request::RemoveIdentity(r) => {
            tracing::warn!(key = %fingerprint(r.credential.key_data()), "refused ssh-add -d: coffer's keys are removed with coffer rm");
            Response::Failure
        }
        Request::RemoveAllIdentities => {
            tracing::warn!("refused ssh-add -D: coffer's keys are removed with coffer rm");
            Response::Failure
        }
        Request::Lock(mut passphrase) => {
            passphrase.zeroize();
            tracing::warn!("refused ssh-add -x: lock coffer's agent with coffer lock");
            Response::Failure
        }
        Request::Unlock(mut passphrase) => {
            passphrase.zeroize();
            tracing::warn!("refused ssh-add -X: unlock coffer's agent with coffer unlock");
            Response::Failure
        }
        Request::AddSmartcardKey(_)
        | Request::AddSmartcardKeyConstrained(_)
        | Request::RemoveSmartcardKey(_) => {
            tracing::warn!("refused a smartcard (PKCS#11) request: coffer's agent holds no smartcard keys; use ssh-agent for those");
            Response::Failure
        }
        Request::Extension(ext) => {
            // session-bind@openssh.com and query: OpenSSH clients carry on
            // when an agent does not support them.
            tracing::debug!(extension = %ext.name, "unsupported SSH agent extension; answering failure");
            Response::Failure
        }
    }
}

async fn sign(req: SignRequest, backend: &dyn AgentBackend, options: &AgentOptions) -> Response {
    let key = match &req.credential {
        PublicCredential::Key(k) => k,
        PublicCredential::Cert(_) => {
            tracing::info!(
                "refused a signature with a certificate: coffer's agent holds plain keys"
            );
            return Response::Failure;
        }
    };
    match bounded(options, "sign", backend.sign(key, &req.data, req.flags)).await {
        Ok(sig) => Response::SignResponse(sig),
        Err(r) => {
            tracing::info!(key = %fingerprint(key), reason = %r, "SSH agent signature refused");
            Response::Failure
        }
    }
}

async fn add(
    identity: AddIdentity,
    backend: &dyn AgentBackend,
    options: &AgentOptions,
) -> Response {
    let (privkey, comment) = match identity.credential {
        PrivateCredential::Key { privkey, comment } => (privkey, comment),
        PrivateCredential::Cert { .. } => {
            tracing::warn!(
                "refused a certificate offered with ssh-add: coffer's agent holds plain keys"
            );
            return Response::Failure;
        }
    };
    let key = match SigningKey::from_keypair(privkey, &comment) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(reason = %e, "refused a key offered with ssh-add");
            return Response::Failure;
        }
    };
    let shown = fingerprint(key.key_data());
    match options.add_policy {
        AddPolicy::Refuse => {
            tracing::warn!(key = %shown, "refused a key offered with ssh-add: coffer's agent serves keys stored in coffer; import it with coffer add --ssh-key FILE (or allow ssh-add in the configuration)");
            Response::Failure
        }
        AddPolicy::Store => match bounded(options, "add", backend.add(key, comment)).await {
            Ok(()) => {
                tracing::info!(key = %shown, "stored a key offered with ssh-add");
                Response::Success
            }
            Err(r) => {
                tracing::warn!(key = %shown, reason = %r, "could not store a key offered with ssh-add");
                Response::Failure
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_private_and_cleans_up_only_its_own_socket() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        let path = socket_path(&run);
        let s = AgentSocket::bind(&path).unwrap();
        assert_eq!(std::fs::metadata(&run).unwrap().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        // A live socket is not replaced.
        assert!(matches!(
            AgentSocket::bind(&path),
            Err(SocketError::InUse(_))
        ));
        drop(s);
        assert!(!path.exists(), "dropping the socket removes its file");
        // A stale socket (nobody listening) is replaced.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        let s = AgentSocket::bind(&path).unwrap();
        // A socket file replaced by someone else is not removed on drop.
        std::fs::remove_file(&path).unwrap();
        let other = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(s);
        assert!(path.exists());
        drop(other);
    }

    #[test]
    fn refuses_a_symlink_and_a_plain_file() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(SOCKET_NAME);
        std::os::unix::fs::symlink("/tmp/elsewhere", &path).unwrap();
        assert!(
            matches!(AgentSocket::bind(&path), Err(SocketError::Unsafe(m)) if m.contains("symlink"))
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"x").unwrap();
        assert!(
            matches!(AgentSocket::bind(&path), Err(SocketError::Unsafe(m)) if m.contains("not a socket"))
        );
    }
}
