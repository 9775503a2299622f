//! The replica in its files: the local container and this device's sync
//! file (the encoders themselves are in [`crate::format`], which knows
//! nothing of replicas).

use super::{MergeOutcome, Replica, VaultError};
use crate::account::AccountHeader;
use crate::format::{container_bytes, sync_bytes, Appended, Container, SyncFile, SyncRef};
use crate::secret::SecretKey;
use crate::segment::SyncContent;

impl Container {
    /// Pairs a header with a replica of the same account and epoch.
    pub fn new(account: AccountHeader, replica: &Replica) -> Result<Self, VaultError> {
        check_same(&account, replica)?;
        Ok(Container {
            account,
            replica: replica.to_parts(),
            appended: Appended::default(),
        })
    }

    /// The header and the (locked) replica.
    pub fn into_replica(self) -> (AccountHeader, Replica) {
        (self.account, Replica::from_parts(self.replica))
    }
}

impl Replica {
    /// This device's sync file (a copy of the state).
    pub fn to_sync_file(&self) -> SyncFile {
        SyncFile {
            account_id: self.account_id(),
            epoch: self.epoch(),
            device_id: self.device_id(),
            device_name: self.device_name().to_owned(),
            written_hlc: self.clock(),
            state: self.state().clone(),
        }
    }

    /// The bytes of this device's sync file, without copying the state.
    pub fn sync_file_bytes(&self) -> Vec<u8> {
        sync_bytes(&SyncRef {
            account_id: self.account_id(),
            epoch: self.epoch(),
            device_id: self.device_id(),
            device_name: self.device_name(),
            written_hlc: self.clock(),
            state: self.state(),
        })
    }

    /// The bytes of this device's container with `account` as its header,
    /// without copying the state.
    pub fn container_bytes(&self, account: &AccountHeader) -> Result<Vec<u8>, VaultError> {
        check_same(account, self)?;
        Ok(container_bytes(
            account,
            self.device_id(),
            self.device_name(),
            self.clock(),
            self.state(),
            self.sealed_reports(),
        ))
    }

    /// Merges another device's sync file after checking that it belongs to
    /// this account and epoch (see [`Replica::merge_remote`]).
    pub fn merge_sync_file(
        &mut self,
        file: &SyncFile,
        key: Option<&SecretKey>,
    ) -> Result<MergeOutcome, VaultError> {
        self.check_origin(file.account_id, file.epoch)?;
        Ok(self.merge_remote(&file.state, key))
    }

    /// [`merge_sync_file`](Self::merge_sync_file) for a sync file of either
    /// version (a whole version-2 state, or a snapshot or delta segment).
    pub fn merge_sync_content(
        &mut self,
        file: &SyncContent,
        key: Option<&SecretKey>,
    ) -> Result<MergeOutcome, VaultError> {
        self.check_origin(file.account_id(), file.epoch())?;
        let outcome = self.merge_remote(file.state(), key);
        if let Some(vv) = file.writer_vv() {
            self.join_foreign_vv(vv);
        }
        Ok(outcome)
    }

    fn check_origin(&self, account_id: uuid::Uuid, epoch: u64) -> Result<(), VaultError> {
        if account_id != self.account_id() {
            return Err(VaultError::WrongAccount {
                expected: self.account_id(),
                found: account_id,
            });
        }
        if epoch != self.epoch() {
            return Err(VaultError::WrongEpoch {
                expected: self.epoch(),
                found: epoch,
            });
        }
        Ok(())
    }
}

fn check_same(account: &AccountHeader, replica: &Replica) -> Result<(), VaultError> {
    if account.account_id != replica.account_id() {
        return Err(VaultError::WrongAccount {
            expected: replica.account_id(),
            found: account.account_id,
        });
    }
    if account.epoch != replica.epoch() {
        return Err(VaultError::WrongEpoch {
            expected: replica.epoch(),
            found: account.epoch,
        });
    }
    Ok(())
}
