//! Header-driven CSV import shared by the KeePassXC, 1Password and generic
//! CSV formats: each format says what each header name means, and this
//! module turns rows into items. Column order never matters.

use crate::csv::{self, Record};
use crate::error::ImportError;
use crate::item::{CustomField, ExternalItem, ItemKind};
use crate::{Dropped, Format, Parsed};

/// What a column holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Title,
    Username,
    Password,
    Url,
    /// Extra URLs, one per line.
    Urls,
    Notes,
    /// Tags separated by any of these characters.
    Tags(&'static [char]),
    /// One tag, taken whole (a folder name).
    Folder,
    /// A KeePass group path whose first element is the root group.
    KeepassGroup,
    /// An `otpauth://` URI or TOTP secret: custom field `otp`, hidden.
    Otp,
    /// The source's id.
    Id,
    /// The item kind by name (generic CSV).
    Kind,
    /// `true` adds the tag `archived` (1Password).
    Archived,
    /// Read and dropped.
    Ignore,
    /// A custom field with this name.
    Field(String),
}

/// A header `field:NAME` is always the custom field NAME (the generic CSV
/// writer uses it when NAME would otherwise read as a standard column).
pub(crate) const FIELD_PREFIX: &str = "field:";

/// The name KeePassXC gives its recycle bin group.
const RECYCLE_BIN: &str = "Recycle Bin";

/// Reads a CSV export with a header row. `role` maps a trimmed, lower-cased
/// header name to its role (`None`: a custom field named as in the header).
/// `required` lists roles of which at least one must be present.
pub(crate) fn parse_table(
    format: Format,
    text: &str,
    role: fn(&str) -> Option<Role>,
    required: &[Role],
) -> Result<Parsed, ImportError> {
    let mut records = csv::read(text)?.into_iter();
    let Some(header) = records.next() else {
        return Err(ImportError::wrong_format(
            format.name(),
            "line 1",
            "the file is empty (a header row is expected)",
        ));
    };
    let roles = assign_roles(&header, role);
    if !required.iter().any(|r| roles.contains(r)) {
        return Err(ImportError::wrong_format(
            format.name(),
            header.location(),
            "the first row is not a header this format knows (no title, name, username, \
             password or url column)",
        ));
    }
    let mut parsed = Parsed::default();
    for record in records {
        csv::check_width(&record, roles.len())?;
        if record.cells.iter().all(|c| c.trim().is_empty()) {
            parsed.dropped.push(Dropped {
                location: record.location(),
                reason: "empty row".into(),
            });
            continue;
        }
        if let Some(item) = row_item(format, &roles, record, &mut parsed.dropped)? {
            parsed.items.push(item);
        }
    }
    Ok(parsed)
}

/// Gives each column its role; a later column with an already-claimed
/// standard role becomes a custom field named by its header.
fn assign_roles(header: &Record, role: fn(&str) -> Option<Role>) -> Vec<Role> {
    let names = csv::normalized_header(header);
    let mut roles: Vec<Role> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let original = header.cells[i].trim().to_owned();
        if name.starts_with(FIELD_PREFIX) {
            roles.push(Role::Field(original[FIELD_PREFIX.len()..].to_owned()));
            continue;
        }
        let r = match role(name) {
            Some(Role::Field(n)) => Role::Field(n),
            Some(r) if roles.contains(&r) && r != Role::Ignore => Role::Field(original),
            Some(r) => r,
            None => Role::Field(original),
        };
        roles.push(r);
    }
    roles
}

fn row_item(
    format: Format,
    roles: &[Role],
    mut record: Record,
    dropped: &mut Vec<Dropped>,
) -> Result<Option<ExternalItem>, ImportError> {
    let mut item = ExternalItem::from_format(format);
    let location = record.location();
    let title = item_title(&record, roles);
    for (role, cell) in roles.iter().zip(record.cells.iter_mut()) {
        let value = std::mem::take(cell);
        match role {
            Role::Title => item.title = value,
            Role::Username => item.username = value,
            Role::Password => item.password = value,
            Role::Url => item.url = value,
            Role::Notes => item.notes = value,
            Role::Urls => item.urls.extend(
                value
                    .lines()
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
            ),
            Role::Tags(seps) => item.tags.extend(
                value
                    .split(*seps)
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            ),
            Role::Folder => {
                if !value.trim().is_empty() {
                    item.tags.push(value.trim().to_owned());
                }
            }
            Role::KeepassGroup => {
                // The first path element is the root group ("Passwords", "Root").
                let below_root = value.split_once('/').map_or("", |(_, rest)| rest);
                let first = below_root.split('/').next().unwrap_or("");
                if first == RECYCLE_BIN {
                    dropped.push(Dropped {
                        location: location.clone(),
                        reason: format!("entry {title:?} is in the recycle bin"),
                    });
                    return Ok(None);
                }
                if !below_root.is_empty() {
                    item.tags.insert(0, below_root.to_owned());
                }
            }
            Role::Otp => {
                if !value.is_empty() {
                    item.fields.push(CustomField::new("otp", value, true));
                }
            }
            Role::Id => {
                if !value.trim().is_empty() {
                    item.source_id = Some(value.trim().to_owned());
                }
            }
            Role::Kind => match ItemKind::from_name(&value) {
                Some(kind) => item.kind = kind,
                None if value.trim().is_empty() => {}
                None => item.fields.push(CustomField::new("kind", value, false)),
            },
            Role::Archived => {
                if value.trim().eq_ignore_ascii_case("true") {
                    item.tags.push("archived".into());
                }
            }
            Role::Ignore => {}
            Role::Field(name) => {
                if !value.is_empty() {
                    item.fields
                        .push(CustomField::new(name.clone(), value, false));
                }
            }
        }
    }
    Ok(Some(item))
}

/// The title cell of a row, for messages.
fn item_title(record: &Record, roles: &[Role]) -> String {
    roles
        .iter()
        .position(|r| *r == Role::Title)
        .and_then(|i| record.cells.get(i))
        .cloned()
        .unwrap_or_default()
}
