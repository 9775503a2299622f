//! The provider's D-Bus object paths, and the mapping of store ids to path
//! elements.
//!
//! A path element may hold only `[A-Za-z0-9_]` and must not be empty, while
//! store ids are any strings (`login`, a UUID with dashes, a label). Ids are
//! escaped reversibly: ASCII letters and digits stay, every other byte
//! (`_` included) becomes `_` and two lower-case hex digits, and the empty
//! string becomes a lone `_`. So `login` stays `login`, a dashed UUID keeps
//! its hex digits, and the mapping is stateless: a path a client kept stays
//! valid across a restart.

use zbus::zvariant::{ObjectPath, OwnedObjectPath};

use super::store::{CollectionId, ItemId};

/// The Service object.
pub const SERVICE: &str = "/org/freedesktop/secrets";
/// Collections live under this prefix.
pub const COLLECTION_PREFIX: &str = "/org/freedesktop/secrets/collection/";
/// Aliases live under this prefix.
pub const ALIAS_PREFIX: &str = "/org/freedesktop/secrets/aliases/";
/// Sessions live under this prefix.
pub const SESSION_PREFIX: &str = "/org/freedesktop/secrets/session/";
/// Prompts live under this prefix.
pub const PROMPT_PREFIX: &str = "/org/freedesktop/secrets/prompt/";
/// "No object" (no prompt needed, no alias).
pub const NONE: &str = "/";

