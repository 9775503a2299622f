//! The command line: every subcommand and flag of DESIGN §6, parsed with
//! clap's derive API. Nothing here talks to the daemon.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  coffer signup --email me@example.org --sync-folder ~/Dropbox
  coffer add Mail --username me --password 'hunter2' --url https://mail.example.org
  coffer get Mail                      # the password, for scripts and pipes
  coffer get Mail --field username
  coffer list
  coffer lock
  COFFER_PASSWORD=... coffer unlock    # or: coffer --password-file pw.txt unlock

Secrets are asked on the terminal without echo. Without a terminal they come from
COFFER_PASSWORD, COFFER_ACCOUNT_KEY, COFFER_NEW_PASSWORD or --password-file FILE.

Exit codes: 0 done, 1 error, 2 usage, 3 not unlocked (signed out, locked or reset),
4 no such item, 5 wrong Account Password or Account Key.";

/// `coffer`: control the coffer password vault daemon.
#[derive(Debug, Parser)]
#[command(
    name = "coffer",
    version = coffer_proto::long_version(),
    about = "An end-to-end encrypted password vault that syncs through folders you already sync",
    long_about = None,
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    /// Read the Account Password from the first line of FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new account on this device; prints the Account Key and emergency kit.
    #[command(
        after_help = "Example:\n  coffer signup --email me@example.org --hint 'the usual' --sync-folder ~/Sync"
    )]
    Signup(SignupArgs),
    /// Sign this device in to an existing account found in a sync folder.
    #[command(
        after_help = "Example:\n  coffer login --email me@example.org --sync-folder ~/Sync\n\n\
        Asks for the Account Password and the Account Key (or reads COFFER_PASSWORD and COFFER_ACCOUNT_KEY)."
    )]
    Login(LoginArgs),
    /// Unlock the vault with the Account Password.
    #[command(after_help = "Example:\n  coffer unlock\n  COFFER_PASSWORD=... coffer unlock")]
    Unlock,
    /// Lock the vault: the key is purged from memory and from the keyring.
    Lock,
    /// Sign this device out; its container is moved to the trash.
    Logout,
    /// Show the daemon's state, the account, the key cache and the sync folders.
    #[command(after_help = "Example:\n  coffer status\n  coffer status --json | jq .state")]
    Status(JsonArg),
    /// Add an item; prints its id.
    #[command(
        after_help = "Example:\n  coffer add Mail --username me --password 'hunter2' --field pin=1234"
    )]
    Add(AddArgs),
    /// Print an item's password (or another field) on stdout.
    #[command(
        after_help = "Examples:\n  coffer get Mail\n  coffer get Mail --field username\n  \
        coffer get 0b8e2a7c --json"
    )]
    Get(GetArgs),
    /// List the items.
    #[command(after_help = "Example:\n  coffer list\n  coffer list --json")]
    List(JsonArg),
    /// Change fields of an item.
    #[command(after_help = "Examples:\n  coffer edit Mail --password 'n3w'\n  \
        coffer edit Mail --title 'Work mail' --remove-field pin")]
    Edit(EditArgs),
    /// Delete an item.
    #[command(after_help = "Example:\n  coffer rm Mail")]
    Rm(QueryArgs),
    /// Show the earlier values of an item's fields.
    #[command(after_help = "Example:\n  coffer history Mail")]
    History(QueryArgs),
    /// Run a sync round or manage the sync folders.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Reset the account: a new Account Key and password, all items wiped on every device.
    #[command(
        after_help = "Example:\n  coffer reset --email me@example.org --sync-folder ~/Sync\n\n\
        Without --yes it asks you to type the email again on the terminal.\n\
        The new Account Password comes from the terminal, COFFER_NEW_PASSWORD or --password-file."
    )]
    Reset(ResetArgs),
    /// Show the password hint; no unlock needed.
    #[command(after_help = "Example:\n  coffer hint --email me@example.org --sync-folder ~/Sync")]
    Hint(HintArgs),
    /// Change the Account Password.
    #[command(after_help = "Example:\n  coffer passwd\n  \
        COFFER_PASSWORD=old COFFER_NEW_PASSWORD=new coffer passwd")]
    Passwd,
    /// Print the emergency kit again (unlocked only).
    Kit(JsonArg),
    /// Shut the daemon down gracefully.
    Stop,
    /// Import items from another password manager's export.
    #[command(
        after_help = "Formats: 1password-csv, bitwarden, keepass-xml, keepassxc-csv, msecure-csv, csv\n\n\
        Example:\n  coffer import bitwarden export.json --dry-run"
    )]
    Import(ImportArgs),
    /// Export every item in another manager's format (NOT encrypted).
    #[command(after_help = "Example:\n  coffer export bitwarden vault.json\n\n\
        The file is written with mode 0600; without FILE the export goes to stdout.")]
    Export(ExportArgs),
    /// Write an encrypted backup of the vault.
    #[command(after_help = "Example:\n  coffer backup vault.coffer-backup")]
    Backup(BackupArgs),
    /// Restore items from an encrypted backup (asks for its password and Account Key).
    #[command(after_help = "Example:\n  coffer restore vault.coffer-backup")]
    Restore(RestoreArgs),
    /// Run cofferd at login (systemd user units on Linux, a launchd agent on macOS).
    #[command(
        subcommand,
        after_help = "Examples:\n  coffer autostart enable\n  coffer autostart status --json\n  coffer autostart disable"
    )]
    Autostart(AutostartCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  coffer completions bash > ~/.local/share/bash-completion/completions/coffer"
    )]
    Completions(CompletionsArgs),
    /// SSH keys in the vault and coffer's SSH agent.
    #[command(subcommand)]
    Ssh(crate::cli_tools::SshCommand),
    /// git's credential helper (git config --global credential.helper coffer).
    #[command(
        after_help = "Set up once:\n  git config --global credential.helper coffer\n\n\
        git then runs git-credential-coffer (installed next to coffer), which runs\n\
        `coffer git-credential get|store|erase` with the request on stdin. Items match by\n\
        protocol and host of their URL, the path when git sends one (credential.useHttpPath),\n\
        and the username when git sends one."
    )]
    GitCredential(crate::cli_tools::GitCredentialArgs),
    /// Run a command with secrets from the vault in its environment.
    #[command(
        after_help = "Examples:\n  coffer run --env PGPASSWORD=coffer://Postgres/password -- psql -h db app\n  \
        coffer run --env-file app.env -- ./server\n\n\
        Every reference is resolved before the command starts; an unknown item or field is an\n\
        error (exit 4 for a missing item) and the command does not run. The values are only in\n\
        the command's environment, never in its arguments. ITEM is an id or a title, with\n\
        '/', '%' and spaces written %2F, %25, %20."
    )]
    Run(crate::cli_tools::RunArgs),
    /// Fill {{ coffer://ITEM/FIELD }} references in a template.
    #[command(
        after_help = "Examples:\n  coffer inject < config.tmpl > config.yml\n  \
        coffer inject -i config.tmpl -o config.yml\n\n\
        All references are resolved or nothing is written. A file written with -o, or stdout\n\
        redirected to a file, is made private (mode 0600)."
    )]
    Inject(crate::cli_tools::InjectArgs),
}

