//! Which items of the vault are SSH keys, kept up to date cheaply, and the
//! public-key index written from them (see [`super::index`]).
//!
//! An item is an SSH key when its `kind` field is `ssh-key` (an item in the
//! vault's trash is a deletion, so it is no live item). Its public key comes from the
//! `ssh-public-key` field (no private key is parsed to list), or, when that
//! field is missing or damaged, from the private key.
//!
//! [`KeyList::refresh_unlocked`] looks only at items whose versions changed
//! since the last look (each item's versions, by dot, are its signature),
//! and not even that when the vault's version vector did not move: after
//! the first look, a refresh of a 10,000-item vault with no change is a
//! comparison of version vectors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use coffer_vault::ids::ItemId;
use coffer_vault::item::fields::{custom_field, reserved};
use coffer_vault::item::Item;
use coffer_vault::record::RecordVersion;
use coffer_vault::replica::Replica;
use coffer_vault::secret::SecretKey;
use coffer_vault::vv::{Dot, VersionVector};
use ssh_key::PublicKey;
use uuid::Uuid;

use super::index::{self, Index, IndexedKey};
use super::keys::{fingerprint, parse_public_line, SigningKey};

/// The `kind` of an SSH-key item.
pub const KIND_SSH_KEY: &str = "ssh-key";

/// One SSH key of the vault.
#[derive(Clone, Debug)]
pub struct VaultKey {
    /// The item.
    pub id: ItemId,
    /// The item's title (the comment `ssh-add -l` shows).
    pub title: String,
    /// The public key.
    pub public: PublicKey,
    /// Its SHA256 fingerprint.
    pub fingerprint: String,
}

impl VaultKey {
    fn new(id: ItemId, title: String, public: PublicKey) -> VaultKey {
        VaultKey {
            fingerprint: fingerprint(public.key_data()),
            id,
            title,
            public,
        }
    }

    /// The public key line as stored (as `ssh-keygen` wrote it, for
    /// `authorized_keys`); a key without a comment gets the item's title.
    pub fn public_line(&self) -> String {
        let mut public = self.public.clone();
        if public.comment().trim().is_empty() && !self.title.trim().is_empty() {
            public.set_comment(self.title.trim());
        }
        // Encoding a key that was parsed (or generated) cannot fail; an
        // empty line would only make the key unusable, never leak.
        public.to_openssh().unwrap_or_default()
    }
}

/// Whether `item` is an SSH key (items in the vault's trash are deletions,
/// never live items, so they are never keys the agent serves).
pub fn is_ssh_key(item: &Item) -> bool {
    item.get(&custom_field(reserved::KIND))
        .is_some_and(|k| k.expose().trim() == KIND_SSH_KEY)
}

/// The SSH key `item` holds; `None` when it is not one, `Err` (why, without
/// secrets) when it claims to be one but holds no usable key.
pub fn key_of(item: &Item) -> Option<Result<VaultKey, String>> {
    if !is_ssh_key(item) {
        return None;
    }
    let title = item.title().to_owned();
    let stored = item
        .get(&custom_field(reserved::SSH_PUBLIC_KEY))
        .and_then(|line| parse_public_line(line.expose()).ok());
    if let Some(public) = stored {
        return Some(Ok(VaultKey::new(item.id, title, public)));
    }
    let Some(private) = item.get(&custom_field(reserved::SSH_PRIVATE_KEY)) else {
        return Some(Err("it has neither a public nor a private key field".into()));
    };
    Some(
        SigningKey::from_openssh(private.expose())
            .map(|k| VaultKey::new(item.id, title, k.public_key().clone()))
            .map_err(|e| e.to_string()),
    )
}

/// The private key text of an SSH-key item.
pub fn private_key_of(item: &Item) -> Option<&str> {
    item.get(&custom_field(reserved::SSH_PRIVATE_KEY))
        .map(|s| s.expose())
}

/// What an item's versions were when it was last looked at.
type Signature = Vec<(Dot, bool)>;

fn signature_of(versions: &[RecordVersion]) -> Signature {
    versions.iter().map(|v| (v.dot, v.deleted)).collect()
}

/// Whether `versions` are still those of `sig` (no allocation: this runs
/// for every item at each refresh).
fn unchanged(sig: &Signature, versions: &[RecordVersion]) -> bool {
    sig.len() == versions.len()
        && sig
            .iter()
            .zip(versions)
            .all(|((dot, deleted), v)| *dot == v.dot && *deleted == v.deleted)
}

/// Where the list came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Nothing yet (or signed out).
    Nothing,
    /// The unlocked vault.
    Vault,
    /// The public-key index (the vault is locked).
    Index,
}

