//! The replica in its files: the local container and this device's sync
//! file (the encoders themselves are in [`crate::format`], which knows
//! nothing of replicas).

use super::{MergeOutcome, Replica, VaultError};
use crate::account::AccountHeader;
use crate::format::{container_bytes, sync_bytes, Appended, Container, SyncFile, SyncRef};
use crate::secret::SecretKey;

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
        if file.account_id != self.account_id() {
            return Err(VaultError::WrongAccount {
                expected: self.account_id(),
                found: file.account_id,
            });
        }
        if file.epoch != self.epoch() {
            return Err(VaultError::WrongEpoch {
                expected: self.epoch(),
                found: file.epoch,
            });
        }
        Ok(self.merge_remote(&file.state, key))
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
