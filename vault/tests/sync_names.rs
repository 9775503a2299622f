//! Tests for the classification of names found in a sync folder (`daemon/src/sync_names.rs`):
//! every engine's conflict naming, temp and placeholder names, and garbage.

#[allow(dead_code)]
use coffer_vault::sync_names;

use proptest::prelude::*;
use sync_names::{
    classify, conflict_style, delta_file_name, device_file_name, temp_file_name, ConflictStyle,
    Entry, IgnoreReason, ACCOUNT_FILE,
};

const ID: &str = "0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90";

fn device(id: &str) -> Entry {
    Entry::DeviceFile {
        device_id: id.to_owned(),
    }
}

fn device_conflict(id: &str) -> Entry {
    Entry::DeviceConflict {
        device_id: id.to_owned(),
    }
}

fn header_conflict() -> Entry {
    Entry::AccountHeaderConflict {
        original: ACCOUNT_FILE.to_owned(),
    }
}

/// Every engine naming we know, as (marker inserted before the extension, expected style).
fn markers() -> Vec<(&'static str, ConflictStyle)> {
    use ConflictStyle::*;
    vec![
        (".sync-conflict-20240131-235959-ABCDEFG", Syncthing),
        (".sync-conflict-20240131-235959-7QXZ4BM", Syncthing),
        (".sync-conflict-20151002-094532", Syncthing),
        (
            " (Jane's MacBook Pro's conflicted copy 2024-01-31)",
            Dropbox,
        ),
        (" (host-1's conflicted copy 2024-01-31 (1))", Dropbox),
        (" (conflicted copy)", Dropbox),
        (" (Conflicted copy 2)", Dropbox),
        (" (CONFLICTED COPY)", Dropbox),
        (" (Konfliktkopie von laptop 2024-01-31)", Dropbox),
        (
            " (in Konflikt stehende Kopie von laptop 2024-01-31)",
            Dropbox,
        ),
        (" (copie en conflit de portable 2024-01-31)", Dropbox),
        (" (Copia en conflicto de portátil 2024-01-31)", Dropbox),
        (" (copia in conflitto di laptop 2024-01-31)", Dropbox),
        (" (Cópia em conflito de laptop 2024-01-31)", Dropbox),
        (" (conflicterende kopie van laptop 2024-01-31)", Dropbox),
        (" (Konfliktkopia från laptop 2024-01-31)", Dropbox),
        (" (Конфликтующая копия laptop 2024-01-31)", Dropbox),
        (" (laptop の競合コピー 2024-01-31)", Dropbox),
        (" (Case Conflict)", Dropbox),
        (" (Case Conflict 1)", Dropbox),
        (" (Selective Sync Conflict)", Dropbox),
        (" (conflicted copy 2024-01-31 235959)", Nextcloud),
        (" (case clash from 2024-01-31 235959)", Nextcloud),
        ("_conflict-20240131-235959", OwnCloud),
        (" 2", Duplicate),
        (" 17", Duplicate),
        (" (1)", Duplicate),
        ("(3)", Duplicate),
        ("-DESKTOP-7H3K2L1", OneDrive),
        ("-laptop", OneDrive),
        ("-my-host-42", OneDrive),
        (
            " (SFConflict jane@example.com 2024-01-31-23-59-59)",
            Seafile,
        ),
        (".Conflict", Resilio),
        (".Conflict1", Resilio),
        // rclone bisync with --suffix-keep-extension: its suffix goes before the extension.
        (".conflict1", Rclone),
        (".conflict2", Rclone),
        (".conflict", Rclone),
        ("..path1", Rclone),
        (".path2", Rclone),
        (".konflikt-lokal1", Rclone),
        (".sync_conflict12", Rclone),
        // unison -copyonconflict.
        (" (conflict_on_2026-12-07)", Unison),
        (" (conflict #1_on_2026-12-07)", Unison),
        (" (conflict #12_on_2026-12-07)", Unison),
        (" [conflict]", Other),
        // A conflict copy of a conflict copy.
        (" (conflicted copy) (1)", Dropbox),
        (".sync-conflict-20240131-235959-ABCDEFG 2", Syncthing),
        (" 2.sync-conflict-20240131-235959-ABCDEFG", Duplicate),
    ]
}