/// `coffer autostart …`.
#[derive(Debug, Subcommand)]
pub enum AutostartCommand {
    /// Install the login item and start it where the service manager runs.
    Enable(JsonArg),
    /// Stop and remove the login item.
    Disable(JsonArg),
    /// Whether the login item is installed, current and running.
    Status(JsonArg),
}

/// A lone `--json` flag.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `signup`.
#[derive(Debug, Args)]
pub struct SignupArgs {
    /// The account email.
    #[arg(long)]
    pub email: String,
    /// A hint for the Account Password (shown by `coffer hint`).
    #[arg(long, default_value = "")]
    pub hint: String,
    /// A folder a sync engine replicates (repeatable).
    #[arg(long = "sync-folder", value_name = "DIR")]
    pub sync_folders: Vec<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The account `login`, `reset` and `hint` are about, and where to find
/// it. The daemon adds the folder to the ones this device already knows.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The account email.
    #[arg(long)]
    pub email: String,
    /// A sync folder that holds the account (needed when this device knows none).
    #[arg(long = "sync-folder", value_name = "DIR")]
    pub sync_folder: Option<PathBuf>,
}

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The account and where it is.
    #[command(flatten)]
    pub account: AccountArgs,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The fields `add` and `edit` can set.
#[derive(Debug, Args, Default)]
pub struct FieldArgs {
    /// The username.
    #[arg(long)]
    pub username: Option<String>,
    /// The password (visible to other users in the process list while the command runs).
    #[arg(long)]
    pub password: Option<String>,
    /// The URL.
    #[arg(long)]
    pub url: Option<String>,
    /// Notes.
    #[arg(long)]
    pub notes: Option<String>,
    /// A custom field (repeatable).
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
}

/// `add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The item's title.
    pub title: String,
    /// The fields.
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Import an OpenSSH private key file as an SSH-key item (a passphrase is asked
    /// on the terminal, or read from COFFER_SSH_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// An item id or an exact title (case-insensitive).
    pub query: String,
    /// Print this field instead of the password: title, username, password, url, notes
    /// or a custom field's name.
    #[arg(long, value_name = "NAME", conflicts_with = "json")]
    pub field: Option<String>,
    /// Print the whole item as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `edit`.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// An item id or an exact title (case-insensitive).
    pub query: String,
    /// A new title.
    #[arg(long)]
    pub title: Option<String>,
    /// The fields to change.
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Remove a custom field (repeatable).
    #[arg(long = "remove-field", value_name = "NAME")]
    pub remove_fields: Vec<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Commands that name one item.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// An item id or an exact title (case-insensitive).
    pub query: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `sync …`.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Run a sync round now and wait for it.
    Now(JsonArg),
    /// Add a sync folder.
    Add(DirArgs),
    /// Stop syncing through a folder.
    Remove(DirArgs),
    /// List the sync folders and their health.
    List(JsonArg),
}

/// A directory argument.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// The folder.
    pub dir: PathBuf,
}

