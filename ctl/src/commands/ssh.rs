//! SSH commands: `coffer add TITLE --ssh-key FILE`, `coffer ssh generate`,
//! `list`, `public` and `env`.
//!
//! The CLI never parses a private key: it sends the file's text to the
//! daemon, which knows the formats. When the daemon answers that the key
//! is encrypted, the passphrase comes from `COFFER_SSH_PASSPHRASE` or, on
//! a terminal, is asked without echo (three tries, as `ssh-add` gives).

use std::io::Read;
use std::path::Path;

use coffer_proto::request::NoParams;
use coffer_proto::ssh::{SshGenerateParams, SshImportParams, SshKeyInfo, SshKeysReply};
use coffer_proto::{ErrorBody, ErrorCode, Request, Secret};
use zeroize::Zeroizing;

use super::items::field_inputs;
use super::{emit, emit_json, line, show, Ctx};
use crate::cli::AddArgs;
use crate::cli_integrations::{SshCommand, SshEnvArgs, SshPublicArgs};
use crate::client::decode;
use crate::error::CliError;
use crate::output;
use crate::secrets::Need;

/// The largest key file read (OpenSSH keys are a few kilobytes; a 16384-bit
/// RSA key is about 13 KB).
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// How often a passphrase typed on the terminal may be wrong.
const PASSPHRASE_TRIES: usize = 3;

/// The passphrase of an encrypted key file.
pub const SSH_PASSPHRASE: Need = Need {
    what: "passphrase of the SSH key",
    var: "COFFER_SSH_PASSPHRASE",
    from_file: false,
    new: false,
};

/// Runs `coffer ssh …`.
pub fn run(ctx: &mut Ctx, c: SshCommand) -> Result<(), CliError> {
    match c {
        SshCommand::Generate(a) => {
            let request = Request::SshGenerate(SshGenerateParams {
                title: a.title,
                key_type: a.key_type,
                bits: a.bits,
                comment: a.comment,
            });
            show(ctx, request, a.json, |k: SshKeyInfo| line(&k.public_key))
        }
        SshCommand::List(a) => list(ctx, a.json),
        SshCommand::Public(a) => public(ctx, a),
        SshCommand::Env(a) => env(ctx, a),
    }
}

/// Reads a private key file (bounded, UTF-8).
fn read_key_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let shown = path.display();
    let f = std::fs::File::open(path)
        .map_err(|e| CliError::io(format!("cannot read the key file {shown}"), e))?;
    let mut bytes = Zeroizing::new(Vec::new());
    f.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::io(format!("cannot read the key file {shown}"), e))?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(CliError::Failed(format!(
            "{shown} is larger than any SSH key file ({MAX_KEY_FILE} bytes at most); give the private key file"
        )));
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(CliError::Failed(format!(
            "{shown} is not a text key file; give an OpenSSH private key (ssh-keygen writes one)"
        ))),
    }
}

/// What the daemon said was wrong with the key, if that is what failed.
fn key_problem(e: &CliError) -> Option<&str> {
    match e {
        CliError::Daemon(body) => body.data.as_ref()?.get("ssh_key")?.as_str(),
        _ => None,
    }
}

/// `coffer add TITLE --ssh-key FILE [--username …]`: prints the new id.
pub fn import(ctx: &mut Ctx, a: AddArgs, file: &Path) -> Result<(), CliError> {
    let text = read_key_file(file)?;
    let fields = field_inputs(Some(a.title), a.fields, Vec::new())?;
    let from_env = (ctx.secrets().env)(SSH_PASSPHRASE.var).is_some_and(|v| !v.is_empty());
    let mut client = ctx.client()?;
    let mut passphrase: Option<Secret> = None;
    let mut tries = 0;
    let value = loop {
        let request = Request::SshImport(SshImportParams {
            fields: fields.clone(),
            private_key: Secret::new(text.as_str()),
            passphrase: passphrase.clone(),
        });
        let err = match client.call(request) {
            Ok(v) => break v,
            Err(e) => e,
        };
        match key_problem(&err) {
            Some("passphrase_needed") if passphrase.is_none() => {}
            Some("wrong_passphrase") if !from_env && tries < PASSPHRASE_TRIES => {
                eprintln!("Wrong passphrase for {}; try again.", file.display());
            }
            Some("wrong_passphrase") => {
                return Err(CliError::Failed(format!(
                    "wrong passphrase for {}{}",
                    file.display(),
                    if from_env {
                        " (from COFFER_SSH_PASSPHRASE)"
                    } else {
                        ""
                    }
                )))
            }
            _ => return Err(err),
        }
        tries += 1;
        passphrase = Some(ctx.secrets().get(SSH_PASSPHRASE)?);
    };
    if a.json {
        return emit_json(&value);
    }
    let key: SshKeyInfo = decode("ssh_import", value)?;
    line(&key.id)
}

fn list_keys(ctx: &mut Ctx) -> Result<SshKeysReply, CliError> {
    ctx.client()?.call_as(Request::SshList(NoParams {}))
}

fn list(ctx: &mut Ctx, json: bool) -> Result<(), CliError> {
    let reply = list_keys(ctx)?;
    if json {
        return emit_json(&reply);
    }
    if reply.from_locked_index {
        eprintln!("The vault is locked: these are the keys it held at its last unlock.");
    }
    if reply.keys.is_empty() {
        return emit("No SSH keys yet. Add one with `coffer ssh generate TITLE` or `coffer add TITLE --ssh-key FILE`.\n");
    }
    let rows: Vec<[&str; 4]> = reply
        .keys
        .iter()
        .map(|k| {
            [
                k.id.as_str(),
                k.title.as_str(),
                k.algorithm.as_str(),
                k.fingerprint.as_str(),
            ]
        })
        .collect();
    emit(&output::table(
        &["ID", "TITLE", "TYPE", "FINGERPRINT"],
        &rows,
    ))
}

