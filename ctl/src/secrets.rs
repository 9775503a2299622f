//! Where secrets come from (DESIGN §6): `--password-file FILE`, then the
//! environment variable, then a no-echo prompt, but only when stdin is a
//! terminal. With none of them the command fails at once, naming the
//! sources; it never waits for input that cannot come.

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::path::Path;

use coffer_proto::Secret;
use zeroize::Zeroizing;

use crate::error::CliError;

/// The terminal, behind a trait so that tests can stand in for it.
pub trait Terminal {
    /// Whether stdin is a terminal a person can type on.
    fn is_terminal(&self) -> bool;
    /// Asks without echo.
    fn ask_hidden(&mut self, prompt: &str) -> io::Result<Zeroizing<String>>;
    /// Asks with echo (for confirmations that are not secret).
    fn ask_line(&mut self, prompt: &str) -> io::Result<String>;
}

/// The real terminal: `isatty(0)`, rpassword for hidden input, stderr for
/// prompts.
pub struct RealTerminal;

impl Terminal for RealTerminal {
    fn is_terminal(&self) -> bool {
        // SAFETY: isatty only inspects the descriptor; fd 0 may be closed,
        // in which case it returns 0.
        unsafe { libc::isatty(0) == 1 }
    }

    fn ask_hidden(&mut self, prompt: &str) -> io::Result<Zeroizing<String>> {
        rpassword::prompt_password(prompt).map(Zeroizing::new)
    }

    fn ask_line(&mut self, prompt: &str) -> io::Result<String> {
        let mut err = io::stderr().lock();
        err.write_all(prompt.as_bytes())?;
        err.flush()?;
        let mut line = String::new();
        if io::stdin().lock().read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the terminal was closed",
            ));
        }
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// One secret a command needs, and where it may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// What it is, for prompts and errors ("Account Password").
    pub what: &'static str,
    /// The environment variable that may hold it.
    pub var: &'static str,
    /// Whether `--password-file` may give it.
    pub from_file: bool,
    /// A new secret: asked twice on the terminal, and never empty.
    pub new: bool,
}

/// The Account Password of an existing account.
pub const PASSWORD: Need = Need {
    what: "Account Password",
    var: "COFFER_PASSWORD",
    from_file: true,
    new: false,
};

/// The Account Password chosen at signup: the same sources, but new.
pub const SIGNUP_PASSWORD: Need = Need {
    new: true,
    ..PASSWORD
};

/// The new Account Password of a reset: chosen as at signup, from its own
/// variable (no old password is asked, so `--password-file` gives this
/// one).
pub const RESET_PASSWORD: Need = Need {
    what: "new Account Password",
    var: "COFFER_NEW_PASSWORD",
    ..SIGNUP_PASSWORD
};

/// The new Account Password of `passwd`: as a reset's, but
/// `--password-file` gives the old one.
pub const PASSWD_NEW_PASSWORD: Need = Need {
    from_file: false,
    ..RESET_PASSWORD
};

/// The Account Key.
pub const ACCOUNT_KEY: Need = Need {
    what: "Account Key",
    var: "COFFER_ACCOUNT_KEY",
    from_file: false,
    new: false,
};

/// The Account Password of an older epoch (`import coffer-container`):
/// `--password-file` gives it too.
pub const OLD_PASSWORD: Need = Need {
    what: "Account Password of the old account (before the reset)",
    var: "COFFER_OLD_PASSWORD",
    from_file: true,
    new: false,
};

/// The Account Key of an older epoch (`import coffer-container`).
pub const OLD_ACCOUNT_KEY: Need = Need {
    what: "Account Key of the old account (before the reset)",
    var: "COFFER_OLD_ACCOUNT_KEY",
    from_file: false,
    new: false,
};

/// Where secrets may come from for one run.
pub struct Sources<'a> {
    /// `--password-file`.
    pub password_file: Option<&'a Path>,
    /// Reads an environment variable (the process's, or a test's map).
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
    /// The terminal.
    pub terminal: &'a mut dyn Terminal,
}

/// The process environment, as [`Sources::env`] wants it.
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

