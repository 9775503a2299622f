//! The clipboard owner: `cofferd --clipboard-owner SECS`, started by the
//! daemon with the client's display in its environment (see the parent
//! module).
//!
//! It reads the value from stdin (to end of file), takes the clipboard,
//! answers `ok` (or `error: REASON`) on stdout, then checks once a second
//! whether the clipboard still holds the value: when something else was
//! copied it leaves at once; after SECS seconds it clears the clipboard if
//! the value is still there, and leaves. It writes nothing else anywhere.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// The longest value it takes (a field of an item, not a file).
const MAX_VALUE: u64 = 1024 * 1024;

/// How often it looks whether the clipboard still holds the value.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Runs the owner; returns the process exit code.
pub fn run(clear_after_secs: u64) -> i32 {
    let mut value = Zeroizing::new(String::new());
    if std::io::stdin()
        .take(MAX_VALUE)
        .read_to_string(&mut value)
        .is_err()
    {
        return answer("error: the value is not UTF-8 text");
    }
    let mut clipboard = match arboard::Clipboard::new() {
        Ok(c) => c,
        Err(e) => return answer(&format!("error: {}", one_line(&e.to_string()))),
    };
    if let Err(e) = clipboard.set_text(value.as_str()) {
        return answer(&format!("error: {}", one_line(&e.to_string())));
    }
    if answer("ok") != 0 {
        let _ = clipboard.clear();
        return 1;
    }
    let deadline = Instant::now() + Duration::from_secs(clear_after_secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        std::thread::sleep(left.min(CHECK_EVERY));
        let still_ours = clipboard
            .get_text()
            .map(|now| Zeroizing::new(now) == value)
            .unwrap_or(false);
        if !still_ours {
            // Something else was copied: leave it alone.
            return 0;
        }
        if left <= CHECK_EVERY {
            let _ = clipboard.clear();
            return 0;
        }
    }
}

/// Writes the one-line answer and closes stdout; 0 when it was written.
fn answer(line: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// A message on one line (the answer is line-framed).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fit_on_one_line() {
        assert_eq!(one_line("a\nb  c\r\n"), "a b c");
    }
}