#[test]
fn the_files_themselves() {
    assert_eq!(classify(ACCOUNT_FILE), Entry::AccountHeader);
    assert_eq!(classify(&device_file_name(ID)), device(ID));
    assert_eq!(device_file_name(ID), format!("device-{ID}.cofsync"));
    assert_eq!(conflict_style(ACCOUNT_FILE), None);
    assert_eq!(conflict_style(&device_file_name(ID)), None);
    assert!(!classify(ACCOUNT_FILE).is_conflict());
    assert_eq!(classify(&device_file_name(ID)).device_id(), Some(ID));
    assert_eq!(classify(ACCOUNT_FILE).device_id(), None);
    let delta = delta_file_name(ID, 7, 0xabc);
    assert_eq!(delta, format!("delta-{ID}.7.0000000000000abc.cofsync"));
    assert_eq!(
        classify(&delta),
        Entry::DeltaFile {
            device_id: ID.into(),
            seq: 7,
            file_id: "0000000000000abc".into()
        }
    );
    assert_eq!(conflict_style(&delta), None);
    assert!(!classify(&delta).is_conflict());
}

/// What an older coffer (which knows only `device-` names) does with a delta
/// segment: nothing; it is not its `device-` prefix, so never a device file or
/// a conflict copy of one (which it would try to merge and remove).
#[test]
fn delta_segments_are_not_device_files_or_their_copies() {
    let delta = delta_file_name(ID, 7, 0xabc);
    assert!(!delta.starts_with("device-"));
    assert!(!delta.starts_with("account"));
}

#[test]
fn every_engine_marker_on_the_header_and_a_device_file() {
    for (marker, style) in markers() {
        let header = format!("account{marker}.json");
        assert_eq!(classify(&header), header_conflict(), "{header:?}");
        assert_eq!(conflict_style(&header), Some(style), "{header:?}");

        let dev = format!("device-{ID}{marker}.cofsync");
        assert_eq!(classify(&dev), device_conflict(ID), "{dev:?}");
        assert_eq!(conflict_style(&dev), Some(style), "{dev:?}");
        assert!(classify(&dev).is_conflict());
    }
}

#[test]
fn markers_after_the_extension_count_only_when_recognised() {
    assert_eq!(classify("account.json (1)"), header_conflict());
    assert_eq!(
        classify("account.json.sync-conflict-20240131-235959-ABCDEFG"),
        header_conflict()
    );
    assert_eq!(
        classify(&format!("device-{ID}.cofsync-DESKTOP-1")),
        device_conflict(ID)
    );
    assert_eq!(
        classify(&format!("device-{ID}.cofsync (conflicted copy)")),
        device_conflict(ID)
    );
    assert_eq!(
        classify("account.jsonx"),
        Entry::Ignored(IgnoreReason::Unknown)
    );
    assert_eq!(
        classify(&format!("device-{ID}.cofsyncx")),
        Entry::Ignored(IgnoreReason::Unknown)
    );
    assert_eq!(
        classify(&format!("device-{ID}.cofsync.bak")),
        Entry::Ignored(IgnoreReason::Unknown)
    );
}

/// rclone bisync appends its conflict suffix to the whole name (seen with rclone 1.60:
/// `NAME..path1` and `NAME..path2` replace NAME in both folders; the 1.66+ forms from its source
/// and manual).
#[test]
fn rclone_suffixes_after_the_name() {
    for suffix in [
        "..path1",
        "..path2",
        ".path1",
        ".path2",
        ".conflict1",
        ".conflict2",
        ".conflict17",
        ".conflict",
        ".konflikt-lokal1",
        ".conflict_host2",
        ".local1",
        ".sync-conflict3",
    ] {
        for (name, want) in [
            (format!("account.json{suffix}"), header_conflict()),
            (format!("device-{ID}.cofsync{suffix}"), device_conflict(ID)),
        ] {
            assert_eq!(classify(&name), want, "{name:?}");
            assert_eq!(
                conflict_style(&name),
                Some(ConflictStyle::Rclone),
                "{name:?}"
            );
            assert_eq!(
                classify(&name).device_id().is_some(),
                name.starts_with("device-")
            );
        }
    }
    // Not rclone's: no number after a user word, a bare number, a word that starts with a digit.
    for suffix in [".bak", ".1", ".2024-01-31", ".orig", "..", "."] {
        for name in [
            format!("account.json{suffix}"),
            format!("device-{ID}.cofsync{suffix}"),
        ] {
            assert_eq!(
                classify(&name),
                Entry::Ignored(IgnoreReason::Unknown),
                "{name:?}"
            );
        }
    }
}

