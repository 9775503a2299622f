//! `coffer search` and `coffer list --search`.

use coffer_proto::search::{SearchParams, SearchReply};
use coffer_proto::Request;

use super::{emit, emit_json, Ctx};
use crate::client::decode;
use crate::error::CliError;
use crate::output;

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
