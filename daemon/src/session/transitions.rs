//! The session's transitions, the only code that moves the daemon between
//! states. Each does everything that belongs to the move, in one place:
//! the key cache, the container, `device.json`, the kept reset header, and
//! the state events.

use std::path::PathBuf;

use coffer_proto::reply::{Event, ResetDetails, State};
use coffer_vault::account::AccountHeader;
use coffer_vault::replica::{ConflictReport, Replica};
use coffer_vault::secret::SecretKey;

use super::{Account, ResetWait, Session};
use crate::daemon::{now_ms, Ctx};
use crate::error::Error;
use crate::store::container::{self, ContainerStore, SaveError};
use crate::store::device::DeviceRecord;
use crate::store::{fsutil, reset_header, trash};
use crate::sync::SyncState;

/// A fresh sign-in (signup, login, a restored container).
pub struct SignIn {
    /// The new sign-in record.
    pub device: DeviceRecord,
    /// The account header of the epoch signed in to.
    pub header: AccountHeader,
    /// The vault to start with.
    pub replica: Replica,
    /// Its key.
    pub key: SecretKey,
}

impl SignIn {
    /// A sign-in with an empty vault (signup, login: the first round pulls the rest).
    pub fn fresh(
        device: DeviceRecord,
        header: AccountHeader,
        key: SecretKey,
    ) -> Result<SignIn, uuid::Error> {
        let replica = Replica::new(
            header.account_id,
            header.epoch,
            device.device_id.parse()?,
            device.device_name.clone(),
        );
        Ok(SignIn {
            device,
            header,
            replica,
            key,
        })
    }
}

/// Why the device enters state `reset`.
pub enum ResetCause {
    /// This device reset the account: `details` say when and from where;
    /// `header` is the new one (kept, so that this device can put it back
    /// if an engine replays an old one); `folders` are this device's sync
    /// folders from now on.
    Local {
        /// What happened.
        details: ResetDetails,
        /// The new header.
        header: AccountHeader,
        /// The sync folders.
        folders: Vec<PathBuf>,
    },
    /// A sync folder holds a newer epoch (a reset elsewhere), or a
    /// concurrent reset won over the one this device is signed in to.
    Remote {
        /// The winning header.
        header: AccountHeader,
        /// Set when this device's own reset lost to a concurrent one.
        lost: Option<String>,
    },
}

/// Maps a container save failure to the request's error.
pub fn save_error(e: SaveError) -> Error {
    match e {
        SaveError::Mismatch(e) => Error::internal(e),
        SaveError::Io(e) => Error::nothing_changed(e),
    }
}

fn device_json(ctx: &Ctx) -> PathBuf {
    ctx.dirs.data.join("device.json")
}

impl Session {
    /// Signed out or reset → unlocked: writes the container (first) and
    /// `device.json`, forgets a kept reset header, purges the key of the
    /// sign-in this replaces and caches the new one. On error the session
    /// is unchanged.
    pub fn sign_in(&mut self, ctx: &Ctx, s: SignIn) -> Result<(), Error> {
        match self {
            Session::SignedOut | Session::Reset(_) => {}
            other => {
                return Err(Error::AlreadySignedIn(format!(
                    "this device is already signed in ({}); run `coffer logout` first",
                    other.state().as_str()
                )))
            }
        }
        fsutil::clean_temp_files(&ctx.dirs.data);
        let SignIn {
            device,
            header,
            mut replica,
            key,
        } = s;
        let path = container::path_for(ctx.dirs, &device.account_id);
        let container = ContainerStore::create(&path, &header, &mut replica).map_err(save_error)?;
        device
            .save(&device_json(ctx))
            .map_err(Error::nothing_changed)?;
        reset_header::forget(ctx.dirs);
        // Leaving state reset: the old sign-in is over.
        if let Some(old) = self.namespace() {
            let _ = ctx.keyring(|k| k.purge(&old));
        }
        if let Err(e) = ctx.keyring(|k| k.store(&device.namespace(), key.expose())) {
            tracing::warn!(error = %e, "could not cache the key in the keyring");
        }
        let sync = SyncState::for_folders(&device.sync_folders);
        *self = Session::Unlocked(
            Box::new(Account {
                device,
                header,
                replica,
                container,
                sync,
            }),
            key,
        );
        ctx.emit(Event::State {
            state: State::Unlocked,
        });
        Ok(())
    }

