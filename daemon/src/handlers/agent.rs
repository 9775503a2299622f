//! The SSH agent's requests, answered from the session:
//! [`VaultAgentBackend`], the daemon's [`AgentBackend`].
//!
//! - Listing: the SSH-key items of the unlocked vault, by title; while
//!   locked, the public-key index when `ssh_agent_list_locked = true`,
//!   else nothing (as OpenSSH's own agent while locked).
//! - Signing: unlocked only. The private key is read from the item under
//!   the state lock, which is then released; parsing and signing run on the
//!   blocking pool. A signature is use of the vault (the lock timeout
//!   starts again). Locked, the agent answers failure at once.
//! - `ssh-add FILE` with `ssh_agent_add = "store"`: the key becomes an
//!   item titled after its comment (unlocked only; a key already stored
//!   succeeds without a second item).
//!
//! Logs name keys by fingerprint and items by id; never a title's content
//! beyond what `ssh-add -l` shows, never key material.

use std::sync::Arc;

use coffer_proto::reply::State;
use ssh_key::public::KeyData;
use ssh_key::Signature;
use zeroize::Zeroizing;

use super::ssh::{keeps_index, refresh_keys, store};
use crate::daemon::Daemon;
use crate::error::Error;
use crate::session::Session;
use crate::ssh_agent::keylist::private_key_of;
use crate::ssh_agent::{AgentBackend, AgentIdentity, BackendFuture, Refusal, SigningKey};

/// The agent over the daemon's session.
pub struct VaultAgentBackend {
    daemon: Arc<Daemon>,
}

impl VaultAgentBackend {
    /// The agent of `daemon`.
    pub fn new(daemon: Arc<Daemon>) -> VaultAgentBackend {
        VaultAgentBackend { daemon }
    }
}

fn failed(e: impl std::fmt::Display) -> Refusal {
    Refusal::Failed(e.to_string())
}

impl AgentBackend for VaultAgentBackend {
    fn identities(&self) -> BackendFuture<'_, Vec<AgentIdentity>> {
        Box::pin(async move {
            let d = &self.daemon;
            let core = d.core().await;
            let keys = refresh_keys(d, &core.session);
            match core.session.state() {
                State::Unlocked => {}
                State::Locked if keeps_index(d) => {}
                _ => return Err(Refusal::Locked),
            }
            Ok(keys
                .keys()
                .iter()
                .map(|k| AgentIdentity {
                    public_key: k.public.key_data().clone(),
                    comment: k.title.clone(),
                })
                .collect())
        })
    }

    fn sign<'a>(
        &'a self,
        key: &'a KeyData,
        data: &'a [u8],
        flags: u32,
    ) -> BackendFuture<'a, Signature> {
        Box::pin(async move {
            let d = &self.daemon;
            let mut core = d.core().await;
            let (id, fingerprint, private) = {
                let Session::Unlocked(account, vault_key) = &core.session else {
                    return Err(Refusal::Locked);
                };
                let keys = refresh_keys(d, &core.session);
                let found = keys.find(key).ok_or(Refusal::UnknownKey)?;
                let (id, fingerprint) = (found.id, found.fingerprint.clone());
                drop(keys);
                let item = account
                    .replica
                    .get(vault_key, id)
                    .map_err(failed)?
                    .ok_or(Refusal::UnknownKey)?;
                let private = private_key_of(&item)
                    .map(|p| Zeroizing::new(p.to_owned()))
                    .ok_or_else(|| failed(format!("item {id} has no ssh-private-key field")))?;
                (id, fingerprint, private)
            };
            d.touch(&mut core);
            drop(core);
            let want = key.clone();
            let data = data.to_vec();
            let signed = tokio::task::spawn_blocking(move || {
                let signer = SigningKey::from_openssh(&private).map_err(failed)?;
                if signer.key_data() != &want {
                    return Err(failed(format!(
                        "item {id}'s private key is not the one its ssh-public-key field names; import the key again"
                    )));
                }
                signer.sign(&data, flags).map_err(failed)
            })
            .await
            .map_err(failed)?;
            if signed.is_ok() {
                tracing::debug!(item = %id, key = %fingerprint, flags, "SSH agent signed");
            }
            signed
        })
    }

    fn add(&self, key: SigningKey, comment: String) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            let d = &self.daemon;
            let material = key.material().map_err(failed)?;
            let title = if comment.trim().is_empty() {
                format!("SSH key {}", material.fingerprint)
            } else {
                comment.trim().to_owned()
            };
            let mut core = d.core().await;
            if core.session.state() != State::Unlocked {
                return Err(Refusal::Locked);
            }
            match store(d, &mut core, &title, &material, Vec::new()) {
                Ok(info) => {
                    tracing::info!(item = %info.id, key = %info.fingerprint, "stored a key offered with ssh-add");
                    Ok(())
                }
                Err(Error::SshKey {
                    kind: "duplicate", ..
                }) => Ok(()),
                Err(e) => Err(failed(e)),
            }
        })
    }
}
