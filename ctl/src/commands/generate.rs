//! `coffer generate`, run here with the vault library (no daemon, works
//! signed out), and the `--generate` flags of `add` and `edit`, which the
//! daemon carries out.
//!
//! stdout gets the bare password, for scripts; the entropy goes to stderr
//! only when stderr is a terminal, so that `2>&1` captures stay clean.

use coffer_proto::generate::{GenerateParams, Generated};
use coffer_vault::generate::{entropy_bits, generate, GenerateFlags, Policy};

use super::{emit, emit_json};
use crate::cli::{GenFlags, GenerateArgs, GenerateOpt};
use crate::error::CliError;

/// Whether stderr is a terminal a person reads.
pub fn stderr_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(2) == 1 }
}

fn flags(f: &GenFlags) -> GenerateFlags {
    GenerateFlags {
        length: f.length,
        no_symbols: f.no_symbols,
        symbols: f.symbols.clone(),
        no_similar: f.no_similar,
        words: f.words,
        separator: f.separator.clone(),
    }
}

/// The policy `a` asks for.
fn policy(a: &GenerateArgs) -> Result<Policy, CliError> {
    let base = a
        .policy
        .as_deref()
        .map(str::parse::<Policy>)
        .transpose()
        .map_err(|e| CliError::Usage(format!("--policy: {e}")))?;
    flags(&a.flags)
        .resolve(base.as_ref())
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// `coffer generate`.
pub fn run(a: GenerateArgs) -> Result<(), CliError> {
    let policy = policy(&a)?;
    let password = generate(&policy);
    let bits = entropy_bits(&policy);
    if a.json {
        return emit_json(&serde_json::json!({
            "password": password.expose(),
            "policy": policy.to_string(),
            "entropy_bits": (bits * 10.0).floor() / 10.0,
        }));
    }
    let mut text = zeroize::Zeroizing::new(String::with_capacity(password.expose().len() + 1));
    text.push_str(password.expose());
    text.push('\n');
    emit(&text)?;
    if stderr_is_terminal() {
        eprintln!("{:.1} bits of entropy ({policy})", bits);
    }
    Ok(())
}

/// What `add`/`edit` send for `--generate`, if anything.
pub fn params(opt: &GenerateOpt, json: bool) -> Result<Option<GenerateParams>, CliError> {
    if !opt.wanted() {
        if opt.show {
            return Err(CliError::Usage(
                "--show shows a generated password: add --generate".into(),
            ));
        }
        return Ok(None);
    }
    let policy = opt.generate.clone().filter(|p| !p.trim().is_empty());
    if let Some(p) = &policy {
        p.parse::<Policy>()
            .map_err(|e| CliError::Usage(format!("--generate: {e}")))?;
    }
    let f = &opt.flags;
    Ok(Some(GenerateParams {
        policy,
        length: f.length,
        no_symbols: f.no_symbols,
        symbols: f.symbols.clone(),
        no_similar: f.no_similar,
        words: f.words,
        separator: f.separator.clone(),
        reveal: opt.show || json,
    }))
}

/// After `add`/`edit --generate`: the password on stdout with `--show`,
/// and what was made on a terminal's stderr.
pub fn report(g: &Generated, show: bool) -> Result<(), CliError> {
    if show {
        if let Some(p) = &g.password {
            let mut text = zeroize::Zeroizing::new(String::with_capacity(p.expose().len() + 1));
            text.push_str(p.expose());
            text.push('\n');
            emit(&text)?;
        }
    }
    if stderr_is_terminal() {
        eprintln!(
            "Generated a password ({:.1} bits, {}); `coffer get` shows it.",
            g.entropy_bits, g.policy
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(policy: Option<&str>, f: GenFlags) -> GenerateArgs {
        GenerateArgs {
            policy: policy.map(str::to_owned),
            flags: f,
            json: false,
        }
    }

    #[test]
    fn flags_and_policies_combine() {
        let p = policy(&args(None, GenFlags::default())).unwrap();
        assert_eq!(p.to_string(), "chars:len=20;classes=luds");
        let p = policy(&args(
            Some("words:n=4;sep=."),
            GenFlags {
                words: Some(7),
                ..GenFlags::default()
            },
        ))
        .unwrap();
        assert_eq!(p.to_string(), "words:n=7;sep=.");
        let e = policy(&args(
            None,
            GenFlags {
                length: Some(8),
                words: Some(5),
                ..GenFlags::default()
            },
        ))
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            policy(&args(Some("nonsense"), GenFlags::default()))
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn add_sends_flags_not_passwords() {
        let opt = GenerateOpt {
            generate: Some(String::new()),
            flags: GenFlags {
                no_symbols: true,
                ..GenFlags::default()
            },
            show: false,
        };
        let p = params(&opt, false).unwrap().unwrap();
        assert!(p.policy.is_none() && p.no_symbols && !p.reveal);
        assert!(params(&opt, true).unwrap().unwrap().reveal);
        assert!(params(&GenerateOpt::default(), false).unwrap().is_none());
        let show_alone = GenerateOpt {
            show: true,
            ..GenerateOpt::default()
        };
        assert_eq!(params(&show_alone, false).unwrap_err().exit_code(), 2);
    }
}
