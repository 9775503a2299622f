//! `coffer run` and `coffer inject`: secrets from the vault into a
//! command's environment, or into a file made from a template.
//!
//! `run` resolves every reference first (all of them, so every mistake is
//! reported at once) and only then replaces itself with the command
//! (`execve`): the values are in the new program's environment and nowhere
//! else, never in its arguments and never in coffer's own environment
//! block, and the process that ran `coffer` IS the command (its pid, its
//! signals, its exit status). coffer's own secret variables
//! (`COFFER_PASSWORD` …) are not passed on. When the command cannot be
//! started, `run` exits 127 (not found) or 126 (not executable), as
//! `env(1)` does.
//!
//! `inject` renders `{{ coffer://ITEM/FIELD }}` references all or nothing:
//! with `-o FILE` the output is written 0600 atomically; on stdout, a
//! regular file there (a shell redirection) is made 0600 before anything
//! is written to it.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use zeroize::Zeroizing;

use super::resolve::{failure, Resolver, Unresolved};
use super::Ctx;
use crate::cli_integrations::{InjectArgs, RunArgs};
use crate::envfile::{self, Value};
use crate::error::CliError;
use crate::files;
use crate::refs::{self, EnvAssignment, Template};

/// The largest template or env file read.
const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// coffer's own secret variables, never passed on to the command.
const OWN_SECRETS: [&str; 4] = [
    "COFFER_PASSWORD",
    "COFFER_ACCOUNT_KEY",
    "COFFER_NEW_PASSWORD",
    "COFFER_SSH_PASSPHRASE",
];

/// Reads `path` (or stdin for `None`), at most [`MAX_INPUT`] bytes.
fn read_input(path: Option<&Path>, what: &str) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    let shown = path.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    let read = match path {
        Some(p) => std::fs::File::open(p).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut buf)),
        None => std::io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut buf),
    };
    read.map_err(|e| CliError::io(format!("cannot read the {what} {shown}"), e))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(CliError::Failed(format!(
            "the {what} {shown} is over {MAX_INPUT} bytes; coffer reads no larger {what}s"
        )));
    }
    Ok(buf)
}

/// What each variable is set to, later settings winning: env files in
/// order, then `--env`.
fn settings(a: &RunArgs) -> Result<Vec<(String, Value)>, CliError> {
    let mut all: Vec<(String, Value)> = Vec::new();
    for file in &a.env_files {
        let bytes = read_input(Some(file), "env file")?;
        let text = String::from_utf8(bytes).map_err(|_| {
            CliError::Failed(format!("the env file {} is not UTF-8 text", file.display()))
        })?;
        let parsed = envfile::parse(&text)
            .map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
        all.extend(parsed);
    }
    for arg in &a.env {
        let EnvAssignment { name, reference } =
            refs::parse_env(arg).map_err(|e| CliError::Usage(e.to_string()))?;
        all.push((name, Value::Reference(reference)));
    }
    let mut out: Vec<(String, Value)> = Vec::with_capacity(all.len());
    for (name, value) in all {
        out.retain(|(n, _)| *n != name);
        out.push((name, value));
    }
    Ok(out)
}

/// `coffer run`.
pub fn run(ctx: &mut Ctx, a: RunArgs) -> Result<(), CliError> {
    let settings = settings(&a)?;
    let assignments: Vec<EnvAssignment> = settings
        .iter()
        .filter_map(|(name, v)| match v {
            Value::Reference(reference) => Some(EnvAssignment {
                name: name.clone(),
                reference: reference.clone(),
            }),
            Value::Plain(_) => None,
        })
        .collect();
    let resolved: Vec<(String, Zeroizing<String>)> = if assignments.is_empty() {
        Vec::new()
    } else {
        let mut client = ctx.client()?;
        let mut resolver = Resolver::new(&mut client);
        refs::resolve_env(
            &assignments,
            |r| resolver.resolve(r),
            |name| {
                Unresolved::Other(format!(
                    "the value for {name} holds a NUL byte, which no environment variable can"
                ))
            },
        )
        .map_err(|e| failure(e, "the command was not run"))?
    };
    let (program, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::Usage("name the command to run after --".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    for var in OWN_SECRETS {
        cmd.env_remove(var);
    }
    for (name, value) in &settings {
        if let Value::Plain(v) = value {
            cmd.env(name, v);
        }
    }
    for (name, value) in &resolved {
        cmd.env(name, value.as_str());
    }
    // Only returns when the command could not be started.
    let error = cmd.exec();
    Err(CliError::CannotRun {
        program: program.clone(),
        source: error,
    })
}

/// `coffer inject`.
pub fn inject(ctx: &mut Ctx, a: InjectArgs) -> Result<(), CliError> {
    let source = read_input(a.input.as_deref(), "template")?;
    let shown = a
        .input
        .as_ref()
        .map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    let template = Template::parse(&source)
        .map_err(|e| CliError::Failed(format!("the template {shown}: {e}")))?;
    let not_done = match &a.output {
        Some(p) => format!("{} was not written", p.display()),
        None => "nothing was written".to_owned(),
    };
    let output: Zeroizing<Vec<u8>> = if template.references().next().is_none() {
        Zeroizing::new(source.clone())
    } else {
        let mut client = ctx.client()?;
        let mut resolver = Resolver::new(&mut client);
        template
            .render(|r| resolver.resolve(r))
            .map_err(|e| failure(e, &not_done))?
    };
    match &a.output {
        Some(path) => files::write_private(path, &output),
        None => write_stdout_private(&output),
    }
}

/// Writes `bytes` to stdout; when stdout is a regular file, makes it 0600
/// first (and writes nothing if that fails).
fn write_stdout_private(bytes: &[u8]) -> Result<(), CliError> {
    files::make_stdout_private()?;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::io("cannot write to stdout", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args(env: &[&str], files: &[PathBuf]) -> RunArgs {
        RunArgs {
            env: env.iter().map(|s| s.to_string()).collect(),
            env_files: files.to_vec(),
            command: vec!["true".into()],
        }
    }

    #[test]
    fn later_settings_win_and_files_come_first() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("app.env");
        std::fs::write(&f, "A=plain\nB=coffer://x/password\nC=keep\n").unwrap();
        let s = settings(&args(&["A=coffer://y/username"], &[f])).unwrap();
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["B", "C", "A"]);
        assert!(matches!(&s[2].1, Value::Reference(r) if r.item == "y"));
        assert!(matches!(&s[1].1, Value::Plain(v) if v == "keep"));
    }

    #[test]
    fn bad_arguments_are_usage_errors_and_bad_files_name_themselves() {
        let e = settings(&args(&["NOPE"], &[])).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = settings(&args(&["T=hunter2"], &[])).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("bad.env");
        std::fs::write(&f, "ok=1\n=x\n").unwrap();
        let e = settings(&args(&[], std::slice::from_ref(&f))).unwrap_err();
        assert!(e.to_string().contains("bad.env: line 2"), "{e}");
        let e = settings(&args(&[], &[d.path().join("missing.env")])).unwrap_err();
        assert!(e.to_string().contains("missing.env"), "{e}");
    }
}