/// unison 2.52 with `-copyonconflict` (seen by running it): `NAME (conflict_on_DATE).EXT`, then
/// `NAME (conflict #1_on_DATE).EXT` for a second conflict on the same day.
#[test]
fn unison_copies() {
    for marker in [" (conflict_on_2026-12-07)", " (conflict #1_on_2026-12-07)"] {
        let header = format!("account{marker}.json");
        assert_eq!(classify(&header), header_conflict(), "{header:?}");
        assert_eq!(conflict_style(&header), Some(ConflictStyle::Unison));
        let dev = format!("device-{ID}{marker}.cofsync");
        assert_eq!(classify(&dev), device_conflict(ID), "{dev:?}");
        assert_eq!(conflict_style(&dev), Some(ConflictStyle::Unison));
    }
    // Not a unison date: still a conflict copy by its wording, of no known engine.
    let odd = format!("device-{ID} (conflict_on_someday).cofsync");
    assert_eq!(classify(&odd), device_conflict(ID));
    assert_eq!(conflict_style(&odd), Some(ConflictStyle::Other));
}

#[test]
fn anything_appended_after_the_uuid_is_a_conflict_marker() {
    for tail in ["x", "-", "-0", "-abc", "0", "~", " copy", "_", "-a-b-c-d"] {
        let name = format!("device-{ID}{tail}.cofsync");
        assert_eq!(classify(&name), device_conflict(ID), "{name:?}");
    }
}

#[test]
fn malformed_device_names_are_unknown() {
    let unknown = Entry::Ignored(IgnoreReason::Unknown);
    for name in [
        "device-.cofsync",
        "device-0f8e4c2a.cofsync",
        "device-0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a9.cofsync", // one digit short
        "device-0F8E4C2A-9B1D-4E7F-A3C5-6D2B8E1F4A90.cofsync", // not canonical (upper case)
        "device-0f8e4c2a-9b1d-4e7f-a3c56d2b8e1f4a90-.cofsync", // hyphens misplaced
        "device-0f8e4c2g-9b1d-4e7f-a3c5-6d2b8e1f4a90.cofsync", // not hex
        "Device-0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90.cofsync",
        "xdevice-0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90.cofsync",
        "device-0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90",
        "device-0f8e4c2a-9b1d-4e7f-a3c5-6d2b8e1f4a90.json",
        "accounts",
        "account",
        "Account.json",
        "xaccount.json",
        "account2.json",
        "notes.txt",
        "device-ü",
    ] {
        assert_eq!(classify(name), unknown, "{name:?}");
        assert_eq!(conflict_style(name), None, "{name:?}");
    }
}

