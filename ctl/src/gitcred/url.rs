//! URLs as git splits them: scheme, user and password, host with port,
//! path; percent-decoding, and a form safe to show in errors.

use zeroize::Zeroizing;

use super::CredentialError;

/// The parts of a URL, as git splits it.
#[derive(Default, PartialEq, Eq)]
pub(super) struct UrlParts {
    pub(super) protocol: Option<String>,
    pub(super) host: Option<String>,
    pub(super) path: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<Zeroizing<String>>,
}

/// Splits `scheme://[user[:password]@]host[:port][/path]` as git does:
/// the host ends at the first `/`, `?` or `#`; user, password, host and
/// path are percent-decoded; the path loses its leading and trailing
/// slashes. `lenient` accepts a URL without a scheme (an item's URL field).
pub(super) fn split_url(url: &str, lenient: bool) -> Result<UrlParts, CredentialError> {
    let bad = |why| CredentialError::BadUrl {
        url: redact_url(url),
        why,
    };
    let (protocol, rest) = match url.find("://") {
        Some(0) | None if !lenient => return Err(bad("has no scheme (like https://)")),
        Some(0) => (None, &url[3..]),
        Some(i) => (Some(url[..i].to_string()), &url[i + 3..]),
        None => (None, url),
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(host_end);
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let mut parts = UrlParts {
        protocol,
        ..UrlParts::default()
    };
    if let Some(info) = userinfo {
        match info.split_once(':') {
            Some((user, pass)) => {
                parts.username =
                    Some(percent_decode(user).ok_or_else(|| bad("username is not UTF-8"))?);
                parts.password = Some(Zeroizing::new(
                    percent_decode(pass).ok_or_else(|| bad("password is not UTF-8"))?,
                ));
            }
            None => {
                parts.username =
                    Some(percent_decode(info).ok_or_else(|| bad("username is not UTF-8"))?)
            }
        }
    }
    if !(lenient && host.is_empty()) {
        parts.host = Some(percent_decode(host).ok_or_else(|| bad("host is not UTF-8"))?);
    }
    let path = path.trim_start_matches('/');
    if !path.is_empty() {
        let decoded = percent_decode(path).ok_or_else(|| bad("path is not UTF-8"))?;
        let trimmed = decoded.trim_end_matches('/');
        // A path of slashes only is "/" after trimming the front ones.
        parts.path = Some(if trimmed.is_empty() {
            decoded.clone()
        } else {
            trimmed.to_string()
        });
    }
    let has_newline = |s: &Option<String>| s.as_deref().is_some_and(|v| v.contains('\n'));
    if has_newline(&parts.protocol)
        || has_newline(&parts.host)
        || has_newline(&parts.path)
        || has_newline(&parts.username)
        || parts.password.as_ref().is_some_and(|p| p.contains('\n'))
    {
        return Err(bad("contains a newline"));
    }
    Ok(parts)
}

/// `url` with any `user:password@` password replaced, for error messages.
fn redact_url(url: &str) -> String {
    let start = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..start], &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Percent-decodes `s`; a `%` not followed by two hex digits stays as it
/// is (as git does). `None` when the bytes are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}
