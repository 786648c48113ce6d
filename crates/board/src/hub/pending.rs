//! The changes a delta will carry: for each card and call changed since
//! the last delta, what the streams were sent of it then (`None`: not sent
//! yet, it goes whole), and the call centre's changed rows.

use std::collections::BTreeMap;

use domain::projection::read::{CallView, Card};

use super::ExtKey;
use crate::callcentre::state::Changes;

#[derive(Default)]
pub struct Pending {
    pub cards: BTreeMap<ExtKey, Option<Card>>,
    pub calls: BTreeMap<i64, Option<CallView>>,
    pub cc: Changes,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty() && self.calls.is_empty() && self.cc.is_empty()
    }

    /// Card `key` changed from `old`; a card already waiting keeps what
    /// was sent before its first change.
    pub fn card(&mut self, key: ExtKey, old: Option<Card>) {
        self.cards.entry(key).or_insert(old);
    }

    /// Call `id` changed from `old` (as for cards).
    pub fn call(&mut self, id: i64, old: Option<CallView>) {
        self.calls.entry(id).or_insert(old);
    }
}
