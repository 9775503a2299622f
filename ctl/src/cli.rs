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
  coffer add GitHub --username me --generate   # the daemon makes the password
  coffer get git --clip                # search terms work too; cleared after 30 s
  coffer totp GitHub                   # the current one-time code
  coffer list
  coffer lock
  COFFER_PASSWORD=... coffer unlock    # or: coffer --password-file pw.txt unlock

Secrets are asked on the terminal without echo. Without a terminal they come from
COFFER_PASSWORD, COFFER_ACCOUNT_KEY, COFFER_NEW_PASSWORD or --password-file FILE
(`import coffer-container`: COFFER_OLD_PASSWORD and COFFER_OLD_ACCOUNT_KEY).

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
    /// List the items (of the default collection, or the one named).
    #[command(after_help = "Examples:\n  coffer list\n  coffer list --json\n  \
        coffer list --search github\n  \
        coffer list --collection login     # what apps stored through the Secret Service")]
    List(ListArgs),
    /// Change fields of an item.
    #[command(after_help = "Examples:\n  coffer edit Mail --password 'n3w'\n  \
        coffer edit Mail --title 'Work mail' --remove-field pin")]
    Edit(EditArgs),
    /// Move an item to the vault's trash (`coffer trash` lists, restores, empties it).
    #[command(after_help = "Example:\n  coffer rm Mail\n  coffer trash restore Mail")]
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
    /// Show the password hint (no unlock needed), or change it with --set.
    #[command(
        after_help = "Example:\n  coffer hint --email me@example.org --sync-folder ~/Sync\n  \
        coffer hint --set 'the blue one'      # unlocked; every device shows it"
    )]
    Hint(HintArgs),
    /// Change the Account Password (every signed-in device takes the new one).
    #[command(after_help = "Example:\n  coffer passwd\n  \
        COFFER_PASSWORD=old COFFER_NEW_PASSWORD=new coffer passwd --hint 'new hint'\n  \
        coffer passwd --same                  # keep it; re-stretch at today's parameters")]
    Passwd(PasswdArgs),
    /// Print the emergency kit again (unlocked only).
    Kit(JsonArg),
    /// Shut the daemon down gracefully.
    Stop,
    /// Import items from another password manager's export.
    #[command(
        after_help = "Formats: 1password-csv, bitwarden, keepass-xml, keepassxc-csv, msecure-csv, csv,\n\
        coffer-container (a container from the trash, or a backup, of an older epoch after a\n\
        reset: asks for that epoch's Account Password and Account Key; without a terminal\n\
        COFFER_OLD_PASSWORD or --password-file, and COFFER_OLD_ACCOUNT_KEY)\n\n\
        Example:\n  coffer import bitwarden export.json --dry-run\n  \
        coffer import coffer-container ~/.local/share/Trash/files/ACCOUNT_ID.coffer"
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
    /// Generate a password or passphrase (no daemon needed); entropy on a terminal's stderr.
    #[command(
        after_help = "Examples:\n  coffer generate\n  coffer generate --length 32 --no-symbols\n  \
        coffer generate --words 6 --separator .\n  coffer generate --policy 'chars:len=24;classes=lud'"
    )]
    Generate(GenerateArgs),
    /// Search titles, usernames, URLs (by domain) and tags; best matches first.
    #[command(
        after_help = "Examples:\n  coffer search github\n  coffer search github.com work --json"
    )]
    Search(SearchArgs),
    /// Print an item's current one-time code (TOTP or HOTP).
    #[command(after_help = "Examples:\n  coffer totp GitHub\n  coffer totp git --clip")]
    Totp(TotpArgs),
    /// The vault's trash: what `coffer rm` removed.
    #[command(
        subcommand,
        after_help = "Examples:\n  coffer trash list\n  coffer trash restore Mail\n  coffer trash empty --older-than 30d --yes"
    )]
    Trash(TrashCommand),
    /// Be the desktop's keyring: provide the freedesktop Secret Service (org.freedesktop.secrets).
    #[command(
        subcommand,
        name = "secret-service",
        after_help = "Examples:\n  coffer secret-service enable\n  coffer secret-service status --json\n  \
        coffer secret-service disable\n\n\
        Apps that use libsecret (secret-tool, browsers, git credential-libsecret, python-keyring …)\n\
        then keep their secrets in the vault's login collection: `coffer list --collection login`."
    )]
    SecretService(SecretServiceCommand),
    /// SSH keys in the vault and coffer's SSH agent.
    #[command(subcommand)]
    Ssh(crate::cli_integrations::SshCommand),
    /// git's credential helper (git config --global credential.helper coffer).
    #[command(
        after_help = "Set up once:\n  git config --global credential.helper coffer\n\n\
        git then runs git-credential-coffer (installed next to coffer), which runs\n\
        `coffer git-credential get|store|erase` with the request on stdin. Items match by\n\
        protocol and host of their URL, the path when git sends one (credential.useHttpPath),\n\
        and the username when git sends one."
    )]
    GitCredential(crate::cli_integrations::GitCredentialArgs),
    /// Run a command with secrets from the vault in its environment.
    #[command(
        after_help = "Examples:\n  coffer run --env PGPASSWORD=coffer://Postgres/password -- psql -h db app\n  \
        coffer run --env-file app.env -- ./server\n\n\
        Every reference is resolved before the command starts; an unknown item or field is an\n\
        error (exit 4 for a missing item) and the command does not run. The values are only in\n\
        the command's environment, never in its arguments. ITEM is an id or a title, with\n\
        '/', '%' and spaces written %2F, %25, %20."
    )]
    Run(crate::cli_integrations::RunArgs),
    /// Fill {{ coffer://ITEM/FIELD }} references in a template.
    #[command(
        after_help = "Examples:\n  coffer inject < config.tmpl > config.yml\n  \
        coffer inject -i config.tmpl -o config.yml\n\n\
        All references are resolved or nothing is written. A file written with -o, or stdout\n\
        redirected to a file, is made private (mode 0600)."
    )]
    Inject(crate::cli_integrations::InjectArgs),
}

