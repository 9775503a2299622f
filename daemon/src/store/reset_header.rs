//! The newest header a device in state `reset` knows, kept beside its
//! device record: the device puts it back in any sync folder that holds an
//! older one (an engine replaying an old version), since nobody else may be
//! signed in to do it; and a login may use it.

use coffer_proto::dirs::Dirs;
use coffer_vault::account::AccountHeader;

use super::fsutil;

const FILE: &str = "reset-header.json";

/// Keeps `header` as the newest one this device knows.
pub fn keep(dirs: &Dirs, header: &AccountHeader) -> std::io::Result<()> {
    fsutil::write_atomic(&dirs.data.join(FILE), &header.to_json(), 0o600)
}

/// The header kept by [`keep`], if any (one that does not read counts as none).
pub fn kept(dirs: &Dirs) -> Option<AccountHeader> {
    let bytes = fsutil::read_bounded(&dirs.data.join(FILE), 1024 * 1024).ok()?;
    AccountHeader::from_json(&bytes).ok()
}

/// Forgets the kept header (a login or logout ends state `reset`).
pub fn forget(dirs: &Dirs) {
    let _ = std::fs::remove_file(dirs.data.join(FILE));
}
