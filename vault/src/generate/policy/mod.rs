//! Password policies: what a generated password may contain, their compact
//! text form, and the builder from the CLI's flags.
//!
//! A policy is either *characters* (a length and a set of character
//! classes) or a *passphrase* (a number of words from the EFF large list and
//! a separator). Policies are validated when built, so a [`Policy`] value
//! can always generate.
//!
//! # Defaults, and why
//!
//! - Characters: 20 characters from all four classes, each class at least
//!   once. This is 1Password's default length with Bitwarden's "at least one
//!   of each" rule. 20 characters over 90 give about 129.7 bits, as strong
//!   as the vault key, and almost every site accepts that length and
//!   a mix of classes.
//! - Symbols: the ASCII punctuation [`DEFAULT_SYMBOLS`], *without* quotes
//!   (`"` `'` `` ` ``), backslash and space, the characters that break shell
//!   quoting, CSV files and badly written web forms.
//! - "No similar" is off by default (it costs entropy and is only useful for
//!   passwords read aloud or typed from paper); when on it removes
//!   [`SIMILAR`], Bitwarden's ambiguous set `0 O 1 l I` plus `o i |`.
//! - Passphrase: 6 words joined by `-`, lowercase: about 77.5 bits, the
//!   EFF's own recommendation for the large list, and Bitwarden's separator.
//!
//! # Text form
//!
//! A policy is stored in an item field as one line of `;`-separated parts,
//! its kind first:
//!
//! ```text
//! chars:len=24;classes=luds;symbols=!#%;no-similar
//! chars:len=16;classes=lud;optional-classes
//! words:n=6;sep=-;cap
//! ```
//!
//! `classes` lists `l`ower, `u`pper, `d`igits, `s`ymbols; `symbols` appears
//! only for a custom set; `no-similar` drops look-alikes; `optional-classes`
//! lifts the "each enabled class at least once" rule; `cap` capitalises each
//! word. In values, `\;`, `\\` and `\s` stand for `;`, `\` and a space.
//! [`Policy`]'s `Display` writes this form canonically and `FromStr` reads it
//! back; unknown parts are errors, so that a policy written by a newer coffer
//! is never silently weakened.

/// Shortest password a character policy allows.
pub const MIN_LENGTH: usize = 4;
/// Longest password a character policy allows.
pub const MAX_LENGTH: usize = 256;
/// Default password length.
pub const DEFAULT_LENGTH: usize = 20;
/// Fewest words a passphrase policy allows.
pub const MIN_WORDS: usize = 3;
/// Most words a passphrase policy allows.
pub const MAX_WORDS: usize = 20;
/// Default number of words.
pub const DEFAULT_WORDS: usize = 6;
/// Default separator between words.
pub const DEFAULT_SEPARATOR: &str = "-";
/// Longest separator, in characters.
pub const MAX_SEPARATOR_CHARS: usize = 8;
/// Largest custom symbol set, in characters.
pub const MAX_SYMBOLS: usize = 128;

/// The lowercase letters.
pub const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
/// The uppercase letters.
pub const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// The decimal digits.
pub const DIGITS: &str = "0123456789";
/// The default symbols: ASCII punctuation without quotes, backslash, space.
pub const DEFAULT_SYMBOLS: &str = "!#$%&()*+,-./:;<=>?@[]^_{|}~";
/// Look-alike characters removed by "no similar".
pub const SIMILAR: &str = "0Oo1Iil|";

/// One character class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// `a`–`z`.
    Lower,
    /// `A`–`Z`.
    Upper,
    /// `0`–`9`.
    Digits,
    /// The symbol set (default or custom).
    Symbols,
}

impl Class {
    /// Every class, in canonical order.
    pub const ALL: [Class; 4] = [Class::Lower, Class::Upper, Class::Digits, Class::Symbols];

    /// The class's letter in the text form (`l`, `u`, `d`, `s`).
    pub fn letter(self) -> char {
        match self {
            Class::Lower => 'l',
            Class::Upper => 'u',
            Class::Digits => 'd',
            Class::Symbols => 's',
        }
    }

    fn from_letter(c: char) -> Option<Class> {
        Class::ALL.into_iter().find(|k| k.letter() == c)
    }
}

