//! `coffer trash list | restore | empty`.

use coffer_proto::reply::ItemRef;
use coffer_proto::request::{NoParams, QueryParams};
use coffer_proto::trash::{TrashEmptyParams, TrashEmptyReply, TrashEntry};
use coffer_proto::Request;

use super::{emit, line, show, Ctx};
use crate::cli::{QueryArgs, TrashCommand, TrashEmptyArgs};
use crate::error::CliError;
use crate::output;

pub fn run(ctx: &mut Ctx, c: TrashCommand) -> Result<(), CliError> {
    match c {
        TrashCommand::List(a) => show(
            ctx,
            Request::TrashList(NoParams {}),
            a.json,
            |entries: Vec<TrashEntry>| emit(&table(&entries)),
        ),
        TrashCommand::Restore(a) => restore(ctx, a),
        TrashCommand::Empty(a) => empty(ctx, a),
    }
}

fn table(entries: &[TrashEntry]) -> String {
    if entries.is_empty() {
        return "The trash is empty.\n".to_owned();
    }
    let rows: Vec<[String; 4]> = entries
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.title.clone(),
                e.username.clone(),
                output::date(e.trashed_ms),
            ]
        })
        .collect();
    let rows: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str(), r[3].as_str()])
        .collect();
    output::table(&["ID", "TITLE", "USERNAME", "TRASHED"], &rows)
}

fn restore(ctx: &mut Ctx, a: QueryArgs) -> Result<(), CliError> {
    let request = Request::TrashRestore(QueryParams { query: a.query });
    show(ctx, request, a.json, |r: ItemRef| {
        line(&format!(
            "Restored \"{}\" ({}).",
            r.title.as_deref().unwrap_or(""),
            r.id
        ))
    })
}

/// `30d`, `12h`, `90m`, `45s`, `2w` in seconds.
pub fn parse_age(s: &str) -> Result<u64, CliError> {
    let s = s.trim();
    let bad = || {
        CliError::Usage(format!(
            "--older-than {s:?} is not an age: write a number and a unit, e.g. 30d, 12h, 90m, 2w"
        ))
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

fn empty(ctx: &mut Ctx, a: TrashEmptyArgs) -> Result<(), CliError> {
    let older_than_secs = a.older_than.as_deref().map(parse_age).transpose()?;
    if !a.yes {
        if !ctx.terminal.is_terminal() {
            return Err(CliError::Usage(
                "emptying the trash purges items for good, on every device: run it on a terminal to confirm, or pass --yes"
                    .into(),
            ));
        }
        let answer = ctx
            .terminal
            .ask_line("Purge these items from the trash for good, on every device? [y/N] ")
            .map_err(|e| CliError::io("cannot read from the terminal", e))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return line("Nothing purged.");
        }
    }
    let request = Request::TrashEmpty(TrashEmptyParams {
        older_than_secs,
        query: a.item,
    });
    show(ctx, request, a.json, |r: TrashEmptyReply| line(&r.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_age("2w").unwrap(), 14 * 86_400);
        assert_eq!(parse_age("90m").unwrap(), 5400);
        for bad in ["30", "d", "3x", "", "-1d"] {
            assert_eq!(parse_age(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
    }
}
