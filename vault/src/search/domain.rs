//! Hosts and registrable domains, for matching URLs the way a person means
//! them: `github.com` is the same site as `https://gist.github.com/x`, but
//! `example.co.uk` is not `other.co.uk`.
//!
//! The registrable domain (eTLD+1) comes from the Public Suffix List as
//! compiled into the `psl` crate (ICANN and private sections, so
//! `alice.github.io` and `bob.github.io` are different sites). Hosts are
//! compared lowercased, not accent-folded: `bücher.de` and `bucher.de` are
//! different domains. Punycode (`xn--…`) and Unicode spellings of one
//! internationalised name are not unified.

use std::net::{IpAddr, Ipv6Addr};

/// What a URL's host says about the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKey {
    /// An IPv4 or IPv6 address: only the same address matches.
    Ip(IpAddr),
    /// A domain name, and its registrable domain (the name itself for a
    /// single label like `localhost`, or when the list knows no suffix).
    Name {
        /// The full host, lowercased, without a trailing dot.
        host: Box<str>,
        /// The registrable domain (eTLD+1).
        registrable: Box<str>,
    },
}

/// The part of a URL after its scheme (`https://`), if it has one;
/// otherwise the whole trimmed text (people store `github.com/login` too).
pub(crate) fn strip_scheme(url: &str) -> &str {
    let s = url.trim();
    if let Some(i) = s.find("://") {
        let scheme = &s[..i];
        if !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return &s[i + 3..];
        }
    }
    s.strip_prefix("//").unwrap_or(s)
}

/// The text of `url` that search matches words against: without its
/// scheme and without userinfo (`user:password@`), which may hold a secret.
pub(crate) fn url_text(url: &str) -> String {
    let rest = strip_scheme(url);
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => rest[at + 1..].to_owned(),
        None => rest.to_owned(),
    }
}

/// The host of `url` (with or without a scheme), without userinfo, port,
/// path, query or fragment; IPv6 brackets removed.
pub(crate) fn host_of(url: &str) -> Option<&str> {
    let rest = strip_scheme(url);
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split_once(']').map(|(h, _)| h)?
    } else {
        hostport.split(':').next().unwrap_or(hostport)
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// The key of a host: an address, or a name and its registrable domain.
/// `None` for text that cannot be a host (spaces, empty labels ...).
pub(crate) fn host_key(host: &str) -> Option<HostKey> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(HostKey::Ip(ip));
    }
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        return Some(HostKey::Ip(IpAddr::V6(ip)));
    }
    let host = host.to_lowercase();
    let valid = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    });
    if !valid {
        return None;
    }
    let registrable = psl::domain_str(&host).unwrap_or(&host).into();
    Some(HostKey::Name {
        host: host.as_str().into(),
        registrable,
    })
}

/// The key of a query term that looks like a URL or a domain, else
/// `None` (the term is then an ordinary word).
///
/// A term looks like one when it has a scheme (`https://…`), is an IP
/// address (optionally with a port), or is a name with a dot whose suffix
/// the Public Suffix List knows and that has a registrable part
/// (`github.com`, `gist.github.com/x`, `example.co.uk`; not `co.uk`,
/// `v1.2`, `notes.txt`). A term with `@` and no scheme is an e-mail
/// address, so it stays a word (it matches usernames).
pub(crate) fn term_host_key(term: &str) -> Option<HostKey> {
    if term.contains("://") {
        return host_key(host_of(term)?);
    }
    if term.contains('@') {
        return None;
    }
    let host = host_of(term)?;
    if let Some(ip @ HostKey::Ip(_)) = host_key(host) {
        return Some(ip);
    }
    if !host.contains('.') {
        return None;
    }
    let lower = host.to_lowercase();
    let known = psl::suffix(lower.as_bytes()).is_some_and(|s| s.is_known());
    let has_registrable = psl::domain(lower.as_bytes()).is_some();
    if known && has_registrable {
        host_key(&lower)
    } else {
        None
    }
}

/// The registrable domain of a URL or host (`https://gist.github.com/x` →
/// `github.com`), or its address for an IP host; `None` when it has no
/// usable host.
pub fn registrable_domain(url: &str) -> Option<String> {
    match host_key(host_of(url)?)? {
        HostKey::Ip(ip) => Some(ip.to_string()),
        HostKey::Name { registrable, .. } => Some(registrable.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_urls() {
        for (url, host) in [
            ("https://gist.github.com/x", Some("gist.github.com")),
            (
                "https://user:pw@Example.COM:8443/a?b#c",
                Some("Example.COM"),
            ),
            ("http://[2001:db8::1]:8080/", Some("2001:db8::1")),
            ("github.com/login", Some("github.com")),
            ("example.com.", Some("example.com")),
            ("//cdn.example.org/x.js", Some("cdn.example.org")),
            ("ftp://files.example.net", Some("files.example.net")),
            (
                "https://a.example.com?x=https://b.example.org",
                Some("a.example.com"),
            ),
            ("https://", None),
            ("", None),
        ] {
            assert_eq!(host_of(url), host, "{url}");
        }
    }

    #[test]
    fn url_text_drops_scheme_and_userinfo() {
        assert_eq!(url_text("https://u:p@a.example/x@y"), "a.example/x@y");
        assert_eq!(url_text("https://a.example/login"), "a.example/login");
        assert_eq!(url_text("me@a.example"), "a.example");
    }

    #[test]
    fn registrable_domains() {
        for (url, want) in [
            ("https://gist.github.com/x", Some("github.com")),
            ("https://www.bbc.co.uk/news", Some("bbc.co.uk")),
            ("https://alice.github.io/", Some("alice.github.io")),
            ("https://a.b.c.example.com.au", Some("example.com.au")),
            ("http://192.168.1.1:8080/admin", Some("192.168.1.1")),
            ("http://[::1]/", Some("::1")),
            ("http://localhost:3000", Some("localhost")),
            ("https://Bücher.DE/", Some("bücher.de")),
            ("https://a b.com", None),
            ("https://..", None),
        ] {
            assert_eq!(registrable_domain(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn which_terms_are_domains() {
        let registrable = |t: &str| match term_host_key(t) {
            Some(HostKey::Name { registrable, .. }) => Some(registrable.to_string()),
            Some(HostKey::Ip(ip)) => Some(ip.to_string()),
            None => None,
        };
        assert_eq!(registrable("github.com").as_deref(), Some("github.com"));
        assert_eq!(
            registrable("gist.github.com").as_deref(),
            Some("github.com")
        );
        assert_eq!(
            registrable("https://github.com/login").as_deref(),
            Some("github.com")
        );
        assert_eq!(
            registrable("example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(registrable("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(registrable("10.0.0.1:8080").as_deref(), Some("10.0.0.1"));
        assert_eq!(registrable("[fe80::1]").as_deref(), Some("fe80::1"));
        assert_eq!(
            registrable("http://intranet.corp/").as_deref(),
            Some("intranet.corp")
        );
        for word in [
            "github",
            "co.uk",
            "v1.2",
            "notes.txt",
            "john.doe",
            "me@example.com",
            "a..b",
            "",
            "intranet.corp",
        ] {
            assert_eq!(registrable(word), None, "{word}");
        }
    }
}