/// `coffer secret-service …`.
#[derive(Debug, Subcommand)]
pub enum SecretServiceCommand {
    /// Claim org.freedesktop.secrets on this session's bus, now and at every start.
    Enable(JsonArg),
    /// Release it and remove the D-Bus activation file (the items stay in the vault).
    Disable(JsonArg),
    /// Enabled? Provided by cofferd? Who owns the name? How many items?
    Status(JsonArg),
}

pub use crate::cli_tools::{
    GenFlags, GenerateArgs, GenerateOpt, ListArgs, SearchArgs, TotpArgs, TrashCommand,
    TrashEmptyArgs,
};

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
    /// A one-time-code setup: an otpauth:// URI or a base32 secret; `-` reads it from stdin.
    #[arg(long, value_name = "URI")]
    pub otp: Option<String>,
}

/// `add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The item's title.
    pub title: String,
    /// The fields.
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Generate the password in the daemon.
    #[command(flatten)]
    pub generate: GenerateOpt,
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
    /// An item id, an exact title (case-insensitive), or search terms that match one item.
    #[arg(required_unless_present = "search", conflicts_with = "search")]
    pub query: Option<String>,
    /// Take the one item these search terms match (never an id or exact title
    /// first); several matches are listed, none is exit 4.
    #[arg(long, value_name = "TERMS")]
    pub search: Option<String>,
    /// Print this field instead of the password: title, username, password, url, notes
    /// or a custom field's name.
    #[arg(long, value_name = "NAME", conflicts_with = "json")]
    pub field: Option<String>,
    /// Print the whole item as JSON.
    #[arg(long)]
    pub json: bool,
    /// Put the value on the clipboard instead (cleared after 30 s, see clipboard_clear_secs).
    #[arg(long, conflicts_with = "json")]
    pub clip: bool,
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
    /// Generate a new password in the daemon.
    #[command(flatten)]
    pub generate: GenerateOpt,
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