#[test]
fn engine_temp_placeholder_and_system_names_are_ignored() {
    use IgnoreReason::*;
    let cases: Vec<(String, IgnoreReason)> = vec![
        (".syncthing.account.json.tmp".into(), EngineTemp),
        (format!(".syncthing.device-{ID}.cofsync.tmp"), EngineTemp),
        ("~syncthing~account.json.tmp".into(), EngineTemp),
        (format!("~syncthing~device-{ID}.cofsync.tmp"), EngineTemp),
        (".~lock.account.json#".into(), EngineTemp),
        (".~account.json".into(), EngineTemp),
        (format!(".device-{ID}.cofsync.~7f3a"), EngineTemp),
        ("~$account.json".into(), EngineTemp),
        ("account.json.tmp".into(), EngineTemp),
        (".account.json.icloud".into(), Placeholder),
        (format!(".device-{ID}.cofsync.icloud"), Placeholder),
        (".dropbox".into(), EngineMetadata),
        (".dropbox.cache".into(), EngineMetadata),
        (".dropbox.attr".into(), EngineMetadata),
        (".stfolder".into(), EngineMetadata),
        (".stignore".into(), EngineMetadata),
        (".stversions".into(), EngineMetadata),
        (".sync".into(), EngineMetadata),
        (".sync_1a2b3c.db".into(), EngineMetadata),
        ("._sync_1a2b3c.db-wal".into(), EngineMetadata),
        (".owncloudsync.log".into(), EngineMetadata),
        (".DS_Store".into(), SystemFile),
        ("._account.json".into(), SystemFile),
        ("desktop.ini".into(), SystemFile),
        ("Desktop.ini".into(), SystemFile),
        ("Thumbs.db".into(), SystemFile),
        ("Icon\r".into(), SystemFile),
        ("account.json.part".into(), PartialDownload),
        (format!("device-{ID}.cofsync.partial"), PartialDownload),
        ("account.json.crdownload".into(), PartialDownload),
        (format!("device-{ID}.cofsync.!sync"), PartialDownload),
        (format!("device-{ID} (1).cofsync.part"), PartialDownload),
        // unison 2.52 (seen by running it): temp files while transferring, local backups.
        (
            ".unison.account.json.2b09e05470d18090995cff04de38087c.unison.tmp".into(),
            EngineTemp,
        ),
        (
            format!(".unison.device-{ID}.cofsync.2b09e05470d18090995cff04de38087c.unison.tmp"),
            EngineTemp,
        ),
        (".unison.lock".into(), EngineTemp),
        (".bak.0.account.json".into(), EngineMetadata),
        (format!(".bak.12.device-{ID}.cofsync"), EngineMetadata),
        // rclone: its hidden files, check-access marker, bisync work files, 1.63+ partial uploads.
        (".rclone-partial".into(), EngineTemp),
        ("RCLONE_TEST".into(), EngineMetadata),
        ("tmp_a..tmp_b.path1.lst".into(), EngineMetadata),
        ("tmp_a..tmp_b.path2.lst-new".into(), EngineMetadata),
        ("tmp_a..tmp_b.lck".into(), EngineMetadata),
        (
            format!("device-{ID}.cofsync.2f4a1b3c.partial"),
            PartialDownload,
        ),
        ("account.json.2f4a1b3c.partial".into(), PartialDownload),
        (".hidden".into(), Hidden),
        (".bak.x.account.json".into(), Hidden),
        (".account.json".into(), Hidden),
        ("".into(), Unknown),
        ("a/b".into(), Unknown),
        ("..".into(), Unknown),
    ];
    for (name, reason) in cases {
        assert_eq!(classify(&name), Entry::Ignored(reason), "{name:?}");
        assert_eq!(conflict_style(&name), None, "{name:?}");
    }
}

#[test]
fn coffer_temp_names_are_ignored() {
    for final_name in [ACCOUNT_FILE.to_owned(), device_file_name(ID)] {
        for unique in [0, 1, 0xdead_beef, u64::MAX] {
            let temp = temp_file_name(&final_name, unique);
            assert!(temp.starts_with('.') && temp.ends_with(".tmp"), "{temp:?}");
            assert!(temp.contains(&final_name));
            assert_eq!(classify(&temp), Entry::Ignored(IgnoreReason::CofferTemp));
        }
    }
    assert_ne!(temp_file_name("a", 1), temp_file_name("a", 2));
}

fn uuid_strategy() -> impl Strategy<Value = String> {
    any::<[u8; 16]>().prop_map(|b| {
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    })
}

fn date() -> impl Strategy<Value = (u32, u32, u32, u32, u32, u32)> {
    (
        1970u32..2100,
        1u32..13,
        1u32..29,
        0u32..24,
        0u32..60,
        0u32..60,
    )
}

