//! The shapes providers send values in, read straight from the body bytes
//! (borrowed where the JSON has no escapes), with no `serde_json::Value`
//! built in between: [`Scalar`] for ids, numbers and times that come as
//! strings or numbers, [`Text`] for strings, [`Present`] for a key whose
//! presence is what matters, and [`object`] to tell an object body from
//! anything else.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// Any JSON value where a provider sends an id, a number or a time: a
/// string (borrowed when it can be), an integer, a float, a boolean or
/// null; an array or object is kept as a [`Value`] (never in a well-formed
/// event, and read as the code before did).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    /// A negative integer (serde_json's `NegInt`).
    Int(i64),
    /// A non-negative integer (serde_json's `PosInt`).
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
    Other(Value),
}

impl Scalar<'_> {
    /// An integer: a number (a float truncated) or a numeric string.
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Scalar::Int(i) => Some(*i),
            Scalar::UInt(u) => Some(i64::try_from(*u).unwrap_or(*u as f64 as i64)),
            Scalar::Float(f) => Some(*f as i64),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Epoch milliseconds: a number (a float truncated) or a numeric
    /// string (a float allowed).
    pub(crate) fn ms(&self) -> Option<i64> {
        match self {
            Scalar::Str(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
            other => other.int(),
        }
    }

    /// The text of a string (trimmed) or a number, as JSON prints it; for
    /// null, nothing; a boolean, array or object as JSON text.
    pub(crate) fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.trim().to_string(),
            Scalar::Null => String::new(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Other(v) => v.to_string(),
            number => number.number_text().unwrap_or_default(),
        }
    }

    /// An id: a string (trimmed) or a number as JSON prints it (never
    /// through a float for an integer); anything else is empty.
    pub(crate) fn id(&self) -> String {
        match self {
            Scalar::Str(s) => s.trim().to_string(),
            number => number.number_text().unwrap_or_default(),
        }
    }

    /// The string, if this is one (untrimmed).
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    fn number_text(&self) -> Option<String> {
        match self {
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::UInt(u) => Some(u.to_string()),
            Scalar::Float(f) => serde_json::Number::from_f64(*f).map(|n| n.to_string()),
            _ => None,
        }
    }
}

/// [`Scalar::text`] of an optional value, `None` when empty.
pub(crate) fn opt_text(v: &Option<Scalar<'_>>) -> Option<String> {
    v.as_ref().map(Scalar::text).filter(|s| !s.is_empty())
}

/// [`Scalar::id`] of an optional value, `None` when empty.
pub(crate) fn opt_id(v: &Option<Scalar<'_>>) -> Option<String> {
    v.as_ref().map(Scalar::id).filter(|s| !s.is_empty())
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(s)))
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<Self::Value, E> {
                Ok(if i < 0 {
                    Scalar::Int(i)
                } else {
                    Scalar::UInt(i as u64)
                })
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<Self::Value, E> {
                Ok(Scalar::UInt(u))
            }
            fn visit_f64<E: de::Error>(self, f: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(f))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(a)).map(Scalar::Other)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(a)).map(Scalar::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A JSON string, borrowed from the body when it has no escapes. Shown
/// (`{:?}`) as the string is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Text<'_> {
    pub(crate) fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// [`Text`] of an optional string as an owned `String`.
pub(crate) fn owned(t: &Option<Text<'_>>) -> Option<String> {
    t.as_ref().map(|t| t.to_string())
}

/// Whether a key was there, whatever its value (null included): use with
/// `#[serde(default, deserialize_with = "present")]` on a `bool`.
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// Whether `body` is a JSON object (its first byte past white space is
/// `{`). A body that is not is checked to be JSON at all: the error then is
/// the parser's (the caller names the shape otherwise).
pub(crate) fn object(body: &[u8]) -> Result<bool, serde_json::Error> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return Ok(true);
    }
    serde_json::from_slice::<IgnoredAny>(body)?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(json: &str) -> Scalar<'_> {
        serde_json::from_str(json).expect("valid JSON")
    }

    /// Each reading agrees with what the same JSON read as a `Value` gave
    /// (the helpers the parsers used before).
    #[test]
    fn readings_match_value() {
        for json in [
            r#""  42 ""#,
            r#""a\"b""#,
            "42",
            "-7",
            "18446744073709551615",
            "9223372036854775807",
            "1.5",
            "1e30",
            "-0.0",
            "true",
            "null",
            "[1,2]",
            r#"{"a":1}"#,
            r#""12.9""#,
            r#""""#,
        ] {
            let v: Value = serde_json::from_str(json).expect("valid JSON");
            let s = scalar(json);
            let int = match &v {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                Value::String(t) => t.trim().parse().ok(),
                _ => None,
            };
            assert_eq!(s.int(), int, "int of {json}");
            let ms = match &v {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                Value::String(t) => t.trim().parse::<f64>().ok().map(|f| f as i64),
                _ => None,
            };
            assert_eq!(s.ms(), ms, "ms of {json}");
            let text = match &v {
                Value::String(t) => t.trim().to_string(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            assert_eq!(s.text(), text, "text of {json}");
            let id = match &v {
                Value::String(t) => t.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            assert_eq!(s.id(), id, "id of {json}");
        }
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        assert!(matches!(
            scalar(r#""abc""#),
            Scalar::Str(Cow::Borrowed("abc"))
        ));
        let t: Text<'_> = serde_json::from_str(r#""a\nb""#).expect("valid");
        assert_eq!(&*t, "a\nb");
        assert!(
            serde_json::from_str::<Text<'_>>("5").is_err(),
            "a number is not text"
        );
    }

    #[test]
    fn objects_told_apart() {
        assert!(object(b"  {\"a\":1}").expect("json"));
        assert!(!object(b"[1]").expect("json"));
        assert!(object(b"nope").is_err());
    }
}
