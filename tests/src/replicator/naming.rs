//! The names engines give conflict copies (a Syncthing short device id, a Windows host name, a
//! date), and the UTC calendar they are written in.

use std::time::{SystemTime, UNIX_EPOCH};

use super::state::XorShift;
use super::Engine;

/// The conflict-copy name `engine` gives a copy of `file_name` coming from folder `from` at
/// `now`; `n` > 0 gives the further names used when the first is taken.
pub fn conflict_name(
    engine: Engine,
    file_name: &str,
    from: usize,
    now: SystemTime,
    n: u32,
) -> String {
    let (stem, ext) = match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (file_name, String::new()),
    };
    let base = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let at = |secs: u64| utc(i64::try_from(secs).unwrap_or(i64::MAX));
    // Engines that stamp the time move on by a second for each further name.
    let t = at(base.saturating_add(u64::from(n)));
    match engine {
        Engine::Syncthing => format!(
            "{stem}.sync-conflict-{:04}{:02}{:02}-{:02}{:02}{:02}-{}{ext}",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
            syncthing_short_id(from)
        ),
        Engine::Dropbox => {
            let number = if n == 0 {
                String::new()
            } else {
                format!(" ({n})")
            };
            let t = at(base);
            format!(
                "{stem} ({}'s conflicted copy {:04}-{:02}-{:02}{number}){ext}",
                host_name(from),
                t.year,
                t.month,
                t.day
            )
        }
        Engine::Nextcloud => format!(
            "{stem} (conflicted copy {:04}-{:02}-{:02} {:02}{:02}{:02}){ext}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
        Engine::ICloud => format!("{stem} {}{ext}", n + 2),
        // rclone bisync 1.60 appends `..pathN` (N the side the version came from) to the whole
        // name; a further copy gets 1.66's numbered suffix.
        Engine::Rclone if n == 0 => format!("{file_name}..path{}", from + 1),
        Engine::Rclone => format!("{file_name}.conflict{n}"),
        Engine::Unison => {
            let number = if n == 0 {
                String::new()
            } else {
                format!(" #{n}")
            };
            let t = at(base);
            format!(
                "{stem} (conflict{number}_on_{:04}-{:02}-{:02}){ext}",
                t.year, t.month, t.day
            )
        }
        Engine::OneDrive => {
            let number = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            format!("{stem}-{}{number}{ext}", host_name(from))
        }
    }
}

/// The host name the simulated device of folder `folder` has: `DESKTOP-` and seven letters and
/// digits, as Windows names machines (used by the Dropbox and OneDrive names).
pub fn host_name(folder: usize) -> String {
    format!(
        "DESKTOP-{}",
        tag(folder, 0x9e37_79b9, b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
    )
}

/// The 7-character short device id Syncthing would show for the device of folder `folder`.
pub fn syncthing_short_id(folder: usize) -> String {
    tag(folder, 0x85eb_ca6b, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
}

fn tag(folder: usize, salt: u64, alphabet: &[u8]) -> String {
    let mut rng = XorShift::new((folder as u64 + 1).wrapping_mul(salt));
    (0..7)
        .map(|_| {
            let i = (rng.next() % alphabet.len() as u64) as usize;
            char::from(alphabet[i])
        })
        .collect()
}

/// A calendar date and time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
}

/// The UTC calendar time of `secs` seconds since the Unix epoch (proleptic Gregorian calendar).
pub fn utc(secs: i64) -> UtcTime {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Every value below is in range by construction.
    UtcTime {
        year,
        month: month as u32,
        day: day as u32,
        hour: (of_day / 3600) as u32,
        minute: (of_day / 60 % 60) as u32,
        second: (of_day % 60) as u32,
    }
}
