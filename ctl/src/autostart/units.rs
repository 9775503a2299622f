//! The systemd units `enable` writes: the templates from the repository's
//! `systemd/` directory with `ExecStart=` (and, with `COFFER_HOME`, the
//! environment and `ListenStream=`) filled in, escaped as systemd reads them.

use std::path::Path;

use super::{path_text, AutostartError, Environment, SERVICE_TEMPLATE, SOCKET_TEMPLATE};

const EXEC_PLACEHOLDER: &str = "ExecStart=%h/.local/bin/cofferd";
const LISTEN_DEFAULT: &str = "ListenStream=%t/coffer/coffer.sock";

/// `s` as one word of a systemd setting: specifiers (`%`)
/// escaped, backslashes and double quotes escaped, quoted when needed.
fn systemd_word(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._+-,:@=$".contains(c));
    let mut out = String::with_capacity(s.len() + 2);
    if !plain {
        out.push('"');
    }
    for c in s.chars() {
        match c {
            '%' => out.push_str("%%"),
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if !plain {
        out.push('"');
    }
    out
}

/// The service unit `enable` writes.
pub fn render_service(cofferd: &Path, env: &Environment) -> Result<String, AutostartError> {
    let exe = path_text(cofferd)?;
    // systemd refuses these in an executable's path however they are
    // escaped ("Executable name contains special characters").
    if exe.contains(['"', '\'', '\\']) {
        return Err(AutostartError::UnusablePath {
            path: cofferd.to_path_buf(),
            problem: "systemd does not run programs whose path has quotes or backslashes",
        });
    }
    // The executable is not subject to $VARIABLE expansion, only to
    // specifiers.
    let mut exec = format!("ExecStart={}", systemd_word(exe));
    if let Some(home) = &env.coffer_home {
        let assignment = format!("COFFER_HOME={}", path_text(home)?);
        exec.push_str(&format!("\nEnvironment={}", systemd_word(&assignment)));
    }
    Ok(replace_line(SERVICE_TEMPLATE, EXEC_PLACEHOLDER, &exec))
}

/// The socket unit `enable` writes.
pub fn render_socket(env: &Environment) -> Result<String, AutostartError> {
    match &env.coffer_home {
        None => Ok(SOCKET_TEMPLATE.to_string()),
        Some(home) => {
            let sock = home.join("run/coffer.sock");
            let listen = format!("ListenStream={}", path_text(&sock)?.replace('%', "%%"));
            Ok(replace_line(SOCKET_TEMPLATE, LISTEN_DEFAULT, &listen))
        }
    }
}

/// `template` with its first line equal to `line` replaced by `with`.
fn replace_line(template: &str, line: &str, with: &str) -> String {
    let mut out = String::with_capacity(template.len() + with.len());
    let mut found = false;
    for l in template.lines() {
        if l == line && !found {
            out.push_str(with);
            found = true;
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    // The templates are compiled in and tested to contain these lines.
    assert!(found, "template lacks the line {line:?}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_and_escaped_only_when_needed() {
        assert_eq!(systemd_word("/usr/bin/cofferd"), "/usr/bin/cofferd");
        assert_eq!(systemd_word("/a b/c"), "\"/a b/c\"");
        assert_eq!(systemd_word("/100%"), "\"/100%%\"");
        assert_eq!(systemd_word(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn only_the_first_matching_line_is_replaced() {
        assert_eq!(replace_line("a\nx\nx\n", "x", "y"), "a\ny\nx\n");
        assert!(SERVICE_TEMPLATE.lines().any(|l| l == EXEC_PLACEHOLDER));
        assert!(SOCKET_TEMPLATE.lines().any(|l| l == LISTEN_DEFAULT));
    }
}
