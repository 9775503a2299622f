//! The `otpauth://` URI (the "Key Uri Format" of Google Authenticator,
//! which every authenticator and password manager reads):
//!
//! ```text
//! otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
//! otpauth://hotp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&counter=0
//! ```
//!
//! Reading is lenient where apps differ (parameter names and values in any
//! case, `+` for a space in values, the label's issuer prefix separated by
//! `:` or `%3A`, unknown parameters such as `image` ignored, Steam as
//! `encoder=steam` or `otpauth://steam/`) and strict where a guess could
//! give wrong codes (an unknown algorithm or encoder, digits outside 6–8, a
//! repeated parameter are errors). Writing is canonical: every parameter
//! explicit, the secret in unpadded upper-case base32, everything but
//! `A–Z a–z 0–9 - . _ ~` percent-encoded.

use zeroize::Zeroizing;

use super::{base32, Algorithm, CodeFormat, OtpError, OtpKind, OtpSpec, DEFAULT_DIGITS};
use crate::secret::SecretString;

/// The parameters `parse_uri` understands (others are ignored).
const KNOWN: [&str; 7] = [
    "secret",
    "issuer",
    "algorithm",
    "digits",
    "period",
    "counter",
    "encoder",
];

/// `s` without `prefix`, compared case-insensitively (ASCII).
pub(super) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// At most 40 characters of a (non-secret) value, for an error message.
pub(super) fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); the
/// result must be UTF-8.
pub(super) fn percent_decode(
    s: &str,
    plus_is_space: bool,
    part: &'static str,
) -> Result<Zeroizing<String>, OtpError> {
    let bytes = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(OtpError::BadEscape(part))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(std::mem::take(&mut *out)).map_err(|e| {
        // Wipe the rejected bytes too.
        let mut bytes = Zeroizing::new(e.into_bytes());
        bytes.clear();
        OtpError::BadEscape(part)
    })?;
    Ok(Zeroizing::new(text))
}

/// Percent-encodes everything but the URI's unreserved characters.
fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Splits the raw label into issuer prefix and account name.
fn split_label(raw: &str) -> Result<(Option<String>, Option<String>), OtpError> {
    let (prefix, account) = match raw.find(':') {
        Some(i) => (Some(&raw[..i]), &raw[i + 1..]),
        None => match raw.find("%3A").or_else(|| raw.find("%3a")) {
            Some(i) => (Some(&raw[..i]), &raw[i + 3..]),
            None => (None, raw),
        },
    };
    let nonempty = |s: Zeroizing<String>| (!s.is_empty()).then(|| s.to_string());
    let issuer = match prefix {
        Some(p) => nonempty(percent_decode(p, false, "label")?),
        None => None,
    };
    let account = nonempty(percent_decode(account, false, "label")?);
    Ok((issuer, account))
}

impl OtpSpec {
    /// Reads an `otpauth://totp/…` or `otpauth://hotp/…` URI.
    pub fn parse_uri(uri: &str) -> Result<OtpSpec, OtpError> {
        let rest = strip_prefix_ci(uri.trim(), "otpauth://").ok_or(OtpError::NotOtpauth)?;
        let rest = rest.split('#').next().unwrap_or(rest);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (ty, raw_label) = path.split_once('/').unwrap_or((path, ""));
        let ty = ty.to_ascii_lowercase();
        if !matches!(ty.as_str(), "totp" | "hotp" | "steam") {
            return Err(OtpError::UnknownType(short(&ty)));
        }
        let (label_issuer, account) = split_label(raw_label)?;

        let mut values: [Option<Zeroizing<String>>; KNOWN.len()] = Default::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = key.to_ascii_lowercase();
            let Some(slot) = KNOWN.iter().position(|k| *k == key) else {
                continue;
            };
            if values[slot].is_some() {
                return Err(OtpError::DuplicateParameter(KNOWN[slot].to_owned()));
            }
            values[slot] = Some(percent_decode(value, true, "query")?);
        }
        let [secret, issuer, algorithm, digits, period, counter, encoder] = values;

