//! Search: ranked matches over titles, usernames, URLs and tags.

use serde::{Deserialize, Serialize};

use crate::reply::ItemSummary;

/// `search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The terms (all must match).
    pub query: String,
    /// At most this many hits (the best ones); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One matching item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHitView {
    /// The item, as `list` shows it.
    #[serde(flatten)]
    pub item: ItemSummary,
    /// How well it matched: `exact`, `title-prefix`, `title-words`,
    /// `title`, `field` or `fuzzy`, best first.
    #[serde(rename = "match")]
    pub tier: String,
    /// Higher is better.
    pub score: u32,
}

/// `search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchReply {
    /// The hits, best first.
    pub hits: Vec<SearchHitView>,
    /// How many items matched (more than `hits` when limited).
    pub total: usize,
}