    /// Locked → unlocked with `key` (already checked against the header):
    /// caches the key, drops versions that do not open (merged while locked
    /// from a forged or damaged file), resolves siblings and saves. The
    /// conflicts resolved are returned. A failed save leaves the vault
    /// unlocked and is returned as the error.
    pub fn unlock(&mut self, ctx: &Ctx, key: SecretKey) -> Result<Vec<ConflictReport>, Error> {
        let account = match std::mem::take(self) {
            Session::Locked(a) => a,
            other => {
                let state = other.state();
                *self = other;
                return Err(Error::NotReady(state));
            }
        };
        if let Err(e) = ctx.keyring(|k| k.store(&account.device.namespace(), key.expose())) {
            tracing::warn!(error = %e, "could not cache the key in the keyring");
        }
        *self = Session::Unlocked(account, key);
        let Session::Unlocked(account, key) = self else {
            unreachable!("just set")
        };
        let rejected = account.replica.verify_and_compact(key);
        if !rejected.is_empty() {
            tracing::warn!(count = rejected.len(), "dropped versions that do not open");
        }
        ctx.emit(Event::State {
            state: State::Unlocked,
        });
        account.resolve_and_save(ctx, key)
    }

    /// Resumes unlocked at start-up with a key from the key cache (already
    /// checked against the header). No event: nobody listens yet.
    pub fn resume(&mut self, key: SecretKey) {
        if let Session::Locked(mut account) = std::mem::take(self) {
            let rejected = account.replica.verify_and_compact(&key);
            if !rejected.is_empty() {
                tracing::warn!(count = rejected.len(), "dropped versions that do not open");
            }
            *self = Session::Unlocked(account, key);
        }
    }

    /// Unlocked → locked: the key leaves memory and the key cache, and the
    /// plaintext cache is dropped. `false` when it was not unlocked.
    pub fn lock(&mut self, ctx: &Ctx, why: &str) -> bool {
        let (mut account, _key) = match std::mem::take(self) {
            Session::Unlocked(a, k) => (a, k),
            other => {
                *self = other;
                return false;
            }
        };
        if let Err(e) = ctx.keyring(|k| k.purge(&account.device.namespace())) {
            tracing::warn!(error = %e, "could not purge the key from the keyring");
        }
        account.replica.forget_plaintext();
        *self = Session::Locked(account);
        tracing::info!(why, "locked");
        ctx.emit(Event::State {
            state: State::Locked,
        });
        true
    }

    /// Any signed-in state → signed out: the container goes to the trash,
    /// `device.json` is removed. Returns where the container went.
    pub fn logout(&mut self, ctx: &Ctx) -> Result<Option<PathBuf>, Error> {
        let Some(device) = self.device() else {
            return Err(Error::NotReady(State::SignedOut));
        };
        let cpath = container::path_for(ctx.dirs, &device.account_id);
        self.lock(ctx, "logout");
        let trashed = if cpath.exists() {
            Some(trash::move_to_trash(&cpath).map_err(|e| {
                Error::Io(format!(
                    "could not move {} to the trash: {e}; nothing was changed",
                    cpath.display()
                ))
            })?)
        } else {
            None
        };
        std::fs::remove_file(device_json(ctx)).map_err(|e| match &trashed {
            Some(t) => Error::io_after(
                &format!("moving the container to the trash at {}", t.display()),
                e,
            ),
            None => Error::nothing_changed(e),
        })?;
        reset_header::forget(ctx.dirs);
        *self = Session::SignedOut;
        ctx.emit(Event::State {
            state: State::SignedOut,
        });
        Ok(trashed)
    }

