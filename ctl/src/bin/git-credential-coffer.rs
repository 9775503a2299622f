//! `git-credential-coffer`: what git runs for `git config --global
//! credential.helper coffer` (git turns a helper name without a slash into
//! `git credential-NAME`, that is the program `git-credential-NAME` on
//! PATH). It runs `coffer git-credential ARGS…` in its place (exec), with
//! the same stdin, stdout and stderr: the `coffer` beside this program when
//! there is one (installed together), else the one on PATH.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// The `coffer` to run: beside this executable, else found on PATH.
fn coffer() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("coffer")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("coffer"))
}

fn main() -> ExitCode {
    let program = coffer();
    let error = Command::new(&program)
        .arg("git-credential")
        .args(std::env::args_os().skip(1))
        .exec();
    // exec returns only when coffer could not be started.
    eprintln!(
        "git-credential-coffer: cannot run {}: {error}; install coffer next to this program or on PATH",
        program.display()
    );
    ExitCode::from(if error.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    })
}
