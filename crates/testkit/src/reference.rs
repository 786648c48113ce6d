//! The reference model: the whole projection in memory, applying the same
//! merge rules as the projection writer in the order given. Tests check the
//! database against it.

use std::collections::BTreeMap;

use domain::merge::{
    apply_call, extension_status, merge_csta, merge_extension_fact, CallRow, CstaRow, ExtensionRow,
    LegRow,
};
use domain::{Effect, ExtensionStatus, LegState};

/// The whole projection in memory: the reference the projection writer is
/// checked against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    pub calls: BTreeMap<String, CallRow>,
    pub legs: BTreeMap<(String, String), LegRow>,
    pub extensions: BTreeMap<String, ExtensionRow>,
    /// uaCSTA reports by uaCSTA call id (`csta_calls`).
    pub csta: BTreeMap<String, CstaRow>,
}

impl Projection {
    /// Applies one effect.
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Call(u) => {
                let call = self.calls.entry(u.call_id.clone()).or_default();
                let mut legs: BTreeMap<String, LegRow> = self
                    .legs
                    .iter()
                    .filter(|((c, _), _)| *c == u.call_id)
                    .map(|((_, l), r)| (l.clone(), r.clone()))
                    .collect();
                apply_call(call, &mut legs, u);
                for (leg_id, row) in legs {
                    if let Some(ext) = &row.extension {
                        let e = self.extensions.entry(ext.clone()).or_default();
                        if let Some(name) = u
                            .legs
                            .iter()
                            .find(|l| l.leg_id == leg_id)
                            .and_then(|l| l.extension_name.clone())
                        {
                            e.name = Some(name);
                        }
                    }
                    self.legs.insert((u.call_id.clone(), leg_id), row);
                }
            }
            Effect::Registration { extension, .. }
            | Effect::Reported { extension, .. }
            | Effect::Presence { extension, .. } => {
                let e = self.extensions.entry(extension.clone()).or_default();
                merge_extension_fact(e, effect);
            }
            Effect::Csta(r) => {
                let mut row = self.csta.remove(&r.call_id);
                merge_csta(&mut row, r);
                if let Some(row) = row {
                    self.csta.insert(r.call_id.clone(), row);
                }
            }
            Effect::Ignored => {}
        }
    }

    /// The derived status of every known extension.
    pub fn extension_statuses(&self) -> BTreeMap<String, ExtensionStatus> {
        self.extensions
            .iter()
            .map(|(number, row)| {
                let live: Vec<LegState> = self
                    .legs
                    .values()
                    .filter(|l| {
                        l.extension.as_deref() == Some(number) && l.state != LegState::Ended
                    })
                    .map(|l| l.state)
                    .collect();
                (number.clone(), extension_status(&live, row.registered))
            })
            .collect()
    }
}
