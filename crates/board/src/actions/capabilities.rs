//! What each phone system can be asked to do: ONE table, read by the
//! actions (an action a source cannot do is refused, with the reason, and
//! nothing is sent) and by the page (`GET /api/capabilities`: no button
//! that would fail). From the providers' public API references
//! (providers.md, "More call control"); nothing here was tried against a
//! real system.

use domain::Provider;

use super::action::Kind;

/// Whether `provider` can do `kind`: `Err(why)` when it cannot.
pub fn can(provider: Provider, kind: Kind) -> Result<(), &'static str> {
    use Kind::*;
    match (provider, kind) {
        (Provider::Yeastar, Unhold) => Err(
            "Yeastar's API documents no unhold: the phone that held the call resumes it",
        ),
        (Provider::Yeastar, _) => Ok(()),
        (Provider::Dialpad, Hangup | Transfer | Presence | Pause) => Ok(()),
        (Provider::Dialpad, AttendedTransfer) => {
            Err("Dialpad's API transfers blind only: no attended transfer")
        }
        (Provider::Dialpad, Park) => Err(
            "Dialpad's API parks a call only as the state a transfer leaves it in, with no slot to pick it up from",
        ),
        (Provider::Dialpad, Hold | Unhold) => {
            Err("Dialpad's API holds a call only as the state a transfer leaves it in")
        }
        (Provider::Dialpad, Listen | Whisper | Barge) => {
            Err("Dialpad's API documents no listen, whisper or barge")
        }
        (_, _) => Err("this source has no phone system API the board can use"),
    }
}

/// The presences `provider` can set (a subset of `PRESENCES`), and why
/// the others cannot be.
pub fn presences(provider: Provider) -> (&'static [&'static str], Option<&'static str>) {
    match provider {
        Provider::Yeastar => (&super::action::PRESENCES, None),
        Provider::Dialpad => (
            &["available", "dnd"],
            Some("Dialpad's API only turns do-not-disturb on or off"),
        ),
        _ => (&[], None),
    }
}

/// A note the page shows beside a capability (a limit that is not a refusal).
pub fn note(provider: Provider, kind: Kind) -> Option<&'static str> {
    match (provider, kind) {
        (Provider::Dialpad, Kind::Pause) => Some(
            "Dialpad's duty status is per operator: pausing takes them off duty in every call centre",
        ),
        (Provider::Dialpad, Kind::Presence) => Some(
            "Dialpad sends no event for do-not-disturb: the card does not show the change",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unavailable_action_says_why() {
        for p in [Provider::Yeastar, Provider::Dialpad] {
            for k in Kind::ALL {
                if let Err(why) = can(p, k) {
                    assert!(why.len() > 20, "{p:?} {k:?}");
                }
            }
        }
        assert!(can(Provider::Dialpad, Kind::Listen).is_err());
        assert!(can(Provider::Yeastar, Kind::Barge).is_ok());
    }
}
