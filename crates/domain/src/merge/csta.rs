//! uaCSTA call reports (Yeastar 30020), kept apart from calls.

use crate::event::{csta_rank, CstaReport};

/// A `csta_calls` row as the merge sees it: the uaCSTA report that ranks
/// highest ([`CstaReport::rank`]: `call_over` final, else the latest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CstaRow {
    pub csta_event: String,
    pub csta_seq: i64,
    pub extension: Option<String>,
    pub ip_address: Option<String>,
}

impl CstaRow {
    /// The row of a single report.
    pub fn of(r: &CstaReport) -> Self {
        CstaRow {
            csta_event: r.operation.clone(),
            csta_seq: r.seq,
            extension: r.extension.clone(),
            ip_address: r.ip_address.clone(),
        }
    }
}

/// Merges a uaCSTA report into its row (or makes the row): the whole row
/// is the highest-ranked report's. It never touches calls, legs or
/// extensions.
pub fn merge_csta(row: &mut Option<CstaRow>, r: &CstaReport) {
    let wins = row
        .as_ref()
        .is_none_or(|have| r.rank() > csta_rank(&have.csta_event, have.csta_seq));
    if wins {
        *row = Some(CstaRow::of(r));
    }
}