/// The vault's SSH keys, and what the index file holds.
pub struct KeyList {
    index_path: PathBuf,
    /// The account and epoch the list belongs to.
    owner: Option<(Uuid, u64)>,
    /// The vault's version vector at the last look (unlocked only).
    vv: Option<VersionVector>,
    per_item: BTreeMap<ItemId, (Signature, Option<VaultKey>)>,
    keys: Vec<VaultKey>,
    source: Source,
    /// What the index file holds, when this daemon wrote or read it.
    written: Option<Vec<IndexedKey>>,
    /// Whether a leftover index was looked for (when the option is off).
    swept: bool,
}

impl KeyList {
    /// An empty list whose index lives at `index_path`.
    pub fn new(index_path: PathBuf) -> KeyList {
        KeyList {
            index_path,
            owner: None,
            vv: None,
            per_item: BTreeMap::new(),
            keys: Vec::new(),
            source: Source::Nothing,
            written: None,
            swept: false,
        }
    }

    /// The keys, in the agent's order (by title, then id).
    pub fn keys(&self) -> &[VaultKey] {
        &self.keys
    }

    /// Where the keys came from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The key whose public half is `key`.
    pub fn find(&self, key: &ssh_key::public::KeyData) -> Option<&VaultKey> {
        self.keys.iter().find(|k| k.public.key_data() == key)
    }

    /// Brings the list up to date with the unlocked `replica`; with
    /// `keep_index`, writes the index when the keys changed. Items that
    /// claim to be keys but hold none are skipped with a warning.
    pub fn refresh_unlocked(&mut self, replica: &Replica, key: &SecretKey, keep_index: bool) {
        let owner = (replica.account_id(), replica.epoch());
        let vv = replica.state().vv();
        let current = self.owner == Some(owner)
            && self.source == Source::Vault
            && self.vv.as_ref() == Some(vv);
        if !current {
            if self.owner != Some(owner) {
                self.per_item.clear();
                self.written = None;
            }
            self.rescan(replica, key);
            self.owner = Some(owner);
            self.vv = Some(vv.clone());
            self.source = Source::Vault;
        }
        if keep_index {
            self.write_index(owner);
        } else {
            self.sweep();
        }
    }

