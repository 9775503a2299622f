//! One module per command group; [`run`] dispatches a parsed command line.
//!
//! `ssh` (SSH keys and the agent), `git` (the credential helper), `run`
//! (`coffer run` and `coffer inject`) and `resolve` (turning `coffer://`
//! references into values through the daemon) hand secrets to other tools.

mod account;
mod generate;
mod git;
mod items;
mod otp;
mod resolve;
mod run;
mod search;
mod secret_service;
mod ssh;
mod sync;
mod transfer;
mod trash;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::CommandFactory;
use coffer_proto::dirs::Dirs;
use coffer_proto::Request;
use serde::de::DeserializeOwned;

use crate::cli::{Cli, Command};
use crate::client::{decode, Client};
use crate::error::CliError;
use crate::secrets::{process_env, RealTerminal, Sources, Terminal};

/// What every command may need: the paths, the secret sources, stdout.
pub struct Ctx {
    dirs: Option<Dirs>,
    password_file: Option<PathBuf>,
    terminal: Box<dyn Terminal>,
}

impl Ctx {
    /// The resolved paths; resolving fails when neither HOME nor
    /// COFFER_HOME says where coffer keeps its files.
    fn dirs(&mut self) -> Result<&Dirs, CliError> {
        if self.dirs.is_none() {
            self.dirs = Some(Dirs::from_env().map_err(|e| CliError::Failed(e.to_string()))?);
        }
        // Filled just above.
        self.dirs
            .as_ref()
            .ok_or_else(|| CliError::Failed("coffer's directories are unknown".into()))
    }

    /// A connection to the daemon, starting it when allowed.
    fn client(&mut self) -> Result<Client, CliError> {
        let dirs = self.dirs()?.clone();
        Client::connect_or_start(&dirs)
    }

    /// The secret sources of this run.
    fn secrets(&mut self) -> Sources<'_> {
        Sources {
            password_file: self.password_file.as_deref(),
            env: &process_env,
            terminal: self.terminal.as_mut(),
        }
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let mut ctx = Ctx {
        dirs: None,
        password_file: cli.password_file,
        terminal: Box::new(RealTerminal),
    };
    match cli.command {
        Command::Signup(a) => account::signup(&mut ctx, a),
        Command::Login(a) => account::login(&mut ctx, a),
        Command::Unlock => account::unlock(&mut ctx),
        Command::Lock => account::lock(&mut ctx),
        Command::Logout => account::logout(&mut ctx),
        Command::Status(a) => account::status(&mut ctx, a.json),
        Command::Reset(a) => account::reset(&mut ctx, a),
        Command::Hint(a) => account::hint(&mut ctx, a),
        Command::Passwd(a) => account::passwd(&mut ctx, a),
        Command::Kit(a) => account::kit(&mut ctx, a.json),
        Command::Stop => account::stop(&mut ctx),
        Command::Add(a) => items::add(&mut ctx, a),
        Command::Get(a) => items::get(&mut ctx, a),
        Command::List(a) => match a.search {
            Some(terms) => search::run(&mut ctx, &terms, None, a.json),
            None => items::list(&mut ctx, a),
        },
        Command::Edit(a) => items::edit(&mut ctx, a),
        Command::Rm(a) => items::rm(&mut ctx, a),
        Command::History(a) => items::history(&mut ctx, a),
        Command::Sync(s) => sync::run(&mut ctx, s),
        Command::Import(a) => transfer::import(&mut ctx, a),
        Command::Export(a) => transfer::export(&mut ctx, a),
        Command::Backup(a) => transfer::backup(&mut ctx, a),
        Command::Restore(a) => transfer::restore(&mut ctx, a),
        Command::Autostart(c) => autostart(c),
        Command::Ssh(c) => ssh::run(&mut ctx, c),
        Command::GitCredential(a) => git::run(&mut ctx, &a.operation),
        Command::Run(a) => run::run(&mut ctx, a),
        Command::Inject(a) => run::inject(&mut ctx, a),
        Command::Completions(a) => {
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "coffer", &mut buf);
            emit_bytes(&buf)
        }
        Command::SecretService(c) => secret_service::run(&mut ctx, c),
        Command::Generate(a) => generate::run(a),
        Command::Search(a) => search::run(&mut ctx, &a.terms.join(" "), a.limit, a.json),
        Command::Totp(a) => otp::totp(&mut ctx, a),
        Command::Trash(c) => trash::run(&mut ctx, c),
    }
}

fn autostart(c: crate::cli::AutostartCommand) -> Result<(), CliError> {
    use crate::autostart::AutostartAction;
    use crate::cli::AutostartCommand;
    let (action, json) = match c {
        AutostartCommand::Enable(a) => (AutostartAction::Enable, a.json),
        AutostartCommand::Disable(a) => (AutostartAction::Disable, a.json),
        AutostartCommand::Status(a) => (AutostartAction::Status, a.json),
    };
    let report = crate::autostart::run(action, crate::launch::find_daemon().as_deref())
        .map_err(|e| CliError::Failed(e.to_string()))?;
    if json {
        emit_json(&report)
    } else {
        let mut text = report.lines.join("\n");
        text.push('\n');
        emit(&text)
    }
}

/// Sends `request`. With `json` prints the result as the daemon sent it;
/// else decodes it as `T` and prints what `render` makes of it.
fn show<T: DeserializeOwned>(
    ctx: &mut Ctx,
    request: Request,
    json: bool,
    render: impl FnOnce(T) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let method = request.method();
    let value = ctx.client()?.call(request)?;
    if json {
        return emit_json(&value);
    }
    render(decode(method, value)?)
}

/// Sends `request` and prints the daemon's `message`, or `done` when it
/// sent none; with `json` the result as the daemon sent it.
fn say(ctx: &mut Ctx, request: Request, json: bool, done: &str) -> Result<(), CliError> {
    show(ctx, request, json, |value: serde_json::Value| {
        line(&message_or(&value, done))
    })
}

/// Writes `text` to stdout. A closed pipe (`coffer list | head`) is not an
/// error.
pub fn emit(text: &str) -> Result<(), CliError> {
    emit_bytes(text.as_bytes())
}

/// Writes bytes to stdout, like [`emit`].
pub fn emit_bytes(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::io("cannot write to stdout", e)),
    }
}

/// Prints one JSON document (pretty, with a final newline).
pub fn emit_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(format!("cannot encode JSON: {e}")))?;
    text.push('\n');
    emit(&text)
}

/// The `message` of a result when the daemon sent one, else `default`.
pub fn message_or(value: &serde_json::Value, default: &str) -> String {
    value
        .get("message")
        .and_then(|m| m.as_str())
        .filter(|m| !m.is_empty())
        .unwrap_or(default)
        .to_string()
}

/// A line of text, newline added.
pub fn line(text: &str) -> Result<(), CliError> {
    emit(&format!("{text}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fall_back() {
        assert_eq!(
            message_or(&serde_json::json!({"message": "Locked."}), "x"),
            "Locked."
        );
        assert_eq!(message_or(&serde_json::json!({"message": ""}), "x"), "x");
        assert_eq!(message_or(&serde_json::json!(null), "x"), "x");
    }
}
