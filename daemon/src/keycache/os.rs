//! The calls into the `keyring` crate: every entry built from an explicit
//! credential (its mock store can never be picked), errors described
//! without any stored value.

use zeroize::{Zeroize, Zeroizing};

use super::backend::Backend;
use super::SERVICE;

/// Removes whatever a failed write left behind for `user`. A keyutils write can fail half way:
/// the key lands in the session keyring, then linking it into the persistent keyring is refused.
/// Where the process has no session keyring of its own, that "session keyring" is the
/// user-session keyring, and the `keyring` crate cannot find the key again (it searches by
/// numeric id, which the kernel does not count as possessed; and the failed link may even have
/// given the thread a new, empty session keyring). So the key is searched for through the special
/// ids of the session and user-session keyrings, which the kernel treats as possessed, and
/// unlinked from that keyring (which needs no permission on the key itself); the kernel then
/// collects it.
pub(super) fn scrub(backend: Backend, user: &str) {
    let _ = os_delete(backend, user);
    #[cfg(target_os = "linux")]
    if backend == Backend::Keyutils {
        keyutils_scrub(user);
    }
}

#[cfg(target_os = "linux")]
fn keyutils_scrub(user: &str) {
    use std::ffi::CString;
    const KEYCTL_SEARCH: libc::c_long = 10;
    const KEYCTL_UNLINK: libc::c_long = 9;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    const KEY_SPEC_USER_SESSION_KEYRING: libc::c_long = -5;
    // The description the keyring crate gives an entry without a target.
    let (Ok(kind), Ok(description)) = (
        CString::new("user"),
        CString::new(format!("keyring-rs:{user}@{SERVICE}")),
    ) else {
        return;
    };
    for keyring in [KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_SESSION_KEYRING] {
        // Bounded: each round removes one matching key.
        for _ in 0..8 {
            // SAFETY: KEYCTL_SEARCH only reads the two NUL-terminated strings, which outlive the
            // call; the last argument 0 asks it to link the result nowhere.
            let serial = unsafe {
                libc::syscall(
                    libc::SYS_keyctl,
                    KEYCTL_SEARCH,
                    keyring,
                    kind.as_ptr(),
                    description.as_ptr(),
                    0 as libc::c_long,
                )
            };
            if serial <= 0 {
                break;
            }
            // SAFETY: integer arguments only.
            let done = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_UNLINK, serial, keyring) };
            if done < 0 {
                tracing::debug!(
                    "could not unlink a stray keyutils entry: {}",
                    std::io::Error::last_os_error()
                );
                break;
            }
        }
    }
}
/// A readable description of a `keyring` error that never includes a stored value.
pub(super) fn describe(err: &keyring::Error) -> String {
    use keyring::Error as E;
    match err {
        E::PlatformFailure(inner) => format!("platform failure: {inner}"),
        E::NoStorageAccess(inner) => format!("no access to the store (is it locked?): {inner}"),
        E::NoEntry => "no such entry".into(),
        E::BadEncoding(_) => "the stored value is not text".into(),
        E::TooLong(name, limit) => format!("{name} is longer than the store's limit of {limit}"),
        E::Invalid(name, reason) => format!("{name} is invalid: {reason}"),
        E::Ambiguous(found) => format!("{} entries match", found.len()),
        _ => "unknown keyring error".into(),
    }
}

/// The `keyring` entry for `user` in `backend`, built from an explicit credential.
fn os_entry(backend: Backend, user: &str) -> Result<keyring::Entry, keyring::Error> {
    match backend {
        #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
        Backend::SecretService => {
            let credential =
                keyring::secret_service::SsCredential::new_with_target(None, SERVICE, user)?;
            Ok(keyring::Entry::new_with_credential(Box::new(credential)))
        }
        #[cfg(target_os = "linux")]
        Backend::Keyutils => {
            let credential =
                keyring::keyutils::KeyutilsCredential::new_with_target(None, SERVICE, user)?;
            Ok(keyring::Entry::new_with_credential(Box::new(credential)))
        }
        #[cfg(target_os = "macos")]
        Backend::Keychain => {
            let credential = keyring::macos::MacCredential::new_with_target(None, SERVICE, user)?;
            Ok(keyring::Entry::new_with_credential(Box::new(credential)))
        }
        other => Err(keyring::Error::PlatformFailure(
            format!(
                "the {} store is not available on this platform",
                other.name()
            )
            .into(),
        )),
    }
}

/// Stores `value` for `user`; several matching Secret Service items are replaced by one.
pub(super) fn os_set(backend: Backend, user: &str, value: &[u8]) -> Result<(), keyring::Error> {
    let entry = os_entry(backend, user)?;
    match entry.set_secret(value) {
        Err(keyring::Error::Ambiguous(_)) => {
            os_delete(backend, user)?;
            entry.set_secret(value)
        }
        other => other,
    }
}

/// The value stored for `user`, `None` when there is none.
pub(super) fn os_get(
    backend: Backend,
    user: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, keyring::Error> {
    let entry = os_entry(backend, user)?;
    match entry.get_secret() {
        Ok(value) => Ok(Some(Zeroizing::new(value))),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(keyring::Error::BadEncoding(mut value)) => {
            value.zeroize();
            Err(keyring::Error::BadEncoding(Vec::new()))
        }
        Err(err) => Err(err),
    }
}

/// Deletes every entry for `user`; `Ok(false)` when there was none.
pub(super) fn os_delete(backend: Backend, user: &str) -> Result<bool, keyring::Error> {
    let entry = os_entry(backend, user)?;
    match entry.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(keyring::Error::Ambiguous(_)) => delete_all(backend, user).map(|()| true),
        Err(err) => Err(err),
    }
}

/// Deletes every Secret Service item matching `user` (only the Secret Service can hold several).
fn delete_all(backend: Backend, user: &str) -> Result<(), keyring::Error> {
    match backend {
        #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
        Backend::SecretService => {
            keyring::secret_service::SsCredential::new_with_target(None, SERVICE, user)?
                .delete_all_passwords()
        }
        other => Err(keyring::Error::PlatformFailure(
            format!(
                "the {} store returned several entries for {user}",
                other.name()
            )
            .into(),
        )),
    }
}
