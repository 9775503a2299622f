//! KeePass 2 / KeePassXC unencrypted XML export
//! (`<KeePassFile><Root><Group>…<Entry>`).
//!
//! Mapping: the group path below the root group becomes one tag (`Email`,
//! `Email/Work`), followed by the entry's `<Tags>` (split on `;` and `,`);
//! strings `Title`, `UserName`, `Password`, `URL`, `Notes` fill the standard
//! fields, `KP2A_URL*` the extra URLs, `otp` the hidden field `otp`, every
//! other string a custom field (hidden when `ProtectInMemory="True"`);
//! `<History><Entry>` become history versions (their custom strings are
//! dropped); the UUID is the source id. Entries in the recycle bin,
//! attachments, icons, auto-type and expiry are dropped (reported in
//! [`crate::Parsed::dropped`] where they carry data).
//!
//! A value marked `Protected="True"` is ciphertext of the database's inner
//! stream (raw KDBX XML, not an export) and is refused.

use base64::Engine;
use roxmltree::{Document, Node, ParsingOptions};

use crate::error::{entry_location, ImportError};
use crate::item::{CustomField, ExternalItem, HistoryVersion};
use crate::{Dropped, Format, Parsed};

const NAME: &str = "keepass-xml";

/// Seconds from 0001-01-01 to 1970-01-01 (KeePass binary times count from year 1).
const KEEPASS_EPOCH_OFFSET: i64 = 62_135_596_800;

/// Reads a KeePass XML export.
pub(crate) fn parse_keepass_xml(text: &str) -> Result<Parsed, ImportError> {
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| xml_error(text, &e))?;
    let root = doc.root_element();
    if root.tag_name().name() != "KeePassFile" {
        return Err(ImportError::wrong_format(
            NAME,
            format!("line {}", line_of(&doc, root)),
            format!(
                "the root element is <{}>, expected <KeePassFile>",
                root.tag_name().name()
            ),
        ));
    }
    let recycle_bin = child(root, "Meta").and_then(|meta| {
        let enabled = child_text(meta, "RecycleBinEnabled").unwrap_or("True");
        let uuid = child_text(meta, "RecycleBinUUID")?;
        (enabled.eq_ignore_ascii_case("true") && uuid.trim_matches('A') != "==")
            .then(|| uuid.trim().to_owned())
    });
    let Some(top) = child(root, "Root").and_then(|r| child(r, "Group")) else {
        return Err(ImportError::wrong_format(
            NAME,
            format!("line {}", line_of(&doc, root)),
            "no <Root><Group> element (is this a KeePass 2 XML export?)",
        ));
    };
    let mut walker = Walker {
        recycle_bin,
        index: 0,
        parsed: Parsed::default(),
    };
    walker.group(top, "")?;
    Ok(walker.parsed)
}

fn xml_error(text: &str, e: &roxmltree::Error) -> ImportError {
    if !text.trim_start().starts_with('<') {
        return ImportError::wrong_format(
            NAME,
            "line 1",
            "the file does not start with an XML tag",
        );
    }
    match e {
        // These carry no position of their own.
        roxmltree::Error::UnclosedRootNode | roxmltree::Error::UnexpectedEndOfStream => {
            ImportError::malformed(
                format!("end of file (line {})", text.lines().count().max(1)),
                "the XML ends early (truncated file?)",
            )
        }
        roxmltree::Error::NoRootNode => {
            ImportError::wrong_format(NAME, "document", "the XML has no root element")
        }
        _ => {
            let pos = e.pos();
            let message = e.to_string();
            let cut = message.find(" at ").unwrap_or(message.len());
            ImportError::malformed(
                format!("line {}, column {}", pos.row, pos.col),
                format!("invalid XML: {}", &message[..cut]),
            )
        }
    }
}

struct Walker {
    recycle_bin: Option<String>,
    /// Entries seen so far (document order, history excluded).
    index: usize,
    parsed: Parsed,
}

