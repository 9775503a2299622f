//! One-time codes: TOTP (RFC 6238) and HOTP (RFC 4226) from an item's
//! `otpauth://` URI, plus Steam Guard codes.
//!
//! An item keeps its one-time-code setup as one field holding the canonical
//! URI of an [`OtpSpec`] ([`OtpSpec::to_uri`]). The daemon reads it back
//! with [`OtpSpec::parse_uri`], computes [`totp_at`] for `coffer totp`, and
//! for HOTP stores [`OtpSpec::with_counter`]`(n + 1)` after handing out the
//! code for counter `n` ([`OtpSpec::next_hotp`] does both), so the counter
//! syncs like any other field.
//!
//! Imports go through [`OtpSpec::from_import`], which takes every form
//! other managers export (an `otpauth://` URI, a bare base32 secret,
//! `steam://SECRET`, KeeOtp's `key=…&step=…&size=…`), and
//! [`OtpSpec::from_totp_seed`] for KeePassXC's legacy `TOTP Seed` +
//! `TOTP Settings` pair.
//!
//! The secret is held in zeroizing memory, redacted from `Debug`, never
//! part of an error message; codes are returned as [`SecretString`]s.
//! (The `hmac` crate's internal key state is not zeroized; it lives only
//! for the duration of one code.)

mod base32;
mod import;
mod uri;

use std::fmt;

use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use crate::secret::SecretString;

/// Default TOTP period in seconds.
pub const DEFAULT_PERIOD: u32 = 30;
/// Default number of digits.
pub const DEFAULT_DIGITS: u8 = 6;
/// Steam Guard's alphabet (26 characters, no look-alikes).
pub const STEAM_ALPHABET: &[u8; 26] = b"23456789BCDFGHJKMNPQRTVWXY";
/// Length of a Steam Guard code.
pub const STEAM_DIGITS: u8 = 5;

/// The HMAC hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1 (the default, and what almost every site uses).
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name in `otpauth://` URIs.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Reads `SHA1`, `SHA256`, `SHA512` in any case, with or without a
    /// hyphen (`sha-256`).
    pub fn from_name(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// Time-based or counter-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OtpKind {
    /// RFC 6238: the counter is the Unix time divided by `period` seconds.
    Totp {
        /// Seconds per code, at least 1.
        period: u32,
    },
    /// RFC 4226: the counter is stored and moves on after each code.
    Hotp {
        /// The counter the next code uses.
        counter: u64,
    },
}

/// How the truncated HMAC value is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeFormat {
    /// `digits` decimal digits, zero-padded (6 to 8).
    Decimal {
        /// How many digits.
        digits: u8,
    },
    /// Steam Guard: 5 characters from [`STEAM_ALPHABET`].
    Steam,
}

/// Why a one-time-code setup was refused. Messages name the parameter
/// that is wrong and never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OtpError {
    /// The text is not an `otpauth://` URI.
    #[error("not an otpauth:// URI (expected otpauth://totp/LABEL?secret=…)")]
    NotOtpauth,
    /// The type after `otpauth://` is neither `totp` nor `hotp`.
    #[error("unknown one-time-code type `{0}`: use otpauth://totp/… or otpauth://hotp/…")]
    UnknownType(String),
    /// No `secret` parameter.
    #[error("the `secret` parameter is missing")]
    MissingSecret,
    /// The secret is not valid base32, or is empty.
    #[error("the secret is not valid: {0}")]
    BadSecret(String),
    /// The `algorithm` parameter is unknown.
    #[error("unknown `algorithm` {0:?}: use SHA1, SHA256 or SHA512")]
    BadAlgorithm(String),
    /// The `digits` parameter is not 6, 7 or 8.
    #[error("`digits` {0:?} is not supported: use 6, 7 or 8")]
    BadDigits(String),
    /// The `period` parameter is not a positive whole number of seconds.
    #[error("`period` {0:?} is not a positive whole number of seconds")]
    BadPeriod(String),
    /// The `counter` parameter is not a whole number.
    #[error("`counter` {0:?} is not a whole number from 0 to 18446744073709551615")]
    BadCounter(String),
    /// An HOTP URI without its `counter`.
    #[error("an otpauth://hotp URI needs its `counter` parameter")]
    MissingCounter,
    /// The `encoder` parameter is unknown.
    #[error("unknown `encoder` {0:?}: only `steam` is supported")]
    BadEncoder(String),
    /// A parameter appears twice.
    #[error("the `{0}` parameter is given twice")]
    DuplicateParameter(String),
    /// A part of the URI has a bad `%` escape or is not UTF-8.
    #[error("the {0} has a bad percent-escape or is not UTF-8")]
    BadEscape(&'static str),
    /// KeePassXC's `TOTP Settings` is not `STEP;DIGITS` or `STEP;S`.
    #[error("TOTP Settings {0:?} is not `PERIOD;DIGITS` or `PERIOD;S` (e.g. `30;6`)")]
    BadSettings(String),
    /// An imported value is none of the known forms.
    #[error("not a one-time-code setup: expected an otpauth:// URI, steam://SECRET, KeeOtp `key=…` settings or a base32 secret, but {0}")]
    Unrecognised(String),
    /// A TOTP operation on an HOTP setup.
    #[error("this is a counter-based (HOTP) setup, not a time-based one")]
    NotTotp,
    /// An HOTP operation on a TOTP setup.
    #[error("this is a time-based (TOTP) setup, not a counter-based one")]
    NotHotp,
    /// The HOTP counter cannot move on.
    #[error("the HOTP counter is at its maximum; set the item up again")]
    CounterExhausted,
}

