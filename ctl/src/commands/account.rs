//! Account commands: signup, login, unlock, lock, logout, status, reset,
//! hint, passwd, kit, stop.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coffer_proto::reply::{HintReply, KitReply, NewAccountReply, StatusInfo};
use coffer_proto::request::{
    HintParams, LoginParams, NoParams, PasswdParams, ResetParams, SetHintParams, SignupParams,
    UnlockParams,
};
use coffer_proto::{Request, Secret};
use coffer_vault::account_key::AccountKey;

use super::{emit, emit_json, line, say, show, Ctx};
use crate::cli::{AccountArgs, HintArgs, LoginArgs, PasswdArgs, ResetArgs, SignupArgs};
use crate::client::{Autostart, Client};
use crate::error::CliError;
use crate::files::absolute;
use crate::output;
use crate::secrets;

/// How long `stop` waits for the daemon's process to end.
const STOP_WAIT: Duration = Duration::from_secs(10);

pub fn signup(ctx: &mut Ctx, a: SignupArgs) -> Result<(), CliError> {
    let sync_folders = a
        .sync_folders
        .iter()
        .map(|p| absolute(p))
        .collect::<Result<Vec<_>, _>>()?;
    let password = ctx.secrets().get(secrets::SIGNUP_PASSWORD)?;
    let mut client = ctx.client()?;
    let reply: NewAccountReply = client.call_as(Request::Signup(SignupParams {
        email: a.email,
        hint: a.hint,
        password,
        sync_folders,
    }))?;
    let headline = format!(
        "Account created for {}. This device is signed in and unlocked.\n",
        reply.email
    );
    new_account(&reply, a.json, &headline)
}

/// What signup and reset print: with `json` the reply, else `headline`
/// and the new emergency kit.
fn new_account(r: &NewAccountReply, json: bool, headline: &str) -> Result<(), CliError> {
    if json {
        return emit_json(r);
    }
    line(headline)?;
    emit(&output::kit(&output::Kit {
        email: &r.email,
        account_id: &r.account_id,
        account_key: r.account_key.expose(),
        epoch: r.epoch,
        created_ms: r.created_ms,
    }))
}

/// Reads the Account Key and checks it locally, so a typo is reported
/// (naming the group) before anything slow runs.
fn account_key(ctx: &mut Ctx) -> Result<Secret, CliError> {
    account_key_from(ctx, secrets::ACCOUNT_KEY)
}

/// An Account Key from where `need` says, checked locally.
pub(crate) fn account_key_from(ctx: &mut Ctx, need: secrets::Need) -> Result<Secret, CliError> {
    let text = ctx.secrets().get(need)?;
    let key = AccountKey::parse(text.expose()).map_err(CliError::BadAccountKey)?;
    Ok(Secret::new(key.to_text().expose()))
}

/// The `--sync-folder` of `login`, `reset` and `hint`, as the daemon must
/// see it.
fn sync_folder(a: &AccountArgs) -> Result<Option<PathBuf>, CliError> {
    a.sync_folder.as_deref().map(absolute).transpose()
}

pub fn login(ctx: &mut Ctx, a: LoginArgs) -> Result<(), CliError> {
    let sync_folder = sync_folder(&a.account)?;
    let account_key = account_key(ctx)?;
    let password = ctx.secrets().get(secrets::PASSWORD)?;
    let done = format!("Signed in as {}. This device is unlocked.", a.account.email);
    let request = Request::Login(LoginParams {
        email: a.account.email,
        password,
        account_key,
        sync_folder,
    });
    say(ctx, request, a.json, &done)
}

/// `unlock`: the password alone; when the daemon answers that it needs the
/// Account Key too (the password was changed on a device that did not know
/// this one yet), the Account Key is asked for on the terminal and the
/// unlock is sent again with both. With COFFER_ACCOUNT_KEY set, both go at
/// once.
pub fn unlock(ctx: &mut Ctx) -> Result<(), CliError> {
    let password = ctx.secrets().get(secrets::PASSWORD)?;
    let request = |password: Secret, account_key| {
        Request::Unlock(UnlockParams {
            password,
            account_key,
        })
    };
    // An Account Key in the environment is sent at once (the user said
    // this device needs it); otherwise only when the daemon asks for it.
    let given = if ctx.secrets().in_env(secrets::ACCOUNT_KEY) {
        Some(account_key(ctx)?)
    } else {
        None
    };
    if given.is_some() {
        return say(ctx, request(password, given), false, "Unlocked.");
    }
    let mut client = ctx.client()?;
    match client.call(request(password.clone(), None)) {
        Err(CliError::Daemon(mut body))
            if body.code == coffer_proto::ErrorCode::AccountKeyNeeded =>
        {
            drop(client);
            if ctx.terminal.is_terminal() {
                eprintln!("coffer: {}", body.message);
            }
            let key = match account_key(ctx) {
                Ok(k) => k,
                // Still the daemon's answer (exit 5), with why no key came.
                Err(e) => {
                    body.message = format!("{}; {e}", body.message);
                    return Err(CliError::Daemon(body));
                }
            };
            say(ctx, request(password, Some(key)), false, "Unlocked.")
        }
        Err(e) => Err(e),
        Ok(value) => line(&super::message_or(&value, "Unlocked.")),
    }
}

pub fn lock(ctx: &mut Ctx) -> Result<(), CliError> {
    let done = "Locked. The key was purged from memory and from the keyring.";
    say(ctx, Request::Lock(NoParams {}), false, done)
}

pub fn logout(ctx: &mut Ctx) -> Result<(), CliError> {
    let done = "Signed out. This device's vault file was moved to the trash.";
    say(ctx, Request::Logout(NoParams {}), false, done)
}