impl Walker {
    /// Reads the entries of `group` and its subgroups; `path` is the group
    /// path below the root group ("" for the root group itself).
    fn group(&mut self, group: Node, path: &str) -> Result<(), ImportError> {
        for node in group.children().filter(Node::is_element) {
            match node.tag_name().name() {
                "Entry" => {
                    self.index += 1;
                    let item = self.entry(node, path)?;
                    self.parsed.items.push(item);
                }
                "Group" => {
                    let name = child_text(node, "Name").unwrap_or("");
                    let uuid = child_text(node, "UUID").map(str::trim);
                    if uuid.is_some() && uuid == self.recycle_bin.as_deref() {
                        let count = node.descendants().filter(|n| is_live_entry(*n)).count();
                        self.index += count;
                        if count > 0 {
                            self.parsed.dropped.push(Dropped {
                                location: format!("group {name:?}"),
                                reason: format!("{count} entries in the recycle bin skipped"),
                            });
                        }
                        continue;
                    }
                    let sub = if path.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{path}/{name}")
                    };
                    self.group(node, &sub)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn entry(&mut self, node: Node, path: &str) -> Result<ExternalItem, ImportError> {
        let title = string_value(node, "Title").unwrap_or("");
        let loc = entry_location("entry", self.index, title);
        let mut item = ExternalItem::from_format(Format::KeepassXml);
        item.source_id = child_text(node, "UUID")
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        if !path.is_empty() {
            item.tags.push(path.to_owned());
        }
        if let Some(tags) = child_text(node, "Tags") {
            item.tags.extend(
                tags.split([';', ','])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            );
        }
        for s in node.children().filter(|n| n.has_tag_name("String")) {
            let (key, value, protect) = read_string(s, &loc)?;
            match key {
                "Title" => item.title = value.to_owned(),
                "UserName" => item.username = value.to_owned(),
                "Password" => item.password = value.to_owned(),
                "URL" => item.url = value.to_owned(),
                "Notes" => item.notes = value.to_owned(),
                k if k.starts_with("KP2A_URL") => {
                    if !value.is_empty() {
                        item.urls.push(value.to_owned());
                    }
                }
                "otp" => item.fields.push(CustomField::new("otp", value, true)),
                k => item.fields.push(CustomField::new(k, value, protect)),
            }
        }
        for b in node.children().filter(|n| n.has_tag_name("Binary")) {
            let key = child_text(b, "Key").unwrap_or("");
            self.parsed.dropped.push(Dropped {
                location: loc.clone(),
                reason: format!("attachment {key:?} not imported"),
            });
        }
        if let Some(history) = child(node, "History") {
            for (n, old) in history
                .children()
                .filter(|n| n.has_tag_name("Entry"))
                .enumerate()
            {
                let hloc = format!("{loc}, history version {}", n + 1);
                item.history.push(history_version(old, &hloc)?);
            }
        }
        Ok(item)
    }
}

fn history_version(node: Node, loc: &str) -> Result<HistoryVersion, ImportError> {
    let mut version = HistoryVersion {
        modified: child(node, "Times")
            .and_then(|t| child_text(t, "LastModificationTime"))
            .map(keepass_time),
        title: Some(String::new()),
        username: Some(String::new()),
        password: Some(String::new()),
        url: Some(String::new()),
        notes: Some(String::new()),
    };
    for s in node.children().filter(|n| n.has_tag_name("String")) {
        let (key, value, _) = read_string(s, loc)?;
        let slot = match key {
            "Title" => &mut version.title,
            "UserName" => &mut version.username,
            "Password" => &mut version.password,
            "URL" => &mut version.url,
            "Notes" => &mut version.notes,
            _ => continue,
        };
        *slot = Some(value.to_owned());
    }
    Ok(version)
}

/// An `<Entry>` that is not a history version.
fn is_live_entry(n: Node) -> bool {
    n.has_tag_name("Entry") && n.parent().is_some_and(|p| !p.has_tag_name("History"))
}

/// `(key, value, ProtectInMemory)` of a `<String>`; refuses encrypted values.
fn read_string<'a>(s: Node<'a, '_>, loc: &str) -> Result<(&'a str, &'a str, bool), ImportError> {
    let key = child_text(s, "Key").unwrap_or("");
    let Some(value) = child(s, "Value") else {
        return Ok((key, "", false));
    };
    if value
        .attribute("Protected")
        .is_some_and(|p| p.eq_ignore_ascii_case("true"))
    {
        return Err(ImportError::Encrypted {
            location: loc.to_owned(),
            reason: format!(
                "the value of {key:?} is encrypted (Protected=\"True\"): this is a database's \
                 raw inner XML, not an export; export the database to XML with KeePass or \
                 KeePassXC (keepassxc-cli export -f xml)"
            ),
        });
    }
    let protect = value
        .attribute("ProtectInMemory")
        .is_some_and(|p| p.eq_ignore_ascii_case("true"));
    Ok((key, value.text().unwrap_or(""), protect))
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(name))
}

fn child_text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).map(|n| n.text().unwrap_or(""))
}

/// The value of the entry's `<String>` with this key.
fn string_value<'a>(entry: Node<'a, '_>, key: &str) -> Option<&'a str> {
    entry
        .children()
        .filter(|n| n.has_tag_name("String"))
        .find(|s| child_text(*s, "Key") == Some(key))
        .and_then(|s| child_text(s, "Value"))
}

fn line_of(doc: &Document, node: Node) -> u32 {
    doc.text_pos_at(node.range().start).row
}

/// KeePass writes times as ISO 8601 text (KDBX 3) or as base64 of a
/// little-endian i64 count of seconds since 0001-01-01 (KDBX 4). Both become
/// RFC 3339 UTC text; anything else is kept as written.
pub(crate) fn keepass_time(text: &str) -> String {
    let text = text.trim();
    if text.len() == 12 && text.ends_with('=') {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) {
            if let Ok(raw) = <[u8; 8]>::try_from(bytes.as_slice()) {
                let unix = i64::from_le_bytes(raw).saturating_sub(KEEPASS_EPOCH_OFFSET);
                return rfc3339(unix);
            }
        }
    }
    text.to_owned()
}

fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Proleptic Gregorian date of a day count from 1970-01-01 (Howard
/// Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_binary_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        // 63_082_281_600 s after 0001-01-01 is 2000-01-01.
        let b64 = base64::engine::general_purpose::STANDARD.encode(63_082_281_600i64.to_le_bytes());
        assert_eq!(keepass_time(&b64), "2000-01-01T00:00:00Z");
        assert_eq!(keepass_time("2026-11-26T12:13:03Z"), "2026-11-26T12:13:03Z");
    }
}