    /// Looks at the items whose versions changed since the last look: the
    /// vault's records and the per-item signatures are both in id order,
    /// so one walk over both finds them (no hashing, no allocation for an
    /// unchanged item); the key list is rebuilt only when a key changed.
    fn rescan(&mut self, replica: &Replica, key: &SecretKey) {
        let records = replica.state().records();
        let mut changed: Vec<ItemId> = Vec::new();
        let mut stale = false;
        let mut known = self.per_item.iter().peekable();
        for (id, versions) in records {
            while known.next_if(|(k, _)| *k < id).is_some() {
                stale = true; // an item this list knew is no longer a record
            }
            match known.next_if(|(k, _)| *k == id) {
                Some((_, (sig, _))) if unchanged(sig, versions) => {}
                _ => changed.push(*id),
            }
        }
        stale |= known.next().is_some();
        let mut keys_changed = stale || self.source != Source::Vault;
        if stale {
            keys_changed |= self
                .per_item
                .iter()
                .any(|(id, (_, k))| k.is_some() && !records.contains_key(id));
            self.per_item.retain(|id, _| records.contains_key(id));
        }
        for id in changed {
            let found = match replica.get(key, id) {
                Ok(Some(item)) => match key_of(&item) {
                    Some(Ok(k)) => Some(k),
                    Some(Err(why)) => {
                        tracing::warn!(item = %id, why, "an SSH-key item holds no usable key; the agent skips it");
                        None
                    }
                    None => None,
                },
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(item = %id, error = %e, "cannot read an item for the SSH agent");
                    None
                }
            };
            let sig = signature_of(replica.state().versions(&id));
            let had_key = self
                .per_item
                .insert(id, (sig, found.clone()))
                .is_some_and(|(_, k)| k.is_some());
            keys_changed |= had_key || found.is_some();
        }
        if keys_changed {
            let mut keys: Vec<VaultKey> = self
                .per_item
                .values()
                .filter_map(|(_, k)| k.clone())
                .collect();
            sort(&mut keys);
            self.keys = keys;
        }
    }

    /// The list while locked: what the last unlock left in memory, else
    /// the index of `account_id` at `epoch` (a stale or damaged one is
    /// removed). Only called when listing while locked is allowed.
    pub fn refresh_locked(&mut self, account_id: Uuid, epoch: u64) {
        let owner = (account_id, epoch);
        if self.owner == Some(owner) && self.source != Source::Nothing {
            return;
        }
        self.clear_memory();
        match index::load(&self.index_path) {
            Ok(Some(idx)) if idx.account_id == account_id && idx.epoch == epoch => {
                let mut keys: Vec<VaultKey> = idx
                    .keys
                    .iter()
                    .filter_map(|k| {
                        let id = k.id.parse::<ItemId>().ok()?;
                        let public = parse_public_line(&k.public_key).ok()?;
                        Some(VaultKey::new(id, k.title.clone(), public))
                    })
                    .collect();
                sort(&mut keys);
                tracing::debug!(
                    keys = keys.len(),
                    "SSH agent lists keys from the public-key index"
                );
                self.keys = keys;
                self.written = Some(idx.keys);
                self.owner = Some(owner);
                self.source = Source::Index;
            }
            Ok(Some(_)) => {
                tracing::info!(
                    "the SSH agent's public-key index belongs to another sign-in; removing it"
                );
                index::remove(&self.index_path);
                self.owner = Some(owner);
                self.source = Source::Index;
            }
            Ok(None) => {
                self.owner = Some(owner);
                self.source = Source::Index;
            }
            Err(e) => {
                tracing::warn!(error = %e, "removing the SSH agent's public-key index");
                index::remove(&self.index_path);
                self.owner = Some(owner);
                self.source = Source::Index;
            }
        }
    }

    /// Signed out or reset: no keys, and no index on disk (looked for
    /// once after a sign-in ends, not on every call).
    pub fn clear(&mut self) {
        if self.owner.is_some() || !self.swept {
            self.clear_memory();
            if index::remove(&self.index_path) {
                tracing::info!("removed the SSH agent's public-key index (signed out or reset)");
            }
            self.swept = true;
        }
    }

    fn clear_memory(&mut self) {
        self.owner = None;
        self.vv = None;
        self.per_item.clear();
        self.keys.clear();
        self.source = Source::Nothing;
        self.written = None;
    }

    /// Removes an index left from a time listing while locked was on.
    pub fn sweep(&mut self) {
        if !self.swept {
            self.swept = true;
            if index::remove(&self.index_path) {
                tracing::info!(
                    "removed the SSH agent's public-key index: ssh_agent_list_locked is off"
                );
            }
        }
    }

    fn write_index(&mut self, owner: (Uuid, u64)) {
        let want: Vec<IndexedKey> = self
            .keys
            .iter()
            .map(|k| IndexedKey {
                id: k.id.to_string(),
                title: k.title.clone(),
                public_key: k.public_line(),
            })
            .collect();
        if self.written.as_ref() == Some(&want) {
            return;
        }
        match index::save(
            &self.index_path,
            &Index::new(owner.0, owner.1, want.clone()),
        ) {
            Ok(()) => {
                tracing::debug!(keys = want.len(), "wrote the SSH agent's public-key index");
                self.written = Some(want);
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %self.index_path.display(), "cannot write the SSH agent's public-key index; listing while locked may miss keys");
            }
        }
    }
}

