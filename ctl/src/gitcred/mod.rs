//! git's credential protocol, for `coffer git-credential get|store|erase`
//! (configured with `git config --global credential.helper coffer`).
//!
//! git writes a request on the helper's stdin: `key=value` lines up to a
//! blank line or the end of input ([`read_request`], [`parse_request`]).
//! `url=` stands for its parts (protocol, username, password, host with
//! port, path), as git documents; keys ending in `[]` are arrays
//! (`wwwauth[]`, `capability[]`, `state[]`), where an empty value clears
//! the array; unknown keys are kept. A line without `=`, an empty key, a
//! NUL byte or text that is not UTF-8 is an error (git itself dies on such
//! input).
//!
//! For `get` the helper answers with [`write_answer`]: `protocol`, `host`,
//! `path`, `username` and `password`, nothing else, and a value holding a
//! newline or NUL is refused rather than sent (it would inject attributes).
//!
//! Which item answers is [`rank`], a pure function over candidate items
//! (each described by its URL field and username, [`Candidate`]):
//!
//! - protocol and host (with port; default ports 80/443 count as none)
//!   must match, case-insensitively; an item URL without a scheme
//!   (`github.com`) counts as `https`;
//! - the path only matters when git sent one (`credential.useHttpPath`):
//!   then an item with the same path (a trailing `.git` or `/` ignored)
//!   ranks first, an item whose path is a parent of it (at a `/`) next, an
//!   item without a path last, and an item with another path does not
//!   match;
//! - when git sent a username, the item's username must be the same; an
//!   item without one does not match;
//! - among equals, the most recently changed item first (when known).
//!
//! `store` updates the items that match exactly ([`exact_matches`]) or
//! creates one at [`item_url`]; `erase` should only touch exact matches
//! whose stored password is the one git rejected ([`erase_targets`]):
//! git calls `erase` whenever a server refuses a password, and a password
//! manager must not lose an entry because a push failed for another reason.
//!
//! Passwords (and unknown values, which may be tokens) are zeroized on
//! drop and redacted from `Debug`.

use std::fmt;
use std::io::{BufRead, Write};

use zeroize::Zeroizing;

mod matching;
mod url;

use matching::non_empty;
pub use matching::{erase_targets, exact_matches, rank, Candidate};
use url::split_url;