/// A one-time-code setup: the secret and how codes are made from it.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpSpec {
    kind: OtpKind,
    algorithm: Algorithm,
    format: CodeFormat,
    secret: Zeroizing<Vec<u8>>,
    issuer: Option<String>,
    account: Option<String>,
}

impl fmt::Debug for OtpSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpSpec")
            .field("kind", &self.kind)
            .field("algorithm", &self.algorithm)
            .field("format", &self.format)
            .field("secret", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .finish()
    }
}

impl OtpSpec {
    /// A TOTP setup with the usual parameters (SHA-1, 6 digits, 30 s).
    pub fn totp(secret: &[u8]) -> Result<OtpSpec, OtpError> {
        OtpSpec::new(
            OtpKind::Totp {
                period: DEFAULT_PERIOD,
            },
            Algorithm::Sha1,
            CodeFormat::Decimal {
                digits: DEFAULT_DIGITS,
            },
            secret,
        )
    }

    /// An HOTP setup (SHA-1, 6 digits) whose next code uses `counter`.
    pub fn hotp(secret: &[u8], counter: u64) -> Result<OtpSpec, OtpError> {
        OtpSpec::new(
            OtpKind::Hotp { counter },
            Algorithm::Sha1,
            CodeFormat::Decimal {
                digits: DEFAULT_DIGITS,
            },
            secret,
        )
    }

    /// A Steam Guard setup (SHA-1, 30 s, 5 characters).
    pub fn steam(secret: &[u8]) -> Result<OtpSpec, OtpError> {
        OtpSpec::new(
            OtpKind::Totp {
                period: DEFAULT_PERIOD,
            },
            Algorithm::Sha1,
            CodeFormat::Steam,
            secret,
        )
    }

    /// A setup from its parts, checked: a non-empty secret, a period of at
    /// least one second, 6 to 8 digits.
    pub fn new(
        kind: OtpKind,
        algorithm: Algorithm,
        format: CodeFormat,
        secret: &[u8],
    ) -> Result<OtpSpec, OtpError> {
        if secret.is_empty() {
            return Err(OtpError::BadSecret("it is empty".to_owned()));
        }
        if let OtpKind::Totp { period: 0 } = kind {
            return Err(OtpError::BadPeriod("0".to_owned()));
        }
        if let CodeFormat::Decimal { digits } = format {
            if !(6..=8).contains(&digits) {
                return Err(OtpError::BadDigits(digits.to_string()));
            }
        }
        Ok(OtpSpec {
            kind,
            algorithm,
            format,
            secret: Zeroizing::new(secret.to_vec()),
            issuer: None,
            account: None,
        })
    }

    /// The same setup labelled with an issuer (the site) and an account
    /// name; empty strings count as absent.
    pub fn with_label(mut self, issuer: Option<&str>, account: Option<&str>) -> OtpSpec {
        self.issuer = issuer.filter(|s| !s.is_empty()).map(str::to_owned);
        self.account = account.filter(|s| !s.is_empty()).map(str::to_owned);
        self
    }

    /// The same HOTP setup with its counter set to `counter`.
    pub fn with_counter(&self, counter: u64) -> Result<OtpSpec, OtpError> {
        match self.kind {
            OtpKind::Hotp { .. } => {
                let mut next = self.clone();
                next.kind = OtpKind::Hotp { counter };
                Ok(next)
            }
            OtpKind::Totp { .. } => Err(OtpError::NotHotp),
        }
    }

    /// Time-based or counter-based, with the period or counter.
    pub fn kind(&self) -> OtpKind {
        self.kind
    }

    /// The HMAC hash.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// How codes are shown.
    pub fn format(&self) -> CodeFormat {
        self.format
    }

    /// Length of a code in characters.
    pub fn digits(&self) -> u8 {
        match self.format {
            CodeFormat::Decimal { digits } => digits,
            CodeFormat::Steam => STEAM_DIGITS,
        }
    }

