//! `import`, `export`, `backup`, `restore`: files in and out, sent to and
//! from the daemon as base64.
//!
//! While a long import or restore runs and stderr is a terminal, a second
//! connection subscribes to the daemon's events and shows
//! `importing N/M` from its progress events (see [`ProgressLine`]).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use coffer_proto::dirs::Dirs;
use coffer_proto::reply::{BlobReply, Event, ImportReply};
use coffer_proto::request::{
    ExportParams, ImportContainerParams, ImportParams, NoParams, RestoreParams,
};
use coffer_proto::{ErrorCode, EventEnvelope, Request, Secret, MAX_LINE};
use coffer_vault::account_key::AccountKey;
use zeroize::Zeroizing;

use super::{emit_bytes, emit_json, line, message_or, Ctx};
use crate::cli::{BackupArgs, ExportArgs, ImportArgs, RestoreArgs};
use crate::client::{decode, Client};
use crate::error::CliError;
use crate::files::write_private;
use crate::secrets;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Room left in a request line for everything but the file's base64.
const ENVELOPE_ROOM: usize = 64 * 1024;

/// Reads a file to send and encodes it, refusing one too large for a
/// request line before reading it all.
fn read_base64(path: &Path) -> Result<Secret, CliError> {
    let limit = (MAX_LINE - ENVELOPE_ROOM) / 4 * 3;
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
    if meta.len() > limit as u64 {
        return Err(CliError::Failed(format!(
            "{} is {} bytes; coffer takes files of at most {} MiB",
            path.display(),
            meta.len(),
            limit / (1024 * 1024)
        )));
    }
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?,
    );
    Ok(Secret::new(B64.encode(&bytes[..])))
}

fn decode_blob(what: &str, b: &BlobReply) -> Result<Zeroizing<Vec<u8>>, CliError> {
    B64.decode(b.content_base64.expose())
        .map(Zeroizing::new)
        .map_err(|e| CliError::Failed(format!("cofferd sent a {what} that is not base64: {e}")))
}

/// How many skipped items a summary lists before it only counts them.
const LISTED: usize = 20;

/// What an import (`done` = "imported") or restore ("restored") did.
fn import_summary(r: &ImportReply, source: &str, done: &str) -> String {
    let mut s = if r.dry_run {
        format!(
            "Dry run: {} item(s) read from {source}; {} would be imported. Nothing was changed.",
            r.read, r.imported
        )
    } else {
        format!(
            "{} item(s) read from {source}; {} {done}.",
            r.read, r.imported
        )
    };
    if !r.skipped.is_empty() {
        s.push_str(&format!("\nSkipped {}:", r.skipped.len()));
        for why in r.skipped.iter().take(LISTED) {
            s.push_str(&format!("\n  {why}"));
        }
        if r.skipped.len() > LISTED {
            s.push_str(&format!(
                "\n  … and {} more (`--json` lists them all)",
                r.skipped.len() - LISTED
            ));
        }
    }
    s
}

/// Names the file in a daemon's complaint about its content.
fn in_file(path: &Path, e: CliError) -> CliError {
    match e {
        CliError::Daemon(mut body) if body.code == ErrorCode::BadInput => {
            let shown = path.display().to_string();
            if !body.message.starts_with(&shown) {
                body.message = format!("{shown}: {}", body.message);
            }
            CliError::Daemon(body)
        }
        e => e,
    }
}

/// The format name of `import coffer-container`.
pub const CONTAINER_FORMAT: &str = "coffer-container";

pub fn import(ctx: &mut Ctx, a: ImportArgs) -> Result<(), CliError> {
    if a.format == CONTAINER_FORMAT {
        return import_container(ctx, a);
    }
    let content = read_base64(&a.file)?;
    let file_name = a.file.display().to_string();
    let request = Request::Import(ImportParams {
        format: a.format.clone(),
        file_name: file_name.clone(),
        content_base64: content,
        dry_run: a.dry_run,
    });
    send_import(ctx, &a, request, &file_name)
}

/// `import coffer-container FILE`: a container from the trash (or a
/// backup) of an older epoch, merged into the current account with that
/// epoch's Account Password and Account Key.
fn import_container(ctx: &mut Ctx, a: ImportArgs) -> Result<(), CliError> {
    let content = read_base64(&a.file)?;
    let file_name = a.file.display().to_string();
    let account_key = super::account::account_key_from(ctx, secrets::OLD_ACCOUNT_KEY)?;
    let password = ctx.secrets().get(secrets::OLD_PASSWORD)?;
    let request = Request::ImportContainer(ImportContainerParams {
        file_name: file_name.clone(),
        content_base64: content,
        password,
        account_key,
        dry_run: a.dry_run,
    });
    send_import(ctx, &a, request, &file_name)
}