/// A random conflict marker of a random engine, with the style classify must report.
fn marker_strategy() -> impl Strategy<Value = (String, ConflictStyle)> {
    let phrases = prop::sample::select(vec![
        "conflicted copy",
        "Konfliktkopie",
        "copie en conflit",
        "copia en conflicto",
        "copia in conflitto",
        "cópia em conflito",
        "競合コピー",
        "Case Conflict",
    ]);
    prop_oneof![
        (date(), "[A-Z2-7]{7}").prop_map(|((y, mo, d, h, mi, s), dev)| (
            format!(".sync-conflict-{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}-{dev}"),
            ConflictStyle::Syncthing
        )),
        (
            "[A-Za-z0-9 '.-]{0,24}",
            phrases,
            date(),
            0u32..4,
            any::<bool>()
        )
            .prop_map(|(host, phrase, (y, mo, d, ..), n, upper)| {
                let phrase = if upper {
                    phrase.to_uppercase()
                } else {
                    phrase.to_owned()
                };
                let who = if host.is_empty() {
                    String::new()
                } else {
                    format!("{host}'s ")
                };
                let number = if n == 0 {
                    String::new()
                } else {
                    format!(" ({n})")
                };
                (
                    format!(" ({who}{phrase} {y:04}-{mo:02}-{d:02}{number})"),
                    ConflictStyle::Dropbox,
                )
            }),
        date().prop_map(|(y, mo, d, h, mi, s)| (
            format!(" (conflicted copy {y:04}-{mo:02}-{d:02} {h:02}{mi:02}{s:02})"),
            ConflictStyle::Nextcloud
        )),
        date().prop_map(|(y, mo, d, h, mi, s)| (
            format!("_conflict-{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}"),
            ConflictStyle::OwnCloud
        )),
        (1u32..10_000).prop_map(|n| (format!(" {n}"), ConflictStyle::Duplicate)),
        (1u32..10_000).prop_map(|n| (format!(" ({n})"), ConflictStyle::Duplicate)),
        "[A-Za-z0-9][A-Za-z0-9-]{0,30}"
            .prop_map(|host| (format!("-{host}"), ConflictStyle::OneDrive)),
        ("[a-z]{1,10}", date()).prop_map(|(user, (y, mo, d, h, mi, s))| (
            format!(" (SFConflict {user}@example.com {y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}-{s:02})"),
            ConflictStyle::Seafile
        )),
        rclone_suffix_strategy().prop_map(|s| (s, ConflictStyle::Rclone)),
        (date(), 0u32..30).prop_map(|((y, mo, d, ..), n)| {
            let number = if n == 0 {
                String::new()
            } else {
                format!(" #{n}")
            };
            (
                format!(" (conflict{number}_on_{y:04}-{mo:02}-{d:02})"),
                ConflictStyle::Unison,
            )
        }),
    ]
}

/// rclone bisync's conflict suffixes: 1.60's `..pathN`, 1.66's `.conflictN`, `.pathN`, and a
/// user's word with rclone's number.
fn rclone_suffix_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..3).prop_map(|n| format!("..path{n}")),
        (1u32..3).prop_map(|n| format!(".path{n}")),
        (1u32..1000).prop_map(|n| format!(".conflict{n}")),
        ("[a-zA-Z][a-zA-Z0-9_-]{0,20}", 1u32..1000).prop_map(|(w, n)| format!(".{w}{n}")),
    ]
}

