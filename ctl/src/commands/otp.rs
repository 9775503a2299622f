//! `coffer totp`: the code on stdout (the daemon computes it); seconds
//! left on stderr when it is a terminal.

use coffer_proto::clipboard::DisplayEnv;
use coffer_proto::otp::{TotpParams, TotpReply};
use coffer_proto::Request;

use super::generate::stderr_is_terminal;
use super::{emit, show, Ctx};
use crate::cli::TotpArgs;
use crate::error::CliError;

pub fn totp(ctx: &mut Ctx, a: TotpArgs) -> Result<(), CliError> {
    let request = Request::Totp(TotpParams {
        query: a.query,
        clip: a.clip.then(DisplayEnv::from_env),
    });
    show(ctx, request, a.json, |r: TotpReply| {
        if let Some(clip) = &r.clipboard {
            eprintln!(
                "Copied the one-time code of \"{}\" to the clipboard; it is cleared in {} s.",
                r.title, clip.clear_after_secs
            );
        }
        if let Some(code) = &r.code {
            let mut text = zeroize::Zeroizing::new(String::with_capacity(code.expose().len() + 1));
            text.push_str(code.expose());
            text.push('\n');
            emit(&text)?;
        }
        if stderr_is_terminal() {
            match (r.seconds_left, r.counter) {
                (Some(left), _) => eprintln!("{left} s left"),
                (None, Some(counter)) => {
                    eprintln!("HOTP counter {counter} (the item now holds the next one)")
                }
                _ => {}
            }
        }
        Ok(())
    })
}
