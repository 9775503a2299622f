//! One-time-code setups as other password managers export them.
//!
//! | source | field | form |
//! | --- | --- | --- |
//! | KeePassXC (current) | `otp` attribute | `otpauth://` URI |
//! | KeePassXC (legacy), KeeTrayTOTP | `TOTP Seed` + `TOTP Settings` | base32 + `PERIOD;DIGITS` or `PERIOD;S` (Steam) |
//! | KeeOtp plugin (and KeePassXC reading it) | `otp` attribute | `key=BASE32&size=6&step=30[&otpHashMode=Sha256][&type=Hotp&counter=N]` |
//! | Bitwarden | `login.totp` | `otpauth://` URI, a bare base32 secret, or `steam://BASE32` |
//! | 1Password CSV/1PUX | one-time password column/field | `otpauth://` URI |
//! | anything else | | a bare base32 secret: TOTP, SHA-1, 6 digits, 30 s |

use super::uri::{percent_decode, short, strip_prefix_ci};
use super::{base32, Algorithm, CodeFormat, OtpError, OtpKind, OtpSpec, DEFAULT_DIGITS};

fn decode_secret(s: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, OtpError> {
    base32::decode(s).map_err(|e| OtpError::BadSecret(e.describe()))
}

/// True when `s` is `&`-separated `name=value` pairs with a `key` pair.
fn is_keeotp(s: &str) -> bool {
    s.split('&').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("key"))
    })
}

fn parse_keeotp(s: &str) -> Result<OtpSpec, OtpError> {
    let mut secret = None;
    let mut digits = DEFAULT_DIGITS;
    let mut period = super::DEFAULT_PERIOD;
    let mut algorithm = Algorithm::Sha1;
    let mut hotp = false;
    let mut counter: Option<u64> = None;
    for pair in s.split('&').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = k.trim().to_ascii_lowercase();
        let v = percent_decode(v.trim(), true, "KeeOtp settings")?;
        match k.as_str() {
            "key" => {
                if secret.is_some() {
                    return Err(OtpError::DuplicateParameter("key".to_owned()));
                }
                secret = Some(decode_secret(&v)?);
            }
            "size" => {
                digits = v
                    .parse::<u8>()
                    .ok()
                    .filter(|d| (6..=8).contains(d))
                    .ok_or_else(|| OtpError::BadDigits(short(&v)))?;
            }
            "step" => {
                period = v
                    .parse::<u32>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| OtpError::BadPeriod(short(&v)))?;
            }
            "otphashmode" => {
                algorithm =
                    Algorithm::from_name(&v).ok_or_else(|| OtpError::BadAlgorithm(short(&v)))?;
            }
            "type" => match v.to_ascii_lowercase().as_str() {
                "totp" => hotp = false,
                "hotp" => hotp = true,
                _ => return Err(OtpError::UnknownType(short(&v))),
            },
            "counter" => {
                counter = Some(v.parse().map_err(|_| OtpError::BadCounter(short(&v)))?);
            }
            _ => {}
        }
    }
    let secret = secret.ok_or(OtpError::MissingSecret)?;
    let kind = if hotp {
        OtpKind::Hotp {
            counter: counter.ok_or(OtpError::MissingCounter)?,
        }
    } else {
        OtpKind::Totp { period }
    };
    OtpSpec::new(kind, algorithm, CodeFormat::Decimal { digits }, &secret)
}

impl OtpSpec {
    /// Reads a one-time-code setup in any form another manager exports
    /// (see the table in this file's docs): an `otpauth://` URI,
    /// `steam://SECRET`, KeeOtp settings, or a bare base32 secret.
    pub fn from_import(value: &str) -> Result<OtpSpec, OtpError> {
        let v = value.trim();
        if v.is_empty() {
            return Err(OtpError::Unrecognised("it is empty".to_owned()));
        }
        if strip_prefix_ci(v, "otpauth://").is_some() {
            return OtpSpec::parse_uri(v);
        }
        if let Some(rest) = strip_prefix_ci(v, "steam://") {
            return OtpSpec::steam(&decode_secret(rest)?);
        }
        if is_keeotp(v) {
            return parse_keeotp(v);
        }
        match base32::decode(v) {
            Ok(secret) => OtpSpec::totp(&secret),
            Err(e) => Err(OtpError::Unrecognised(format!(
                "as a base32 secret {}",
                e.describe()
            ))),
        }
    }

    /// Reads KeePassXC's legacy pair of attributes: `TOTP Seed` (base32,
    /// or any form [`from_import`](Self::from_import) takes) and the
    /// optional `TOTP Settings`, `PERIOD;DIGITS` (`30;6`) or `PERIOD;S` for
    /// Steam.
    pub fn from_totp_seed(seed: &str, settings: Option<&str>) -> Result<OtpSpec, OtpError> {
        let seed = seed.trim();
        if strip_prefix_ci(seed, "otpauth://").is_some()
            || strip_prefix_ci(seed, "steam://").is_some()
            || is_keeotp(seed)
        {
            // Newer exports put a full setup in the seed; it says everything.
            return OtpSpec::from_import(seed);
        }
        let secret = decode_secret(seed)?;
        let Some(settings) = settings.map(str::trim).filter(|s| !s.is_empty()) else {
            return OtpSpec::totp(&secret);
        };
        let bad = || OtpError::BadSettings(short(settings));
        let (period, digits) = settings.split_once(';').ok_or_else(bad)?;
        let period = period
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(bad)?;
        let digits = digits.trim();
        let format = if digits.eq_ignore_ascii_case("s") {
            CodeFormat::Steam
        } else {
            let d = digits.parse::<u8>().map_err(|_| bad())?;
            if !(6..=8).contains(&d) {
                return Err(OtpError::BadDigits(d.to_string()));
            }
            CodeFormat::Decimal { digits: d }
        };
        OtpSpec::new(OtpKind::Totp { period }, Algorithm::Sha1, format, &secret)
    }
}

