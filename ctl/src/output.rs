//! Human output: the status report, the emergency kit, tables and dates.
//! Every function returns text, so tests can read it; the commands print.

use std::fmt::Write as _;

use coffer_proto::reply::{
    HeaderInfo, HistoryReply, ItemSummary, ResetDetails, State, StatusInfo, SyncFolderInfo,
};
use coffer_proto::secret_service::SecretServiceState;
use coffer_vault::account_key::AccountKey;

/// The emergency kit's fields.
pub struct Kit<'a> {
    /// The account email.
    pub email: &'a str,
    /// The account id.
    pub account_id: &'a str,
    /// The Account Key text (a secret: only ever printed to the user).
    pub account_key: &'a str,
    /// The epoch.
    pub epoch: u64,
    /// When the account was created (ms since the epoch).
    pub created_ms: u64,
}

/// The emergency kit: account, Account Key as text and as a QR code, and
/// what to do with it.
pub fn kit(k: &Kit<'_>) -> String {
    let mut out = String::new();
    let rule = "=".repeat(60);
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(out, "  coffer EMERGENCY KIT");
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(out, "  Account email:  {}", k.email);
    let _ = writeln!(out, "  Account id:     {}", k.account_id);
    let _ = writeln!(out, "  Created:        {}", date(k.created_ms));
    let _ = writeln!(out, "  Epoch:          {}", k.epoch);
    let _ = writeln!(out, "  Account Key:    {}", k.account_key);
    let _ = writeln!(
        out,
        "  Account Password: (not here: write it down yourself, by hand)"
    );
    let _ = writeln!(out);
    match AccountKey::parse(k.account_key) {
        Ok(key) => {
            let _ = writeln!(out, "  The Account Key as a QR code:");
            out.push_str(&key.qr_unicode());
            out.push('\n');
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "  (no QR code: the daemon sent an Account Key this coffer cannot read: {e})"
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  Print this kit or write it down, and store it somewhere safe and offline."
    );
    let _ = writeln!(
        out,
        "  To sign in on a new device you need the Account Key above AND your Account Password."
    );
    let _ = writeln!(
        out,
        "  Nobody can recover them for you: not coffer, not its authors. If you lose either,"
    );
    let _ = writeln!(
        out,
        "  the only way back is `coffer reset`, which wipes every item on every device."
    );
    let _ = writeln!(out, "{rule}");
    out
}

/// `coffer status` for people.
pub fn status(s: &StatusInfo) -> String {
    let mut out = String::new();
    let line = |out: &mut String, label: &str, value: &str| {
        let _ = writeln!(out, "{:<14}{}", format!("{label}:"), value);
    };
    line(&mut out, "State", s.state.as_str());
    if let Some(email) = &s.email {
        line(&mut out, "Email", email);
    }
    if let Some(id) = &s.account_id {
        line(&mut out, "Account", id);
    }
    if let Some(epoch) = s.epoch {
        line(&mut out, "Epoch", &epoch.to_string());
    }
    if let Some(id) = &s.device_id {
        let name = s.device_name.as_deref().unwrap_or("");
        let text = if name.is_empty() {
            id.clone()
        } else {
            format!("{name} ({id})")
        };
        line(&mut out, "Device", &text);
    }
    if let Some(items) = s.items {
        let what = if s.state == State::Unlocked {
            format!("{items}")
        } else {
            format!("{items} records (unlock to see the items)")
        };
        line(&mut out, "Items", &what);
    }
    let cache = if s.key_cache.persistent {
        format!("{} (survives a daemon restart)", s.key_cache.backend)
    } else {
        format!("{} only (lost when the daemon stops)", s.key_cache.backend)
    };
    line(&mut out, "Key cache", &cache);
    if let Some(w) = &s.key_cache.warning {
        line(&mut out, "  warning", w);
    }
    if let Some(h) = &s.header {
        header_lines(&mut out, h);
    }
    if let Some(w) = &s.kdf_warning {
        line(&mut out, "Warning", w);
    }
    if s.state == State::Unlocked || s.state == State::Locked {
        line(
            &mut out,
            "Lock timeout",
            &duration_words(s.lock_timeout_secs),
        );
    }
    if s.sync_folders.is_empty() {
        line(
            &mut out,
            "Sync folders",
            "none (add one with `coffer sync add DIR`)",
        );
    } else {
        line(&mut out, "Sync folders", "");
        out.push_str(&sync_folders(&s.sync_folders));
    }
    if let Some(c) = &s.container {
        line(&mut out, "Container", &c.display().to_string());
    }
    line(&mut out, "SSH agent", &ssh_agent(s.ssh_agent.as_ref()));
    line(
        &mut out,
        "Daemon",
        &format!("pid {}, version {}", s.pid, s.version),
    );
    if let Some(ss) = &s.secret_service {
        // One column wider than the other labels: its name is longer.
        let _ = writeln!(out, "Secret Service: {}", secret_service_line(ss));
    }
    for c in &s.conflicts {
        let _ = writeln!(
            out,
            "Conflict:     {} \"{}\" ({}, {}): {}",
            c.item_id,
            c.title,
            c.kind,
            date(c.at_ms),
            c.message
        );
    }
    let _ = writeln!(out);
    match s.state {
        State::SignedOut => {
            let _ = writeln!(
                out,
                "No account on this device. Create one with `coffer signup --email EMAIL`, \
                 or sign in to yours with `coffer login --email EMAIL --sync-folder DIR`."
            );
        }
        State::Locked => {
            let _ = writeln!(out, "The vault is locked. Unlock it with `coffer unlock`.");
        }
        State::Unlocked => {}
        State::Reset => match &s.reset {
            Some(r) => out.push_str(&reset_details(r)),
            None => {
                let _ = writeln!(
                    out,
                    "The account was reset. Log in again with the new Account Password and \
                     the new Account Key: `coffer login --email EMAIL --sync-folder DIR`."
                );
            }
        },
    }
    if let Some(ss) = &s.secret_service {
        out.push_str(&waiting_prompts(ss, s.state));
    }
    out
}

/// The Secret Service in one line.
pub fn secret_service_line(ss: &SecretServiceState) -> String {
    let bus = ss.bus_address.as_deref().unwrap_or("the session bus");
    match (ss.enabled, ss.providing, &ss.problem) {
        (_, true, _) => format!("provides org.freedesktop.secrets on {bus}"),
        (true, false, Some(p)) => format!("enabled, not provided: {p}"),
        (true, false, None) => "enabled, starting".to_string(),
        (false, false, _) => "disabled".to_string(),
    }
}

/// The Secret Service clients waiting for the vault in state `state`, and
/// what completes their prompt, in words (empty when none wait).
pub fn waiting_prompts(ss: &SecretServiceState, state: State) -> String {
    if ss.waiting.is_empty() {
        return String::new();
    }
    let what = match state {
        State::SignedOut | State::Reset => "sign in with `coffer login`",
        State::Locked | State::Unlocked => "run `coffer unlock`",
    };
    let verb = if ss.waiting.len() == 1 {
        "waits"
    } else {
        "wait"
    };
    format!(
        "A Secret Service prompt is waiting: {what} ({} {verb} for the vault).\n",
        ss.waiting.join(", ")
    )
}

/// The items of collection `name` as a table: id, title, attributes.
pub fn collection_table(name: &str, items: &[ItemSummary]) -> String {
    if items.is_empty() {
        return format!("No items in collection {name}.\n");
    }
    let attrs: Vec<String> = items
        .iter()
        .map(|i| {
            i.attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let rows: Vec<[&str; 3]> = items
        .iter()
        .zip(&attrs)
        .map(|(i, a)| [i.id.as_str(), i.title.as_str(), a.as_str()])
        .collect();
    table(&["ID", "TITLE", "ATTRIBUTES"], &rows)
}

/// How many items the collections other than the default one hold, and
/// how to see them (empty when there are none).
pub fn other_collections(items: &[ItemSummary]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for c in items.iter().filter_map(|i| i.collection.as_deref()) {
        *counts.entry(c).or_default() += 1;
    }
    counts
        .iter()
        .map(|(c, n)| {
            let what = if *n == 1 { "item" } else { "items" };
            format!("(+ {n} {what} in collection {c}: `coffer list --collection {c}`)\n")
        })
        .collect()
}

/// What a reset did and what to do next, in plain words.
pub fn reset_details(r: &ResetDetails) -> String {
    let mut out = String::new();
    let by = if r.by_device_name.is_empty() {
        format!("device {}", r.by_device_id)
    } else {
        format!("device \"{}\" ({})", r.by_device_name, r.by_device_id)
    };
    let _ = writeln!(
        out,
        "The account was reset on {} from {by} (epoch {} -> {}).",
        date(r.at_ms),
        r.previous_epoch,
        r.new_epoch
    );
    let _ = writeln!(
        out,
        "Every item saved before the reset was wiped, on every device; the old Account Password \
         and Account Key no longer work."
    );
    if let Some(t) = &r.trashed_container {
        let _ = writeln!(
            out,
            "This device's old vault file was moved to the trash: {}",
            t.display()
        );
    }
    if let Some(lost) = &r.lost_to_concurrent_reset {
        let _ = writeln!(out, "Note: {lost}");
    }
    let _ = writeln!(
        out,
        "Next: run `{}` and give the NEW Account Password and the NEW Account Key \
         (from the emergency kit printed by the reset).",
        r.next_command
    );
    out.push_str(&old_items_hint(r.trashed_container.as_deref()));
    out
}

/// How the items of the epoch before a reset come back (the regretted reset).
pub fn old_items_hint(trashed: Option<&std::path::Path>) -> String {
    let file = trashed.map_or_else(
        || "<the old vault file from the trash>".to_owned(),
        |t| t.display().to_string(),
    );
    format!(
        "Nothing is lost if you find the OLD Account Password and Account Key later: once \
         signed in to the new account, run `coffer import coffer-container {file}` to bring the \
         old items in as new items (it asks for the old secrets).\n"
    )
}

/// The account header's generation and last change, and what was refused.
fn header_lines(out: &mut String, h: &HeaderInfo) {
    let mut text = format!("generation {}", h.generation);
    if let (Some(at), Some(id)) = (h.changed_at_ms, &h.changed_by_device_id) {
        let name = h.changed_by_device_name.as_deref().unwrap_or("");
        let _ = write!(
            text,
            ", password or hint last changed {} on device \"{name}\" ({id})",
            date(at)
        );
    }
    let _ = writeln!(out, "{:<14}{text}", "Header:");
    if let Some(lost) = &h.lost_change {
        let _ = writeln!(out, "{:<14}{lost}", "  note");
    }
    for p in &h.forged {
        let _ = writeln!(
            out,
            "{:<14}{} does not authenticate under this account's key (forged or damaged); ignored",
            "  warning",
            p.display()
        );
    }
    for p in &h.replayed {
        let _ = writeln!(
            out,
            "{:<14}{} was put back to an older header (an old password); refused",
            "  warning",
            p.display()
        );
    }
}

/// The sync folders, one block each, indented.
pub fn sync_folders(folders: &[SyncFolderInfo]) -> String {
    let mut out = String::new();
    for f in folders {
        let merged = match f.last_merge_ms {
            Some(ms) => format!("last merge {}", date(ms)),
            None => "never merged yet".to_string(),
        };
        let stale = match f.stale_files {
            0 => String::new(),
            n => format!(
                ", {n} stale file(s) of an earlier epoch (each device removes its own; \
                 those of devices that never come back go to the trash one at a time)"
            ),
        };
        let _ = writeln!(
            out,
            "  {}  [{}]  {} device file(s){stale}, {merged}, watched by {}; {} file(s) of this device, {} written since the daemon started",
            f.path.display(),
            f.health,
            f.device_files,
            f.watch,
            f.own_files,
            bytes(f.written_bytes)
        );
        for p in &f.problems {
            let _ = writeln!(
                out,
                "    problem: {}: {} (since {})",
                p.path.display(),
                p.reason,
                date(p.since_ms)
            );
        }
    }
    out
}

/// A byte count for people: `512 B`, `3.4 KiB`, `76.1 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The item list as a table: id, title, username.
/// The SSH agent's line in `status`.
fn ssh_agent(agent: Option<&coffer_proto::ssh::SshAgentInfo>) -> String {
    let Some(a) = agent else {
        return "off (ssh_agent = false in config.toml)".into();
    };
    if !a.serving {
        return format!(
            "{} (not serving: {})",
            a.socket.display(),
            a.error.as_deref().unwrap_or("unknown reason")
        );
    }
    let listing = if a.list_locked {
        "lists keys while locked too"
    } else {
        "lists keys only when unlocked"
    };
    let add = if a.add_policy == "store" {
        "ssh-add stores keys"
    } else {
        "ssh-add refused"
    };
    format!("{} ({listing}; {add})", a.socket.display())
}

pub fn item_table(items: &[ItemSummary]) -> String {
    if items.is_empty() {
        return "No items yet. Add one with `coffer add TITLE`.\n".to_string();
    }
    let rows: Vec<[&str; 3]> = items
        .iter()
        .map(|i| [i.id.as_str(), i.title.as_str(), i.username.as_str()])
        .collect();
    table(&["ID", "TITLE", "USERNAME"], &rows)
}

/// An item's history, newest first.
pub fn history(h: &HistoryReply) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "History of \"{}\" ({}):", h.title, h.id);
    if h.entries.is_empty() {
        let _ = writeln!(out, "  no earlier values");
        return out;
    }
    let rows: Vec<[String; 4]> = h
        .entries
        .iter()
        .map(|e| {
            [
                date(e.set_ms),
                e.field.clone(),
                e.value.expose().to_string(),
                e.device_id.clone(),
            ]
        })
        .collect();
    let refs: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str(), r[3].as_str()])
        .collect();
    out.push_str(&table(&["SET", "FIELD", "OLD VALUE", "DEVICE"], &refs));
    out
}