/// The most a request may hold (git's are a few hundred bytes).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// What is wrong with a request or an answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    /// A line without `=`.
    #[error("git credential input line {line}: expected key=value")]
    NoEquals {
        /// The 1-based line number.
        line: usize,
    },
    /// A line with an empty key.
    #[error("git credential input line {line}: the key before '=' is empty")]
    EmptyKey {
        /// The 1-based line number.
        line: usize,
    },
    /// A NUL byte in the input.
    #[error("git credential input line {line}: contains a NUL byte")]
    Nul {
        /// The 1-based line number.
        line: usize,
    },
    /// Text that is not UTF-8.
    #[error("git credential input line {line}: is not UTF-8")]
    NotUtf8 {
        /// The 1-based line number.
        line: usize,
    },
    /// More input than any request.
    #[error("git credential input is longer than {MAX_REQUEST_BYTES} bytes; is something other than git writing to coffer git-credential?")]
    TooLong,
    /// Reading stdin failed.
    #[error("cannot read the git credential request: {0}")]
    Read(String),
    /// A `url=` git could not have sent.
    #[error("git credential url {url:?}: {why}")]
    BadUrl {
        /// The URL, without any password it held.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An answer value that cannot be sent.
    #[error("cannot give git a {key} containing a newline or NUL byte; edit the item")]
    UnsafeValue {
        /// Which attribute.
        key: &'static str,
    },
    /// The request lacks what storing needs.
    #[error("git sent no {0}; cannot store this credential")]
    Missing(&'static str),
    /// Writing the answer failed.
    #[error("cannot write the answer to git: {0}")]
    Write(String),
}

/// A credential request from git.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// `protocol=` (`https`, `http`, `cert`, …).
    pub protocol: Option<String>,
    /// `host=`, with `:port` when git sent one.
    pub host: Option<String>,
    /// `path=` (git sends it for `cert` and with `credential.useHttpPath`).
    pub path: Option<String>,
    /// `username=`.
    pub username: Option<String>,
    /// `password=` (sent with `store` and `erase`).
    pub password: Option<Zeroizing<String>>,
    /// Other single-valued keys, in the order of their first appearance.
    pub other: Vec<(String, Zeroizing<String>)>,
    /// Array keys (without the `[]`) and their values, in order.
    pub arrays: Vec<(String, Vec<String>)>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field(
                "other",
                &self
                    .other
                    .iter()
                    .map(|(k, _)| (k.as_str(), "<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("arrays", &self.arrays)
            .finish()
    }
}

impl Request {
    /// The values of array `name` (without `[]`), empty when absent (the
    /// helper answers none of git's capabilities yet; tests read them).
    #[cfg(test)]
    pub fn array(&self, name: &str) -> &[String] {
        self.arrays
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The value of an unknown single key (kept, not used by the helper
    /// yet; tests read them).
    #[cfg(test)]
    pub fn other(&self, key: &str) -> Option<&str> {
        self.other
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, key: &str, value: &str) {
        match key {
            "protocol" => self.protocol = Some(value.to_string()),
            "host" => self.host = Some(value.to_string()),
            "path" => self.path = Some(value.to_string()),
            "username" => self.username = Some(value.to_string()),
            "password" => self.password = Some(Zeroizing::new(value.to_string())),
            _ => {
                let v = Zeroizing::new(value.to_string());
                match self.other.iter_mut().find(|(k, _)| k == key) {
                    Some(slot) => slot.1 = v,
                    None => self.other.push((key.to_string(), v)),
                }
            }
        }
    }

    fn push(&mut self, name: &str, value: &str) {
        let slot = match self.arrays.iter().position(|(k, _)| k == name) {
            Some(i) => &mut self.arrays[i].1,
            None => {
                self.arrays.push((name.to_string(), Vec::new()));
                let last = self.arrays.len() - 1;
                &mut self.arrays[last].1
            }
        };
        if value.is_empty() {
            // git: an empty value resets the array.
            slot.clear();
        } else {
            slot.push(value.to_string());
        }
    }

    /// Replaces the URL parts with those of `url` (git clears the
    /// credential first, so `url=` wins over the parts before it).
    fn set_url(&mut self, url: &str) -> Result<(), CredentialError> {
        let parts = split_url(url, false)?;
        self.protocol = parts.protocol;
        self.host = parts.host;
        self.path = parts.path;
        self.username = parts.username;
        self.password = parts.password;
        Ok(())
    }
}

/// Reads a request from `input` up to a blank line or the end of input,
/// at most [`MAX_REQUEST_BYTES`].
pub fn read_request<R: BufRead>(input: &mut R) -> Result<Request, CredentialError> {
    let mut buf = Zeroizing::new(Vec::new());
    loop {
        let start = buf.len();
        let n =
            <&mut R as std::io::Read>::take(&mut *input, (MAX_REQUEST_BYTES + 1 - start) as u64)
                .read_until(b'\n', &mut buf)
                .map_err(|e| CredentialError::Read(e.to_string()))?;
        if buf.len() > MAX_REQUEST_BYTES {
            return Err(CredentialError::TooLong);
        }
        let line = &buf[start..];
        if n == 0 || line == b"\n" || line == b"\r\n" {
            break;
        }
    }
    parse_request(&buf)
}

/// Parses a request: `key=value` lines up to a blank line or the end.
pub fn parse_request(input: &[u8]) -> Result<Request, CredentialError> {
    if input.len() > MAX_REQUEST_BYTES {
        return Err(CredentialError::TooLong);
    }
    let mut req = Request::default();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            break;
        }
        if raw.contains(&0) {
            return Err(CredentialError::Nul { line });
        }
        let text = std::str::from_utf8(raw).map_err(|_| CredentialError::NotUtf8 { line })?;
        let (key, value) = text
            .split_once('=')
            .ok_or(CredentialError::NoEquals { line })?;
        if key.is_empty() {
            return Err(CredentialError::EmptyKey { line });
        }
        if let Some(name) = key.strip_suffix("[]") {
            req.push(name, value);
        } else if key == "url" {
            req.set_url(value)?;
        } else {
            req.set(key, value);
        }
    }
    Ok(req)
}

/// What `get` tells git.
#[derive(Clone, Copy)]
pub struct Answer<'a> {
    /// Echoed from the request (git ignores it, but it keeps the answer
    /// self-describing).
    pub protocol: Option<&'a str>,
    /// Echoed from the request.
    pub host: Option<&'a str>,
    /// Echoed when git sent one.
    pub path: Option<&'a str>,
    /// The item's username.
    pub username: Option<&'a str>,
    /// The item's password.
    pub password: &'a str,
}

impl fmt::Debug for Answer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Writes `answer` in git's format; refuses values git would misread.
pub fn write_answer(out: &mut impl Write, answer: &Answer<'_>) -> Result<(), CredentialError> {
    let mut text = Zeroizing::new(String::new());
    let fields: [(&'static str, Option<&str>); 5] = [
        ("protocol", answer.protocol),
        ("host", answer.host),
        ("path", answer.path),
        ("username", answer.username),
        ("password", Some(answer.password)),
    ];
    for (key, value) in fields {
        let Some(value) = value else { continue };
        if value.contains(['\n', '\0']) {
            return Err(CredentialError::UnsafeValue { key });
        }
        text.push_str(key);
        text.push('=');
        text.push_str(value);
        text.push('\n');
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CredentialError::Write(e.to_string()))
}
/// The URL a new item gets for the credential git asks to `store`:
/// `protocol://host[/path]`, without the username (which the item keeps in
/// its username field).
pub fn item_url(req: &Request) -> Result<String, CredentialError> {
    let protocol =
        non_empty(req.protocol.as_deref()).ok_or(CredentialError::Missing("protocol"))?;
    let host = req.host.as_deref().unwrap_or("");
    if host.is_empty() && protocol != "cert" {
        return Err(CredentialError::Missing("host"));
    }
    Ok(match non_empty(req.path.as_deref()) {
        Some(path) => format!("{protocol}://{host}/{path}"),
        None => format!("{protocol}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Request {
        parse_request(text.as_bytes()).unwrap()
    }

    fn cand<'a>(url: &'a str, user: Option<&'a str>) -> Candidate<'a> {
        Candidate {
            url,
            username: user,
            changed: None,
        }
    }

    // From git-credential(1): "protocol=https / host=example.com /
    // path=foo.git" and the helper answering username=bob password=secr3t.
    #[test]
    fn the_documented_request_and_answer() {
        let r = req("protocol=https\nhost=example.com\npath=foo.git\n\n");
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("example.com"));
        assert_eq!(r.path.as_deref(), Some("foo.git"));
        assert_eq!(r.username, None);
        let mut out = Vec::new();
        write_answer(
            &mut out,
            &Answer {
                protocol: r.protocol.as_deref(),
                host: r.host.as_deref(),
                path: None,
                username: Some("bob"),
                password: "secr3t",
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "protocol=https\nhost=example.com\nusername=bob\npassword=secr3t\n"
        );
    }

    // git-credential(1): "url=https://example.com would behave as if
    // protocol=https and host=example.com had been provided".
    #[test]
    fn url_expands_into_its_parts() {
        let r = req("url=https://example.com\n");
        assert_eq!(r, req("protocol=https\nhost=example.com\n"));
        let r = req("url=https://bob:s%3Dcret@Example.com:8080/org/repo.git/\n");
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("Example.com:8080"));
        assert_eq!(r.username.as_deref(), Some("bob"));
        assert_eq!(r.password.as_deref().map(|p| p.as_str()), Some("s=cret"));
        assert_eq!(r.path.as_deref(), Some("org/repo.git"));
        // url= clears what came before it; later keys override it.
        let r = req("username=alice\npath=x\nurl=https://h/\nusername=carol\n");
        assert_eq!(r.path, None);
        assert_eq!(r.username.as_deref(), Some("carol"));
        // cert:///path/to/cert.pem has an empty host and a path.
        let r = req("url=cert:///etc/client.pem\n");
        assert_eq!(r.protocol.as_deref(), Some("cert"));
        assert_eq!(r.host.as_deref(), Some(""));
        assert_eq!(r.path.as_deref(), Some("etc/client.pem"));
        // The host ends at ? or #.
        let r = req("url=https://h.example?x=1\n");
        assert_eq!(r.host.as_deref(), Some("h.example"));
        assert_eq!(
            parse_request(b"url=example.com\n"),
            Err(CredentialError::BadUrl {
                url: "example.com".into(),
                why: "has no scheme (like https://)"
            })
        );
        let e = parse_request(b"url=https://u:topsecret@h%0a/\n").unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }

    #[test]
    fn arrays_unknown_keys_and_the_end_of_the_request() {
        let r = req(concat!(
            "capability[]=authtype\n",
            "capability[]=state\n",
            "protocol=https\n",
            "host=example.com\n",
            "wwwauth[]=Basic realm=\"example.com\"\n",
            "wwwauth[]=Bearer authorize_uri=\"https://id.example.com\"\n",
            "password_expiry_utc=1700000000\n",
            "\n",
            "username=after-the-blank-line\n",
        ));
        assert_eq!(r.array("capability"), ["authtype", "state"]);
        assert_eq!(
            r.array("wwwauth"),
            [
                "Basic realm=\"example.com\"",
                "Bearer authorize_uri=\"https://id.example.com\""
            ]
        );
        assert_eq!(r.other("password_expiry_utc"), Some("1700000000"));
        assert_eq!(r.username, None, "input stops at the blank line");
        // An empty value resets an array.
        let r = req("wwwauth[]=a\nwwwauth[]=\nwwwauth[]=b\n");
        assert_eq!(r.array("wwwauth"), ["b"]);
        // CRLF lines and a missing final newline are fine; a value may hold '='.
        let r = req("protocol=https\r\nhost=h\r\npassword=a=b");
        assert_eq!(r.password.as_deref().map(|p| p.as_str()), Some("a=b"));
        // Debug never shows the password or unknown values.
        let r = req("password=hunter2\ntoken=abc123\n");
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("abc123"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_input_is_an_error_naming_the_line() {
        assert_eq!(
            parse_request(b"protocol=https\nhost\n"),
            Err(CredentialError::NoEquals { line: 2 })
        );
        assert_eq!(
            parse_request(b"=x\n"),
            Err(CredentialError::EmptyKey { line: 1 })
        );
        assert_eq!(
            parse_request(b"host=a\0b\n"),
            Err(CredentialError::Nul { line: 1 })
        );
        assert_eq!(
            parse_request(b"host=\xff\n"),
            Err(CredentialError::NotUtf8 { line: 1 })
        );
        let big = vec![b'a'; MAX_REQUEST_BYTES + 1];
        assert_eq!(parse_request(&big), Err(CredentialError::TooLong));
    }

    #[test]
    fn read_request_stops_at_the_blank_line_and_is_bounded() {
        let mut input: &[u8] = b"protocol=https\nhost=h\n\nnot read\n";
        let r = read_request(&mut input).unwrap();
        assert_eq!(r.host.as_deref(), Some("h"));
        assert_eq!(
            input, b"not read\n",
            "nothing after the blank line is consumed"
        );
        let mut eof: &[u8] = b"protocol=https\nhost=h";
        assert_eq!(read_request(&mut eof).unwrap().host.as_deref(), Some("h"));
        let endless = std::io::repeat(b'a');
        let mut endless = std::io::BufReader::new(endless);
        assert_eq!(read_request(&mut endless), Err(CredentialError::TooLong));
    }

    #[test]
    fn answers_refuse_values_that_would_inject_attributes() {
        let mut out = Vec::new();
        let e = write_answer(
            &mut out,
            &Answer {
                protocol: Some("https"),
                host: Some("h"),
                path: None,
                username: Some("bob"),
                password: "pw\nusername=mallory",
            },
        )
        .unwrap_err();
        assert_eq!(e, CredentialError::UnsafeValue { key: "password" });
        assert!(out.is_empty(), "nothing is written on error");
    }

    #[test]
    fn protocol_host_and_port_must_match() {
        let r = req("protocol=https\nhost=github.com\n");
        let c = [
            cand("https://github.com/org/repo.git", Some("alice")),
            cand("http://github.com/", Some("alice")),
            cand("https://gitlab.com/", Some("alice")),
            cand("https://GitHub.com:443/login", None),
            cand("github.com", Some("bob")),
            cand("https://github.com:8443/", Some("alice")),
            cand("not a url at all", None),
        ];
        assert_eq!(rank(&r, &c), vec![0, 3, 4]);
        let r = req("protocol=https\nhost=github.com:8443\n");
        assert_eq!(rank(&r, &c), vec![5]);
    }

    #[test]
    fn the_username_must_match_when_git_sent_one() {
        let c = [
            cand("https://example.com", Some("alice")),
            cand("https://example.com", Some("bob")),
            cand("https://carol@example.com/", None),
            cand("https://example.com", None),
        ];
        assert_eq!(
            rank(&req("protocol=https\nhost=example.com\nusername=bob\n"), &c),
            vec![1]
        );
        assert_eq!(rank(&req("url=https://carol@example.com\n"), &c), vec![2]);
        assert_eq!(
            rank(&req("protocol=https\nhost=example.com\n"), &c),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn the_path_ranks_only_when_git_sent_one() {
        let c = [
            cand("https://example.com", Some("a")),
            cand("https://example.com/org", Some("b")),
            cand("https://example.com/org/repo", Some("c")),
            cand("https://example.com/other/repo.git", Some("d")),
            cand("https://example.com/organisation", Some("e")),
        ];
        // useHttpPath: exact (".git" ignored) > parent > no path; others out.
        let r = req("protocol=https\nhost=example.com\npath=org/repo.git\n");
        assert_eq!(rank(&r, &c), vec![2, 1, 0]);
        // Without a path every item of the host matches.
        let r = req("protocol=https\nhost=example.com\n");
        assert_eq!(rank(&r, &c), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn the_most_recently_changed_wins_among_equals() {
        let c = [
            Candidate {
                url: "https://h",
                username: Some("a"),
                changed: Some(10),
            },
            Candidate {
                url: "https://h",
                username: Some("b"),
                changed: None,
            },
            Candidate {
                url: "https://h",
                username: Some("c"),
                changed: Some(30),
            },
            Candidate {
                url: "https://h/p",
                username: Some("d"),
                changed: Some(1),
            },
        ];
        assert_eq!(rank(&req("protocol=https\nhost=h\n"), &c), vec![2, 0, 3, 1]);
        assert_eq!(
            rank(&req("protocol=https\nhost=h\npath=p\n"), &c),
            vec![3, 2, 0, 1]
        );
    }

    #[test]
    fn store_and_erase_touch_exact_matches_only() {
        let c = [
            cand("https://h/org/repo.git", Some("alice")),
            cand("https://h", Some("alice")),
            cand("https://h", Some("bob")),
        ];
        let store = req("protocol=https\nhost=h\nusername=alice\npassword=new\n");
        assert_eq!(exact_matches(&store, &c), vec![0, 1]);
        let with_path = req("protocol=https\nhost=h\npath=org/repo.git\nusername=alice\n");
        assert_eq!(exact_matches(&with_path, &c), vec![0]);
        let erase = req("protocol=https\nhost=h\nusername=alice\npassword=old\n");
        assert_eq!(erase_targets(&erase, &c, &["new", "old", "old"]), vec![1]);
        let no_password = req("protocol=https\nhost=h\nusername=alice\n");
        assert!(erase_targets(&no_password, &c, &["x", "x", "x"]).is_empty());
        assert_eq!(item_url(&with_path).unwrap(), "https://h/org/repo.git");
        assert_eq!(item_url(&store).unwrap(), "https://h");
        assert_eq!(
            item_url(&req("host=h\n")),
            Err(CredentialError::Missing("protocol"))
        );
        assert_eq!(
            item_url(&req("protocol=https\n")),
            Err(CredentialError::Missing("host"))
        );
    }

    /// What real git writes to a helper parses as git meant it.
    #[test]
    fn parses_what_git_itself_sends() {
        let Ok(git) = which("git") else {
            if std::env::var("COFFER_REQUIRE_TOOLS").as_deref() == Ok("1") {
                panic!("git is not installed and COFFER_REQUIRE_TOOLS=1");
            }
            eprintln!("SKIP parses_what_git_itself_sends: git is not installed");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("request");
        let helper = format!("!f() {{ cat > '{}'; }}; f", dump.display());
        let mut child = std::process::Command::new(git)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("GIT_TERMINAL_PROMPT", "0")
            .args(["-c", "credential.useHttpPath=true", "-c"])
            .arg(format!("credential.helper={helper}"))
            .args(["credential", "approve"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"url=https://alice@git.example.com:8443/org/repo.git\npassword=s3cret\n\n")
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success());
        let sent = std::fs::read(&dump).unwrap();
        let r = parse_request(&sent).unwrap();
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("git.example.com:8443"));
        assert_eq!(r.path.as_deref(), Some("org/repo.git"));
        assert_eq!(r.username.as_deref(), Some("alice"));
        assert_eq!(r.password.as_deref().map(|p| p.as_str()), Some("s3cret"));
        let c = [cand("https://git.example.com:8443/org/repo", Some("alice"))];
        assert_eq!(exact_matches(&r, &c), vec![0]);
    }

    fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
        let path = std::env::var_os("PATH").ok_or(())?;
        std::env::split_paths(&path)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .ok_or(())
    }
}
