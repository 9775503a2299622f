//! Sessions (`/org/freedesktop/secrets/session/sN`): how secrets travel
//! between one client and the provider, `plain` or encrypted with the key of
//! a `dh-ietf1024-sha256-aes128-cbc-pkcs7` exchange.
//!
//! A session belongs to the connection that opened it: another client
//! naming it gets `NoSession`, and it ends when its client calls `Close` or
//! leaves the bus. Its AES key is zeroized when it ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde::{Deserialize, Serialize};
use zbus::message::Header;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Type, Value};
use zeroize::{Zeroize, Zeroizing};

use super::crypto::{KeyPair, SessionKey, DH_IETF1024, PLAIN};
use super::error::DbusError;
use super::paths::{self, Object};
use super::provider::Shared;
use super::store::Secret;

/// The most sessions open at once (all clients together); more is a client
/// that leaks them.
pub const MAX_SESSIONS: usize = 4096;

/// The Secret Service's `Secret` struct `(oayays)`: session, parameters
/// (the IV for DH sessions), value (plain or encrypted) and content type.
/// The value is zeroized on drop.
#[derive(Serialize, Deserialize, Type, Default)]
pub struct WireSecret {
    /// The session the value is encoded for.
    pub session: OwnedObjectPath,
    /// Algorithm parameters: empty for `plain`, the 16-byte IV for DH.
    pub parameters: Vec<u8>,
    /// The secret, plain or AES-CBC encrypted.
    pub value: Vec<u8>,
    /// Its content type.
    pub content_type: String,
}

impl Drop for WireSecret {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl std::fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireSecret")
            .field("session", &self.session.as_str())
            .field("len", &self.value.len())
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

enum Algorithm {
    Plain,
    Dh(SessionKey),
}

/// One open session.
pub struct Session {
    /// The unique bus name of the client that opened it.
    pub owner: String,
    path: OwnedObjectPath,
    algorithm: Algorithm,
}

impl Session {
    /// `secret` encoded for the client.
    pub fn encode(&self, secret: &Secret) -> WireSecret {
        let (parameters, value) = match &self.algorithm {
            Algorithm::Plain => (Vec::new(), secret.value().to_vec()),
            Algorithm::Dh(key) => {
                let (iv, ct) = key.encrypt(secret.value());
                (iv.to_vec(), ct)
            }
        };
        WireSecret {
            session: self.path.clone(),
            parameters,
            value,
            content_type: secret.content_type().to_string(),
        }
    }

    /// The secret a client sent.
    pub fn decode(&self, wire: &WireSecret) -> Result<Secret, DbusError> {
        let value = match &self.algorithm {
            Algorithm::Plain => {
                if !wire.parameters.is_empty() {
                    return Err(DbusError::InvalidArgs(
                        "a plain session's secret has empty parameters".into(),
                    ));
                }
                Zeroizing::new(wire.value.clone())
            }
            Algorithm::Dh(key) => key
                .decrypt(&wire.parameters, &wire.value)
                .map_err(|e| DbusError::InvalidArgs(e.to_string()))?,
        };
        Ok(Secret::new(value, wire.content_type.clone()))
    }
}

/// How many sessions of each algorithm were opened since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// `plain` sessions.
    pub plain: u64,
    /// `dh-ietf1024-sha256-aes128-cbc-pkcs7` sessions.
    pub dh: u64,
    /// Sessions open now.
    pub open: usize,
}

/// The open sessions.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<u64, Arc<Session>>>,
    next: AtomicU64,
    opened_plain: AtomicU64,
    opened_dh: AtomicU64,
}

impl Sessions {
    fn map(&self) -> MutexGuard<'_, HashMap<u64, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Negotiates `algorithm` with `input` for client `owner`: the
    /// `OpenSession` output and the new session's number.
    pub fn open(
        &self,
        owner: &str,
        algorithm: &str,
        input: &Value<'_>,
    ) -> Result<(OwnedValue, u64), DbusError> {
        if self.map().len() >= MAX_SESSIONS {
            return Err(DbusError::LimitsExceeded(format!(
                "{MAX_SESSIONS} Secret Service sessions are open; close some (Session.Close) first"
            )));
        }
        let (algorithm, output) = match algorithm {
            PLAIN => (Algorithm::Plain, Value::from("")),
            DH_IETF1024 => {
                let peer = bytes_of(input).ok_or_else(|| {
                    DbusError::InvalidArgs(format!(
                        "{DH_IETF1024} takes the client's public key as a byte array (ay)"
                    ))
                })?;
                let ours = KeyPair::generate();
                let key = ours
                    .agree(&peer)
                    .map_err(|e| DbusError::InvalidArgs(e.to_string()))?;
                (Algorithm::Dh(key), Value::from(ours.public().to_vec()))
            }
            other => {
                return Err(DbusError::NotSupported(format!(
                    "the session algorithm {other:?} is not supported; use {PLAIN:?} or {DH_IETF1024:?}"
                )))
            }
        };
        let output = OwnedValue::try_from(output)
            .map_err(|e| DbusError::Failed(format!("cannot encode the session output: {e}")))?;
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        match algorithm {
            Algorithm::Plain => self.opened_plain.fetch_add(1, Ordering::Relaxed),
            Algorithm::Dh(_) => self.opened_dh.fetch_add(1, Ordering::Relaxed),
        };
        let session = Session {
            owner: owner.to_string(),
            path: paths::session(n),
            algorithm,
        };
        self.map().insert(n, Arc::new(session));
        Ok((output, n))
    }