pub fn status(ctx: &mut Ctx, json: bool) -> Result<(), CliError> {
    show(
        ctx,
        Request::Status(NoParams {}),
        json,
        |info: StatusInfo| emit(&output::status(&info)),
    )
}

/// What a reset wipes and keeps, shown before asking to confirm.
fn reset_warning(email: &str) -> String {
    format!(
        "Resetting the account {email}:\n\
         \n\
         WIPED, on every device: all saved items and their history, the Account Key and the\n\
         Account Password. The old Account Key and password will no longer open anything.\n\
         KEPT: the account id, the email, the created date and the plan.\n\
         \n\
         You will get a new Account Key and emergency kit; every device must log in again.\n\
         Old vault files are moved to the trash, not deleted.\n"
    )
}

pub fn reset(ctx: &mut Ctx, a: ResetArgs) -> Result<(), CliError> {
    let sync_folder = sync_folder(&a.account)?;
    let email = a.account.email;
    let mut hint = a.hint;
    if !a.yes {
        if !ctx.terminal.is_terminal() {
            return Err(CliError::Usage(
                "a reset wipes every item on every device and must be confirmed: \
                 run it on a terminal, or pass --yes"
                    .into(),
            ));
        }
        eprint!("{}", reset_warning(&email));
        eprintln!();
        ctx.secrets()
            .confirm_typed("Type the account email to confirm: ", &email)?;
    }
    let new_password = ctx.secrets().get(secrets::RESET_PASSWORD)?;
    if hint.is_none() && !a.yes && ctx.terminal.is_terminal() {
        let typed = ctx
            .terminal
            .ask_line("New password hint (Enter keeps the old one): ")
            .map_err(|e| CliError::io("cannot read from the terminal", e))?;
        if !typed.trim().is_empty() {
            hint = Some(typed);
        }
    }
    let mut client = ctx.client()?;
    let reply: NewAccountReply = client.call_as(Request::Reset(ResetParams {
        email,
        new_password,
        hint,
        sync_folder,
    }))?;
    let headline = format!(
        "The account {} was reset (epoch {}). Every item was wiped; other devices will ask to \
         log in again.\n",
        reply.email, reply.epoch
    );
    new_account(&reply, a.json, &headline)?;
    if a.json {
        return Ok(());
    }
    line(&output::old_items_hint(reply.trashed_container.as_deref()))
}

pub fn hint(ctx: &mut Ctx, a: HintArgs) -> Result<(), CliError> {
    if let Some(hint) = a.set {
        let done = "Password hint changed. Every signed-in device shows it once the sync folder reaches it.";
        return say(ctx, Request::SetHint(SetHintParams { hint }), a.json, done);
    }
    let account = AccountArgs {
        email: a.email.unwrap_or_default(),
        sync_folder: a.sync_folder,
    };
    let request = Request::Hint(HintParams {
        sync_folder: sync_folder(&account)?,
        email: account.email,
    });
    show(ctx, request, a.json, |reply: HintReply| {
        if reply.hint.is_empty() {
            line("No password hint was set.")
        } else {
            line(&format!("Hint: {}", reply.hint))
        }
    })
}

pub fn passwd(ctx: &mut Ctx, a: PasswdArgs) -> Result<(), CliError> {
    let old_password = ctx.secrets().get(secrets::PASSWORD)?;
    let new_password = if a.same {
        old_password.clone()
    } else {
        ctx.secrets().get(secrets::PASSWD_NEW_PASSWORD)?
    };
    let request = Request::Passwd(PasswdParams {
        old_password,
        new_password,
        hint: a.hint,
        same: a.same,
    });
    let done = if a.same {
        "Account Password re-stretched at this machine's parameters; it stays the same."
    } else {
        "Account Password changed. The Account Key stays the same. Every signed-in device \
         takes the new password once the sync folder reaches it."
    };
    say(ctx, request, false, done)
}

pub fn kit(ctx: &mut Ctx, json: bool) -> Result<(), CliError> {
    show(ctx, Request::Kit(NoParams {}), json, |k: KitReply| {
        emit(&output::kit(&output::Kit {
            email: &k.email,
            account_id: &k.account_id,
            account_key: k.account_key.expose(),
            epoch: k.epoch,
            created_ms: k.created_ms,
        }))
    })
}

pub fn stop(ctx: &mut Ctx) -> Result<(), CliError> {
    let dirs = ctx.dirs()?.clone();
    let Some(mut client) = Client::connect(&dirs, Autostart::Never)? else {
        return line("cofferd is not running.");
    };
    let pid = client.daemon().pid;
    client.call(Request::Stop(NoParams {}))?;
    drop(client);
    let deadline = Instant::now() + STOP_WAIT;
    while process_alive(pid) {
        if Instant::now() >= deadline {
            eprintln!(
                "coffer: cofferd (pid {pid}) is still finishing its work; it will exit on its own"
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    line("cofferd stopped.")
}

/// Whether `pid` is a live (not zombie) process.
fn process_alive(pid: u32) -> bool {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid_t <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    // A zombie waiting for a parent that does not reap it has exited.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not yet reaped: a zombie counts as gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!process_alive(pid));
        child.wait().unwrap();
        assert!(!process_alive(0));
    }

    #[test]
    fn reset_warning_says_what_is_wiped_and_kept() {
        let w = reset_warning("a@example.org");
        assert!(w.contains("WIPED, on every device: all saved items"), "{w}");
        assert!(
            w.contains("KEPT: the account id, the email, the created date and the plan"),
            "{w}"
        );
    }
}
