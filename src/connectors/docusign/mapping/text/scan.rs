//! A borrowing scan of one JSON object's top-level fields: each key and the text of its
//! value, as they stand in the input, without building a tree or allocating. Nested objects
//! are scanned the same way when a mapping asks for them.
//!
//! What the tree path would read differently is refused ([`Fallback`]): a duplicate key (the
//! tree keeps the last value at the first key's place), an escaped key, more than [`MAX`]
//! fields.

use std::borrow::Cow;

use serde::Deserializer as _;
use serde::de::{Deserialize, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The most fields an object may have on this path.
pub(crate) const MAX: usize = 64;

/// This line takes the tree path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fallback;

/// One JSON object's fields: `(key, value text)` in input order.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    items: [(&'a str, &'a str); MAX],
    len: usize,
}

/// A key, only when it has no escapes (it then borrows from the input).
struct Key<'a>(&'a str);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key without escapes")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(v))
            }
        }
        d.deserialize_str(V)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Fields<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        use serde::de::Error as _;
        let mut f = Fields { items: [("", ""); MAX], len: 0 };
        // A cheap filter in front of the duplicate check: one bit per (length, first byte).
        let mut seen = 0u64;
        while let Some(Key(k)) = map.next_key()? {
            let v: &'de RawValue = map.next_value()?;
            let bit = 1u64 << ((k.len() * 31 + usize::from(k.as_bytes().first().copied().unwrap_or(0))) % 64);
            if seen & bit != 0 && f.get(k).is_some() {
                return Err(A::Error::custom("duplicate key"));
            }
            seen |= bit;
            let slot = f.items.get_mut(f.len).ok_or_else(|| A::Error::custom("too many fields"))?;
            *slot = (k, v.get());
            f.len += 1;
        }
        Ok(f)
    }
}

impl<'a> Fields<'a> {
    /// The fields of the object `json`.
    ///
    /// # Errors
    /// [`Fallback`] when `json` is not one object, or is one the tree would read differently.
    pub(crate) fn scan(json: &'a str) -> Result<Self, Fallback> {
        let mut de = serde_json::Deserializer::from_str(json);
        let f = de.deserialize_map(ObjectVisitor).map_err(|_| Fallback)?;
        de.end().map_err(|_| Fallback)?;
        Ok(f)
    }

    /// `(key, value text)` of each field, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.items[..self.len].iter().copied()
    }

    /// The value text of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a str> {
        self.items[..self.len].iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// A non-empty string field (as the tree's `text`).
    pub(crate) fn text(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(string).filter(|s| !s.is_empty())
    }

    /// A string field, possibly empty.
    pub(crate) fn string(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(string)
    }

    /// An object field, scanned.
    ///
    /// # Errors
    /// [`Fallback`] when the object is one the tree would read differently.
    pub(crate) fn obj(&self, key: &str) -> Result<Option<Fields<'a>>, Fallback> {
        match self.get(key) {
            Some(v) if v.starts_with('{') => Fields::scan(v).map(Some),
            _ => Ok(None),
        }
    }

    /// A number field as `f64` (as the tree's `as_f64`).
    pub(crate) fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).filter(|v| is_number(v)).and_then(|v| serde_json::from_str(v).ok())
    }

    /// A boolean field's text.
    pub(crate) fn bool(&self, key: &str) -> Option<&'a str> {
        self.get(key).filter(|v| *v == "true" || *v == "false")
    }
}

/// Calls `each` with the text of every element of the array `json`, in order.
///
/// # Errors
/// [`Fallback`] when `json` is not an array, or when `each` refuses an element.
pub(crate) fn elements<'a>(json: &'a str, each: impl FnMut(&'a str) -> Result<(), Fallback>) -> Result<(), Fallback> {
    struct Seq<F>(F);
    impl<'de, F: FnMut(&'de str) -> Result<(), Fallback>> Visitor<'de> for Seq<F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            use serde::de::Error as _;
            while let Some(v) = seq.next_element::<&'de RawValue>()? {
                (self.0)(v.get()).map_err(|_| A::Error::custom("refused"))?;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_seq(Seq(each)).map_err(|_| Fallback)?;
    de.end().map_err(|_| Fallback)
}

/// Whether value text is a number.
pub(crate) fn is_number(v: &str) -> bool {
    v.starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

/// The string a value text holds, borrowed when it has no escapes.
pub(crate) fn string(v: &str) -> Option<Cow<'_, str>> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        Some(Cow::Borrowed(inner))
    } else {
        serde_json::from_str::<String>(v).ok().map(Cow::Owned)
    }
}

/// Whether a value text carries nothing (null, `""`, `{}`, `[]`), as the tree's `is_blank`.
pub(crate) fn is_blank(v: &str) -> bool {
    match v.as_bytes().first() {
        Some(b'n') => true,
        Some(b'"') => v.len() == 2,
        Some(b'{' | b'[') => v[1..v.len() - 1].trim_ascii().is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_borrowing_and_refuses_what_the_tree_reads_differently() {
        let f = Fields::scan(r#" {"a": "x\u00e9", "b" : { "c": [1, 2] }, "n": -1.5e3, "e": {} } "#).unwrap();
        assert_eq!(f.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b", "n", "e"]);
        assert_eq!(f.text("a").as_deref(), Some("xé"));
        assert_eq!(f.f64("n"), Some(-1500.0));
        assert!(is_blank(f.get("e").unwrap()) && !is_blank(f.get("b").unwrap()));
        assert_eq!(f.obj("b").unwrap().unwrap().get("c"), Some("[1, 2]"));
        assert_eq!(Fields::scan(r#"{"a": 1, "a": 2}"#).err(), Some(Fallback));
        assert_eq!(Fields::scan(r#"{"\u0061": 1}"#).err(), Some(Fallback));
        assert_eq!(Fields::scan("[1]").err(), Some(Fallback));
        assert_eq!(Fields::scan(r#"{"a": 1} x"#).err(), Some(Fallback));
        let mut seen = Vec::new();
        elements(r#"[1, "a", {"b": 2}]"#, |v| {
            seen.push(v);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["1", "\"a\"", r#"{"b": 2}"#]);
        let many: Vec<String> = (0..=MAX).map(|i| format!("\"k{i}\":1")).collect();
        assert_eq!(Fields::scan(&format!("{{{}}}", many.join(","))).err(), Some(Fallback));
    }
}