proptest! {
    #[test]
    fn device_file_of_any_uuid(id in uuid_strategy()) {
        let name = device_file_name(&id);
        prop_assert_eq!(classify(&name), device(&id));
    }

    #[test]
    fn every_engine_pattern_on_every_device(id in uuid_strategy(), (marker, style) in marker_strategy()) {
        let dev = format!("device-{id}{marker}.cofsync");
        prop_assert_eq!(classify(&dev), device_conflict(&id));
        prop_assert_eq!(conflict_style(&dev), Some(style));
        let header = format!("account{marker}.json");
        prop_assert_eq!(classify(&header), header_conflict());
        prop_assert_eq!(conflict_style(&header), Some(style));
    }

    #[test]
    fn rclone_suffixes_after_the_name_of_any_device(id in uuid_strategy(), suffix in rclone_suffix_strategy()) {
        let dev = format!("device-{id}.cofsync{suffix}");
        prop_assert_eq!(classify(&dev), device_conflict(&id));
        prop_assert_eq!(conflict_style(&dev), Some(ConflictStyle::Rclone));
        let header = format!("account.json{suffix}");
        prop_assert_eq!(classify(&header), header_conflict());
        prop_assert_eq!(conflict_style(&header), Some(ConflictStyle::Rclone));
    }

    #[test]
    fn delta_segments_of_any_device_seq_and_id(id in uuid_strategy(), seq in 1u64.., file_id in any::<u64>(), (marker, style) in marker_strategy()) {
        let name = delta_file_name(&id, seq, file_id);
        prop_assert_eq!(
            classify(&name),
            Entry::DeltaFile { device_id: id.clone(), seq, file_id: format!("{file_id:016x}") }
        );
        let entry = classify(&name);
        prop_assert_eq!(entry.device_id(), Some(id.as_str()));
        let copy = format!("{}{marker}.cofsync", name.trim_end_matches(".cofsync"));
        prop_assert_eq!(classify(&copy), Entry::DeltaConflict { device_id: id.clone() });
        prop_assert_eq!(conflict_style(&copy), Some(style));
        let entry = classify(&copy);
        prop_assert_eq!(entry.device_id(), Some(id.as_str()));
    }

    #[test]
    fn garbage_never_panics(name in any::<String>()) {
        let entry = classify(&name);
        let _ = conflict_style(&name);
        // Whatever comes out is consistent with the name.
        match &entry {
            Entry::AccountHeader => prop_assert_eq!(name.as_str(), ACCOUNT_FILE),
            Entry::DeviceFile { device_id } => prop_assert_eq!(name, device_file_name(device_id)),
            Entry::DeviceConflict { device_id } => prop_assert!(name.contains(device_id.as_str())),
            Entry::DeltaFile { device_id, seq, file_id } => prop_assert_eq!(
                name,
                delta_file_name(device_id, *seq, u64::from_str_radix(file_id, 16).unwrap())
            ),
            Entry::DeltaConflict { device_id } => {
                let prefix = format!("delta-{device_id}.");
                prop_assert!(name.starts_with(&prefix));
            }
            Entry::AccountHeaderConflict { .. } => prop_assert!(name.starts_with("account")),
            Entry::HeaderChange { device_id } => {
                prop_assert_eq!(name, sync_names::header_file_name(device_id))
            }
            Entry::UnlockKey { device_id } => {
                prop_assert_eq!(name, sync_names::unlock_file_name(device_id))
            }
            Entry::HeaderChangeConflict { device_id } | Entry::UnlockKeyConflict { device_id } => {
                prop_assert!(name.contains(device_id.as_str()))
            }
            Entry::Ignored(_) => {}
        }
    }

    #[test]
    fn structured_garbage_never_panics(
        name in "(device-|delta-|account|\\.|~)?[0-9a-f(). _-]{0,50}(\\.cofsync|\\.json|\\.tmp)?"
    ) {
        let _ = classify(&name);
        let _ = conflict_style(&name);
    }

    #[test]
    fn coffer_temp_of_anything_is_ignored(final_name in "[^/\\\\\\x00]{1,40}", unique in any::<u64>()) {
        prop_assert_eq!(
            classify(&temp_file_name(&final_name, unique)),
            Entry::Ignored(IgnoreReason::CofferTemp)
        );
    }

    #[test]
    fn dot_names_are_never_coffer_data(rest in "[^/\\\\\\x00]{0,40}") {
        let name = format!(".{rest}");
        prop_assert!(matches!(classify(&name), Entry::Ignored(_)));
    }
}

/// The per-device header-change and unlock-key files, and every engine's copy of them, all say
/// which device owns them.
#[test]
fn header_change_and_unlock_key_files_and_their_copies() {
    use sync_names::{header_file_name, unlock_file_name};
    let header = header_file_name(ID);
    let unlock = unlock_file_name(ID);
    assert_eq!(header, format!("header-{ID}.json"));
    assert_eq!(unlock, format!("unlock-{ID}.json"));
    assert_eq!(
        classify(&header),
        Entry::HeaderChange {
            device_id: ID.into()
        }
    );
    assert_eq!(
        classify(&unlock),
        Entry::UnlockKey {
            device_id: ID.into()
        }
    );
    for (marker, style) in markers() {
        for (prefix, copy) in [
            (
                "header-",
                Entry::HeaderChangeConflict {
                    device_id: ID.into(),
                },
            ),
            (
                "unlock-",
                Entry::UnlockKeyConflict {
                    device_id: ID.into(),
                },
            ),
        ] {
            let name = format!("{prefix}{ID}{marker}.json");
            assert_eq!(classify(&name), copy, "{name}");
            assert_eq!(conflict_style(&name), Some(style), "{name}");
            assert!(classify(&name).is_conflict());
            assert_eq!(classify(&name).owner(), Some(ID), "{name}");
            assert_eq!(classify(&name).device_id(), None, "not a sync file: {name}");
        }
    }
    assert_eq!(classify(&header).owner(), Some(ID));
    assert_eq!(classify(&device_file_name(ID)).owner(), Some(ID));
    assert_eq!(classify(ACCOUNT_FILE).owner(), None);
    assert_eq!(
        classify("header-not-a-uuid.json"),
        Entry::Ignored(IgnoreReason::Unknown)
    );
}
