//! The generator flags as the CLI parsed them, and the policy they mean.

use super::*;

/// The generator flags of `coffer generate`, `add --generate` and
/// `edit --generate`, as the CLI parsed them; [`resolve`](Self::resolve)
/// turns them into a policy, so the CLI and the daemon agree on their
/// meaning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenerateFlags {
    /// `--length N`.
    pub length: Option<usize>,
    /// `--no-symbols`.
    pub no_symbols: bool,
    /// `--symbols SET` (also turns symbols on).
    pub symbols: Option<String>,
    /// `--no-similar`.
    pub no_similar: bool,
    /// `--words N`.
    pub words: Option<usize>,
    /// `--separator S` (implies a passphrase).
    pub separator: Option<String>,
}

impl GenerateFlags {
    /// True when no flag was given.
    pub fn is_empty(&self) -> bool {
        *self == GenerateFlags::default()
    }

    /// The policy these flags ask for, starting from `base` (the item's
    /// remembered policy, if any) or else the default.
    ///
    /// Character flags (`--length`, `--no-symbols`, `--symbols`,
    /// `--no-similar`) adjust a character policy; word flags (`--words`,
    /// `--separator`) adjust a passphrase policy. When the flags pick the
    /// other kind than `base`, they start from that kind's default. Mixing
    /// both kinds, or `--no-symbols` with `--symbols`, is an error.
    pub fn resolve(&self, base: Option<&Policy>) -> Result<Policy, PolicyError> {
        let char_flags =
            self.length.is_some() || self.no_symbols || self.symbols.is_some() || self.no_similar;
        let word_flags = self.words.is_some() || self.separator.is_some();
        if char_flags && word_flags {
            return Err(PolicyError::Conflict(
                "--words/--separator make a passphrase; --length, --symbols, --no-symbols and --no-similar apply to character passwords",
            ));
        }
        if self.no_symbols && self.symbols.is_some() {
            return Err(PolicyError::Conflict(
                "--no-symbols and --symbols contradict each other",
            ));
        }
        if word_flags {
            let mut o = match base {
                Some(Policy::Words(p)) => p.opts.clone(),
                _ => WordOptions::default(),
            };
            if let Some(n) = self.words {
                o.words = n;
            }
            if let Some(sep) = &self.separator {
                o.separator = sep.clone();
            }
            return Ok(Policy::Words(WordPolicy::new(o)?));
        }
        if char_flags {
            let mut o = match base {
                Some(Policy::Chars(p)) => p.opts.clone(),
                _ => CharOptions::default(),
            };
            if let Some(n) = self.length {
                o.length = n;
            }
            if self.no_symbols {
                o.classes.symbols = false;
            }
            if let Some(set) = &self.symbols {
                o.classes.symbols = true;
                o.symbols = Some(set.clone());
            }
            if self.no_similar {
                o.no_similar = true;
            }
            return Ok(Policy::Chars(CharPolicy::new(o)?));
        }
        Ok(base.cloned().unwrap_or_default())
    }
}
