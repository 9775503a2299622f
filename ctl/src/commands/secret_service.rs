//! `coffer secret-service enable|disable|status`: cofferd as the desktop's
//! keyring. The client sends its own session bus (DBus address from its
//! environment), so the daemon serves the session the command was typed in.

use coffer_proto::dirs::ProcessEnv;
use coffer_proto::request::NoParams;
use coffer_proto::secret_service::{
    no_bus_message, session_bus_address, SecretServiceParams, SecretServiceReport,
};
use coffer_proto::Request;

use super::{emit, show, Ctx};
use crate::cli::SecretServiceCommand;
use crate::error::CliError;

/// Runs one `secret-service` subcommand.
pub fn run(ctx: &mut Ctx, c: SecretServiceCommand) -> Result<(), CliError> {
    let bus_address = session_bus_address(&ProcessEnv);
    let (request, json) = match c {
        SecretServiceCommand::Enable(a) => {
            // Without a session bus there is nothing to provide on: say so
            // before starting anything.
            if bus_address.is_none() {
                return Err(CliError::Failed(no_bus_message()));
            }
            (
                Request::SecretServiceEnable(SecretServiceParams { bus_address }),
                a.json,
            )
        }
        SecretServiceCommand::Disable(a) => (Request::SecretServiceDisable(NoParams {}), a.json),
        SecretServiceCommand::Status(a) => (
            Request::SecretServiceStatus(SecretServiceParams { bus_address }),
            a.json,
        ),
    };
    show(ctx, request, json, |r: SecretServiceReport| {
        emit(&render(&r))
    })
}

/// The report for people.
fn render(r: &SecretServiceReport) -> String {
    let mut out = format!("{}\n", r.message);
    let mut line = |label: &str, value: &str| {
        out.push_str(&format!("  {:<20}{value}\n", format!("{label}:")));
    };
    line("enabled", if r.state.enabled { "yes" } else { "no" });
    line(
        "provided by coffer",
        if r.state.providing { "yes" } else { "no" },
    );
    if let Some(bus) = &r.state.bus_address {
        line("bus", bus);
    }
    if let Some(reachable) = r.bus_reachable {
        line("bus reachable", if reachable { "yes" } else { "no" });
    }
    if let Some(owner) = &r.owner {
        line("name owned by", owner);
    }
    if let Some(p) = &r.state.problem {
        line("problem", p);
    }
    if let Some(f) = &r.activation_file {
        line("activation file", &f.display().to_string());
    }
    match &r.collections {
        Some(cs) => {
            for c in cs {
                let what = if c.items == 1 { "item" } else { "items" };
                line(
                    &format!("collection {}", c.id),
                    &format!("{} {what}", c.items),
                );
            }
        }
        None => line("items", "unlock to count them"),
    }
    for w in &r.state.waiting {
        line("waiting", &format!("{w} (run `coffer unlock`)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_proto::secret_service::{CollectionCount, SecretServiceState};

    #[test]
    fn the_report_says_everything() {
        let r = SecretServiceReport {
            message: "cofferd provides org.freedesktop.secrets on unix:path=/b".into(),
            state: SecretServiceState {
                enabled: true,
                providing: true,
                bus_address: Some("unix:path=/b".into()),
                problem: None,
                waiting: vec!["secret-tool (pid 4)".into()],
            },
            bus_reachable: Some(true),
            owner: Some("cofferd (pid 3)".into()),
            activation_file: Some("/h/.local/share/dbus-1/services/x.service".into()),
            collections: Some(vec![CollectionCount {
                id: "login".into(),
                items: 2,
            }]),
        };
        let t = render(&r);
        for needle in [
            "enabled:            yes",
            "name owned by:      cofferd (pid 3)",
            "collection login:   2 items",
            "secret-tool (pid 4) (run `coffer unlock`)",
            "/h/.local/share/dbus-1/services/x.service",
        ] {
            assert!(t.contains(needle), "{needle:?} not in\n{t}");
        }
        let off = render(&SecretServiceReport::default());
        assert!(off.contains("enabled:            no") && off.contains("unlock to count them"));
    }
}