/// Sends an import `request` for `a.file` with a progress line, and prints
/// what it did (or the reply as JSON with `--json`).
fn send_import(
    ctx: &mut Ctx,
    a: &ImportArgs,
    request: Request,
    file_name: &str,
) -> Result<(), CliError> {
    let mut client = ctx.client()?;
    let progress = ProgressLine::start(ctx.dirs()?, "import", "importing");
    let result = client.call(request);
    drop(progress);
    let value = result.map_err(|e| in_file(&a.file, e))?;
    if a.json {
        return emit_json(&value);
    }
    let r: ImportReply = decode("import", value)?;
    line(&import_summary(&r, file_name, "imported"))
}

pub fn export(ctx: &mut Ctx, a: ExportArgs) -> Result<(), CliError> {
    let value = ctx.client()?.call(Request::Export(ExportParams {
        format: a.format.clone(),
    }))?;
    let blob: BlobReply = decode("export", value)?;
    let bytes = decode_blob("export", &blob)?;
    match &a.file {
        Some(path) => {
            write_private(path, &bytes)?;
            eprintln!(
                "coffer: warning: {} is NOT encrypted: it holds every password in plain text. \
                 Delete it as soon as you are done with it.",
                path.display()
            );
            line(&format!(
                "Exported {} item(s) to {} ({}).",
                blob.items,
                path.display(),
                a.format
            ))
        }
        None => {
            eprintln!(
                "coffer: warning: this export is NOT encrypted: it holds every password in plain text."
            );
            emit_bytes(&bytes)
        }
    }
}

pub fn backup(ctx: &mut Ctx, a: BackupArgs) -> Result<(), CliError> {
    let value = ctx.client()?.call(Request::Backup(NoParams {}))?;
    let blob: BlobReply = decode("backup", value)?;
    let bytes = decode_blob("backup", &blob)?;
    match &a.file {
        Some(path) => {
            write_private(path, &bytes)?;
            line(&format!(
                "Wrote an encrypted backup of {} item(s) to {}. Restoring it needs the current \
                 Account Password and Account Key.",
                blob.items,
                path.display()
            ))
        }
        None => emit_bytes(&bytes),
    }
}

pub fn restore(ctx: &mut Ctx, a: RestoreArgs) -> Result<(), CliError> {
    let content = read_base64(&a.file)?;
    let text = ctx.secrets().get(secrets::ACCOUNT_KEY)?;
    let key = AccountKey::parse(text.expose()).map_err(CliError::BadAccountKey)?;
    let account_key = Secret::new(key.to_text().expose());
    let password = ctx.secrets().get(secrets::PASSWORD)?;
    let mut client = ctx.client()?;
    let progress = ProgressLine::start(ctx.dirs()?, "restore", "restoring");
    let result = client.call(Request::Restore(RestoreParams {
        content_base64: content,
        password,
        account_key,
    }));
    drop(progress);
    let value = result.map_err(|e| in_file(&a.file, e))?;
    if a.json {
        return emit_json(&value);
    }
    let source = a.file.display().to_string();
    match decode::<ImportReply>("restore", value.clone()) {
        Ok(r) => line(&import_summary(&r, &source, "restored")),
        Err(_) => line(&message_or(&value, &format!("Restored {source}."))),
    }
}

/// How long the subscription's handshake may take before progress is
/// given up (the request itself is not affected).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the progress thread checks whether it should stop.
const POLL: Duration = Duration::from_millis(100);
/// Event lines are small; a longer one ends the progress display.
const MAX_EVENT_LINE: usize = 64 * 1024;

/// `importing N/M` on stderr, from the daemon's progress events, while a
/// request runs on the main connection. Best effort: when stderr is not a
/// terminal or the subscription fails, nothing is shown and nothing else
/// changes. Dropping it stops the thread (within [`POLL`]) and clears the
/// line.
struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<bool>>,
}

impl ProgressLine {
    /// Subscribes on a second connection (before the request is sent, so
    /// no event is missed) and starts the display thread.
    fn start(dirs: &Dirs, operation: &'static str, verb: &'static str) -> Option<ProgressLine> {
        // SAFETY: isatty only inspects the descriptor number.
        if unsafe { libc::isatty(2) } != 1 {
            return None;
        }
        let reader = subscribe(&dirs.socket(), dirs.log_file()).ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || show_progress(reader, &flag, operation, verb))
            .ok()?;
        Some(ProgressLine {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            if let Ok(true) = t.join() {
                let mut err = io::stderr().lock();
                let _ = err.write_all(b"\r\x1b[2K");
                let _ = err.flush();
            }
        }
    }
}

