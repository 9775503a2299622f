//! Engines' conflict markers: what an engine adds to a file's name when it
//! keeps both versions (Syncthing, Dropbox in its languages, Nextcloud and
//! ownCloud, duplicates, OneDrive, Seafile, Resilio, rclone bisync, unison).

use super::ConflictStyle;

/// Dropbox's conflict wording, lower case, in the languages its clients ship.
const DROPBOX_PHRASES: [&str; 22] = [
    "conflicted copy",
    "case conflict",
    "selective sync conflict",
    "konfliktkopie",             // de
    "in konflikt stehende",      // de
    "copie en conflit",          // fr
    "copia en conflicto",        // es
    "copia in conflitto",        // it
    "cópia em conflito",         // pt
    "cópia conflitante",         // pt-BR
    "conflicterende kopie",      // nl
    "kopia konfliktowa",         // pl
    "kopia powodująca konflikt", // pl
    "konfliktkopi",              // da, nb
    "konfliktkopia",             // sv
    "конфликтующая копия",       // ru
    "конфликтная копия",         // ru
    "競合コピー",                // ja
    "冲突副本",                  // zh-Hans
    "衝突複本",                  // zh-Hant
    "衝突的複本",                // zh-Hant
    "충돌 사본",                 // ko
];

/// Recognises the engine naming at the start of a conflict marker (the text an engine inserted
/// before the extension or appended to the name). Nested markers (a conflict copy of a conflict
/// copy) are recognised by their first part.
pub(super) fn marker_style(marker: &str) -> Option<ConflictStyle> {
    if let Some(rest) = marker.strip_prefix(".sync-conflict-") {
        return syncthing_stamp(rest).then_some(ConflictStyle::Syncthing);
    }
    if let Some(rest) = marker.strip_prefix("_conflict-") {
        return digits_dash_digits(rest, 8, 6).then_some(ConflictStyle::OwnCloud);
    }
    if let Some(inner) = parenthesised(marker) {
        let inner = inner.to_lowercase();
        if is_unison_inner(&inner) {
            return Some(ConflictStyle::Unison);
        }
        if inner.starts_with("sfconflict") {
            return Some(ConflictStyle::Seafile);
        }
        if is_nextcloud_inner(&inner) || inner.starts_with("case clash from") {
            return Some(ConflictStyle::Nextcloud);
        }
        if DROPBOX_PHRASES.iter().any(|phrase| inner.contains(phrase)) {
            return Some(ConflictStyle::Dropbox);
        }
        if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            return Some(ConflictStyle::Duplicate);
        }
    }
    if let Some(rest) = marker.strip_prefix(' ') {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && (digits == rest.len() || rest[digits..].starts_with([' ', '.', '('])) {
            return Some(ConflictStyle::Duplicate);
        }
    }
    if is_rclone_marker(marker) {
        return Some(ConflictStyle::Rclone);
    }
    let lower = marker.to_lowercase();
    if lower.starts_with(".conflict") {
        return Some(ConflictStyle::Resilio);
    }
    if let Some(host) = marker.strip_prefix('-') {
        let len = host
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
            .count();
        if (1..=63).contains(&len) && (len == host.len() || host[len..].starts_with([' ', '.'])) {
            return Some(ConflictStyle::OneDrive);
        }
    }
    lower.contains("conflict").then_some(ConflictStyle::Other)
}

/// rclone bisync's conflict suffix, which it appends after a dot: `..path1`, `..path2` (1.60 to
/// 1.65, where the suffix was `.pathN`), and from 1.66 `.SUFFIXN` (`--conflict-loser num`, the
/// default, and `pathname`): SUFFIX is `conflict` by default, `path` to get the old names back, or
/// the user's own word (letters, digits, `-`, `_`, starting with a letter); N is the number rclone
/// adds, and may be missing for `conflict` (a winner kept, the loser renamed by pathname).
/// Anything may follow after a further separator (a nested marker, the extension).
fn is_rclone_marker(marker: &str) -> bool {
    let Some(rest) = marker.strip_prefix('.') else {
        return false;
    };
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(rest.len());
    let (word, after) = rest.split_at(end);
    if !(after.is_empty() || after.starts_with(['.', ' '])) {
        return false;
    }
    let stem = word.trim_end_matches(|c: char| c.is_ascii_digit());
    let numbered = stem.len() < word.len();
    if stem.eq_ignore_ascii_case("conflict") {
        // `.Conflict` alone is Resilio's; rclone writes its default suffix in lower case.
        return stem == "conflict";
    }
    numbered && stem.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// unison's `conflict_on_YYYY-MM-DD` and `conflict #N_on_YYYY-MM-DD` (lower case).
fn is_unison_inner(inner: &str) -> bool {
    let Some(rest) = inner.strip_prefix("conflict") else {
        return false;
    };
    let rest = match rest.strip_prefix(" #") {
        Some(numbered) => {
            let digits = numbered.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return false;
            }
            &numbered[digits..]
        }
        None => rest,
    };
    rest.strip_prefix("_on_").is_some_and(|date| {
        let b = date.as_bytes();
        b.len() == 10
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[5..7].iter().all(u8::is_ascii_digit)
            && b[7] == b'-'
            && b[8..].iter().all(u8::is_ascii_digit)
    })
}

/// `YYYYMMDD-HHMMSS` optionally followed by `-DEVICEID`, then anything (a nested marker).
fn syncthing_stamp(rest: &str) -> bool {
    if !digits_dash_digits(rest, 8, 6) {
        return false;
    }
    let after = &rest[15..];
    match after.strip_prefix('-') {
        Some(id) => id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()),
        None => true,
    }
}

/// `s` starts with `a` digits, a dash and `b` digits.
fn digits_dash_digits(s: &str, a: usize, b: usize) -> bool {
    let bytes = s.as_bytes();
    bytes.len() >= a + 1 + b
        && bytes[..a].iter().all(u8::is_ascii_digit)
        && bytes[a] == b'-'
        && bytes[a + 1..a + 1 + b].iter().all(u8::is_ascii_digit)
}

/// `conflicted copy YYYY-MM-DD HHMMSS` (lower case).
fn is_nextcloud_inner(inner: &str) -> bool {
    let Some(stamp) = inner.strip_prefix("conflicted copy ") else {
        return false;
    };
    let b = stamp.as_bytes();
    let digit = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    b.len() == 17
        && digit(0..4)
        && b[4] == b'-'
        && digit(5..7)
        && b[7] == b'-'
        && digit(8..10)
        && b[10] == b' '
        && digit(11..17)
}

/// The text inside the parenthesised group `marker` starts with (after an optional space),
/// parentheses balanced; `None` when the marker does not start with one.
fn parenthesised(marker: &str) -> Option<&str> {
    let body = marker
        .strip_prefix(' ')
        .unwrap_or(marker)
        .strip_prefix('(')?;
    let mut depth = 1usize;
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&body[..i]);
                }
            }
            _ => {}
        }
    }
    None
}