/// `reset`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The account and where it is.
    #[command(flatten)]
    pub account: AccountArgs,
    /// A new password hint (the old one is kept otherwise).
    #[arg(long)]
    pub hint: Option<String>,
    /// Do not ask to type the email again.
    #[arg(long)]
    pub yes: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `hint`: the same flags as `login`.
pub type HintArgs = LoginArgs;

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The other manager's format.
    pub format: String,
    /// The exported file.
    pub file: PathBuf,
    /// Report what would be imported; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The target format.
    pub format: String,
    /// Where to write (mode 0600); stdout when left out.
    pub file: Option<PathBuf>,
}

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write (mode 0600); stdout when left out.
    pub file: Option<PathBuf>,
}

/// `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use std::path::Path;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("coffer").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn add_with_fields() {
        let cli = parse(&[
            "add",
            "Mail",
            "--username",
            "me",
            "--password",
            "pw",
            "--field",
            "pin=12",
            "--field",
            "q=a=b",
        ])
        .unwrap();
        let Command::Add(a) = cli.command else {
            panic!("not add: {:?}", cli.command)
        };
        assert_eq!(a.title, "Mail");
        assert_eq!(a.fields.username.as_deref(), Some("me"));
        assert_eq!(a.fields.password.as_deref(), Some("pw"));
        assert_eq!(a.fields.fields, vec!["pin=12", "q=a=b"]);
        assert!(!a.json);
    }

    #[test]
    fn global_password_file_anywhere() {
        let cli = parse(&["unlock", "--password-file", "/p"]).unwrap();
        assert_eq!(cli.password_file, Some(PathBuf::from("/p")));
        let cli = parse(&["--password-file", "/q", "status", "--json"]).unwrap();
        assert_eq!(cli.password_file, Some(PathBuf::from("/q")));
        assert!(matches!(
            cli.command,
            Command::Status(JsonArg { json: true })
        ));
    }

    #[test]
    fn sync_family() {
        let cli = parse(&["sync", "add", "/s"]).unwrap();
        assert!(
            matches!(cli.command, Command::Sync(SyncCommand::Add(ref d)) if d.dir == std::path::Path::new("/s"))
        );
        let cli = parse(&["sync", "now", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Sync(SyncCommand::Now(JsonArg { json: true }))
        ));
        assert!(parse(&["sync"]).is_err());
    }

    #[test]
    fn edit_and_remove_field() {
        let cli = parse(&[
            "edit",
            "Mail",
            "--title",
            "Work",
            "--remove-field",
            "pin",
            "--remove-field",
            "q",
        ])
        .unwrap();
        let Command::Edit(e) = cli.command else {
            panic!("not edit")
        };
        assert_eq!(e.title.as_deref(), Some("Work"));
        assert_eq!(e.remove_fields, vec!["pin", "q"]);
    }

    #[test]
    fn signup_requires_email_and_takes_many_folders() {
        assert_eq!(
            parse(&["signup"]).unwrap_err().kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let cli = parse(&[
            "signup",
            "--email",
            "a@b",
            "--sync-folder",
            "/x",
            "--sync-folder",
            "/y",
        ])
        .unwrap();
        let Command::Signup(s) = cli.command else {
            panic!("not signup")
        };
        assert_eq!(s.sync_folders.len(), 2);
        assert_eq!(s.hint, "");
    }

    #[test]
    fn get_field_and_json_conflict() {
        assert!(parse(&["get", "Mail", "--field", "url", "--json"]).is_err());
        let cli = parse(&["get", "Mail", "--field", "url"]).unwrap();
        assert!(matches!(cli.command, Command::Get(ref g) if g.field.as_deref() == Some("url")));
    }

    #[test]
    fn reset_export_completions() {
        let cli = parse(&["reset", "--email", "a@b", "--yes", "--hint", "h"]).unwrap();
        assert!(
            matches!(cli.command, Command::Reset(ref r) if r.yes && r.hint.as_deref() == Some("h"))
        );
        let cli = parse(&["export", "csv"]).unwrap();
        assert!(matches!(cli.command, Command::Export(ref e) if e.file.is_none()));
        assert!(parse(&["completions", "bash"]).is_ok());
        assert!(parse(&["completions", "tcsh"]).is_err());
    }

    #[test]
    fn login_reset_and_hint_take_the_same_account_flags() {
        for cmd in ["login", "reset", "hint"] {
            let cli = parse(&[cmd, "--email", "a@b", "--sync-folder", "/s"]).unwrap();
            let account = match cli.command {
                Command::Login(a) | Command::Hint(a) => a.account,
                Command::Reset(r) => r.account,
                other => panic!("{cmd} parsed as {other:?}"),
            };
            assert_eq!(account.email, "a@b");
            assert_eq!(account.sync_folder.as_deref(), Some(Path::new("/s")));
            assert_eq!(
                parse(&[cmd]).unwrap_err().kind(),
                clap::error::ErrorKind::MissingRequiredArgument
            );
        }
    }

    #[test]
    fn help_has_examples() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Examples:"), "{help}");
        assert!(help.contains("COFFER_PASSWORD"), "{help}");
    }
}
