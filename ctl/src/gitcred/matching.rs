//! Which item answers a request: candidates described by their URL field
//! and username, compared with the request's protocol, host, path and
//! username (see the parent module for the rule).

use super::url::split_url;
use super::Request;

/// One item that could answer: its URL field and username.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The item's URL field, e.g. `https://github.com/org/repo.git` or
    /// `github.com`.
    pub url: &'a str,
    /// The item's username field; when empty, a username in the URL
    /// (`https://alice@host/`) is used.
    pub username: Option<&'a str>,
    /// When the item last changed (any monotonic unit, larger is newer).
    pub changed: Option<i64>,
}

/// Where a credential is for, normalised for comparison.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    protocol: String,
    host: String,
    path: Option<String>,
    username: Option<String>,
}

fn default_port(protocol: &str) -> Option<&'static str> {
    match protocol {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    }
}

/// Lower-cases the host and drops the protocol's default port.
fn normal_host(protocol: &str, host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match (host.rsplit_once(':'), default_port(protocol)) {
        (Some((name, port)), Some(default)) if port == default => name.to_string(),
        _ => host,
    }
}

/// A path without a trailing `/` or `.git`, for comparison.
fn normal_path(path: &str) -> &str {
    let p = path.trim_matches('/');
    p.strip_suffix(".git").unwrap_or(p)
}

pub(super) fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|v| !v.is_empty())
}

impl Target {
    fn of_request(req: &Request) -> Option<Target> {
        let protocol = req.protocol.as_deref()?.to_ascii_lowercase();
        let host = normal_host(&protocol, req.host.as_deref().unwrap_or(""));
        Some(Target {
            host,
            path: non_empty(req.path.as_deref()).map(|p| normal_path(p).to_string()),
            username: non_empty(req.username.as_deref()).map(str::to_string),
            protocol,
        })
    }

    fn of_candidate(c: &Candidate<'_>) -> Option<Target> {
        let parts = split_url(c.url.trim(), true).ok()?;
        let protocol = parts
            .protocol
            .map(|p| p.to_ascii_lowercase())
            .unwrap_or_else(|| "https".to_string());
        let host = normal_host(&protocol, parts.host.as_deref().unwrap_or(""));
        Some(Target {
            host,
            path: non_empty(parts.path.as_deref()).map(|p| normal_path(p).to_string()),
            username: non_empty(c.username)
                .or(non_empty(parts.username.as_deref()))
                .map(str::to_string),
            protocol,
        })
    }
}

/// How well a candidate's path fits the request's: `None` no match,
/// higher is better.
fn path_score(want: Option<&str>, have: Option<&str>) -> Option<usize> {
    match (want, have) {
        // git sent no path: the item's path does not matter.
        (None, _) => Some(0),
        (Some(_), None) => Some(0),
        (Some(w), Some(h)) if w == h => Some(usize::MAX),
        (Some(w), Some(h)) if w.starts_with(h) && w.as_bytes().get(h.len()) == Some(&b'/') => {
            Some(h.len() + 1)
        }
        _ => None,
    }
}

/// The candidates that can answer `req`, best first (see the module docs
/// for the rule); indices into `candidates`. Empty when git sent no
/// protocol (git always does).
pub fn rank(req: &Request, candidates: &[Candidate<'_>]) -> Vec<usize> {
    let Some(want) = Target::of_request(req) else {
        return Vec::new();
    };
    let mut hits: Vec<(usize, usize, Option<i64>)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let have = Target::of_candidate(c)?;
            if have.protocol != want.protocol || have.host != want.host {
                return None;
            }
            if let Some(user) = &want.username {
                if have.username.as_ref() != Some(user) {
                    return None;
                }
            }
            let score = path_score(want.path.as_deref(), have.path.as_deref())?;
            Some((i, score, c.changed))
        })
        .collect();
    // Best path first, then newest (unknown times last), then input order.
    hits.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    hits.into_iter().map(|(i, _, _)| i).collect()
}

/// The candidates for exactly this protocol, host, path (when git sent
/// one) and username, best first (as [`rank`]): `store` updates the first
/// instead of adding an item (more than one are duplicates).
pub fn exact_matches(req: &Request, candidates: &[Candidate<'_>]) -> Vec<usize> {
    let Some(want) = Target::of_request(req) else {
        return Vec::new();
    };
    rank(req, candidates)
        .into_iter()
        .filter(|&i| {
            Target::of_candidate(&candidates[i]).is_some_and(|have| {
                have.username == want.username && (want.path.is_none() || have.path == want.path)
            })
        })
        .collect()
}

/// The candidates `erase` may remove: exact matches whose stored password
/// (`passwords[i]` for `candidates[i]`) is the one git sent. Nothing when
/// git sent no password.
pub fn erase_targets(
    req: &Request,
    candidates: &[Candidate<'_>],
    passwords: &[&str],
) -> Vec<usize> {
    let Some(sent) = req.password.as_deref() else {
        return Vec::new();
    };
    exact_matches(req, candidates)
        .into_iter()
        .filter(|&i| passwords.get(i).is_some_and(|p| *p == sent.as_str()))
        .collect()
}