/// Which character classes a policy uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Classes {
    /// Lowercase letters.
    pub lower: bool,
    /// Uppercase letters.
    pub upper: bool,
    /// Digits.
    pub digits: bool,
    /// Symbols.
    pub symbols: bool,
}

impl Classes {
    /// All four classes.
    pub const ALL: Classes = Classes {
        lower: true,
        upper: true,
        digits: true,
        symbols: true,
    };

    /// True when `class` is enabled.
    pub fn contains(self, class: Class) -> bool {
        match class {
            Class::Lower => self.lower,
            Class::Upper => self.upper,
            Class::Digits => self.digits,
            Class::Symbols => self.symbols,
        }
    }

    /// Enables or disables `class`.
    pub fn set(&mut self, class: Class, on: bool) {
        match class {
            Class::Lower => self.lower = on,
            Class::Upper => self.upper = on,
            Class::Digits => self.digits = on,
            Class::Symbols => self.symbols = on,
        }
    }

    /// The enabled classes, in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Class> {
        Class::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// True when no class is enabled.
    pub fn is_empty(self) -> bool {
        self.iter().next().is_none()
    }
}

impl Default for Classes {
    fn default() -> Self {
        Classes::ALL
    }
}

/// Why a policy, its text form or a set of flags was refused. The text says
/// what is wrong and what to do; it never contains a generated secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The password length is out of range.
    #[error("a password length of {0} is out of range: choose {MIN_LENGTH} to {MAX_LENGTH}")]
    Length(usize),
    /// The word count is out of range.
    #[error("a passphrase of {0} words is out of range: choose {MIN_WORDS} to {MAX_WORDS} words")]
    Words(usize),
    /// No character class is enabled.
    #[error("no character class is enabled: enable at least one of lower, upper, digits, symbols")]
    NoClasses,
    /// Symbols are enabled but the set is empty.
    #[error("the symbol set is empty{}: give at least one symbol, or turn symbols off", if *.after_similar { " once look-alike characters are removed" } else { "" })]
    EmptySymbols {
        /// True when the set only became empty by removing look-alikes.
        after_similar: bool,
    },
    /// A custom symbol set has a character that is not a symbol.
    #[error("{0:?} cannot be a symbol: symbols are visible characters other than letters and digits (no spaces or control characters)")]
    BadSymbol(char),
    /// A custom symbol set is too long.
    #[error("the symbol set has {0} characters, more than the {MAX_SYMBOLS} allowed")]
    TooManySymbols(usize),
    /// The word separator is unusable.
    #[error("the separator {0:?} cannot be used: {1}")]
    BadSeparator(String, &'static str),
    /// The text form could not be read.
    #[error("not a password policy: {0} (expected e.g. `chars:len=20;classes=luds` or `words:n=6;sep=-`)")]
    Syntax(String),
    /// Flags that contradict each other.
    #[error("conflicting options: {0}")]
    Conflict(&'static str),
}

/// The options of a character policy, before validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharOptions {
    /// How many characters.
    pub length: usize,
    /// Which classes may appear.
    pub classes: Classes,
    /// A custom symbol set, or `None` for [`DEFAULT_SYMBOLS`].
    pub symbols: Option<String>,
    /// Leave out the look-alikes in [`SIMILAR`].
    pub no_similar: bool,
    /// Every enabled class appears at least once.
    pub require_each: bool,
}

impl Default for CharOptions {
    fn default() -> Self {
        CharOptions {
            length: DEFAULT_LENGTH,
            classes: Classes::ALL,
            symbols: None,
            no_similar: false,
            require_each: true,
        }
    }
}

/// A validated character policy. The default is [`CharOptions::default`]:
/// 20 characters, all classes, each at least once.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CharPolicy {
    opts: CharOptions,
}