/// Escapes `s` into one valid, non-empty path element (see the module
/// docs).
pub fn encode_element(s: &str) -> String {
    if s.is_empty() {
        return "_".to_string();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// Reverses [`encode_element`]; `None` for anything it cannot have made.
pub fn decode_element(e: &str) -> Option<String> {
    if e == "_" {
        return Some(String::new());
    }
    if e.is_empty() {
        return None;
    }
    let bytes = e.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() {
            out.push(b);
            i += 1;
        } else if b == b'_' {
            let hex = e.get(i + 1..i + 3)?;
            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                return None;
            }
            // Only lower-case hex, and only for bytes that needed escaping,
            // so that every id has exactly one encoding.
            if hex.bytes().any(|h| h.is_ascii_uppercase()) {
                return None;
            }
            let v = u8::from_str_radix(hex, 16).ok()?;
            if v.is_ascii_alphanumeric() {
                return None;
            }
            out.push(v);
            i += 3;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

fn owned(s: String) -> OwnedObjectPath {
    // Every caller builds the path from the constant prefixes and escaped
    // elements, which are valid by construction.
    OwnedObjectPath::try_from(s).expect("escaped object paths are valid")
}

/// The "no object" path `/`.
pub fn none() -> OwnedObjectPath {
    owned(NONE.to_string())
}

/// The Service's path.
pub fn service() -> OwnedObjectPath {
    owned(SERVICE.to_string())
}

/// A collection's path.
pub fn collection(id: &CollectionId) -> OwnedObjectPath {
    owned(format!(
        "{COLLECTION_PREFIX}{}",
        encode_element(id.as_str())
    ))
}

/// An alias's path.
pub fn alias(name: &str) -> OwnedObjectPath {
    owned(format!("{ALIAS_PREFIX}{}", encode_element(name)))
}

/// An item's path.
pub fn item(collection: &CollectionId, item: &ItemId) -> OwnedObjectPath {
    owned(format!(
        "{COLLECTION_PREFIX}{}/{}",
        encode_element(collection.as_str()),
        encode_element(item.as_str())
    ))
}

/// The element that starts a deferred search's name (`locked_search_N`).
/// It never decodes as a store id (`_s` is no escape), so it cannot collide
/// with an item.
pub const DEFERRED_ELEMENT: &str = "locked_search_";

/// The path of deferred search `n`, shown as an item of `collection`.
pub fn deferred(collection: &CollectionId, n: u64) -> OwnedObjectPath {
    owned(format!(
        "{COLLECTION_PREFIX}{}/{DEFERRED_ELEMENT}{n}",
        encode_element(collection.as_str())
    ))
}

/// A session's path.
pub fn session(n: u64) -> OwnedObjectPath {
    owned(format!("{SESSION_PREFIX}s{n}"))
}

/// A prompt's path.
pub fn prompt(n: u64) -> OwnedObjectPath {
    owned(format!("{PROMPT_PREFIX}p{n}"))
}

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// The Service.
    Service,
    /// A collection.
    Collection(CollectionId),
    /// An alias (a collection by another name).
    Alias(String),
    /// An item.
    Item(CollectionId, ItemId),
    /// A session.
    Session(u64),
    /// A prompt.
    Prompt(u64),
    /// A deferred search (the stand-in a locked store gives for the items
    /// a search will find once unlocked), under a collection.
    Deferred(CollectionId, u64),
}

/// What `path` names, or `None` when it is none of the provider's paths.
pub fn parse(path: &ObjectPath<'_>) -> Option<Object> {
    let p = path.as_str();
    if p == SERVICE {
        return Some(Object::Service);
    }
    if let Some(rest) = p.strip_prefix(COLLECTION_PREFIX) {
        let mut parts = rest.split('/');
        let c = CollectionId(decode_element(parts.next()?)?);
        return match (parts.next(), parts.next()) {
            (None, _) => Some(Object::Collection(c)),
            (Some(i), None) => match i.strip_prefix(DEFERRED_ELEMENT) {
                Some(n) => n.parse().ok().map(|n| Object::Deferred(c, n)),
                None => Some(Object::Item(c, ItemId(decode_element(i)?))),
            },
            _ => None,
        };
    }
    if let Some(rest) = p.strip_prefix(ALIAS_PREFIX) {
        if rest.contains('/') {
            return None;
        }
        return Some(Object::Alias(decode_element(rest)?));
    }
    if let Some(rest) = p.strip_prefix(SESSION_PREFIX) {
        return rest.strip_prefix('s')?.parse().ok().map(Object::Session);
    }
    if let Some(rest) = p.strip_prefix(PROMPT_PREFIX) {
        return rest.strip_prefix('p')?.parse().ok().map(Object::Prompt);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_ids_stay_readable() {
        assert_eq!(encode_element("login"), "login");
        assert_eq!(encode_element(""), "_");
        assert_eq!(encode_element("a_b"), "a_5fb");
        assert_eq!(encode_element("3f-2a"), "3f_2d2a");
        assert_eq!(encode_element("é"), "_c3_a9");
    }

    #[test]
    fn paths_round_trip() {
        let c = CollectionId("my work".into());
        let i = ItemId("0f1e-22".into());
        assert_eq!(
            parse(&item(&c, &i).as_ref()),
            Some(Object::Item(c.clone(), i))
        );
        assert_eq!(parse(&collection(&c).as_ref()), Some(Object::Collection(c)));
        assert_eq!(
            parse(&alias("default").as_ref()),
            Some(Object::Alias("default".into()))
        );
        assert_eq!(parse(&session(7).as_ref()), Some(Object::Session(7)));
        assert_eq!(parse(&prompt(9).as_ref()), Some(Object::Prompt(9)));
        assert_eq!(parse(&service().as_ref()), Some(Object::Service));
        let login = CollectionId("login".into());
        assert_eq!(
            parse(&deferred(&login, 3).as_ref()),
            Some(Object::Deferred(login, 3))
        );
        assert_eq!(decode_element("locked_search_3"), None, "never an item id");
        for bad in [
            "/",
            "/org/freedesktop/secrets/collection/a/b/c",
            "/org/freedesktop/secrets/aliases/a/b",
            "/org/freedesktop/secrets/session/x1",
            "/org/freedesktop/secrets/prompt/p",
            "/org/freedesktop/secrets/collection/_zz",
            "/org/freedesktop/secrets/collection/_41",
            "/org/freedesktop/secrets/collection/_2D",
            "/org/freedesktop/secrets/collection/a_2",
            "/org/freedesktop/secrets/collection/login/locked_search_x",
            "/org/other",
        ] {
            let p = ObjectPath::try_from(bad).expect("a syntactically valid path");
            assert_eq!(parse(&p), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_id_encodes_to_a_valid_element_and_back(s in any::<String>()) {
            let e = encode_element(&s);
            prop_assert!(!e.is_empty());
            prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            let path = format!("/x/{}", e);
            prop_assert!(ObjectPath::try_from(path).is_ok());
            prop_assert_eq!(decode_element(&e), Some(s));
        }

        #[test]
        fn decoding_is_injective(e in "[A-Za-z0-9_]{1,12}") {
            if let Some(s) = decode_element(&e) {
                prop_assert_eq!(encode_element(&s), e);
            }
        }
    }
}
