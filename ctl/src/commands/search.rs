//! `coffer search` and `coffer list --search`.

use coffer_proto::search::{SearchHitView, SearchParams, SearchReply};
use coffer_proto::{ErrorBody, ErrorCode, Request};

use super::{emit, emit_json, Ctx};
use crate::client::decode;
use crate::error::CliError;
use crate::output;

/// `get --search TERMS`: the id of the one item `terms` match (the only
/// exact title among several hits counts as one), else the daemon's kind
/// of error: several are ambiguous (listed, exit 1), none is no such item
/// (exit 4).
pub fn only_hit(ctx: &mut Ctx, terms: &str) -> Result<String, CliError> {
    if terms.trim().is_empty() {
        return Err(CliError::Usage("--search needs terms".into()));
    }
    let value = ctx.client()?.call(Request::Search(SearchParams {
        query: terms.to_owned(),
        limit: None,
    }))?;
    let reply: SearchReply = decode("search", value)?;
    pick(terms, reply.hits)
}

fn pick(terms: &str, hits: Vec<SearchHitView>) -> Result<String, CliError> {
    let exact: Vec<&SearchHitView> = hits.iter().filter(|h| h.tier == "exact").collect();
    if let [one] = exact.as_slice() {
        return Ok(one.item.id.clone());
    }
    match hits.as_slice() {
        [] => Err(CliError::Daemon(ErrorBody::new(
            ErrorCode::NoSuchItem,
            format!("no item matches {terms:?}; `coffer list` shows them"),
        ))),
        [one] => Ok(one.item.id.clone()),
        many => {
            let mut body = ErrorBody::new(
                ErrorCode::Ambiguous,
                format!(
                    "{} items match {terms:?}; name one by its id or exact title",
                    many.len()
                ),
            );
            let candidates: Vec<serde_json::Value> = many
                .iter()
                .take(20)
                .map(|h| {
                    serde_json::json!({
                        "id": h.item.id,
                        "title": h.item.title,
                        "username": h.item.username,
                    })
                })
                .collect();
            body.data = Some(serde_json::json!({ "candidates": candidates }));
            Err(CliError::Daemon(body))
        }
    }
}

/// Searches for `terms`; prints the hits as a table (or JSON: an array of
/// hits, as `list --json` is an array of items).
pub fn run(ctx: &mut Ctx, terms: &str, limit: Option<usize>, json: bool) -> Result<(), CliError> {
    if terms.trim().is_empty() {
        return Err(CliError::Usage(
            "give search terms, e.g. `coffer search github`".into(),
        ));
    }
    let request = Request::Search(SearchParams {
        query: terms.to_owned(),
        limit,
    });
    let value = ctx.client()?.call(request)?;
    let reply: SearchReply = decode("search", value)?;
    if reply.total > reply.hits.len() {
        eprintln!(
            "Showing the best {} of {} matches.",
            reply.hits.len(),
            reply.total
        );
    }
    if json {
        return emit_json(&reply.hits);
    }
    if reply.hits.is_empty() {
        eprintln!("No item matches {terms:?}.");
        return Ok(());
    }
    let items: Vec<_> = reply.hits.into_iter().map(|h| h.item).collect();
    emit(&output::item_table(&items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_proto::reply::ItemSummary;

    fn hit(id: &str, tier: &str) -> SearchHitView {
        SearchHitView {
            item: ItemSummary {
                id: id.into(),
                title: id.into(),
                username: String::new(),
                url: String::new(),
                modified_ms: 0,
                collection: None,
                attributes: Default::default(),
                kind: None,
            },
            tier: tier.into(),
            score: 1,
        }
    }

    #[test]
    fn one_hit_or_one_exact_title_is_taken() {
        assert_eq!(pick("x", vec![hit("a", "fuzzy")]).unwrap(), "a");
        assert_eq!(
            pick("x", vec![hit("a", "exact"), hit("b", "title")]).unwrap(),
            "a"
        );
        let e = pick("x", vec![hit("a", "title"), hit("b", "field")]).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.detail_lines().len(), 2);
        assert_eq!(pick("x", vec![]).unwrap_err().exit_code(), 4);
    }
}
