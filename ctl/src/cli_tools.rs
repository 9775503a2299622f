//! The command-line arguments of the generator, search, one-time codes and
//! the trash (issue 17): `generate`, `search`, `totp`, `trash …`, `list
//! --search`, and the `--generate` flags of `add` and `edit`. Re-exported
//! by [`crate::cli`], whose `Command` names them; nothing here talks to the
//! daemon.

use clap::{Args, Subcommand};

use crate::cli::{JsonArg, QueryArgs};

/// The generator's flags, shared by `generate`, `add` and `edit`.
#[derive(Debug, Args, Default, Clone)]
pub struct GenFlags {
    /// Password length in characters (4 to 256; default 20).
    #[arg(long, value_name = "N")]
    pub length: Option<usize>,
    /// No symbols, only letters and digits.
    #[arg(long)]
    pub no_symbols: bool,
    /// Use these symbols instead of the default set.
    #[arg(long, value_name = "SET")]
    pub symbols: Option<String>,
    /// Leave out look-alike characters (0 O o 1 I i l |).
    #[arg(long)]
    pub no_similar: bool,
    /// A passphrase of N words from the EFF large list (3 to 20; default 6).
    #[arg(long, value_name = "N")]
    pub words: Option<usize>,
    /// The passphrase's word separator (default -).
    #[arg(long, value_name = "S")]
    pub separator: Option<String>,
}

impl GenFlags {
    /// True when no flag was given.
    pub fn is_empty(&self) -> bool {
        self.length.is_none()
            && !self.no_symbols
            && self.symbols.is_none()
            && !self.no_similar
            && self.words.is_none()
            && self.separator.is_none()
    }
}

/// `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Start from this policy (`chars:len=24;classes=luds`, `words:n=6;sep=-`).
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
    /// The generator's flags.
    #[command(flatten)]
    pub flags: GenFlags,
    /// Print one JSON document (password, policy, entropy_bits).
    #[arg(long)]
    pub json: bool,
}

/// `--generate` on `add` and `edit`: the daemon makes the password.
#[derive(Debug, Args, Default)]
pub struct GenerateOpt {
    /// Let the daemon generate the password, from POLICY if given, else the item's
    /// remembered policy, else the default; the generator flags imply it.
    #[arg(long, value_name = "POLICY", num_args = 0..=1, default_missing_value = "", conflicts_with = "password")]
    pub generate: Option<String>,
    /// The generator's flags.
    #[command(flatten)]
    pub flags: GenFlags,
    /// Print the generated password on stdout.
    #[arg(long)]
    pub show: bool,
}

impl GenerateOpt {
    /// Whether a password is to be generated.
    pub fn wanted(&self) -> bool {
        self.generate.is_some() || !self.flags.is_empty()
    }
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the items these terms match, best first (as `coffer search`).
    #[arg(long, value_name = "TERMS", conflicts_with = "collection")]
    pub search: Option<String>,
    /// Only the items of this collection (`login`: what apps stored through the Secret Service).
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The terms; every one must match (title, username, URL or tag).
    #[arg(required = true, num_args = 1..)]
    pub terms: Vec<String>,
    /// At most N results.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `totp`.
#[derive(Debug, Args)]
pub struct TotpArgs {
    /// An item id, an exact title, or search terms that match one item.
    pub query: String,
    /// Put the code on the clipboard instead of printing it.
    #[arg(long)]
    pub clip: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `trash …`.
#[derive(Debug, Subcommand)]
pub enum TrashCommand {
    /// The items in the trash, newest first.
    List(JsonArg),
    /// Bring an item back from the trash.
    Restore(QueryArgs),
    /// Purge items from the trash for good (every device, once synced).
    Empty(TrashEmptyArgs),
}

/// `trash empty`.
#[derive(Debug, Args)]
pub struct TrashEmptyArgs {
    /// Only items trashed at least this long ago (30d, 12h, 90m, 2w).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Only this item (id or title in the trash).
    #[arg(long, value_name = "QUERY")]
    pub item: Option<String>,
    /// Do not ask for confirmation (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}
