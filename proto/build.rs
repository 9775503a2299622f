//! Records the git commit the binaries are built from, for `--version`.
//!
//! `COFFER_BUILD_COMMIT` (set by a packager building from a tarball) wins;
//! else `git rev-parse` in the source tree; else "unknown".

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Asks cargo to run this again when the git file `name` changes (when it exists: a missing
/// file would make every build rerun it).
fn watch(name: &str) {
    if let Some(p) = git(&["rev-parse", "--git-path", name]) {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=COFFER_BUILD_COMMIT");
    let commit = std::env::var("COFFER_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves (a commit, a checkout) or the index changes.
            watch("HEAD");
            watch("index");
            watch("packed-refs");
            if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watch(&r);
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=COFFER_GIT_COMMIT={commit}");
}