/// `hint`.
#[derive(Debug, Args)]
pub struct HintArgs {
    /// The account email (not with --set).
    #[arg(long, required_unless_present = "set", conflicts_with = "set")]
    pub email: Option<String>,
    /// A sync folder that holds the account (needed when this device knows none).
    #[arg(long = "sync-folder", value_name = "DIR", conflicts_with = "set")]
    pub sync_folder: Option<PathBuf>,
    /// Set a new hint instead (unlocked only; an empty one removes it).
    #[arg(long, value_name = "HINT")]
    pub set: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `passwd`.
#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// A new password hint too.
    #[arg(long)]
    pub hint: Option<String>,
    /// Keep the password: re-stretch it at this machine's calibrated
    /// parameters (asks only for the current one).
    #[arg(long)]
    pub same: bool,
}

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
                Command::Login(a) => a.account,
                Command::Hint(a) => AccountArgs {
                    email: a.email.expect("email"),
                    sync_folder: a.sync_folder,
                },
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
    fn secret_service_and_list_collection() {
        let cli = parse(&["secret-service", "enable"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::SecretService(SecretServiceCommand::Enable(JsonArg { json: false }))
        ));
        let cli = parse(&["secret-service", "status", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::SecretService(SecretServiceCommand::Status(JsonArg { json: true }))
        ));
        assert!(parse(&["secret-service"]).is_err());
        let cli = parse(&["list", "--collection", "login", "--json"]).unwrap();
        assert!(
            matches!(cli.command, Command::List(ref l) if l.json && l.collection.as_deref() == Some("login"))
        );
    }

    #[test]
    fn generate_flags_on_add_and_edit() {
        let cli = parse(&["add", "Bank", "--generate"]).unwrap();
        let Command::Add(a) = cli.command else {
            panic!("not add")
        };
        assert_eq!(a.generate.generate.as_deref(), Some(""));
        assert!(a.generate.wanted() && !a.generate.show);
        let cli = parse(&["add", "Bank", "--generate", "words:n=5;sep=-", "--show"]).unwrap();
        let Command::Add(a) = cli.command else {
            panic!("not add")
        };
        assert_eq!(a.generate.generate.as_deref(), Some("words:n=5;sep=-"));
        assert!(a.generate.show);
        let cli = parse(&["edit", "Bank", "--length", "30"]).unwrap();
        let Command::Edit(e) = cli.command else {
            panic!("not edit")
        };
        assert!(e.generate.wanted());
        assert!(parse(&["add", "Bank", "--generate", "--password", "x"]).is_err());
        let cli = parse(&["add", "Bank"]).unwrap();
        let Command::Add(a) = cli.command else {
            panic!("not add")
        };
        assert!(!a.generate.wanted());
    }

    #[test]
    fn new_commands_parse() {
        assert!(matches!(
            parse(&["search", "git", "hub", "--json"]).unwrap().command,
            Command::Search(ref s) if s.terms == ["git", "hub"] && s.json
        ));
        assert!(parse(&["search"]).is_err());
        assert!(matches!(
            parse(&["totp", "Bank", "--clip"]).unwrap().command,
            Command::Totp(ref t) if t.clip
        ));
        assert!(matches!(
            parse(&["trash", "empty", "--older-than", "30d", "--yes"]).unwrap().command,
            Command::Trash(TrashCommand::Empty(ref e)) if e.yes && e.older_than.as_deref() == Some("30d")
        ));
        assert!(matches!(
            parse(&["list", "--search", "mail"]).unwrap().command,
            Command::List(ref l) if l.search.as_deref() == Some("mail")
        ));
        assert!(parse(&["get", "Mail", "--clip", "--json"]).is_err());
        assert!(matches!(
            parse(&["get", "--search", "git hub", "--clip"]).unwrap().command,
            Command::Get(ref g) if g.search.as_deref() == Some("git hub") && g.query.is_none()
        ));
        assert!(parse(&["get"]).is_err());
        assert!(parse(&["get", "Mail", "--search", "x"]).is_err());
        assert!(matches!(
            parse(&["generate", "--words", "5"]).unwrap().command,
            Command::Generate(ref g) if g.flags.words == Some(5)
        ));
    }

    #[test]
    fn help_has_examples() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Examples:"), "{help}");
        assert!(help.contains("COFFER_PASSWORD"), "{help}");
    }
}