    /// The issuer (site), if known.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The account name, if known.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The raw secret. Keep the borrow short and never log it.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The HOTP code for the stored counter and the same setup with the
    /// counter moved on by one: the daemon stores the second before it
    /// shows the first.
    pub fn next_hotp(&self) -> Result<(SecretString, OtpSpec), OtpError> {
        match self.kind {
            OtpKind::Hotp { counter } => {
                let next = counter.checked_add(1).ok_or(OtpError::CounterExhausted)?;
                Ok((hotp(self, counter), self.with_counter(next)?))
            }
            OtpKind::Totp { .. } => Err(OtpError::NotHotp),
        }
    }
}

/// The RFC 4226 dynamic truncation of HMAC(secret, counter): 31 bits.
fn truncated(spec: &OtpSpec, counter: u64) -> u32 {
    fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Zeroizing<Vec<u8>> {
        // HMAC takes keys of any length (long ones are hashed), so this
        // cannot fail.
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC accepts keys of any length");
        m.update(msg);
        Zeroizing::new(m.finalize().into_bytes().to_vec())
    }
    let msg = counter.to_be_bytes();
    let digest = match spec.algorithm {
        Algorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(&spec.secret, &msg),
        Algorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(&spec.secret, &msg),
        Algorithm::Sha512 => mac::<Hmac<sha2::Sha512>>(&spec.secret, &msg),
    };
    // The last byte's low nibble picks 4 bytes; digests are 20+ bytes, so
    // offset + 3 <= 18 is always in range.
    let offset = (digest[digest.len() - 1] & 0x0f) as usize;
    let word = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    word & 0x7fff_ffff
}

/// The code for `counter` (RFC 4226), in the setup's format. For a TOTP
/// setup this is the code of time step `counter`.
pub fn hotp(spec: &OtpSpec, counter: u64) -> SecretString {
    let mut value = Zeroizing::new(truncated(spec, counter));
    let mut out = String::with_capacity(spec.digits() as usize);
    match spec.format {
        CodeFormat::Decimal { digits } => {
            *value %= 10u32.pow(digits as u32);
            // Written digit by digit (no temporary string to leave behind).
            let mut buf = Zeroizing::new([b'0'; 8]);
            for slot in buf[..digits as usize].iter_mut().rev() {
                *slot = b'0' + (*value % 10) as u8;
                *value /= 10;
            }
            out.extend(buf[..digits as usize].iter().map(|&b| b as char));
        }
        CodeFormat::Steam => {
            for _ in 0..STEAM_DIGITS {
                out.push(STEAM_ALPHABET[(*value % 26) as usize] as char);
                *value /= 26;
            }
        }
    }
    SecretString::new(out)
}