impl CharPolicy {
    /// Validates `opts`. A custom symbol set is canonicalised (sorted,
    /// duplicates dropped; a set equal to the default becomes `None`).
    pub fn new(mut opts: CharOptions) -> Result<CharPolicy, PolicyError> {
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&opts.length) {
            return Err(PolicyError::Length(opts.length));
        }
        if opts.classes.is_empty() {
            return Err(PolicyError::NoClasses);
        }
        if let Some(set) = &opts.symbols {
            let canon = canonical_symbols(set)?;
            opts.symbols = if canon == canonical_symbols(DEFAULT_SYMBOLS)? {
                None
            } else {
                Some(canon)
            };
        }
        let policy = CharPolicy { opts };
        if policy.opts.classes.symbols && policy.class_chars(Class::Symbols).is_empty() {
            return Err(PolicyError::EmptySymbols {
                after_similar: policy.opts.no_similar,
            });
        }
        Ok(policy)
    }

    /// The options this policy was built from (canonicalised).
    pub fn options(&self) -> &CharOptions {
        &self.opts
    }

    /// Password length in characters.
    pub fn length(&self) -> usize {
        self.opts.length
    }

    /// The symbol set in use (custom or default), before look-alikes are removed.
    pub fn symbol_set(&self) -> &str {
        self.opts.symbols.as_deref().unwrap_or(DEFAULT_SYMBOLS)
    }

    /// The characters `class` contributes under this policy (empty when the
    /// class is off), look-alikes removed when asked. Classes are disjoint.
    pub fn class_chars(&self, class: Class) -> Vec<char> {
        if !self.opts.classes.contains(class) {
            return Vec::new();
        }
        let set = match class {
            Class::Lower => LOWER,
            Class::Upper => UPPER,
            Class::Digits => DIGITS,
            Class::Symbols => self.symbol_set(),
        };
        set.chars()
            .filter(|c| !(self.opts.no_similar && SIMILAR.contains(*c)))
            .collect()
    }

    /// The classes that must each appear at least once (none when
    /// `require_each` is off).
    pub fn required(&self) -> Vec<Class> {
        if self.opts.require_each {
            self.opts.classes.iter().collect()
        } else {
            Vec::new()
        }
    }
}

/// Sorted, deduplicated, checked symbol set.
fn canonical_symbols(set: &str) -> Result<String, PolicyError> {
    let mut chars: Vec<char> = set.chars().collect();
    if let Some(bad) = chars
        .iter()
        .find(|c| c.is_alphanumeric() || c.is_whitespace() || c.is_control())
    {
        return Err(PolicyError::BadSymbol(*bad));
    }
    chars.sort_unstable();
    chars.dedup();
    if chars.len() > MAX_SYMBOLS {
        return Err(PolicyError::TooManySymbols(chars.len()));
    }
    if chars.is_empty() {
        return Err(PolicyError::EmptySymbols {
            after_similar: false,
        });
    }
    Ok(chars.into_iter().collect())
}

/// The options of a passphrase policy, before validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordOptions {
    /// How many words.
    pub words: usize,
    /// What goes between words (may be empty).
    pub separator: String,
    /// Capitalise the first letter of each word.
    pub capitalize: bool,
}

impl Default for WordOptions {
    fn default() -> Self {
        WordOptions {
            words: DEFAULT_WORDS,
            separator: DEFAULT_SEPARATOR.to_owned(),
            capitalize: false,
        }
    }
}

/// A validated passphrase policy.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WordPolicy {
    opts: WordOptions,
}

impl WordPolicy {
    /// Validates `opts`.
    pub fn new(opts: WordOptions) -> Result<WordPolicy, PolicyError> {
        if !(MIN_WORDS..=MAX_WORDS).contains(&opts.words) {
            return Err(PolicyError::Words(opts.words));
        }
        let sep = &opts.separator;
        if sep.chars().count() > MAX_SEPARATOR_CHARS {
            return Err(PolicyError::BadSeparator(
                sep.clone(),
                "it is longer than 8 characters",
            ));
        }
        if sep.chars().any(char::is_control) {
            return Err(PolicyError::BadSeparator(
                sep.clone(),
                "it has a control character (tab, newline ...)",
            ));
        }
        Ok(WordPolicy { opts })
    }

    /// The options this policy was built from.
    pub fn options(&self) -> &WordOptions {
        &self.opts
    }

    /// Number of words.
    pub fn words(&self) -> usize {
        self.opts.words
    }

    /// The separator.
    pub fn separator(&self) -> &str {
        &self.opts.separator
    }

    /// Whether each word is capitalised.
    pub fn capitalize(&self) -> bool {
        self.opts.capitalize
    }
}

/// What a generated password looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Random characters.
    Chars(CharPolicy),
    /// Random words.
    Words(WordPolicy),
}