fn sort(keys: &mut [VaultKey]) {
    keys.sort_by(|a, b| {
        a.title
            .to_lowercase()
            .cmp(&b.title.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh_agent::keys::{generate, KeyKind};
    use coffer_vault::ids::DeviceId;
    use coffer_vault::secret::SecretString;

    fn replica() -> (Replica, SecretKey) {
        let r = Replica::new(Uuid::new_v4(), 1, DeviceId::new_random(), "t".into());
        (r, SecretKey::from_bytes([7u8; 32]))
    }

    fn s(v: &str) -> SecretString {
        SecretString::new(v.to_owned())
    }

    fn add_key(r: &mut Replica, k: &SecretKey, title: &str) -> (ItemId, String) {
        let m = generate(KeyKind::Ed25519, title).unwrap();
        let id = r
            .add(
                k,
                vec![
                    ("title".into(), s(title)),
                    (custom_field(reserved::KIND), s(KIND_SSH_KEY)),
                    (
                        custom_field(reserved::SSH_PRIVATE_KEY),
                        s(&m.private_openssh),
                    ),
                    (custom_field(reserved::SSH_PUBLIC_KEY), s(&m.public_line)),
                    (custom_field(reserved::SSH_FINGERPRINT), s(&m.fingerprint)),
                ],
                1,
            )
            .unwrap();
        (id, m.fingerprint)
    }

    #[test]
    fn keys_follow_the_vault_and_the_index_follows_the_keys() {
        let d = tempfile::tempdir().unwrap();
        let path = index::path_in(d.path());
        let (mut r, k) = replica();
        let mut list = KeyList::new(path.clone());
        list.refresh_unlocked(&r, &k, true);
        assert!(list.keys().is_empty());
        let written = index::load(&path)
            .unwrap()
            .expect("an empty index is written");
        assert!(written.keys.is_empty());

        r.add(&k, vec![("title".into(), s("a login"))], 1).unwrap();
        let (b, fb) = add_key(&mut r, &k, "beta");
        let (a, fa) = add_key(&mut r, &k, "Alpha");
        list.refresh_unlocked(&r, &k, true);
        let got: Vec<(ItemId, &str)> = list
            .keys()
            .iter()
            .map(|v| (v.id, v.fingerprint.as_str()))
            .collect();
        assert_eq!(got, vec![(a, fa.as_str()), (b, fb.as_str())], "by title");
        assert_eq!(list.source(), Source::Vault);
        let idx = index::load(&path).unwrap().unwrap();
        assert_eq!(idx.account_id, r.account_id());
        assert_eq!(idx.keys.len(), 2);
        assert!(idx.keys[0].public_key.ends_with(" Alpha"));
        assert_eq!(idx.keys[0].title, "Alpha");
        assert!(!std::fs::read_to_string(&path).unwrap().contains("PRIVATE"));

        // A renamed, a trashed and a deleted key.
        r.edit(&k, a, vec![("title".into(), Some(s("Zulu")))], 2)
            .unwrap();
        r.delete(&k, b, 3).unwrap();
        list.refresh_unlocked(&r, &k, true);
        assert_eq!(list.keys().len(), 1);
        assert_eq!(list.keys()[0].title, "Zulu");
        r.delete(&k, a, 4).unwrap();
        list.refresh_unlocked(&r, &k, true);
        assert!(list.keys().is_empty());
        assert!(index::load(&path).unwrap().unwrap().keys.is_empty());
    }

    #[test]
    fn a_restarted_locked_daemon_lists_from_the_index_of_its_own_sign_in_only() {
        let d = tempfile::tempdir().unwrap();
        let path = index::path_in(d.path());
        let (mut r, k) = replica();
        let (id, fp) = add_key(&mut r, &k, "laptop");
        KeyList::new(path.clone()).refresh_unlocked(&r, &k, true);

        // A new daemon, locked: the index gives the key.
        let mut list = KeyList::new(path.clone());
        list.refresh_locked(r.account_id(), r.epoch());
        assert_eq!(list.keys().len(), 1);
        list.refresh_locked(r.account_id(), r.epoch());
        list.refresh_locked(r.account_id(), r.epoch());
        assert_eq!(list.source(), Source::Index);
        assert_eq!(list.keys().len(), 1);
        assert_eq!(
            (list.keys()[0].id, list.keys()[0].fingerprint.as_str()),
            (id, fp.as_str())
        );
        // Another epoch's index is not used, and goes.
        let mut other = KeyList::new(path.clone());
        other.refresh_locked(r.account_id(), r.epoch() + 1);
        assert!(other.keys().is_empty());
        assert!(!path.exists());
        // Signed out: nothing, and no file.
        KeyList::new(path.clone()).refresh_unlocked(&r, &k, true);
        assert!(path.exists());
        list.clear();
        assert!(list.keys().is_empty() && !path.exists());
    }

    #[test]
    fn without_the_option_no_index_is_written_and_a_leftover_goes() {
        let d = tempfile::tempdir().unwrap();
        let path = index::path_in(d.path());
        let (mut r, k) = replica();
        add_key(&mut r, &k, "k");
        KeyList::new(path.clone()).refresh_unlocked(&r, &k, true);
        assert!(path.exists());
        let mut list = KeyList::new(path.clone());
        list.refresh_unlocked(&r, &k, false);
        assert_eq!(list.keys().len(), 1);
        assert!(!path.exists(), "a leftover index is removed");
    }

    #[test]
    fn items_claiming_to_be_keys_without_one_are_skipped() {
        let (mut r, k) = replica();
        r.add(
            &k,
            vec![
                ("title".into(), s("broken")),
                (custom_field(reserved::KIND), s(KIND_SSH_KEY)),
                (custom_field(reserved::SSH_PUBLIC_KEY), s("not a key")),
            ],
            1,
        )
        .unwrap();
        // No public line: derived from the private key.
        let m = generate(KeyKind::EcdsaP256, "x").unwrap();
        r.add(
            &k,
            vec![
                ("title".into(), s("private only")),
                (custom_field(reserved::KIND), s(KIND_SSH_KEY)),
                (
                    custom_field(reserved::SSH_PRIVATE_KEY),
                    s(&m.private_openssh),
                ),
            ],
            1,
        )
        .unwrap();
        let d = tempfile::tempdir().unwrap();
        let mut list = KeyList::new(index::path_in(d.path()));
        list.refresh_unlocked(&r, &k, false);
        assert_eq!(list.keys().len(), 1);
        assert_eq!(list.keys()[0].fingerprint, m.fingerprint);
        assert_eq!(list.keys()[0].title, "private only");
        assert!(
            list.keys()[0].public_line().ends_with(" x"),
            "its own comment"
        );
    }
}