/// The TOTP code at `unix_secs` (RFC 6238, T0 = 0) and how many seconds it
/// stays valid (1 to the period).
pub fn totp_at(spec: &OtpSpec, unix_secs: u64) -> Result<(SecretString, u64), OtpError> {
    match spec.kind {
        OtpKind::Totp { period } => {
            let period = u64::from(period);
            let code = hotp(spec, unix_secs / period);
            Ok((code, period - unix_secs % period))
        }
        OtpKind::Hotp { .. } => Err(OtpError::NotTotp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    #[test]
    fn rfc4226_appendix_d() {
        let spec = OtpSpec::hotp(SEED20, 0).unwrap();
        let truncs = [
            0x4c93cf18u32,
            0x41397eea,
            0x082fef30,
            0x66ef7655,
            0x61c5938a,
            0x33c083d4,
            0x7256c032,
            0x04e5b397,
            0x2823443f,
            0x2679dc69,
        ];
        let codes = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (c, (t, code)) in truncs.iter().zip(codes).enumerate() {
            assert_eq!(truncated(&spec, c as u64), *t, "counter {c}");
            assert_eq!(hotp(&spec, c as u64).expose(), code, "counter {c}");
        }
    }

    #[test]
    fn rfc6238_appendix_b() {
        let rows: [(u64, [&str; 3]); 6] = [
            (59, ["94287082", "46119246", "90693936"]),
            (1111111109, ["07081804", "68084774", "25091201"]),
            (1111111111, ["14050471", "67062674", "99943326"]),
            (1234567890, ["89005924", "91819424", "93441116"]),
            (2000000000, ["69279037", "90698825", "38618901"]),
            (20000000000, ["65353130", "77737706", "47863826"]),
        ];
        let specs = [
            (Algorithm::Sha1, SEED20),
            (Algorithm::Sha256, SEED32),
            (Algorithm::Sha512, SEED64),
        ]
        .map(|(alg, seed)| {
            OtpSpec::new(
                OtpKind::Totp { period: 30 },
                alg,
                CodeFormat::Decimal { digits: 8 },
                seed,
            )
            .unwrap()
        });
        for (time, want) in rows {
            for (spec, want) in specs.iter().zip(want) {
                let (code, left) = totp_at(spec, time).unwrap();
                assert_eq!(code.expose(), want, "{:?} at {time}", spec.algorithm());
                assert_eq!(left, 30 - time % 30);
            }
        }
    }

    #[test]
    fn seconds_left_and_periods() {
        let spec = OtpSpec::totp(SEED20).unwrap();
        assert_eq!(totp_at(&spec, 0).unwrap().1, 30);
        assert_eq!(totp_at(&spec, 29).unwrap().1, 1);
        assert_eq!(totp_at(&spec, 30).unwrap().1, 30);
        // The same code throughout a period, another in the next.
        assert_eq!(totp_at(&spec, 60).unwrap().0, totp_at(&spec, 89).unwrap().0);
        // RFC 6238 time 59 is step 1: the 6-digit code is RFC 4226's counter 1.
        assert_eq!(totp_at(&spec, 59).unwrap().0.expose(), "287082");
        let long = OtpSpec::new(
            OtpKind::Totp { period: 60 },
            Algorithm::Sha1,
            CodeFormat::Decimal { digits: 6 },
            SEED20,
        )
        .unwrap();
        assert_eq!(totp_at(&long, 119).unwrap(), (hotp(&long, 1), 1));
    }

    #[test]
    fn seven_digits_truncate_the_same_value() {
        let spec = OtpSpec::new(
            OtpKind::Hotp { counter: 0 },
            Algorithm::Sha1,
            CodeFormat::Decimal { digits: 7 },
            SEED20,
        )
        .unwrap();
        // 0x4c93cf18 = 1284755224.
        assert_eq!(hotp(&spec, 0).expose(), "4755224");
    }

    #[test]
    fn steam_codes() {
        // Computed independently (Python's hmac) with Steam's algorithm:
        // the 31-bit value's base-26 digits, least significant first.
        let spec = OtpSpec::steam(SEED20).unwrap();
        assert_eq!(spec.digits(), 5);
        assert_eq!(totp_at(&spec, 59).unwrap().0.expose(), "PV9M4");
        assert_eq!(totp_at(&spec, 1111111109).unwrap().0.expose(), "PY4YB");
        assert_eq!(totp_at(&spec, 1234567890).unwrap().0.expose(), "VHHQY");
    }

    #[test]
    fn hotp_counter_moves_on() {
        let spec = OtpSpec::hotp(SEED20, 3).unwrap();
        let (code, next) = spec.next_hotp().unwrap();
        assert_eq!(code.expose(), "969429");
        assert_eq!(next.kind(), OtpKind::Hotp { counter: 4 });
        assert_eq!(next.next_hotp().unwrap().0.expose(), "338314");
        assert_eq!(
            spec.with_counter(u64::MAX)
                .unwrap()
                .next_hotp()
                .unwrap_err(),
            OtpError::CounterExhausted
        );
        let totp = OtpSpec::totp(SEED20).unwrap();
        assert_eq!(totp.with_counter(1).unwrap_err(), OtpError::NotHotp);
        assert_eq!(totp.next_hotp().unwrap_err(), OtpError::NotHotp);
        assert_eq!(totp_at(&spec, 0).unwrap_err(), OtpError::NotTotp);
    }

    #[test]
    fn construction_is_checked() {
        assert!(matches!(OtpSpec::totp(b""), Err(OtpError::BadSecret(_))));
        let bad = |kind, format| OtpSpec::new(kind, Algorithm::Sha1, format, SEED20);
        assert_eq!(
            bad(
                OtpKind::Totp { period: 0 },
                CodeFormat::Decimal { digits: 6 }
            )
            .unwrap_err(),
            OtpError::BadPeriod("0".to_owned())
        );
        for digits in [0, 5, 9, 10] {
            assert_eq!(
                bad(OtpKind::Totp { period: 30 }, CodeFormat::Decimal { digits }).unwrap_err(),
                OtpError::BadDigits(digits.to_string())
            );
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let spec = OtpSpec::totp(b"supersecretbytes").unwrap();
        let dbg = format!("{spec:?}");
        assert!(dbg.contains("[redacted]"));
        assert!(!dbg.contains("115"), "{dbg}"); // no byte values
        assert!(!dbg.contains("supersecret"));
    }

    #[test]
    fn algorithm_names() {
        for a in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
            assert_eq!(Algorithm::from_name(&a.name().to_lowercase()), Some(a));
        }
        assert_eq!(Algorithm::from_name("sha-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::from_name("MD5"), None);
    }
}