impl Default for Policy {
    /// 20 characters, all classes, each at least once.
    fn default() -> Self {
        Policy::Chars(CharPolicy::default())
    }
}

impl Policy {
    /// The default passphrase policy: 6 words joined by `-`.
    pub fn default_passphrase() -> Policy {
        Policy::Words(WordPolicy::default())
    }
}
mod flags;
mod text;

pub use flags::GenerateFlags;
#[cfg(test)]
use text::escape;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Policy, PolicyError> {
        s.parse()
    }

    #[test]
    fn default_text_forms() {
        assert_eq!(Policy::default().to_string(), "chars:len=20;classes=luds");
        assert_eq!(Policy::default_passphrase().to_string(), "words:n=6;sep=-");
    }

    #[test]
    fn text_form_round_trips() {
        for s in [
            "chars:len=24;classes=luds;symbols=!#%;no-similar",
            "chars:len=4;classes=d",
            "chars:len=256;classes=lu;optional-classes",
            "chars:len=12;classes=s;symbols=\\;\\\\€",
            "words:n=3;sep=",
            "words:n=20;sep=\\s;cap",
            "words:n=7;sep=.\\;;cap",
        ] {
            let p = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(p.to_string(), s);
        }
    }

    #[test]
    fn text_form_is_canonical() {
        // Parts in any order, raw spaces, sets unsorted or equal to the default.
        let p = parse("chars:no-similar;classes=sdul;len=24;symbols=%!#%").unwrap();
        assert_eq!(
            p.to_string(),
            "chars:len=24;classes=luds;symbols=!#%;no-similar"
        );
        let p = parse(&format!("chars:len=20;classes=luds;symbols={}", {
            let mut s = String::new();
            escape(DEFAULT_SYMBOLS, &mut s);
            s
        }))
        .unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(
            parse("words:n=5;sep= ").unwrap().to_string(),
            "words:n=5;sep=\\s"
        );
    }

    #[test]
    fn custom_symbols_keep_their_semicolons() {
        let Policy::Chars(p) = parse("chars:len=8;classes=s;symbols=\\;").unwrap() else {
            panic!("not chars")
        };
        assert_eq!(p.class_chars(Class::Symbols), vec![';']);
    }

    #[test]
    fn bad_text_forms_say_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            ("len=20", "prefix"),
            ("pin:len=4", "unknown kind `pin`"),
            ("chars:len=20", "needs `len=` and `classes=`"),
            ("chars:len=x;classes=l", "`len=x` is not a whole number"),
            ("chars:len=20;classes=lx", "unknown class `x`"),
            ("chars:len=20;classes=l;len=21", "`len` is given twice"),
            (
                "chars:len=20;classes=l;colour=red",
                "unknown or malformed part `colour=red`",
            ),
            ("chars:len=20;classes=l;no-similar=yes", "malformed part"),
            ("chars:len=20;classes=l;symbols=\\x", "unknown escape"),
            ("chars:len=20;classes=l\\", "lone"),
            ("words:sep=-", "needs `n=`"),
            ("words:n=6;cap=1", "malformed part"),
        ];
        for (s, want) in cases {
            let err = parse(s).unwrap_err().to_string();
            assert!(err.contains(want), "{s}: {err}");
        }
    }

    #[test]
    fn validation() {
        assert_eq!(parse("chars:len=3;classes=l"), Err(PolicyError::Length(3)));
        assert_eq!(
            parse("chars:len=257;classes=l"),
            Err(PolicyError::Length(257))
        );
        assert_eq!(parse("chars:len=8;classes="), Err(PolicyError::NoClasses));
        assert_eq!(parse("words:n=2;sep=-"), Err(PolicyError::Words(2)));
        assert_eq!(parse("words:n=21;sep=-"), Err(PolicyError::Words(21)));
        assert_eq!(
            parse("chars:len=8;classes=s;symbols=a"),
            Err(PolicyError::BadSymbol('a'))
        );
        assert_eq!(
            parse("chars:len=8;classes=s;symbols=!\\s"),
            Err(PolicyError::BadSymbol(' '))
        );
        assert_eq!(
            parse("chars:len=8;classes=ls;symbols=|;no-similar"),
            Err(PolicyError::EmptySymbols {
                after_similar: true
            })
        );
        assert_eq!(
            parse("chars:len=8;classes=ls;symbols="),
            Err(PolicyError::EmptySymbols {
                after_similar: false
            })
        );
        assert!(matches!(
            parse("words:n=6;sep=123456789"),
            Err(PolicyError::BadSeparator(..))
        ));
        assert!(matches!(
            parse("words:n=6;sep=a\tb"),
            Err(PolicyError::BadSeparator(..))
        ));
        let long: String = ('\u{2000}'..'\u{2100}')
            .filter(|c| !c.is_whitespace() && !c.is_alphanumeric() && !c.is_control())
            .collect();
        assert!(long.chars().count() > MAX_SYMBOLS);
        assert!(matches!(
            CharPolicy::new(CharOptions {
                symbols: Some(long),
                ..CharOptions::default()
            }),
            Err(PolicyError::TooManySymbols(_))
        ));
    }

    #[test]
    fn no_similar_removes_look_alikes_from_every_class() {
        let p = CharPolicy::new(CharOptions {
            no_similar: true,
            symbols: Some("|!".to_owned()),
            ..CharOptions::default()
        })
        .unwrap();
        let all: String = Class::ALL.iter().flat_map(|c| p.class_chars(*c)).collect();
        for c in SIMILAR.chars() {
            assert!(!all.contains(c), "{c} kept");
        }
        assert_eq!(p.class_chars(Class::Symbols), vec!['!']);
        assert_eq!(p.class_chars(Class::Digits).len(), 8);
    }

    #[test]
    fn flags_build_policies() {
        let none = GenerateFlags::default();
        assert!(none.is_empty());
        assert_eq!(none.resolve(None).unwrap(), Policy::default());

        let f = GenerateFlags {
            length: Some(32),
            no_symbols: true,
            ..Default::default()
        };
        assert_eq!(
            f.resolve(None).unwrap().to_string(),
            "chars:len=32;classes=lud"
        );

        let f = GenerateFlags {
            symbols: Some("#!".to_owned()),
            no_similar: true,
            ..Default::default()
        };
        assert_eq!(
            f.resolve(None).unwrap().to_string(),
            "chars:len=20;classes=luds;symbols=!#;no-similar"
        );

        let f = GenerateFlags {
            words: Some(8),
            separator: Some(" ".to_owned()),
            ..Default::default()
        };
        assert_eq!(f.resolve(None).unwrap().to_string(), "words:n=8;sep=\\s");

        let f = GenerateFlags {
            separator: Some(".".to_owned()),
            ..Default::default()
        };
        assert_eq!(f.resolve(None).unwrap().to_string(), "words:n=6;sep=.");
    }

    #[test]
    fn flags_adjust_the_remembered_policy() {
        let base = parse("chars:len=30;classes=lud;no-similar").unwrap();
        assert_eq!(GenerateFlags::default().resolve(Some(&base)).unwrap(), base);
        let f = GenerateFlags {
            length: Some(12),
            ..Default::default()
        };
        assert_eq!(
            f.resolve(Some(&base)).unwrap().to_string(),
            "chars:len=12;classes=lud;no-similar"
        );
        let words = parse("words:n=5;sep=_;cap").unwrap();
        let f = GenerateFlags {
            words: Some(7),
            ..Default::default()
        };
        assert_eq!(
            f.resolve(Some(&words)).unwrap().to_string(),
            "words:n=7;sep=_;cap"
        );
        // Switching kind starts from that kind's default.
        assert_eq!(
            f.resolve(Some(&base)).unwrap().to_string(),
            "words:n=7;sep=-"
        );
    }

    #[test]
    fn conflicting_flags_are_refused() {
        let f = GenerateFlags {
            length: Some(12),
            words: Some(5),
            ..Default::default()
        };
        assert!(matches!(f.resolve(None), Err(PolicyError::Conflict(_))));
        let f = GenerateFlags {
            no_symbols: true,
            symbols: Some("!".to_owned()),
            ..Default::default()
        };
        assert!(matches!(f.resolve(None), Err(PolicyError::Conflict(_))));
        let f = GenerateFlags {
            length: Some(2),
            ..Default::default()
        };
        assert_eq!(f.resolve(None), Err(PolicyError::Length(2)));
    }
}
