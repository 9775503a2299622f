//! `totp`: the current one-time code of an item. The daemon computes it
//! (the secret never leaves it); for HOTP it hands out the code for the
//! stored counter and stores the next counter first, as an ordinary edit
//! of the item's `otp` field, so the counter syncs and merges like any
//! field.

use coffer_proto::clipboard::ClipReply;
use coffer_proto::otp::{TotpParams, TotpReply};
use coffer_proto::Secret;
use coffer_vault::item::fields::{custom_field, reserved};
use coffer_vault::item::Item;
use coffer_vault::otp::{totp_at, CodeFormat, OtpError, OtpKind, OtpSpec};
use coffer_vault::secret::SecretString;
use serde_json::Value;

use super::items::{commit, open};
use super::{lookup, to_reply};
use crate::daemon::{now_ms, Daemon};
use crate::error::{Error, Result};

/// The stored name of the field holding an item's one-time-code setup.
pub(crate) fn otp_field() -> String {
    custom_field(reserved::OTP)
}

/// A one-time-code setup as given (`--otp`, `--field otp=…`) in its
/// canonical `otpauth://` form, or why it is refused (never echoing it).
pub(crate) fn normalise(value: &SecretString) -> Result<SecretString> {
    OtpSpec::from_import(value.expose())
        .map(|spec| spec.to_uri())
        .map_err(|e| {
            Error::Invalid(format!(
                "the one-time-code setup is not usable: {e}; give an otpauth:// URI as the \
                 site shows it (e.g. otpauth://totp/Site:me?secret=BASE32) or the base32 secret"
            ))
        })
}

fn setup(item: &Item) -> Result<OtpSpec> {
    let uri = item.get(&otp_field()).ok_or_else(|| {
        Error::BadInput(format!(
            "\"{}\" has no one-time code; add one with `coffer edit {} --otp URI`",
            item.title(),
            item.id
        ))
    })?;
    OtpSpec::from_import(uri.expose()).map_err(|e| {
        Error::BadInput(format!(
            "the one-time-code setup of \"{}\" is unusable ({e}); set it again with `coffer edit {} --otp URI`",
            item.title(),
            item.id
        ))
    })
}

fn otp_error(e: OtpError) -> Error {
    Error::BadInput(e.to_string())
}

/// `totp`.
pub async fn totp(d: &Daemon, p: TotpParams) -> Result<Value> {
    if let Some(display) = &p.clip {
        if display.is_empty() {
            // Before an HOTP counter moves on for nothing.
            return Err(Error::Clipboard(
                "no X11 or Wayland display reachable: DISPLAY and WAYLAND_DISPLAY are unset; use `coffer totp` without --clip".into(),
            ));
        }
    }
    let (item, code, mut reply) = {
        let mut core = d.core().await;
        let (account, key) = open(d, &mut core)?;
        let item = lookup::find_or_search(&account.replica, &key, &p.query)?;
        let spec = setup(&item)?;
        let kind = match (spec.kind(), spec.format()) {
            (OtpKind::Hotp { .. }, _) => "hotp",
            (_, CodeFormat::Steam) => "steam",
            _ => "totp",
        };
        let mut reply = TotpReply {
            id: item.id.to_string(),
            title: item.title().to_owned(),
            kind: kind.to_owned(),
            code: None,
            seconds_left: None,
            period: None,
            counter: None,
            clipboard: None,
        };
        let code = match spec.kind() {
            OtpKind::Totp { period } => {
                let (code, left) = totp_at(&spec, now_ms() / 1000).map_err(otp_error)?;
                reply.seconds_left = Some(left);
                reply.period = Some(period);
                code
            }
            OtpKind::Hotp { counter } => {
                let (code, next) = spec.next_hotp().map_err(otp_error)?;
                let undo = account.replica.undo_point(&[item.id]);
                account
                    .replica
                    .edit(
                        &key,
                        item.id,
                        vec![(otp_field(), Some(next.to_uri()))],
                        now_ms(),
                    )
                    .map_err(Error::internal)?;
                // Durable before the code is shown: a code is never handed
                // out twice.
                commit(d, account, undo)?;
                reply.counter = Some(counter);
                code
            }
        };
        (item, code, reply)
    };
    match p.clip {
        Some(display) => {
            crate::clipboard::copy(&display, &code, d.config.clipboard_clear).await?;
            reply.clipboard = Some(ClipReply {
                id: item.id.to_string(),
                title: item.title().to_owned(),
                field: reserved::OTP.to_owned(),
                clear_after_secs: d.config.clipboard_clear.as_secs(),
            });
        }
        None => reply.code = Some(Secret::new(code.expose())),
    }
    to_reply(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setups_are_normalised_or_refused_without_echo() {
        let uri = normalise(&SecretString::from(
            "otpauth://totp/Bank:ann?secret=jbswy3dpehpk3pxp&issuer=Bank",
        ))
        .unwrap();
        assert!(
            uri.expose().starts_with("otpauth://totp/"),
            "{}",
            uri.expose()
        );
        assert!(uri.expose().contains("secret=JBSWY3DPEHPK3PXP"));
        // A bare base32 secret is a TOTP setup.
        assert!(normalise(&SecretString::from("JBSWY3DPEHPK3PXP"))
            .unwrap()
            .expose()
            .starts_with("otpauth://totp/"));
        let e = normalise(&SecretString::from("otpauth://totp/x?secret=!!notbase32!!"))
            .err()
            .unwrap();
        assert!(!e.to_string().contains("notbase32"), "{e}");
        assert_eq!(e.code(), coffer_proto::ErrorCode::InvalidParams);
    }
}
