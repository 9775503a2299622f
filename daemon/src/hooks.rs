//! Test seams, compiled in only with the `test-hooks` cargo feature.
//!
//! The black-box tests and benchmarks speed up key derivation
//! (`COFFER_KDF=fast`: Argon2id at 8 MiB and one pass) and make writes fail
//! on purpose (`COFFER_FAULT`, `COFFER_FAULT_FILE`, see
//! [`FaultInjector`](crate::fsutil::FaultInjector)), and shorten the window
//! in which a device counts its own sync file disappearing
//! (`COFFER_OWN_FILE_WINDOW`, see [`own_file`](crate::sync::own_file)). A
//! shipped `cofferd` must
//! never weaken a vault or break a write because of an environment variable,
//! so these variables are read only by a build with the feature, which only
//! the test crate (as a dev-dependency) and `cargo build --features
//! cofferd/test-hooks` turn on. A build without it ignores them and says so
//! in its log; `cofferd --version` names a test build.

/// Whether this build honours the test seams.
pub const ENABLED: bool = cfg!(feature = "test-hooks");

/// The environment variables that are test seams.
pub const VARIABLES: [&str; 4] = [
    "COFFER_KDF",
    "COFFER_FAULT",
    "COFFER_FAULT_FILE",
    "COFFER_OWN_FILE_WINDOW",
];

/// The value of the test seam `name` (one of [`VARIABLES`]) in a test build;
/// `None` in a shipped build, whatever the environment says.
pub fn var(name: &str) -> Option<std::ffi::OsString> {
    debug_assert!(VARIABLES.contains(&name), "{name} is not a test seam");
    if ENABLED {
        std::env::var_os(name).filter(|v| !v.is_empty())
    } else {
        None
    }
}

/// Whether new accounts and password changes use the cheap test KDF.
pub fn fast_kdf() -> bool {
    var("COFFER_KDF").is_some_and(|v| v == "fast")
}

/// Logs, once at start-up, which seams are set and whether they count.
pub fn report() {
    for name in VARIABLES {
        if std::env::var_os(name).is_none_or(|v| v.is_empty()) {
            continue;
        }
        if ENABLED {
            tracing::warn!("{name} is set and this is a test build: it is honoured");
        } else {
            tracing::warn!(
                "{name} is set but ignored: only a test build of cofferd (cargo feature test-hooks) reads it"
            );
        }
    }
}

/// `cofferd --version`: the version, the commit, and whether this is a test build.
pub fn version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        if ENABLED {
            format!(
                "{}, test build with test hooks",
                coffer_proto::long_version()
            )
        } else {
            coffer_proto::long_version().to_owned()
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_test_builds_read_the_seams() {
        // The variable is set in this process either way; what counts is the build.
        std::env::set_var("COFFER_FAULT_FILE", "/nonexistent");
        assert_eq!(super::var("COFFER_FAULT_FILE").is_some(), super::ENABLED);
        std::env::remove_var("COFFER_FAULT_FILE");
        assert_eq!(super::var("COFFER_FAULT_FILE"), None);
    }
}