/// Connects, says hello and subscribes, through the one client path (so a
/// daemon of another protocol is refused here as everywhere); returns the
/// reader, ready for event lines (with a short read timeout, so the thread
/// can stop).
fn subscribe(socket: &Path, log_file: PathBuf) -> Result<BufReader<UnixStream>, CliError> {
    let reader = Client::connect_to(socket, log_file, HANDSHAKE_TIMEOUT)?.into_events()?;
    reader
        .get_ref()
        .set_read_timeout(Some(POLL))
        .map_err(|e| CliError::io("cannot talk to cofferd", e))?;
    Ok(reader)
}

/// The display loop; returns whether it printed anything.
fn show_progress(
    mut reader: BufReader<UnixStream>,
    stop: &AtomicBool,
    operation: &str,
    verb: &str,
) -> bool {
    let mut shown = false;
    // Kept across timeouts: read_until leaves what it read of a line here.
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) if buf.ends_with(b"\n") => {
                if let Ok(EventEnvelope {
                    event:
                        Event::Progress {
                            operation: op,
                            done,
                            total,
                        },
                    ..
                }) = serde_json::from_slice(&buf)
                {
                    if op == operation && !stop.load(Ordering::Relaxed) {
                        let mut err = io::stderr().lock();
                        let _ = write!(err, "\r{verb} {done}/{total}");
                        let _ = err.flush();
                        shown = true;
                    }
                }
                buf.clear();
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
        if buf.len() > MAX_EVENT_LINE {
            break;
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let r = ImportReply {
            read: 3,
            imported: 2,
            skipped: vec!["row 3: no title".into()],
            dry_run: true,
        };
        let s = import_summary(&r, "x.csv", "imported");
        assert!(
            s.starts_with("Dry run: 3 item(s) read from x.csv; 2 would be imported."),
            "{s}"
        );
        assert!(s.contains("Skipped 1:\n  row 3: no title"), "{s}");
    }

    #[test]
    fn long_skip_lists_are_cut() {
        let r = ImportReply {
            read: 30,
            imported: 0,
            skipped: (1..=30)
                .map(|i| format!("item {i}: already in the vault"))
                .collect(),
            dry_run: false,
        };
        let s = import_summary(&r, "x.csv", "imported");
        assert!(s.contains("item 20: already"), "{s}");
        assert!(!s.contains("item 21: already"), "{s}");
        assert!(s.contains("… and 10 more"), "{s}");
    }

    #[test]
    fn content_errors_name_the_file() {
        let e = CliError::Daemon(coffer_proto::ErrorBody::new(
            ErrorCode::BadInput,
            "not a coffer backup",
        ));
        let e = in_file(Path::new("dir/b.backup"), e);
        assert!(
            e.to_string().contains("dir/b.backup: not a coffer backup"),
            "{e}"
        );
        let e = CliError::Daemon(coffer_proto::ErrorBody::new(ErrorCode::Locked, "locked"));
        assert!(!in_file(Path::new("f"), e).to_string().contains("f:"));
    }

    /// A fake daemon: answers the hello and the subscription (or refuses
    /// it), sends `events`, then hangs up.
    fn fake_daemon(path: &Path, refuse: bool, events: Vec<String>) -> std::thread::JoinHandle<()> {
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.contains("\"hello\""), "{line}");
            w.write_all(b"{\"hello\":{\"protocol\":1,\"software\":\"cofferd t\",\"pid\":9}}\n")
                .unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.contains("\"subscribe\""), "{line}");
            if refuse {
                w.write_all(
                    b"{\"id\":1,\"error\":{\"code\":\"bad_request\",\"message\":\"no\"}}\n",
                )
                .unwrap();
                return;
            }
            w.write_all(b"{\"id\":1,\"result\":{\"subscribed\":true}}\n")
                .unwrap();
            for e in events {
                // Split lines in two writes: the reader must join them.
                let (a, b) = e.split_at(e.len() / 2);
                w.write_all(a.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(150));
                w.write_all(b.as_bytes()).unwrap();
                w.write_all(b"\n").unwrap();
            }
        })
    }

    #[test]
    fn progress_follows_the_events_of_its_operation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let progress = |op: &str, done: usize| {
            serde_json::json!({"event": {"kind": "progress", "operation": op, "done": done, "total": 500}, "at_ms": 1}).to_string()
        };
        let events = vec![
            serde_json::json!({"event": {"kind": "state", "state": "locked"}, "at_ms": 1})
                .to_string(),
            progress("restore", 250),
            progress("import", 250),
        ];
        let server = fake_daemon(&path, false, events);
        let reader = subscribe(&path, dir.path().join("log")).unwrap();
        // The fake hangs up after its events, which ends the loop.
        assert!(show_progress(
            reader,
            &AtomicBool::new(false),
            "import",
            "importing"
        ));
        server.join().unwrap();

        // Only other operations' events: nothing shown.
        let path2 = dir.path().join("s2.sock");
        let server = fake_daemon(&path2, false, vec![progress("restore", 250)]);
        let reader = subscribe(&path2, dir.path().join("log")).unwrap();
        assert!(!show_progress(
            reader,
            &AtomicBool::new(false),
            "import",
            "importing"
        ));
        server.join().unwrap();

        // A stop request ends the loop while the daemon stays silent.
        let path3 = dir.path().join("s3.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path3).unwrap();
        let silent = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            w.write_all(b"{\"hello\":{\"protocol\":1,\"software\":\"t\",\"pid\":9}}\n")
                .unwrap();
            r.read_line(&mut line).unwrap();
            w.write_all(b"{\"id\":1,\"result\":{}}\n").unwrap();
            line.clear();
            let _ = r.read_line(&mut line);
        });
        let reader = subscribe(&path3, dir.path().join("log")).unwrap();
        let stop = AtomicBool::new(false);
        let started = std::time::Instant::now();
        let shown = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                stop.store(true, Ordering::Relaxed);
            });
            show_progress(reader, &stop, "import", "importing")
        });
        assert!(!shown);
        assert!(started.elapsed() < Duration::from_secs(2));
        silent.join().unwrap();
    }

    #[test]
    fn a_failed_subscription_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let server = fake_daemon(&path, true, Vec::new());
        let log = dir.path().join("log");
        assert!(subscribe(&path, log.clone()).is_err());
        server.join().unwrap();
        assert!(subscribe(&dir.path().join("nobody"), log).is_err());
        // Not a terminal under the test harness, or no daemon: no display.
        let nobody = Dirs {
            config: dir.path().join("config"),
            data: dir.path().join("data"),
            state: dir.path().join("state"),
            runtime: dir.path().join("nobody"),
        };
        assert!(ProgressLine::start(&nobody, "import", "importing").is_none());
    }

    /// A daemon that greets every connection with `hello` and returns
    /// what each client sent after its own hello.
    fn greeter(path: &Path, hello: &'static str, connections: usize) -> JoinHandle<Vec<String>> {
        use std::io::Read as _;
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            (0..connections)
                .map(|_| {
                    let (stream, _) = listener.accept().unwrap();
                    let mut w = stream.try_clone().unwrap();
                    let mut r = BufReader::new(stream);
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    w.write_all(hello.as_bytes()).unwrap();
                    let mut rest = String::new();
                    let _ = r.read_to_string(&mut rest);
                    rest
                })
                .collect()
        })
    }

    /// The progress display's connection goes through the client's
    /// handshake: a daemon of another protocol is refused there with the
    /// message every other command gives, and no subscription is sent.
    #[test]
    fn a_protocol_mismatch_is_caught_on_the_subscription_too() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("cofferd.log");
        for hello in [
            "{\"hello\":{\"protocol\":2,\"software\":\"cofferd 9\",\"pid\":9}}\n",
            "{\"id\":null,\"error\":{\"code\":\"protocol_mismatch\",\"message\":\"m\",\
             \"data\":{\"protocol\":3}}}\n",
        ] {
            let path = dir.path().join("s.sock");
            let _ = std::fs::remove_file(&path);
            let daemon = greeter(&path, hello, 2);
            let progress = subscribe(&path, log.clone()).unwrap_err();
            assert!(
                matches!(progress, CliError::ProtocolMismatch { .. }),
                "{progress:?}"
            );
            let stream = UnixStream::connect(&path).unwrap();
            let command = match Client::handshake(stream, log.clone()) {
                Err(e) => e,
                Ok(_) => panic!("a daemon of another protocol was accepted"),
            };
            assert_eq!(progress.to_string(), command.to_string());
            assert_eq!(progress.exit_code(), command.exit_code());
            assert!(progress.to_string().contains("coffer stop"), "{progress}");
            let sent = daemon.join().unwrap();
            assert_eq!(sent, ["", ""], "nothing follows a refused hello");
        }
    }

    #[test]
    fn files_round_trip_through_base64() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        std::fs::write(&p, b"a,b\n\xff").unwrap();
        let enc = read_base64(&p).unwrap();
        let blob = BlobReply {
            content_base64: enc,
            items: 1,
        };
        assert_eq!(&decode_blob("export", &blob).unwrap()[..], b"a,b\n\xff");
        assert!(read_base64(&dir.path().join("missing")).is_err());
    }
}