/// The keys `query` names: by id, by fingerprint, else by title
/// (case-insensitive).
fn matching<'a>(keys: &'a [SshKeyInfo], query: &str) -> Vec<&'a SshKeyInfo> {
    let q = query.trim();
    let by = |f: &dyn Fn(&SshKeyInfo) -> bool| keys.iter().filter(|k| f(k)).collect::<Vec<_>>();
    let hits = by(&|k| k.id == q || k.fingerprint == q);
    if !hits.is_empty() {
        return hits;
    }
    let lower = q.to_lowercase();
    by(&|k| k.title.to_lowercase() == lower)
}

fn public(ctx: &mut Ctx, a: SshPublicArgs) -> Result<(), CliError> {
    let reply = list_keys(ctx)?;
    let hits = matching(&reply.keys, &a.query);
    match hits.as_slice() {
        [one] => line(&one.public_key),
        [] => Err(CliError::Daemon(ErrorBody::new(
            ErrorCode::NoSuchItem,
            format!(
                "no SSH key has the id, title or fingerprint {:?}; `coffer ssh list` shows them",
                a.query.trim()
            ),
        ))),
        many => {
            let mut body = ErrorBody::new(
                ErrorCode::Ambiguous,
                format!(
                    "{} SSH keys are titled {:?}; name one by its id or fingerprint",
                    many.len(),
                    a.query.trim()
                ),
            );
            body.data = Some(serde_json::json!({"candidates": many.iter().map(|k| {
                serde_json::json!({"id": k.id, "title": k.title, "username": k.fingerprint})
            }).collect::<Vec<_>>()}));
            Err(CliError::Daemon(body))
        }
    }
}

/// Whether `path` can be written in a shell without quotes.
fn plain(path: &str) -> bool {
    !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b))
}

/// `path` as one shell word: bare when it can be, else in single quotes.
fn shell_word(path: &str) -> String {
    if plain(path) {
        path.to_owned()
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}

/// The line `coffer ssh env` prints: `ssh-agent -s`'s first line (or
/// `-c`'s, or fish's `set -x`).
pub fn env_line(socket: &str, a: &SshEnvArgs) -> String {
    let word = shell_word(socket);
    if a.csh {
        format!("setenv SSH_AUTH_SOCK {word};")
    } else if a.fish {
        format!("set -x SSH_AUTH_SOCK {word};")
    } else {
        format!("SSH_AUTH_SOCK={word}; export SSH_AUTH_SOCK;")
    }
}

fn env(ctx: &mut Ctx, a: SshEnvArgs) -> Result<(), CliError> {
    let status: coffer_proto::reply::StatusInfo =
        ctx.client()?.call_as(Request::Status(NoParams {}))?;
    let Some(agent) = status.ssh_agent else {
        return Err(CliError::Failed(
            "coffer's SSH agent is off (ssh_agent = false in config.toml); turn it on and restart cofferd with `coffer stop`".into(),
        ));
    };
    if !agent.serving {
        return Err(CliError::Failed(format!(
            "coffer's SSH agent does not serve {}: {}",
            agent.socket.display(),
            agent.error.as_deref().unwrap_or("unknown reason")
        )));
    }
    let Some(socket) = agent.socket.to_str() else {
        return Err(CliError::Failed(format!(
            "the agent's socket path {} is not UTF-8; set SSH_AUTH_SOCK by hand",
            agent.socket.display()
        )));
    };
    line(&env_line(socket, &a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(csh: bool, fish: bool) -> SshEnvArgs {
        SshEnvArgs { csh, fish }
    }

    #[test]
    fn env_lines_as_ssh_agent_prints_them() {
        let p = "/run/user/1000/coffer/ssh-agent.sock";
        assert_eq!(
            env_line(p, &args(false, false)),
            "SSH_AUTH_SOCK=/run/user/1000/coffer/ssh-agent.sock; export SSH_AUTH_SOCK;"
        );
        assert_eq!(
            env_line(p, &args(true, false)),
            "setenv SSH_AUTH_SOCK /run/user/1000/coffer/ssh-agent.sock;"
        );
        assert_eq!(
            env_line(p, &args(false, true)),
            "set -x SSH_AUTH_SOCK /run/user/1000/coffer/ssh-agent.sock;"
        );
        // Anything a shell would split or expand is quoted.
        assert_eq!(
            env_line("/home/my user/it's/a.sock", &args(false, false)),
            r"SSH_AUTH_SOCK='/home/my user/it'\''s/a.sock'; export SSH_AUTH_SOCK;"
        );
        assert_eq!(shell_word("/a/$HOME"), "'/a/$HOME'");
    }

    #[test]
    fn keys_are_found_by_id_fingerprint_or_title() {
        let k = |id: &str, title: &str, fp: &str| SshKeyInfo {
            id: id.into(),
            title: title.into(),
            algorithm: "ssh-ed25519".into(),
            fingerprint: fp.into(),
            public_key: format!("ssh-ed25519 AAAA {title}"),
        };
        let keys = [
            k("1", "Laptop", "SHA256:a"),
            k("2", "laptop", "SHA256:b"),
            k("3", "Server", "SHA256:c"),
        ];
        assert_eq!(matching(&keys, "3").len(), 1);
        assert_eq!(matching(&keys, "SHA256:b")[0].id, "2");
        assert_eq!(matching(&keys, " SERVER ")[0].id, "3");
        assert_eq!(matching(&keys, "LAPTOP").len(), 2);
        assert!(matching(&keys, "none").is_empty());
    }
}
