//! A small JSON writer into a `String`: objects and arrays whose opening is written only with
//! their first member (so one that would be empty is left out, as the tree's `put_obj` does),
//! strings escaped by serde_json, vendor values copied as their text.

use std::fmt::Write as _;

/// How deep objects and arrays nest in a document.
const DEPTH: usize = 8;

/// Appends serde_json's output to a `String`: serde_json writes whole UTF-8 pieces (the text
/// between escapes, escapes, digits), each checked.
struct Utf8Sink<'s>(&'s mut String);

impl std::io::Write for Utf8Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = std::str::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.0.push_str(s);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends `s` as a JSON string; `false` if serde_json could not write it.
fn push_str(out: &mut String, s: &str) -> bool {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        serde_json::to_writer(Utf8Sink(out), s).is_ok()
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
        true
    }
}

/// An object or array being written.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Its key in the parent object (unused in an array).
    key: &'static str,
    array: bool,
    opened: bool,
    empty: bool,
}

const ROOT: Frame = Frame { key: "", array: false, opened: true, empty: true };

/// One document being written into a `String`.
#[derive(Debug)]
pub(crate) struct Writer<'o> {
    out: &'o mut String,
    stack: [Frame; DEPTH],
    depth: usize,
    failed: bool,
}

impl<'o> Writer<'o> {
    /// Starts a document (its root object) at the end of `out`.
    pub(crate) fn new(out: &'o mut String) -> Self {
        out.push('{');
        Writer { out, stack: [ROOT; DEPTH], depth: 1, failed: false }
    }

    /// Writes the openings of every enclosing object or array not yet opened.
    fn open(&mut self) {
        for i in 1..self.depth {
            if self.stack[i].opened {
                continue;
            }
            let f = self.stack[i];
            self.member(i - 1, f.key);
            self.out.push(if f.array { '[' } else { '{' });
            self.stack[i].opened = true;
        }
    }

    /// Writes the separator and, in an object, `"key":` of a new member of frame `i`.
    fn member(&mut self, i: usize, key: &str) {
        let parent = &mut self.stack[i];
        if !parent.empty {
            self.out.push(',');
        }
        parent.empty = false;
        if !parent.array {
            self.failed |= !push_str(self.out, key);
            self.out.push(':');
        }
    }

    /// Opens what encloses a new member, then writes its key.
    fn key(&mut self, key: &str) {
        self.open();
        self.member(self.depth - 1, key);
    }

    /// A string member.
    pub(crate) fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        self.failed |= !push_str(self.out, v);
    }

    /// A member with a value's JSON text as it came (its line breaks turned into spaces: a
    /// document stays one line).
    pub(crate) fn raw(&mut self, key: &str, v: &str) {
        self.key(key);
        if memchr::memchr2(b'\n', b'\r', v.as_bytes()).is_some() {
            self.out.extend(v.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }));
        } else {
            self.out.push_str(v);
        }
    }

    /// An integer member.
    pub(crate) fn int(&mut self, key: &str, v: impl std::fmt::Display) {
        self.key(key);
        self.failed |= write!(self.out, "{v}").is_err();
    }

    /// A floating-point member, written as serde_json writes an `f64` value.
    pub(crate) fn f64(&mut self, key: &str, v: f64) {
        self.key(key);
        self.failed |= serde_json::to_writer(Utf8Sink(self.out), &serde_json::Value::from(v)).is_err();
    }

    /// A member that is an array of strings (written even when empty).
    pub(crate) fn strs<'s>(&mut self, key: &str, items: impl IntoIterator<Item = &'s str>) {
        self.key(key);
        self.out.push('[');
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.failed |= !push_str(self.out, s);
        }
        self.out.push(']');
    }

    fn push(&mut self, f: Frame) {
        match self.stack.get_mut(self.depth) {
            Some(slot) => {
                *slot = f;
                self.depth += 1;
            }
            None => self.failed = true,
        }
    }

    /// Begins an object under `key` (an element, in an array), written only if it gets a
    /// member or is [`Writer::force`]d.
    pub(crate) fn begin(&mut self, key: &'static str) {
        self.push(Frame { key, array: false, opened: false, empty: true });
    }

    /// Begins an array under `key`, written only if it gets an element or is forced.
    pub(crate) fn begin_array(&mut self, key: &'static str) {
        self.push(Frame { key, array: true, opened: false, empty: true });
    }

    /// Writes the current object or array even if it stays empty.
    pub(crate) fn force(&mut self) {
        self.open();
    }

    /// Ends the current object or array.
    pub(crate) fn end(&mut self) {
        if self.depth <= 1 {
            self.failed = true;
            return;
        }
        self.depth -= 1;
        let f = self.stack[self.depth];
        if f.opened {
            self.out.push(if f.array { ']' } else { '}' });
        }
    }

    /// Whether the current object or array has a member yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.stack[self.depth - 1].empty
    }

    /// Ends the document; `false` if it is not well formed (then `out` must be cut back).
    pub(crate) fn finish(self) -> bool {
        self.out.push('}');
        !self.failed && self.depth == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_objects_are_left_out() {
        let mut s = String::new();
        let mut w = Writer::new(&mut s);
        w.begin("a");
        w.begin("b");
        w.end();
        w.end();
        w.str("x", "q\"\u{1}é");
        w.begin("a");
        w.begin("none");
        w.end();
        w.begin("b");
        w.int("n", 1);
        w.end();
        w.f64("f", 1.0);
        w.end();
        w.strs("l", ["a", "b"]);
        w.raw("k\n", "{\n}");
        w.begin_array("os");
        for i in 1..=2 {
            w.begin("");
            w.int("i", i);
            w.end();
        }
        w.end();
        w.begin("forced");
        w.force();
        w.end();
        assert!(w.finish());
        assert_eq!(
            s,
            r#"{"x":"q\"\u0001é","a":{"b":{"n":1},"f":1.0},"l":["a","b"],"k\n":{ },"os":[{"i":1},{"i":2}],"forced":{}}"#
        );
        let mut t = String::new();
        let mut w = Writer::new(&mut t);
        w.begin("open");
        assert!(!w.finish());
    }
}