    /// Locked, unlocked (or, for a local reset, reset) → reset: the key is
    /// purged, the container goes to the trash, this device's sync files of
    /// the old epoch leave every folder for the trash (a device retires its
    /// own files only), the newest header is kept, and `device.json` records
    /// what happened. Nothing of the old epoch is merged into the new one.
    ///
    /// A local reset stops at the first failure (the caller has not
    /// published the new header yet, so the account is unchanged); a remote
    /// one goes on as far as it can, since the account was reset anyway.
    pub fn enter_reset(&mut self, ctx: &Ctx, cause: ResetCause) -> Result<ResetDetails, Error> {
        let local = matches!(cause, ResetCause::Local { .. });
        let mut device = match self {
            Session::Locked(a) | Session::Unlocked(a, _) => a.device.clone(),
            Session::Reset(w) if local => w.device.clone(),
            other => return Err(Error::NotReady(other.state())),
        };
        tracing::warn!(
            from_epoch = device.epoch,
            "the account was reset; waiting for a new login"
        );
        if let Err(e) = ctx.keyring(|k| k.purge(&device.namespace())) {
            tracing::warn!(error = %e, "could not purge the key from the keyring");
        }
        let cpath = container::path_for(ctx.dirs, &device.account_id);
        let trashed = if cpath.exists() {
            match trash::move_to_trash(&cpath) {
                Ok(t) => Some(t),
                Err(e) if local => {
                    return Err(Error::Io(format!(
                        "could not move the container to the trash: {e}; nothing else was changed"
                    )))
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not move the stale container to the trash; it stays in place");
                    None
                }
            }
        } else {
            None
        };
        crate::sync::layout::retire_own_files(
            &device.sync_folders,
            &device.account_id,
            &device.device_id,
        );
        let (details, header) = match cause {
            ResetCause::Local {
                mut details,
                header,
                folders,
            } => {
                // A second reset finds no container: keep pointing at the one trashed before.
                details.trashed_container = trashed.or_else(|| {
                    device
                        .reset
                        .as_ref()
                        .and_then(|r| r.trashed_container.clone())
                });
                device.sync_folders = folders;
                (details, header)
            }
            ResetCause::Remote { header, lost } => {
                let info = header.reset.clone();
                let folder = device
                    .sync_folders
                    .first()
                    .map(|f| f.display().to_string())
                    .unwrap_or_else(|| "DIR".into());
                let details = ResetDetails {
                    at_ms: info.as_ref().map_or(0, |i| i.at_ms),
                    by_device_id: info
                        .as_ref()
                        .map_or_else(|| "unknown".into(), |i| i.by_device_id.clone()),
                    by_device_name: info
                        .as_ref()
                        .map_or_else(|| "unknown".into(), |i| i.by_device_name.clone()),
                    previous_epoch: device.epoch,
                    new_epoch: header.epoch,
                    trashed_container: trashed,
                    next_command: format!(
                        "coffer login --email {} --sync-folder {folder}",
                        device.email
                    ),
                    lost_to_concurrent_reset: lost,
                };
                (details, header)
            }
        };
        let done = "moving the container to the trash";
        match reset_header::keep(ctx.dirs, &header) {
            Err(e) if local => return Err(Error::io_after(done, e)),
            Err(e) => tracing::warn!(error = %e, "could not keep the newest account header"),
            Ok(()) => {}
        }
        device.reset = Some(details.clone());
        match device.save(&device_json(ctx)) {
            Err(e) if local => return Err(Error::io_after(done, e)),
            Err(e) => tracing::error!(error = %e, "could not record the reset in device.json"),
            Ok(()) => {}
        }
        let sync = SyncState::for_folders(&device.sync_folders);
        *self = Session::Reset(Box::new(ResetWait { device, sync }));
        ctx.emit(Event::Reset(details.clone()));
        ctx.emit(Event::State {
            state: State::Reset,
        });
        let _ = now_ms;
        Ok(details)
    }
}

impl Account {
    /// Resolves siblings field by field (with the key) and saves; the
    /// conflicts it resolved are reported as events and returned.
    pub fn resolve_and_save(
        &mut self,
        ctx: &Ctx,
        key: &SecretKey,
    ) -> Result<Vec<ConflictReport>, Error> {
        let reports = self
            .replica
            .resolve_conflicts(key, now_ms())
            .map_err(Error::internal)?;
        self.report_and_save(ctx, reports)
    }

    /// [`resolve_and_save`](Self::resolve_and_save) for the items a merge
    /// changed only: a round costs what it merged, not the vault.
    pub fn resolve_and_save_items(
        &mut self,
        ctx: &Ctx,
        key: &SecretKey,
        items: &[coffer_vault::ids::ItemId],
    ) -> Result<Vec<ConflictReport>, Error> {
        let reports = self
            .replica
            .resolve_conflicts_in(key, items, now_ms())
            .map_err(Error::internal)?;
        self.report_and_save(ctx, reports)
    }

    /// Tells every client of the conflicts just resolved, then saves.
    fn report_and_save(
        &mut self,
        ctx: &Ctx,
        reports: Vec<ConflictReport>,
    ) -> Result<Vec<ConflictReport>, Error> {
        for r in &reports {
            tracing::info!(item = %r.item_id, "resolved a conflict");
            ctx.emit(Event::Conflict(crate::handlers::status::conflict_info(r)));
        }
        self.save()?;
        Ok(reports)
    }

    /// Persists what changed before it is acknowledged (see [`ContainerStore::save`]).
    pub fn save(&mut self) -> Result<(), Error> {
        self.container
            .save(&self.header, &mut self.replica)
            .map_err(save_error)
    }

    /// Writes the whole container atomically.
    pub fn write_whole(&mut self) -> Result<(), Error> {
        self.container
            .write_whole(&self.header, &mut self.replica)
            .map_err(save_error)
    }
}