/// A left-aligned table with two spaces between columns; the last column
/// is not padded.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[&str; N]]) -> String {
    let mut widths = [0usize; N];
    for row in std::iter::once(header).chain(rows.iter()) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let cell = cell.replace(['\n', '\r', '\t'], " ");
            if i + 1 < N {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(&cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            } else {
                line.push_str(&cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `2024-05-01 12:34 UTC` from milliseconds since the Unix epoch.
pub fn date(ms: u64) -> String {
    coffer_proto::time::utc_minutes(ms)
}

/// `15 minutes`, `1 hour`, `90 seconds`, `never`.
pub fn duration_words(secs: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match secs {
        0 => "never".to_string(),
        s if s % 3600 == 0 => plural(s / 3600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_proto::reply::KeyCacheInfo;
    use std::path::PathBuf;

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(date(1_700_000_000_000), "2023-11-14 22:13 UTC");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_words(900), "15 minutes");
        assert_eq!(duration_words(3600), "1 hour");
        assert_eq!(duration_words(61), "61 seconds");
        assert_eq!(duration_words(0), "never");
    }

    #[test]
    fn tables_align() {
        let t = table(&["ID", "TITLE"], &[["a", "Mail"], ["bbbb", "Bank\nx"]]);
        assert_eq!(t, "ID    TITLE\na     Mail\nbbbb  Bank x\n");
    }

    #[test]
    fn kit_has_key_qr_and_warning() {
        let text = AccountKey::generate().to_text();
        let k = kit(&Kit {
            email: "a@example.org",
            account_id: "acc-1",
            account_key: text.expose(),
            epoch: 1,
            created_ms: 0,
        });
        assert!(k.contains(text.expose()), "{k}");
        assert!(k.contains("a@example.org") && k.contains("acc-1"));
        assert!(k.contains("QR code:"), "{k}");
        assert!(k.contains('█') || k.contains('▀') || k.contains('▄'), "{k}");
        assert!(k.contains("Nobody can recover"), "{k}");
        let bad = kit(&Kit {
            email: "e",
            account_id: "i",
            account_key: "nonsense",
            epoch: 1,
            created_ms: 0,
        });
        assert!(bad.contains("no QR code"), "{bad}");
    }

    fn status_info(state: State) -> StatusInfo {
        StatusInfo {
            state,
            account_id: Some("acc".into()),
            email: Some("a@example.org".into()),
            epoch: Some(2),
            device_id: Some("dev".into()),
            device_name: Some("laptop".into()),
            items: Some(3),
            pid: 42,
            container: Some(PathBuf::from("/c")),
            sync_folders: vec![SyncFolderInfo {
                path: PathBuf::from("/sync"),
                health: "problems".into(),
                last_merge_ms: None,
                device_files: 2,
                stale_files: 1,
                own_files: 3,
                written_bytes: 3 * 1024 * 1024 + 100 * 1024,
                problems: vec![coffer_proto::reply::FileProblem {
                    path: PathBuf::from("/sync/acc/x.dev"),
                    reason: "truncated; left in place".into(),
                    since_ms: 0,
                }],
                watch: "notify".into(),
            }],
            key_cache: KeyCacheInfo {
                backend: "memory".into(),
                persistent: false,
                warning: Some("no keyring answered".into()),
            },
            lock_timeout_secs: 900,
            reset: None,
            kdf_warning: None,
            conflicts: vec![],
            header: Some(HeaderInfo {
                generation: 3,
                changed_at_ms: Some(1_735_689_600_000),
                changed_by_device_id: Some("d9".into()),
                changed_by_device_name: Some("desktop".into()),
                lost_change: Some("the change made here lost".into()),
                forged: vec![PathBuf::from("/sync/acc/header-x.json")],
                replayed: vec![PathBuf::from("/sync/acc/header-y.json")],
            }),
            version: "0.1.0".into(),
            secret_service: None,
            ssh_agent: Some(coffer_proto::ssh::SshAgentInfo {
                socket: PathBuf::from("/run/coffer/ssh-agent.sock"),
                serving: true,
                error: None,
                list_locked: false,
                add_policy: "refuse".into(),
            }),
        }
    }

    #[test]
    fn the_ssh_agent_line_says_where_and_how() {
        let mut info = status_info(State::Unlocked);
        let s = status(&info);
        assert!(
            s.contains("SSH agent:    /run/coffer/ssh-agent.sock (lists keys only when unlocked; ssh-add refused)"),
            "{s}"
        );
        if let Some(a) = info.ssh_agent.as_mut() {
            a.serving = false;
            a.error = Some("a symlink is in the way".into());
        }
        let s = status(&info);
        assert!(s.contains("not serving: a symlink is in the way"), "{s}");
        info.ssh_agent = None;
        assert!(status(&info).contains("SSH agent:    off"));
    }

    #[test]
    fn status_shows_everything() {
        let s = status(&status_info(State::Unlocked));
        for needle in [
            "unlocked",
            "a@example.org",
            "acc",
            "laptop (dev)",
            "Items:        3",
            "memory only",
            "no keyring answered",
            "/sync  [problems]",
            "truncated; left in place",
            "2 device file(s), 1 stale file(s) of an earlier epoch",
            "3 file(s) of this device, 3.1 MiB written",
            "/c",
            "pid 42",
            "Header:       generation 3, password or hint last changed 2025-01-01 00:00 UTC on device \"desktop\" (d9)",
            "the change made here lost",
            "/sync/acc/header-x.json does not authenticate",
            "/sync/acc/header-y.json was put back to an older header",
        ] {
            assert!(s.contains(needle), "{needle:?} not in\n{s}");
        }
    }

    #[test]
    fn reset_status_says_what_to_do() {
        let mut info = status_info(State::Reset);
        info.reset = Some(ResetDetails {
            at_ms: 0,
            by_device_id: "d2".into(),
            by_device_name: "desktop".into(),
            previous_epoch: 1,
            new_epoch: 2,
            trashed_container: Some(PathBuf::from("/trash/x")),
            next_command: "coffer login --email a@example.org --sync-folder /sync".into(),
            lost_to_concurrent_reset: None,
        });
        let s = status(&info);
        assert!(s.contains("State:        reset"), "{s}");
        assert!(s.contains("\"desktop\""), "{s}");
        assert!(s.contains("/trash/x"), "{s}");
        assert!(
            s.contains("run `coffer import coffer-container /trash/x`"),
            "{s}"
        );
        assert!(
            s.contains("Next: run `coffer login --email a@example.org --sync-folder /sync`"),
            "{s}"
        );
        let s = status(&status_info(State::Locked));
        assert!(s.contains("coffer unlock"), "{s}");
    }

    #[test]
    fn the_secret_service_and_its_waiting_clients_are_shown() {
        let mut info = status_info(State::Locked);
        let s = status(&info);
        assert!(
            !s.contains("Secret Service"),
            "nothing while never enabled:\n{s}"
        );
        info.secret_service = Some(SecretServiceState {
            enabled: true,
            providing: true,
            bus_address: Some("unix:path=/run/user/1/bus".into()),
            problem: None,
            waiting: vec!["secret-tool (pid 42)".into()],
        });
        let s = status(&info);
        assert!(
            s.contains(
                "Secret Service: provides org.freedesktop.secrets on unix:path=/run/user/1/bus"
            ),
            "{s}"
        );
        assert!(
            s.contains("A Secret Service prompt is waiting: run `coffer unlock` (secret-tool (pid 42) waits"),
            "{s}"
        );
        info.state = State::Reset;
        assert!(status(&info).contains("waiting: sign in with `coffer login`"));
        let off = SecretServiceState {
            enabled: true,
            problem: Some("gnome-keyring-daemon (pid 9) already provides it".into()),
            ..SecretServiceState::default()
        };
        assert!(secret_service_line(&off).contains("gnome-keyring-daemon (pid 9)"));
    }

    #[test]
    fn other_collections_are_counted_and_listed_with_attributes() {
        let item = |id: &str, c: Option<&str>| ItemSummary {
            id: id.into(),
            title: format!("t{id}"),
            username: String::new(),
            url: String::new(),
            modified_ms: 0,
            collection: c.map(str::to_string),
            attributes: [("service".to_string(), "github".to_string())].into(),
            kind: None,
        };
        let note = other_collections(&[item("1", Some("login")), item("2", Some("login"))]);
        assert_eq!(
            note,
            "(+ 2 items in collection login: `coffer list --collection login`)\n"
        );
        assert_eq!(other_collections(&[]), "");
        let t = collection_table("login", &[item("1", Some("login"))]);
        assert!(
            t.contains("ATTRIBUTES") && t.contains("service=github"),
            "{t}"
        );
        assert!(collection_table("login", &[]).contains("No items in collection login"));
    }
}
