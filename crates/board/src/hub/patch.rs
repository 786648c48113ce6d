//! Deltas that carry only what changed: a card or call in a delta is its
//! key fields and the fields whose value differs from what the streams were
//! last sent (a field that became empty is sent as `null`). A card or call
//! the streams have not been sent yet goes whole. Pages merge a patch into
//! what they hold (`Object.assign`).

use serde::Serialize;
use serde_json::{Map, Value};

/// The key fields of a card (`(source, number)`).
pub const CARD_KEYS: &[&str] = &["source", "number"];
/// The key fields of a call (its row id, and `(source, call_id)`).
pub const CALL_KEYS: &[&str] = &["id", "source", "call_id"];

/// `new` as a JSON object holding the `keys` fields and every field that
/// differs from `old` (all of them without `old`); `None` when nothing
/// differs.
pub fn of<T: Serialize>(old: Option<&T>, new: &T, keys: &[&str]) -> Option<Value> {
    let new = object(new)?;
    let Some(old) = old.and_then(object) else {
        return Some(Value::Object(new));
    };
    // A field the new value leaves out (none do today) is now empty.
    let mut out: Map<String, Value> = old
        .keys()
        .filter(|f| !new.contains_key(*f))
        .map(|f| (f.clone(), Value::Null))
        .collect();
    let mut changed = !out.is_empty();
    for (field, value) in new {
        let differs = old.get(&field) != Some(&value);
        changed |= differs;
        if differs || keys.contains(&field.as_str()) {
            out.insert(field, value);
        }
    }
    changed.then_some(Value::Object(out))
}

fn object<T: Serialize>(v: &T) -> Option<Map<String, Value>> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize)]
    struct Row<'a> {
        source: &'a str,
        number: &'a str,
        status: &'a str,
        name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<&'a str>,
    }

    fn row<'a>(status: &'a str, name: Option<&'a str>, note: Option<&'a str>) -> Row<'a> {
        Row {
            source: "pbx",
            number: "101",
            status,
            name,
            note,
        }
    }

    #[test]
    fn only_the_keys_and_what_changed() {
        let old = row("online", Some("Ann"), None);
        let new = row("ringing", Some("Ann"), None);
        assert_eq!(
            of(Some(&old), &new, CARD_KEYS),
            Some(json!({"source": "pbx", "number": "101", "status": "ringing"}))
        );
        // A field that became empty is sent as null.
        let new = row("online", None, None);
        assert_eq!(
            of(Some(&old), &new, CARD_KEYS),
            Some(json!({"source": "pbx", "number": "101", "name": null}))
        );
        let with_note = row("online", Some("Ann"), Some("x"));
        assert_eq!(
            of(Some(&with_note), &old, CARD_KEYS),
            Some(json!({"source": "pbx", "number": "101", "note": null}))
        );
    }

    #[test]
    fn whole_when_new_and_nothing_when_unchanged() {
        let new = row("online", Some("Ann"), None);
        assert_eq!(
            of(None, &new, CARD_KEYS),
            Some(json!({"source": "pbx", "number": "101", "status": "online", "name": "Ann"}))
        );
        assert_eq!(of(Some(&new), &new, CARD_KEYS), None);
    }
}