    /// The session at `path`, if it is `caller`'s.
    pub fn get(&self, path: &OwnedObjectPath, caller: &str) -> Result<Arc<Session>, DbusError> {
        let n = match paths::parse(path) {
            Some(Object::Session(n)) => n,
            _ => {
                return Err(DbusError::NoSession(format!(
                    "{} is not a session; open one with OpenSession",
                    path.as_str()
                )))
            }
        };
        match self.map().get(&n) {
            Some(s) if s.owner == caller => Ok(s.clone()),
            Some(_) => Err(DbusError::NoSession(format!(
                "the session {} belongs to another client; open your own with OpenSession",
                path.as_str()
            ))),
            None => Err(DbusError::NoSession(format!(
                "the session {} does not exist (closed, or its client left); open one with OpenSession",
                path.as_str()
            ))),
        }
    }

    /// Ends session `n` if `caller` owns it; false when there is no such
    /// session of theirs.
    pub fn close(&self, n: u64, caller: &str) -> bool {
        let mut map = self.map();
        match map.get(&n) {
            Some(s) if s.owner == caller => {
                map.remove(&n);
                true
            }
            _ => false,
        }
    }

    /// Ends every session of a client that left; their numbers.
    pub fn close_all_of(&self, owner: &str) -> Vec<u64> {
        let mut map = self.map();
        let gone: Vec<u64> = map
            .iter()
            .filter(|(_, s)| s.owner == owner)
            .map(|(n, _)| *n)
            .collect();
        for n in &gone {
            map.remove(n);
        }
        gone
    }

    /// The counts of sessions opened and open.
    pub fn stats(&self) -> SessionStats {
        SessionStats {
            plain: self.opened_plain.load(Ordering::Relaxed),
            dh: self.opened_dh.load(Ordering::Relaxed),
            open: self.len(),
        }
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn bytes_of(v: &Value<'_>) -> Option<Vec<u8>> {
    match v {
        Value::Value(inner) => bytes_of(inner),
        Value::Array(a) => a
            .iter()
            .map(|e| match e {
                Value::U8(b) => Some(*b),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The `org.freedesktop.Secret.Session` object of one session.
pub struct SessionIface {
    /// The session's number.
    pub n: u64,
    /// The provider.
    pub shared: Weak<Shared>,
}

#[zbus::interface(name = "org.freedesktop.Secret.Session")]
impl SessionIface {
    /// Ends the session.
    async fn close(&self, #[zbus(header)] hdr: Header<'_>) -> Result<(), DbusError> {
        let sh = Shared::upgrade(&self.shared)?;
        let peer = sh.caller(&hdr, "Session.Close").await?;
        if !sh.sessions.close(self.n, &peer.unique_name) {
            return Err(DbusError::NoSession(
                "this session is not yours, or is already closed".into(),
            ));
        }
        sh.unexport_session(self.n).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_dh_sessions_round_trip_and_belong_to_their_client() {
        let s = Sessions::default();
        let (out, n) = s.open(":1.1", PLAIN, &Value::from("")).expect("plain");
        assert_eq!(&*out, &Value::from(""));
        let client = KeyPair::generate();
        let (out, m) = s
            .open(":1.1", DH_IETF1024, &Value::from(client.public().to_vec()))
            .expect("dh");
        let server_pub = bytes_of(&out).expect("ay output");
        let client_key = client.agree(&server_pub).expect("agree");
        let secret = Secret::new(Zeroizing::new(b"pw".to_vec()), "text/plain");

        let plain = s.get(&paths::session(n), ":1.1").expect("own session");
        let w = plain.encode(&secret);
        assert_eq!(w.value, b"pw");
        assert!(w.parameters.is_empty());
        assert_eq!(plain.decode(&w).expect("decode").value(), b"pw");

        let dh = s.get(&paths::session(m), ":1.1").expect("own session");
        let w = dh.encode(&secret);
        assert_ne!(w.value, b"pw", "encrypted on the wire");
        assert_eq!(
            &client_key
                .decrypt(&w.parameters, &w.value)
                .expect("client decrypts")[..],
            b"pw"
        );
        let (iv, ct) = client_key.encrypt(b"new");
        let back = dh
            .decode(&WireSecret {
                session: paths::session(m),
                parameters: iv.to_vec(),
                value: ct,
                content_type: String::new(),
            })
            .expect("provider decrypts");
        assert_eq!(back.value(), b"new");
        assert_eq!(back.content_type(), "text/plain");

        assert!(matches!(
            s.get(&paths::session(m), ":1.2"),
            Err(DbusError::NoSession(_))
        ));
        assert!(!s.close(m, ":1.2"), "only the owner closes");
        assert!(s.close(m, ":1.1"));
        assert!(matches!(
            s.get(&paths::session(m), ":1.1"),
            Err(DbusError::NoSession(_))
        ));
        assert_eq!(s.close_all_of(":1.1"), vec![n]);
        assert!(s.is_empty());
    }

    #[test]
    fn bad_negotiations_are_refused() {
        let s = Sessions::default();
        assert!(matches!(
            s.open(":1.1", "dh-ietf2048-sha256_aes256_gcm", &Value::from("")),
            Err(DbusError::NotSupported(_))
        ));
        assert!(matches!(
            s.open(":1.1", DH_IETF1024, &Value::from("not bytes")),
            Err(DbusError::InvalidArgs(_))
        ));
        assert!(matches!(
            s.open(":1.1", DH_IETF1024, &Value::from(vec![1u8])),
            Err(DbusError::InvalidArgs(_))
        ));
        assert!(s.is_empty());
        let plain = s.open(":1.1", PLAIN, &Value::from("")).expect("plain").1;
        let sess = s.get(&paths::session(plain), ":1.1").expect("session");
        assert!(matches!(
            sess.decode(&WireSecret {
                session: paths::session(plain),
                parameters: vec![1],
                value: vec![],
                content_type: String::new(),
            }),
            Err(DbusError::InvalidArgs(_))
        ));
    }
}
