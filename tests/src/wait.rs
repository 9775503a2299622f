//! Waiting for something a daemon does in its own time (an item arriving
//! through a sync folder, a state change), with a hard deadline: a wait
//! that runs out panics saying what was awaited and for how long, with
//! whatever context the test can give (a log, a folder listing), instead of
//! hanging or failing with a bare `assertion failed`.
//!
//! A probe returns `Some(value)` once the thing happened (the value is
//! handed back) and `None` while it has not. The deadline is checked after
//! every probe, so a probe that succeeds at the last moment still counts;
//! a slow probe is bounded by its own timeout ([`COMMAND_TIMEOUT`] for a
//! `coffer` run).
//!
//! [`COMMAND_TIMEOUT`]: crate::COMMAND_TIMEOUT

use std::time::{Duration, Instant};

/// The pause between two probes: short against the deadlines in use
/// (seconds), long enough not to keep a shared machine busy.
pub const POLL: Duration = Duration::from_millis(25);

/// Polls `probe` until it gives a value, for at most `limit`; panics
/// saying `what` was awaited.
pub fn wait_for<T>(what: &str, limit: Duration, probe: impl FnMut() -> Option<T>) -> T {
    wait_until(what, limit, probe, String::new)
}

/// [`wait_for`], with `context()` (asked only when the wait runs out)
/// added to the panic message.
pub fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        let elapsed = start.elapsed();
        if elapsed >= limit {
            let context = context();
            let sep = if context.is_empty() { "" } else { "\n" };
            panic!(
                "timed out after {limit:?} waiting for {what} (waited {elapsed:?}){sep}{context}"
            );
        }
        std::thread::sleep(POLL.min(limit - elapsed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_comes_back_once_the_probe_gives_it() {
        let mut n = 0;
        let got = wait_for("the third probe", Duration::from_secs(10), || {
            n += 1;
            (n == 3).then_some(n * 10)
        });
        assert_eq!(got, 30);
    }

    #[test]
    fn a_wait_that_runs_out_says_what_it_awaited_and_the_context() {
        let err = std::panic::catch_unwind(|| {
            wait_until(
                "something that never happens",
                Duration::from_millis(60),
                || None::<()>,
                || "the log says nothing".to_owned(),
            )
        })
        .expect_err("the wait runs out");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.contains("waiting for something that never happens"),
            "{msg}"
        );
        assert!(msg.contains("the log says nothing"), "{msg}");
    }

    #[test]
    fn the_context_is_not_asked_when_the_wait_succeeds() {
        wait_until(
            "at once",
            Duration::from_secs(1),
            || Some(()),
            || panic!("context asked for a wait that succeeded"),
        );
    }
}
