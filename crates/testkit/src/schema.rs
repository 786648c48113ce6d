//! A small JSON Schema checker for the documented event and API schemas
//! (`docs/events/*.schema.json`): the keywords those documents use (`type`,
//! `const`, `enum`, `required`, `properties`, `additionalProperties:
//! false`, `items`, `format: date-time`, and the event id's `pattern`).
//! Anything else in a schema is an error, so that a schema never relies on
//! a keyword this checker would silently skip.

use serde_json::Value;

/// The keywords checked (the rest are annotations).
const CHECKED: [&str; 9] = [
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "format",
    "pattern",
];
const ANNOTATIONS: [&str; 4] = ["$schema", "$id", "title", "description"];

/// Checks `v` against `schema`. Returns every violation, with its path.
pub fn violations(schema: &Value, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, v, "$", &mut out);
    out
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(s: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    let Some(s) = s.as_object() else {
        out.push(format!("{path}: the schema is not an object"));
        return;
    };
    for k in s.keys() {
        if !CHECKED.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()) {
            out.push(format!(
                "{path}: keyword {k} is not supported by this checker"
            ));
        }
    }
    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let have = type_of(v);
        let number = have == "integer" && allowed.contains(&"number");
        if !(allowed.contains(&have) || number) {
            out.push(format!("{path}: {have} is not {allowed:?}"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            out.push(format!("{path}: {v} is not {c}"));
        }
    }
    if let Some(Value::Array(e)) = s.get("enum") {
        if !e.contains(v) {
            out.push(format!("{path}: {v} is not one of {e:?}"));
        }
    }
    if let (Some("date-time"), Some(t)) = (s.get("format").and_then(Value::as_str), v.as_str()) {
        if chrono::DateTime::parse_from_rfc3339(t).is_err() {
            out.push(format!("{path}: {t:?} is not an RFC 3339 date-time"));
        }
    }
    if let (Some(p), Some(t)) = (s.get("pattern").and_then(Value::as_str), v.as_str()) {
        if p != "^evt_[0-9a-f]{32}$" {
            out.push(format!(
                "{path}: pattern {p} is not supported by this checker"
            ));
        } else {
            let ok = t.strip_prefix("evt_").is_some_and(|h| {
                h.len() == 32
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            if !ok {
                out.push(format!("{path}: {t:?} does not match {p}"));
            }
        }
    }
    if let Value::Object(o) = v {
        if let Some(Value::Array(req)) = s.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(r) {
                    out.push(format!("{path}: {r} is missing"));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(ps, x, &format!("{path}.{k}"), out),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{path}: {k} is not allowed"))
                }
                None => {}
            }
        }
    }
    if let (Value::Array(a), Some(items)) = (v, s.get("items")) {
        for (i, x) in a.iter().enumerate() {
            check(items, x, &format!("{path}[{i}]"), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catches_what_it_checks() {
        let s = json!({"type": "object", "additionalProperties": false, "required": ["a"],
            "properties": {"a": {"enum": [1, 2]}, "b": {"type": ["string", "null"], "format": "date-time"}}});
        assert!(violations(&s, &json!({"a": 1, "b": null})).is_empty());
        assert!(violations(&s, &json!({"a": 1, "b": "2026-12-07T08:00:00.000Z"})).is_empty());
        assert_eq!(violations(&s, &json!({"b": "yesterday", "c": 1})).len(), 3);
        assert_eq!(violations(&json!({"minLength": 1}), &json!("x")).len(), 1);
    }
}
