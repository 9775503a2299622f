//! The command line of the commands that hand the vault's secrets to other
//! tools: `coffer ssh …`, `coffer git-credential`, `coffer run` and
//! `coffer inject` (clap's derive API; nothing here talks to the daemon).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `coffer ssh …`.
#[derive(Debug, Subcommand)]
pub enum SshCommand {
    /// Generate an SSH key in the vault; prints its public key line.
    #[command(after_help = "Examples:\n  coffer ssh generate Laptop\n  \
        coffer ssh generate 'Deploy key' --type rsa --bits 4096 >> deploy.pub\n\n\
        The private key never leaves the vault: the agent signs with it.")]
    Generate(SshGenerateArgs),
    /// List the SSH keys the agent serves.
    #[command(after_help = "Example:\n  coffer ssh list\n  coffer ssh list --json")]
    List(SshJsonArg),
    /// Print the public key line of one SSH key (for authorized_keys).
    #[command(
        after_help = "Examples:\n  coffer ssh public Laptop >> ~/.ssh/authorized_keys\n  \
        coffer ssh public SHA256:2nS1Eo9Jm0Zq8eTnBnnN0n1xQ2Yq3P6k1Wb0k2uVbLk"
    )]
    Public(SshPublicArgs),
    /// Print the SSH_AUTH_SOCK line for a shell to evaluate.
    #[command(
        after_help = "Examples:\n  eval \"$(coffer ssh env)\"          # sh, bash, zsh\n  \
        eval `coffer ssh env --csh`        # csh, tcsh\n  \
        coffer ssh env --fish | source     # fish\n\n\
        The format is ssh-agent -s's (and -c's), without SSH_AGENT_PID: the agent is cofferd,\n\
        which `ssh-agent -k` must not stop."
    )]
    Env(SshEnvArgs),
}

/// A lone `--json` flag.
#[derive(Debug, Args)]
pub struct SshJsonArg {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ssh generate`.
#[derive(Debug, Args)]
pub struct SshGenerateArgs {
    /// The new item's title.
    pub title: String,
    /// The key type: ed25519, rsa or ecdsa.
    #[arg(long = "type", value_name = "TYPE", default_value = "ed25519")]
    pub key_type: String,
    /// RSA: 2048 to 16384 (default 3072); ECDSA: 256 (default) or 384.
    #[arg(long, value_name = "N")]
    pub bits: Option<u32>,
    /// The comment in the public key line (default: the title).
    #[arg(long)]
    pub comment: Option<String>,
    /// Print one JSON document instead of the public key line.
    #[arg(long)]
    pub json: bool,
}

/// `ssh public`.
#[derive(Debug, Args)]
pub struct SshPublicArgs {
    /// An item id, an exact title (case-insensitive) or a SHA256 fingerprint.
    pub query: String,
}

/// `ssh env`.
#[derive(Debug, Args)]
pub struct SshEnvArgs {
    /// C shell syntax (setenv), as `ssh-agent -c`.
    #[arg(short = 'c', long, conflicts_with = "fish")]
    pub csh: bool,
    /// fish syntax (set -x).
    #[arg(long)]
    pub fish: bool,
}

/// `git-credential`.
#[derive(Debug, Args)]
pub struct GitCredentialArgs {
    /// What git asks: get, store or erase (any other is ignored, as git's
    /// protocol asks of helpers).
    pub operation: String,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Set NAME to an item's field: NAME=coffer://ITEM/FIELD (repeatable).
    #[arg(long = "env", value_name = "NAME=coffer://ITEM/FIELD")]
    pub env: Vec<String>,
    /// Read NAME=VALUE lines from FILE; values that are coffer:// references are resolved.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// The command and its arguments.
    #[arg(required = true, last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `inject`.
#[derive(Debug, Args)]
pub struct InjectArgs {
    /// The template (default: stdin).
    #[arg(short = 'i', long = "in-file", value_name = "TEMPLATE")]
    pub input: Option<PathBuf>,
    /// Where to write, mode 0600, atomically (default: stdout).
    #[arg(short = 'o', long = "out-file", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("coffer").chain(args.iter().copied()))
    }

    #[test]
    fn run_takes_the_command_after_the_double_dash() {
        let cli = parse(&[
            "run",
            "--env",
            "A=coffer://x/password",
            "--env-file",
            "f.env",
            "--",
            "sh",
            "-c",
            "echo --env",
        ])
        .unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.env, vec!["A=coffer://x/password"]);
        assert_eq!(r.env_files, vec![std::path::PathBuf::from("f.env")]);
        assert_eq!(r.command, vec!["sh", "-c", "echo --env"]);
        assert!(
            parse(&["run", "--env", "A=coffer://x/y"]).is_err(),
            "no command"
        );
    }

    #[test]
    fn ssh_family_and_inject() {
        let cli = parse(&["ssh", "generate", "K", "--type", "rsa", "--bits", "4096"]).unwrap();
        assert!(
            matches!(cli.command, Command::Ssh(super::SshCommand::Generate(ref g)) if g.key_type == "rsa" && g.bits == Some(4096))
        );
        let cli = parse(&["ssh", "generate", "K"]).unwrap();
        assert!(
            matches!(cli.command, Command::Ssh(super::SshCommand::Generate(ref g)) if g.key_type == "ed25519")
        );
        assert!(parse(&["ssh", "env", "--csh", "--fish"]).is_err());
        assert!(parse(&["ssh", "env", "-c"]).is_ok());
        let cli = parse(&["inject", "-i", "t.tmpl", "-o", "out"]).unwrap();
        assert!(matches!(cli.command, Command::Inject(ref i) if i.output.is_some()));
        let cli = parse(&["git-credential", "get"]).unwrap();
        assert!(matches!(cli.command, Command::GitCredential(ref g) if g.operation == "get"));
        let cli = parse(&["add", "K", "--ssh-key", "/k"]).unwrap();
        assert!(matches!(cli.command, Command::Add(ref a) if a.ssh_key.is_some()));
    }
}
