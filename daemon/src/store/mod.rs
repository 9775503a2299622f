//! What the daemon keeps on disk, and how it writes it.
//!
//! - [`container`]: the local container of a signed-in account;
//! - [`device`]: `device.json`, this device's sign-in record;
//! - [`reset_header`]: the newest account header, kept while in state `reset`;
//! - [`fsutil`]: durable atomic writes, appends, bounded reads, temp files;
//! - [`trash`]: moving files to the user's trash (coffer never unlinks user data);
//! - [`lockfile`]: the single-instance lock.

pub mod container;
pub mod device;
pub mod fsutil;
pub mod lockfile;
pub mod reset_header;
pub mod trash;
