//! The fast path of [`super::parse_str`]: the plain documents WeCom sends — a root holding
//! elements of CDATA and plain text, nothing else — read in one pass over the bytes.
//!
//! It refuses nothing itself: at anything outside that shape (an entity reference, a list, a
//! declaration, a comment, attributes, whitespace in a tag, an unusual name, too many
//! elements, a document that is not well formed) it gives up with `None`, and the full reader
//! reads the document from the start, refusals and their wording included. What it does
//! accept it must read exactly as the full reader does; `super`'s tests hold the two side by
//! side on generated and mutated documents.

use std::borrow::Cow;

use super::{FieldsRef, MAX_FIELDS, ValueRef, join, trim};

const CDATA_START: &str = "<![CDATA[";
const CDATA_END: &str = "]]>";

/// Read a plain document, or `None` when it is not one.
pub(super) fn read(text: &str) -> Option<FieldsRef<'_>> {
    let mut cur = Cursor { text, at: 0 };
    cur.skip_whitespace();
    cur.eat("<")?;
    let root = cur.name()?;
    cur.eat(">")?;
    let mut fields = Vec::with_capacity(16);
    loop {
        cur.skip_whitespace();
        if cur.eat("</").is_some() {
            cur.end_tag(root)?;
            cur.skip_whitespace();
            return cur.at_end().then_some(FieldsRef(fields));
        }
        cur.eat("<")?;
        if fields.len() >= MAX_FIELDS {
            return None;
        }
        let name = cur.name()?;
        if cur.eat("/>").is_some() {
            fields.push((name, ValueRef::Text(Cow::Borrowed(""))));
            continue;
        }
        cur.eat(">")?;
        // Plain text and CDATA pieces up to the end tag, joined and trimmed as the full
        // reader does.
        let mut value = Cow::Borrowed("");
        loop {
            join(&mut value, Cow::Borrowed(cur.plain_text()?));
            if cur.eat(CDATA_START).is_some() {
                join(&mut value, Cow::Borrowed(cur.cdata()?));
            } else {
                cur.eat("</")?;
                cur.end_tag(name)?;
                break;
            }
        }
        trim(&mut value);
        fields.push((name, ValueRef::Text(value)));
    }
}

/// A position in the document; every step either matches and moves on or returns `None`.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.at..).unwrap_or_default()
    }

    /// Take `len` bytes from here.
    fn take(&mut self, len: usize) -> Option<&'a str> {
        let taken = self.text.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(taken)
    }

    fn eat(&mut self, expected: &str) -> Option<()> {
        if self.rest().starts_with(expected) {
            self.take(expected.len()).map(drop)
        } else {
            None
        }
    }

    fn skip_whitespace(&mut self) {
        let len = self
            .rest()
            .bytes()
            .take_while(u8::is_ascii_whitespace)
            .count();
        self.at += len;
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    /// An element name of ASCII letters, digits and `_`, not starting with a digit.
    fn name(&mut self) -> Option<&'a str> {
        let rest = self.rest().as_bytes();
        if !rest.first()?.is_ascii_alphabetic() && rest.first()? != &b'_' {
            return None;
        }
        let len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        self.take(len)
    }

    /// The rest of an end tag whose `</` was eaten: exactly `name>`.
    fn end_tag(&mut self, name: &str) -> Option<()> {
        self.eat(name)?;
        self.eat(">")
    }

    /// Text up to the next `<`; `None` at an entity reference (only the full reader resolves
    /// those) or when no `<` follows.
    fn plain_text(&mut self) -> Option<&'a str> {
        let rest = self.rest().as_bytes();
        let len = memchr::memchr2(b'<', b'&', rest)?;
        if rest.get(len) != Some(&b'<') {
            return None;
        }
        self.take(len)
    }

    /// The content of a CDATA section whose `<![CDATA[` was eaten, up to the first `]]>`,
    /// which is then skipped.
    fn cdata(&mut self) -> Option<&'a str> {
        let rest = self.rest().as_bytes();
        let len = memchr::memchr_iter(b'>', rest)
            .find(|&i| rest.get(..i).is_some_and(|before| before.ends_with(b"]]")))?
            .checked_sub(2)?;
        let taken = self.take(len)?;
        self.eat(CDATA_END)?;
        Some(taken)
    }
}