#[cfg(test)]
mod tests {
    use super::super::totp_at;
    use super::*;

    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    const RFC_BYTES: &[u8] = b"12345678901234567890";

    fn code_at_59(spec: &OtpSpec) -> String {
        totp_at(spec, 59).unwrap().0.expose().to_owned()
    }

    #[test]
    fn bare_secrets() {
        for v in [
            RFC_SECRET,
            "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
            "  GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====\n",
        ] {
            assert_eq!(
                OtpSpec::from_import(v).unwrap(),
                OtpSpec::totp(RFC_BYTES).unwrap(),
                "{v:?}"
            );
        }
    }

    #[test]
    fn uris_bitwarden_and_1password() {
        let uri = format!("otpauth://totp/GitHub:me?secret={RFC_SECRET}&issuer=GitHub");
        let s = OtpSpec::from_import(&uri).unwrap();
        assert_eq!(s.issuer(), Some("GitHub"));
        assert_eq!(code_at_59(&s), "287082");
        // Bitwarden's Steam form.
        let s = OtpSpec::from_import(&format!("steam://{RFC_SECRET}")).unwrap();
        assert_eq!(s.format(), CodeFormat::Steam);
        assert_eq!(code_at_59(&s), "PV9M4");
        // A URI's own errors come through.
        assert_eq!(
            OtpSpec::from_import(&format!("otpauth://totp/x?secret={RFC_SECRET}&digits=4"))
                .unwrap_err(),
            OtpError::BadDigits("4".to_owned())
        );
    }

    #[test]
    fn keeotp_settings() {
        let s = OtpSpec::from_import(&format!("key={RFC_SECRET}&size=8&step=30")).unwrap();
        assert_eq!(s.digits(), 8);
        assert_eq!(code_at_59(&s), "94287082");
        let s = OtpSpec::from_import(&format!(
            "key={RFC_SECRET}&size=6&step=60&otpHashMode=Sha256"
        ))
        .unwrap();
        assert_eq!(s.algorithm(), Algorithm::Sha256);
        assert_eq!(s.kind(), OtpKind::Totp { period: 60 });
        let s = OtpSpec::from_import(&format!("key={RFC_SECRET}&type=Hotp&counter=9")).unwrap();
        assert_eq!(s.kind(), OtpKind::Hotp { counter: 9 });
        assert_eq!(
            OtpSpec::from_import(&format!("key={RFC_SECRET}&size=12")).unwrap_err(),
            OtpError::BadDigits("12".to_owned())
        );
        assert_eq!(
            OtpSpec::from_import(&format!("key={RFC_SECRET}&step=0")).unwrap_err(),
            OtpError::BadPeriod("0".to_owned())
        );
        assert_eq!(
            OtpSpec::from_import(&format!("key={RFC_SECRET}&otpHashMode=Md5")).unwrap_err(),
            OtpError::BadAlgorithm("Md5".to_owned())
        );
        assert_eq!(
            OtpSpec::from_import(&format!("key={RFC_SECRET}&type=Hotp")).unwrap_err(),
            OtpError::MissingCounter
        );
        assert!(matches!(
            OtpSpec::from_import("key=ABC!&size=6").unwrap_err(),
            OtpError::BadSecret(_)
        ));
    }

    #[test]
    fn keepassxc_legacy_pair() {
        let s = OtpSpec::from_totp_seed(RFC_SECRET, Some("30;6")).unwrap();
        assert_eq!(s, OtpSpec::totp(RFC_BYTES).unwrap());
        let s = OtpSpec::from_totp_seed(RFC_SECRET, None).unwrap();
        assert_eq!(s, OtpSpec::totp(RFC_BYTES).unwrap());
        let s = OtpSpec::from_totp_seed(RFC_SECRET, Some("60;8")).unwrap();
        assert_eq!((s.kind(), s.digits()), (OtpKind::Totp { period: 60 }, 8));
        let s = OtpSpec::from_totp_seed(RFC_SECRET, Some("30;S")).unwrap();
        assert_eq!(code_at_59(&s), "PV9M4");
        let s = OtpSpec::from_totp_seed(&format!("key={RFC_SECRET}&size=7"), Some("30;6")).unwrap();
        assert_eq!(s.digits(), 7);
        for bad in ["30", "30;", "x;6", "0;6", "30;six", "30;6;1"] {
            assert!(
                matches!(
                    OtpSpec::from_totp_seed(RFC_SECRET, Some(bad)).unwrap_err(),
                    OtpError::BadSettings(_)
                ),
                "{bad}"
            );
        }
        assert_eq!(
            OtpSpec::from_totp_seed(RFC_SECRET, Some("30;9")).unwrap_err(),
            OtpError::BadDigits("9".to_owned())
        );
        assert!(matches!(
            OtpSpec::from_totp_seed("not base32!", None).unwrap_err(),
            OtpError::BadSecret(_)
        ));
    }

    #[test]
    fn unrecognised_values_say_what_was_tried() {
        let err = OtpSpec::from_import("pass-word").unwrap_err();
        assert!(
            matches!(&err, OtpError::Unrecognised(m) if m.contains("character 5")),
            "{err}"
        );
        assert!(!err.to_string().contains("pass"));
        assert!(matches!(
            OtpSpec::from_import("   ").unwrap_err(),
            OtpError::Unrecognised(_)
        ));
    }
}