        let secret = secret.ok_or(OtpError::MissingSecret)?;
        let secret = base32::decode(&secret).map_err(|e| OtpError::BadSecret(e.describe()))?;
        let algorithm = match algorithm {
            Some(a) => {
                Algorithm::from_name(a.trim()).ok_or_else(|| OtpError::BadAlgorithm(short(&a)))?
            }
            None => Algorithm::Sha1,
        };
        let steam = ty == "steam"
            || match &encoder {
                Some(e) if e.trim().eq_ignore_ascii_case("steam") => true,
                Some(e) => return Err(OtpError::BadEncoder(short(e))),
                None => false,
            };
        let format = if steam {
            // Steam codes are always 5 characters; a `digits` value is ignored.
            CodeFormat::Steam
        } else {
            let digits = match digits {
                Some(d) => d
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|d| (6..=8).contains(d))
                    .ok_or_else(|| OtpError::BadDigits(short(&d)))?,
                None => DEFAULT_DIGITS,
            };
            CodeFormat::Decimal { digits }
        };
        let kind = if ty == "hotp" {
            let c = counter.ok_or(OtpError::MissingCounter)?;
            let counter = c
                .trim()
                .parse::<u64>()
                .map_err(|_| OtpError::BadCounter(short(&c)))?;
            OtpKind::Hotp { counter }
        } else {
            let period = match period {
                Some(p) => p
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| OtpError::BadPeriod(short(&p)))?,
                None => super::DEFAULT_PERIOD,
            };
            OtpKind::Totp { period }
        };
        let issuer = issuer
            .filter(|i| !i.is_empty())
            .map(|i| i.to_string())
            .or(label_issuer);
        Ok(OtpSpec::new(kind, algorithm, format, &secret)?
            .with_label(issuer.as_deref(), account.as_deref()))
    }

    /// The canonical `otpauth://` URI of this setup: what the item's field
    /// stores. It holds the secret, hence a [`SecretString`].
    pub fn to_uri(&self) -> SecretString {
        let secret = base32::encode(&self.secret);
        let mut out = String::with_capacity(96 + secret.len());
        out.push_str(match self.kind {
            OtpKind::Totp { .. } => "otpauth://totp/",
            OtpKind::Hotp { .. } => "otpauth://hotp/",
        });
        match (&self.issuer, &self.account) {
            (Some(issuer), account) => {
                percent_encode(issuer, &mut out);
                out.push(':');
                percent_encode(account.as_deref().unwrap_or(""), &mut out);
            }
            (None, Some(account)) => {
                // An empty issuer prefix keeps a `:` in the account from
                // being read as the separator.
                if account.contains(':') {
                    out.push(':');
                }
                percent_encode(account, &mut out);
            }
            (None, None) => {}
        }
        out.push_str("?secret=");
        out.push_str(&secret);
        if let Some(issuer) = &self.issuer {
            out.push_str("&issuer=");
            percent_encode(issuer, &mut out);
        }
        out.push_str("&algorithm=");
        out.push_str(self.algorithm.name());
        out.push_str(&format!("&digits={}", self.digits()));
        match self.kind {
            OtpKind::Totp { period } => out.push_str(&format!("&period={period}")),
            OtpKind::Hotp { counter } => out.push_str(&format!("&counter={counter}")),
        }
        if self.format == CodeFormat::Steam {
            out.push_str("&encoder=steam");
        }
        SecretString::new(out)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{hotp, totp_at};
    use super::*;

    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn reads_the_usual_uri() {
        let s = OtpSpec::parse_uri(
            "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
        )
        .unwrap();
        assert_eq!(s.kind(), OtpKind::Totp { period: 30 });
        assert_eq!(s.issuer(), Some("ACME Co"));
        assert_eq!(s.account(), Some("john.doe@email.com"));
        assert_eq!(s.digits(), 6);
        assert_eq!(s.secret().len(), 20);
    }

    #[test]
    fn defaults_and_leniency() {
        let s = OtpSpec::parse_uri(&format!(
            "OTPAUTH://TOTP/alice?SECRET={}",
            RFC_SECRET.to_lowercase()
        ))
        .unwrap();
        assert_eq!(
            s,
            OtpSpec::totp(b"12345678901234567890")
                .unwrap()
                .with_label(None, Some("alice"))
        );
        // Issuer only in the label, encoded colon, `+` for space, padding, spaces, unknown params, fragment.
        let s = OtpSpec::parse_uri(
            "otpauth://totp/Big%20Bank%3Abob?secret=GEZD%20GNBV%20GY3T%20QOJQ%20GEZD%20GNBV%20GY3T%20QOJQ%3D&image=x.png&algorithm=sha256#frag",
        )
        .unwrap();
        assert_eq!(s.issuer(), Some("Big Bank"));
        assert_eq!(s.account(), Some("bob"));
        assert_eq!(s.algorithm(), Algorithm::Sha256);
        let s = OtpSpec::parse_uri(&format!(
            "otpauth://totp/x?secret={RFC_SECRET}&issuer=Big+Bank"
        ))
        .unwrap();
        assert_eq!(s.issuer(), Some("Big Bank"));
        // The issuer parameter wins over the label's prefix.
        let s = OtpSpec::parse_uri(&format!(
            "otpauth://totp/Old:bob?secret={RFC_SECRET}&issuer=New"
        ))
        .unwrap();
        assert_eq!((s.issuer(), s.account()), (Some("New"), Some("bob")));
        // No label at all.
        let s = OtpSpec::parse_uri(&format!("otpauth://totp?secret={RFC_SECRET}")).unwrap();
        assert_eq!((s.issuer(), s.account()), (None, None));
    }

    #[test]
    fn hotp_and_steam() {
        let s =
            OtpSpec::parse_uri(&format!("otpauth://hotp/x?secret={RFC_SECRET}&counter=5")).unwrap();
        assert_eq!(s.kind(), OtpKind::Hotp { counter: 5 });
        assert_eq!(hotp(&s, 5).expose(), "254676");
        for uri in [
            format!(
                "otpauth://totp/Steam:me?secret={RFC_SECRET}&digits=5&encoder=steam&issuer=Steam"
            ),
            format!("otpauth://steam/Steam:me?secret={RFC_SECRET}"),
        ] {
            let s = OtpSpec::parse_uri(&uri).unwrap();
            assert_eq!(s.format(), CodeFormat::Steam, "{uri}");
            assert_eq!(totp_at(&s, 59).unwrap().0.expose(), "PV9M4");
        }
    }

    #[test]
    fn bad_uris_name_the_parameter() {
        let cases: Vec<(String, OtpError)> = vec![
            ("https://example.com".into(), OtpError::NotOtpauth),
            (
                "otpauth://motp/x?secret=AAAA".into(),
                OtpError::UnknownType("motp".into()),
            ),
            ("otpauth://totp/x?issuer=A".into(), OtpError::MissingSecret),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&algorithm=MD5"),
                OtpError::BadAlgorithm("MD5".into()),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&digits=10"),
                OtpError::BadDigits("10".into()),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&digits=5"),
                OtpError::BadDigits("5".into()),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&digits=six"),
                OtpError::BadDigits("six".into()),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&period=0"),
                OtpError::BadPeriod("0".into()),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&period=-30"),
                OtpError::BadPeriod("-30".into()),
            ),
            (
                format!("otpauth://hotp/x?secret={RFC_SECRET}"),
                OtpError::MissingCounter,
            ),
            (
                format!("otpauth://hotp/x?secret={RFC_SECRET}&counter=1.5"),
                OtpError::BadCounter("1.5".into()),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&encoder=yandex"),
                OtpError::BadEncoder("yandex".into()),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&secret={RFC_SECRET}"),
                OtpError::DuplicateParameter("secret".into()),
            ),
            (
                format!("otpauth://totp/x%ZZ?secret={RFC_SECRET}"),
                OtpError::BadEscape("label"),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&issuer=%FF"),
                OtpError::BadEscape("query"),
            ),
            (
                format!("otpauth://totp/x?secret={RFC_SECRET}&issuer=%4"),
                OtpError::BadEscape("query"),
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(OtpSpec::parse_uri(&uri).unwrap_err(), want, "{uri}");
        }
        let err = OtpSpec::parse_uri("otpauth://totp/x?secret=ABC1DEFG").unwrap_err();
        assert!(
            matches!(&err, OtpError::BadSecret(m) if m.contains("character 4")),
            "{err}"
        );
        let err = OtpSpec::parse_uri("otpauth://totp/x?secret=").unwrap_err();
        assert!(
            matches!(&err, OtpError::BadSecret(m) if m.contains("empty")),
            "{err}"
        );
    }

    #[test]
    fn errors_never_show_the_secret() {
        let secret = "JBSWY3DPEHPK3PXP";
        for uri in [
            format!("otpauth://totp/x?secret={secret}1"),
            format!("otpauth://totp/x?secret={secret}&digits=9"),
            format!("otpauth://hotp/x?secret={secret}"),
        ] {
            let msg = OtpSpec::parse_uri(&uri).unwrap_err().to_string();
            assert!(!msg.contains(secret), "{msg}");
        }
    }

    #[test]
    fn canonical_form() {
        let s = OtpSpec::totp(b"12345678901234567890")
            .unwrap()
            .with_label(Some("ACME Co"), Some("john@example.com"));
        assert_eq!(
            s.to_uri().expose(),
            "otpauth://totp/ACME%20Co:john%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let h = OtpSpec::hotp(b"12345678901234567890", 7).unwrap();
        assert_eq!(
            h.to_uri().expose(),
            "otpauth://hotp/?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&counter=7"
        );
        let st = OtpSpec::steam(b"12345678901234567890")
            .unwrap()
            .with_label(None, Some("a:b"));
        assert_eq!(
            st.to_uri().expose(),
            "otpauth://totp/:a%3Ab?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=5&period=30&encoder=steam"
        );
        assert_eq!(OtpSpec::parse_uri(st.to_uri().expose()).unwrap(), st);
    }

    fn spec_strategy() -> impl Strategy<Value = OtpSpec> {
        let kind = prop_oneof![
            (1u32..).prop_map(|period| OtpKind::Totp { period }),
            any::<u64>().prop_map(|counter| OtpKind::Hotp { counter }),
        ];
        let format = prop_oneof![
            (6u8..=8).prop_map(|digits| CodeFormat::Decimal { digits }),
            Just(CodeFormat::Steam),
        ];
        let algorithm = prop_oneof![
            Just(Algorithm::Sha1),
            Just(Algorithm::Sha256),
            Just(Algorithm::Sha512)
        ];
        (
            kind,
            algorithm,
            format,
            proptest::collection::vec(any::<u8>(), 1..64),
            proptest::option::of(".{0,12}"),
            proptest::option::of(".{0,12}"),
        )
            .prop_map(|(kind, algorithm, format, secret, issuer, account)| {
                OtpSpec::new(kind, algorithm, format, &secret)
                    .unwrap()
                    .with_label(issuer.as_deref(), account.as_deref())
            })
    }

    proptest! {
        #[test]
        fn uri_round_trips(spec in spec_strategy()) {
            let uri = spec.to_uri();
            let back = OtpSpec::parse_uri(uri.expose()).unwrap();
            prop_assert_eq!(&back, &spec);
            prop_assert_eq!(back.to_uri(), uri);
        }
    }
}
