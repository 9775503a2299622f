//! `search`: ranked matches over titles, usernames, URLs (by registrable
//! domain) and tags, from the search index the replica keeps up to date
//! (see `coffer_vault::replica`); secret fields are never searched.

use coffer_proto::search::{SearchHitView, SearchParams, SearchReply};
use coffer_vault::search::Tier;
use serde_json::Value;

use super::items::{open, summary};
use super::to_reply;
use crate::daemon::Daemon;
use crate::error::{Error, Result};

/// The tier's name on the wire.
pub(crate) fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::Exact => "exact",
        Tier::TitlePrefix => "title-prefix",
        Tier::TitleWordPrefix => "title-words",
        Tier::TitleSubstring => "title",
        Tier::Field => "field",
        Tier::Fuzzy => "fuzzy",
    }
}

/// `search`.
pub async fn search(d: &Daemon, p: SearchParams) -> Result<Value> {
    if p.query.trim().is_empty() {
        return Err(Error::Invalid(
            "give search terms, e.g. `coffer search github`".into(),
        ));
    }
    let mut core = d.core().await;
    let (account, key) = open(d, &mut core)?;
    let found = account
        .replica
        .search(&key, &p.query)
        .map_err(Error::internal)?;
    let total = found.len();
    let mut hits = Vec::with_capacity(total.min(p.limit.unwrap_or(usize::MAX)));
    for (id, hit) in found.into_iter().take(p.limit.unwrap_or(usize::MAX)) {
        if let Some(item) = account.replica.get(&key, id).map_err(Error::internal)? {
            hits.push(SearchHitView {
                item: summary(&item),
                tier: tier_name(hit.tier).to_owned(),
                score: hit.score,
            });
        }
    }
    to_reply(SearchReply { hits, total })
}