impl Sources<'_> {
    /// Gets one secret from the first source that has it.
    pub fn get(&mut self, need: Need) -> Result<Secret, CliError> {
        if need.from_file {
            if let Some(path) = self.password_file {
                return read_password_file(path);
            }
        }
        if let Some(value) = (self.env)(need.var) {
            let value = Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(value));
            match std::str::from_utf8(&value) {
                Ok("") => {}
                Ok(s) => return Ok(Secret::new(s)),
                Err(_) => {
                    return Err(CliError::Failed(format!(
                        "{} is not valid UTF-8; set it again",
                        need.var
                    )))
                }
            }
        }
        if !self.terminal.is_terminal() {
            return Err(if need.from_file {
                CliError::NoSecret {
                    what: need.what,
                    var: need.var,
                }
            } else {
                CliError::NoSecretNoFile {
                    what: need.what,
                    var: need.var,
                }
            });
        }
        self.prompt(need)
    }

    /// Whether the environment gives `need` (set and not empty), without
    /// asking anyone.
    pub fn in_env(&self, need: Need) -> bool {
        (self.env)(need.var).is_some_and(|v| !v.is_empty())
    }

    fn prompt(&mut self, need: Need) -> Result<Secret, CliError> {
        let read_err = |e| CliError::io("cannot read from the terminal", e);
        let first = self
            .terminal
            .ask_hidden(&format!("{}: ", capitalise(need.what)))
            .map_err(read_err)?;
        if !need.new {
            return Ok(Secret::new(first.as_str()));
        }
        if first.is_empty() {
            return Err(CliError::Failed(format!(
                "the {} cannot be empty; run the command again",
                need.what
            )));
        }
        let again = self
            .terminal
            .ask_hidden(&format!("{} again: ", capitalise(need.what)))
            .map_err(read_err)?;
        if *first != *again {
            return Err(CliError::Failed(format!(
                "the two {}s you typed differ; run the command again",
                need.what
            )));
        }
        Ok(Secret::new(first.as_str()))
    }

    /// Asks the user to type `expected` again on the terminal (the reset
    /// confirmation). Errors when there is no terminal.
    pub fn confirm_typed(&mut self, prompt: &str, expected: &str) -> Result<(), CliError> {
        if !self.terminal.is_terminal() {
            return Err(CliError::Usage(
                "no terminal to confirm on: pass --yes to confirm without typing".into(),
            ));
        }
        let typed = self
            .terminal
            .ask_line(prompt)
            .map_err(|e| CliError::io("cannot read from the terminal", e))?;
        if typed.trim().eq_ignore_ascii_case(expected.trim()) {
            Ok(())
        } else {
            Err(CliError::Failed(
                "the email you typed does not match; nothing was changed".into(),
            ))
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The first line of `path`, without its line ending.
pub fn read_password_file(path: &Path) -> Result<Secret, CliError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        CliError::io(
            format!("cannot read the password file {}", path.display()),
            e,
        )
    })?);
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| {
        CliError::Failed(format!(
            "the password file {} is not valid UTF-8",
            path.display()
        ))
    })?;
    if text.is_empty() {
        return Err(CliError::Failed(format!(
            "the first line of the password file {} is empty; put the Account Password on it",
            path.display()
        )));
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A scripted terminal: answers in order, records prompts.
    struct FakeTerminal {
        tty: bool,
        answers: Vec<&'static str>,
        prompts: Vec<String>,
    }

    impl FakeTerminal {
        fn new(tty: bool, answers: &[&'static str]) -> Self {
            FakeTerminal {
                tty,
                answers: answers.iter().rev().copied().collect(),
                prompts: Vec::new(),
            }
        }
    }

    impl Terminal for FakeTerminal {
        fn is_terminal(&self) -> bool {
            self.tty
        }
        fn ask_hidden(&mut self, prompt: &str) -> io::Result<Zeroizing<String>> {
            self.prompts.push(prompt.to_string());
            self.answers
                .pop()
                .map(|a| Zeroizing::new(a.to_string()))
                .ok_or_else(|| io::Error::other("no more answers"))
        }
        fn ask_line(&mut self, prompt: &str) -> io::Result<String> {
            self.prompts.push(prompt.to_string());
            self.answers
                .pop()
                .map(str::to_string)
                .ok_or_else(|| io::Error::other("no more answers"))
        }
    }

    fn env_of(map: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        let m: HashMap<_, _> = map.iter().copied().collect();
        move |k| m.get(k).map(OsString::from)
    }

    fn get(
        need: Need,
        file: Option<&Path>,
        env: &'static [(&'static str, &'static str)],
        term: &mut FakeTerminal,
    ) -> Result<Secret, CliError> {
        let env = env_of(env);
        Sources {
            password_file: file,
            env: &env,
            terminal: term,
        }
        .get(need)
    }

    #[test]
    fn file_beats_variable_beats_terminal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\r\nsecond line\n").unwrap();
        let mut t = FakeTerminal::new(true, &["typed"]);
        let env = &[("COFFER_PASSWORD", "from-env")];
        let s = get(PASSWORD, Some(&file), env, &mut t).unwrap();
        assert_eq!(s.expose(), "from-file");
        let s = get(PASSWORD, None, env, &mut t).unwrap();
        assert_eq!(s.expose(), "from-env");
        let s = get(PASSWORD, None, &[], &mut t).unwrap();
        assert_eq!(s.expose(), "typed");
        assert_eq!(t.prompts, vec!["Account Password: "]);
    }

    #[test]
    fn password_file_without_newline_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "just this").unwrap();
        assert_eq!(read_password_file(&file).unwrap().expose(), "just this");
        std::fs::write(&file, "\nsecond").unwrap();
        let e = read_password_file(&file).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        let e = read_password_file(&dir.path().join("missing")).unwrap_err();
        assert!(
            e.to_string().contains("cannot read the password file"),
            "{e}"
        );
    }

    #[test]
    fn no_terminal_fails_at_once_naming_the_sources() {
        let mut t = FakeTerminal::new(false, &["never asked"]);
        let e = get(PASSWORD, None, &[], &mut t).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no terminal to ask for the Account Password: set COFFER_PASSWORD or pass --password-file FILE"
        );
        let e = get(ACCOUNT_KEY, None, &[], &mut t).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no terminal to ask for the Account Key: set COFFER_ACCOUNT_KEY"
        );
        let e = get(RESET_PASSWORD, None, &[("COFFER_PASSWORD", "x")], &mut t).unwrap_err();
        assert!(e.to_string().contains("COFFER_NEW_PASSWORD"), "{e}");
        assert!(t.prompts.is_empty());
    }

    #[test]
    fn empty_variable_counts_as_unset() {
        let mut t = FakeTerminal::new(false, &[]);
        assert!(get(PASSWORD, None, &[("COFFER_PASSWORD", "")], &mut t).is_err());
    }

    #[test]
    fn account_key_and_passwd_new_ignore_the_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "old\n").unwrap();
        let mut t = FakeTerminal::new(false, &[]);
        let env = &[
            ("COFFER_ACCOUNT_KEY", "C1-KEY"),
            ("COFFER_NEW_PASSWORD", "new"),
        ];
        assert_eq!(
            get(ACCOUNT_KEY, Some(&file), env, &mut t).unwrap().expose(),
            "C1-KEY"
        );
        assert_eq!(
            get(PASSWD_NEW_PASSWORD, Some(&file), env, &mut t)
                .unwrap()
                .expose(),
            "new"
        );
        assert_eq!(
            get(PASSWORD, Some(&file), env, &mut t).unwrap().expose(),
            "old"
        );
    }

    #[test]
    fn new_passwords_are_asked_twice_and_compared() {
        let mut t = FakeTerminal::new(true, &["abc", "abc"]);
        assert_eq!(
            get(SIGNUP_PASSWORD, None, &[], &mut t).unwrap().expose(),
            "abc"
        );
        assert_eq!(
            t.prompts,
            vec!["Account Password: ", "Account Password again: "]
        );
        let mut t = FakeTerminal::new(true, &["abc", "abd"]);
        let e = get(RESET_PASSWORD, None, &[], &mut t).unwrap_err();
        assert!(e.to_string().contains("differ"), "{e}");
        let mut t = FakeTerminal::new(true, &[""]);
        let e = get(SIGNUP_PASSWORD, None, &[], &mut t).unwrap_err();
        assert!(e.to_string().contains("cannot be empty"), "{e}");
    }

    #[test]
    fn confirmation_needs_a_terminal_and_the_same_email() {
        let env = env_of(&[]);
        let mut t = FakeTerminal::new(false, &[]);
        let mut s = Sources {
            password_file: None,
            env: &env,
            terminal: &mut t,
        };
        let e = s.confirm_typed("Email: ", "a@b").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--yes"), "{e}");
        let mut t = FakeTerminal::new(true, &[" A@B ", "x@y"]);
        let mut s = Sources {
            password_file: None,
            env: &env,
            terminal: &mut t,
        };
        s.confirm_typed("Email: ", "a@b").unwrap();
        assert!(s.confirm_typed("Email: ", "a@b").is_err());
    }
}
