//! The LaunchAgent `enable` writes on macOS: the template from the
//! repository's `launchd/` directory with the daemon's path, the home
//! directory and the socket filled in (launchd expands neither `~` nor
//! variables), XML-escaped.

use std::path::Path;

use super::{path_text, AutostartError, Environment, PLIST_TEMPLATE};

const PLIST_SOCKET_DEFAULT: &str = "@HOME@/Library/Application Support/coffer/run/coffer.sock";
const PLIST_ENV_ANCHOR: &str = "\t<key>StandardOutPath</key>";

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The LaunchAgent `enable` writes.
pub fn render_plist(cofferd: &Path, env: &Environment) -> Result<String, AutostartError> {
    let cofferd = xml_escape(path_text(cofferd)?);
    let home = xml_escape(path_text(&env.home)?);
    let socket = xml_escape(path_text(&env.launchd_runtime_dir().join("coffer.sock"))?);
    assert!(
        PLIST_TEMPLATE.contains(PLIST_SOCKET_DEFAULT) && PLIST_TEMPLATE.contains(PLIST_ENV_ANCHOR),
        "the plist template has the socket path and log keys"
    );
    let mut out = PLIST_TEMPLATE.replace(PLIST_SOCKET_DEFAULT, &socket);
    if let Some(coffer_home) = &env.coffer_home {
        let vars = format!(
            "\t<key>EnvironmentVariables</key>\n\t<dict>\n\t\t<key>COFFER_HOME</key>\n\
             \t\t<string>{}</string>\n\t</dict>\n{PLIST_ENV_ANCHOR}",
            xml_escape(path_text(coffer_home)?)
        );
        out = out.replacen(PLIST_ENV_ANCHOR, &vars, 1);
    }
    Ok(out.replace("@COFFERD@", &cofferd).replace("@HOME@", &home))
}

#[cfg(test)]
mod tests {
    use super::super::LAUNCHD_LABEL;
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(xml_escape(r#"a&b<c>"d"#), "a&amp;b&lt;c&gt;&quot;d");
        assert!(PLIST_TEMPLATE.contains(&format!("<string>{LAUNCHD_LABEL}</string>")));
    }
}
