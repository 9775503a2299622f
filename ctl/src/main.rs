//! `coffer`: the command-line client of the coffer password vault. It
//! controls `cofferd` over a local socket and starts it on demand.
//!
//! # Layout
//!
//! - [`cli`]: the command line (clap); nothing there talks to the daemon.
//!   [`cli_tools`]: the arguments of `generate`, `search`, `totp`, `trash`
//!   and `--generate`, which `cli` re-exports; [`cli_integrations`]: those of
//!   `ssh`, `git-credential`, `run` and `inject`, which `cli` names.
//! - [`commands`]: one module per command group (`account`, `items`,
//!   `sync`, `transfer`, `secret_service`, `generate`, `search`, `otp`,
//!   `trash`, `ssh`, `git`, `run`, `resolve`) and the dispatch; `show`/`say` send a request and print its
//!   result or message. `generate` runs here with the vault library (no
//!   daemon).
//! - [`client`]: the blocking socket client: hello with the protocol
//!   check, requests with ids, an event subscription. Every connection,
//!   the progress display's too, goes through it.
//! - [`launch`]: starting the daemon on demand.
//! - [`autostart`]: `coffer autostart`, the login item (systemd user units
//!   or a launchd agent) behind one service-manager trait; self-contained,
//!   so `tests/autostart.rs` compiles it on its own.
//! - [`secrets`]: where passwords and the Account Key come from.
//! - [`output`]: human output (status, emergency kit, tables).
//! - [`files`]: private atomic writes and absolute paths.
//! - [`envfile`]: `coffer run --env-file` files.
//! - [`error`]: errors and exit codes.
//! - [`gitcred`]: git's credential protocol and item matching.
//! - [`refs`]: `coffer://ITEM/FIELD` references and templates.
//!
//! `src/bin/git-credential-coffer.rs` is the second binary: what git runs
//! for `credential.helper = coffer`; it runs `coffer git-credential`.
#![warn(missing_docs)]

mod autostart;
mod cli;
mod cli_integrations;
mod cli_tools;
mod client;
mod commands;
mod envfile;
mod error;
mod files;
mod gitcred;
mod launch;
mod output;
mod refs;
mod secrets;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {e}");
            for l in e.detail_lines() {
                eprintln!("{l}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
