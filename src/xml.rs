//! A small, strict reader for WeCom's flat callback XML: `<xml><Name>value</Name>…</xml>`.
//!
//! It owns one job: turn a document into the ordered list of the root's child elements, each
//! with its text (CDATA or plain, entities resolved) or, for a container like `MemChangeList`,
//! the texts of its own children. Both the envelope and the event parser build on it.
//!
//! The list borrows from the document ([`FieldsRef`]): a text is copied only when an entity
//! must be resolved or CDATA and text pieces joined, so a caller copies just the values it
//! keeps. [`Fields`] is the owned form, kept by events without a type.
//!
//! A document shaped as WeCom sends it — elements of CDATA and plain text in a root, nothing
//! else — is read in one pass (`plain`), to the same result the full reader (quick-xml) would
//! give; every other document, and so every refusal and its wording, goes through the full
//! reader.
//!
//! It refuses what WeCom never sends and attackers do: a DOCTYPE (so no entity declarations,
//! no external entities, no expansion bombs), unknown entity references, nesting deeper than a
//! container of values, more than [`MAX_FIELDS`] elements, and NUL characters.

mod plain;

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event as XmlEvent;

/// The most child elements a callback document may have.
pub const MAX_FIELDS: usize = 256;

/// The most list items (such as `MemChangeList`'s `<Item>`s) a callback document may have, in
/// all its lists together: the biggest customer group chats have 2,000 members.
pub const MAX_ITEMS: usize = 10_000;

/// Why a document was refused. One short line, safe to return to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// A `<!DOCTYPE …>` (and with it any entity declaration) was present.
    #[error("xml with a DOCTYPE is refused")]
    Doctype,
    /// The bytes are not well-formed XML, or not UTF-8.
    #[error("malformed xml: {0}")]
    Malformed(String),
    /// No root element.
    #[error("empty xml document")]
    Empty,
    /// Elements nested deeper than `<xml><List><Item>`.
    #[error("xml nested too deeply")]
    TooDeep,
    /// More than [`MAX_FIELDS`] elements, or more than [`MAX_ITEMS`] list items.
    #[error("xml has too many elements")]
    TooManyFields,
    /// A NUL character, which no XML document may hold (and PostgreSQL cannot store).
    #[error("xml contains a NUL character")]
    Nul,
}

/// The value of one child element of the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text content (CDATA and text pieces joined; surrounding whitespace trimmed).
    Text(String),
    /// The texts of the element's own children, such as the `<Item>`s of `MemChangeList`.
    List(Vec<String>),
}

impl Value {
    /// The text, or for a list its items joined with `,`.
    pub fn to_text(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::List(items) => items.join(","),
        }
    }

    /// The text, or `None` for a list.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            Value::List(_) => None,
        }
    }
}

/// The root's child elements in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, Value)>);

impl Fields {
    /// The text of the first element named `name` (lists are joined with `,`).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_text())
    }

    /// The value of the first element named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Iterate over `(name, value)` in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }
}

/// A [`Value`] as read, borrowing from the document: a text is a slice of the input unless an
/// entity had to be resolved or several pieces (CDATA and text) joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueRef<'a> {
    /// Text content, as [`Value::Text`].
    Text(Cow<'a, str>),
    /// The texts of the element's own children, as [`Value::List`].
    List(Vec<Cow<'a, str>>),
}

impl ValueRef<'_> {
    /// The text, or `None` for a list.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ValueRef::Text(t) => Some(t),
            ValueRef::List(_) => None,
        }
    }

    /// An owned copy.
    pub fn to_value(&self) -> Value {
        match self {
            ValueRef::Text(t) => Value::Text(t.as_ref().to_owned()),
            ValueRef::List(items) => {
                Value::List(items.iter().map(|i| i.as_ref().to_owned()).collect())
            }
        }
    }

    /// The owned value, copying only what is borrowed.
    pub fn into_value(self) -> Value {
        match self {
            ValueRef::Text(t) => Value::Text(t.into_owned()),
            ValueRef::List(items) => Value::List(items.into_iter().map(Cow::into_owned).collect()),
        }
    }
}

/// The root's child elements in document order, borrowing from the document ([`Fields`] is
/// the owned form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldsRef<'a>(pub Vec<(&'a str, ValueRef<'a>)>);

impl FieldsRef<'_> {
    /// The owned form.
    pub fn into_owned(self) -> Fields {
        Fields(
            self.0
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.into_value()))
                .collect(),
        )
    }
}

/// Parse a callback document into its root's child elements.
///
/// # Errors
/// See [`XmlError`].
pub fn parse(input: &[u8]) -> Result<FieldsRef<'_>, XmlError> {
    let text = std::str::from_utf8(input)
        .map_err(|_| XmlError::Malformed("document is not utf-8".into()))?;
    parse_str(text)
}

/// [`parse`] for a document already known to be UTF-8.
///
/// # Errors
/// See [`XmlError`].
pub fn parse_str(text: &str) -> Result<FieldsRef<'_>, XmlError> {
    if memchr::memchr(0, text.as_bytes()).is_some() {
        return Err(XmlError::Nul);
    }
    // What WeCom sends is plain enough for a single pass; the full reader takes the rest and
    // words every refusal.
    match plain::read(text) {
        Some(fields) => Ok(fields),
        None => read_full(text),
    }
}

/// Read any document with the full XML reader.
fn read_full(text: &str) -> Result<FieldsRef<'_>, XmlError> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;

    let mut fields = Vec::with_capacity(16);
    let mut depth = 0usize;
    let mut seen_root = false;
    // The element being read at depth 1, and (for containers) the item at depth 2.
    let mut current: Option<(&str, ValueRef<'_>)> = None;
    let mut item: Option<Cow<'_, str>> = None;
    let mut items = 0usize;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
        match event {
            XmlEvent::DocType(_) => return Err(XmlError::Doctype),
            XmlEvent::Start(start) => {
                depth += 1;
                match depth {
                    1 => {
                        if seen_root {
                            return Err(XmlError::Malformed("more than one root element".into()));
                        }
                        seen_root = true;
                    }
                    2 => {
                        if fields.len() >= MAX_FIELDS {
                            return Err(XmlError::TooManyFields);
                        }
                        current = Some((
                            name_of(text, start.name().as_ref())?,
                            ValueRef::Text(Cow::Borrowed("")),
                        ));
                    }
                    3 => {
                        items += 1;
                        if items > MAX_ITEMS {
                            return Err(XmlError::TooManyFields);
                        }
                        if let Some((name, value @ ValueRef::Text(_))) = current.as_mut() {
                            if let ValueRef::Text(t) = value
                                && !t.trim().is_empty()
                            {
                                return Err(XmlError::Malformed(format!(
                                    "element {name} mixes text and elements"
                                )));
                            }
                            *value = ValueRef::List(Vec::new());
                        }
                        item = Some(Cow::Borrowed(""));
                    }
                    _ => return Err(XmlError::TooDeep),
                }
            }
            XmlEvent::Empty(empty) => match depth {
                0 => {
                    if seen_root {
                        return Err(XmlError::Malformed("more than one root element".into()));
                    }
                    seen_root = true;
                }
                1 => {
                    if fields.len() >= MAX_FIELDS {
                        return Err(XmlError::TooManyFields);
                    }
                    fields.push((
                        name_of(text, empty.name().as_ref())?,
                        ValueRef::Text(Cow::Borrowed("")),
                    ));
                }
                2 => {
                    items += 1;
                    if items > MAX_ITEMS {
                        return Err(XmlError::TooManyFields);
                    }
                    if let Some((name, value)) = current.as_mut() {
                        match value {
                            ValueRef::List(items) => items.push(Cow::Borrowed("")),
                            ValueRef::Text(t) if !t.trim().is_empty() => {
                                return Err(XmlError::Malformed(format!(
                                    "element {name} mixes text and elements"
                                )));
                            }
                            ValueRef::Text(_) => {
                                *value = ValueRef::List(vec![Cow::Borrowed("")]);
                            }
                        }
                    }
                }
                _ => return Err(XmlError::TooDeep),
            },
            XmlEvent::End(_) => {
                match depth {
                    2 => {
                        if let Some((name, mut value)) = current.take() {
                            if let ValueRef::Text(t) = &mut value {
                                trim(t);
                            }
                            fields.push((name, value));
                        }
                    }
                    3 => {
                        if let (Some((_, ValueRef::List(items))), Some(mut piece)) =
                            (current.as_mut(), item.take())
                        {
                            trim(&mut piece);
                            items.push(piece);
                        }
                    }
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            XmlEvent::Text(t) => {
                // Whitespace between elements is the common case: skip it without decoding.
                let collected = match depth {
                    2 => matches!(current, Some((_, ValueRef::Text(_)))),
                    3 => true,
                    _ => false,
                };
                if !collected && t.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let piece = t
                    .unescape()
                    .map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
                append_text(depth, &mut current, &mut item, piece)?;
            }
            XmlEvent::CData(c) => {
                let not_utf8 = || XmlError::Malformed("cdata is not utf-8".into());
                let piece = match c.into_inner() {
                    Cow::Borrowed(bytes) => {
                        Cow::Borrowed(std::str::from_utf8(bytes).map_err(|_| not_utf8())?)
                    }
                    Cow::Owned(bytes) => {
                        Cow::Owned(String::from_utf8(bytes).map_err(|_| not_utf8())?)
                    }
                };
                append_text(depth, &mut current, &mut item, piece)?;
            }
            XmlEvent::Eof => break,
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => {}
        }
    }
    if !seen_root {
        return Err(XmlError::Empty);
    }
    if depth != 0 {
        return Err(XmlError::Malformed(
            "document ends inside an element".into(),
        ));
    }
    Ok(FieldsRef(fields))
}

fn append_text<'a>(
    depth: usize,
    current: &mut Option<(&'a str, ValueRef<'a>)>,
    item: &mut Option<Cow<'a, str>>,
    piece: Cow<'a, str>,
) -> Result<(), XmlError> {
    match depth {
        0 | 1 if !piece.trim().is_empty() => {
            return Err(XmlError::Malformed("text outside the elements".into()));
        }
        2 => match current.as_mut() {
            Some((_, ValueRef::Text(t))) => join(t, piece),
            Some((name, ValueRef::List(_))) if !piece.trim().is_empty() => {
                return Err(XmlError::Malformed(format!(
                    "element {name} mixes text and elements"
                )));
            }
            _ => {}
        },
        3 => {
            if let Some(t) = item.as_mut() {
                join(t, piece);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Append `piece` to `text`; only a second non-empty piece makes the text owned.
fn join<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if piece.is_empty() {
        return;
    }
    if text.is_empty() {
        *text = piece;
    } else {
        text.to_mut().push_str(&piece);
    }
}

/// Trim surrounding whitespace without copying a borrowed text.
fn trim(text: &mut Cow<'_, str>) {
    match text {
        Cow::Borrowed(t) => *t = t.trim(),
        Cow::Owned(t) => {
            let trimmed = t.trim();
            if trimmed.len() != t.len() {
                *t = trimmed.to_owned();
            }
        }
    }
}

/// An element name as a slice of `text`. The reader's names borrow from the document, so they
/// are found by address rather than decoded again; a name found elsewhere is refused as one
/// that is not UTF-8, the only way a name could fail to be part of a `&str`.
fn name_of<'a>(text: &'a str, raw: &[u8]) -> Result<&'a str, XmlError> {
    let offset = (raw.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    text.get(offset..offset.saturating_add(raw.len()))
        .ok_or_else(|| XmlError::Malformed("element name is not utf-8".into()))
}

/// Keep parser messages to one short line.
fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    line.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_plain_and_lists() {
        let fields = parse(
            b"<xml><A><![CDATA[x]]></A>\n <B>1</B><L><Item>a</Item><Item><![CDATA[b]]></Item></L><E/></xml>",
        )
        .unwrap()
        .into_owned();
        assert_eq!(fields.text("A"), Some("x"));
        assert_eq!(fields.text("B"), Some("1"));
        assert_eq!(
            fields.get("L"),
            Some(&Value::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(fields.text("E"), Some(""));
    }

    #[test]
    fn texts_borrow_unless_unescaped_or_joined() {
        let fields = parse_str(
            "<xml><A> <![CDATA[x]]> </A><B>a&amp;b</B><C>a<![CDATA[b]]></C><L><Item> i </Item></L></xml>",
        )
        .unwrap();
        let borrowed = |v: &ValueRef<'_>| match v {
            ValueRef::Text(t) => matches!(t, Cow::Borrowed(_)),
            ValueRef::List(items) => items.iter().all(|i| matches!(i, Cow::Borrowed(_))),
        };
        let seen: Vec<_> = fields.0.iter().map(|(n, v)| (*n, borrowed(v))).collect();
        assert_eq!(
            seen,
            [("A", false), ("B", false), ("C", false), ("L", true)]
        );
        assert_eq!(
            fields.into_owned().0,
            [
                ("A".to_owned(), Value::Text("x".into())),
                ("B".to_owned(), Value::Text("a&b".into())),
                ("C".to_owned(), Value::Text("ab".into())),
                ("L".to_owned(), Value::List(vec!["i".into()])),
            ]
        );
        let plain = parse_str("<xml><A><![CDATA[x]]></A><B> y </B></xml>").unwrap();
        assert!(plain.0.iter().all(|(_, v)| borrowed(v)));
    }

    /// Text beside child elements is refused whichever comes first and however the child is
    /// written, rather than one of them being dropped.
    #[test]
    fn text_mixed_with_elements_is_refused() {
        for mixed in [
            "<xml><A>text<B/></A></xml>",
            "<xml><A>text<B>x</B></A></xml>",
            "<xml><A><B/>text</A></xml>",
            "<xml><A><B>x</B>text</A></xml>",
        ] {
            assert_eq!(
                parse_str(mixed).map(FieldsRef::into_owned),
                Err(XmlError::Malformed(
                    "element A mixes text and elements".into()
                )),
                "{mixed}"
            );
        }
        let spaced = parse_str("<xml><A> <B/> </A></xml>").unwrap().into_owned();
        assert_eq!(spaced.get("A"), Some(&Value::List(vec![String::new()])));
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><xml><A>&lol2;</A></xml>"#;
        assert_eq!(parse(bomb), Err(XmlError::Doctype));
        let undeclared = b"<xml><A>&xxe;</A></xml>";
        assert!(matches!(parse(undeclared), Err(XmlError::Malformed(_))));
        assert_eq!(
            parse(b"<xml><A>&lt;&#20320;</A></xml>")
                .unwrap()
                .into_owned()
                .text("A"),
            Some("<你")
        );
    }

    #[test]
    fn a_nul_character_is_refused_in_any_form() {
        assert_eq!(parse(b"<xml><A>a\0b</A></xml>"), Err(XmlError::Nul));
        assert_eq!(
            parse(b"<xml><A><![CDATA[a\0b]]></A></xml>"),
            Err(XmlError::Nul)
        );
        // As a character reference it is no character at all.
        assert!(parse(b"<xml><A>a&#0;b</A></xml>").is_err());
        assert!(parse(b"<xml><A>a&#x0;b</A></xml>").is_err());
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"<xml>",
            b"<xml><A></B></xml>",
            b"\xff\xfe",
            b"<a/><b/>",
            b"<x><a><b><c>1</c></b></a></x>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Every fixture is plain except those with `<Item>` lists, and reads as the full reader
    /// reads it.
    #[test]
    fn fixtures_take_the_plain_path() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut plain_count = 0;
        for dir in ["events", "encrypted"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "xml") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let full = read_full(&text).unwrap();
                match plain::read(&text) {
                    Some(fast) => {
                        assert_eq!(fast, full, "{}", path.display());
                        plain_count += 1;
                    }
                    None => assert!(text.contains("<Item>"), "{} is not plain", path.display()),
                }
            }
        }
        assert!(plain_count >= 40, "{plain_count}");
    }

    #[test]
    fn plain_path_gives_up_rather_than_guess() {
        for odd in [
            "<xml><A>a&amp;b</A></xml>",
            "<xml><A a=\"1\">x</A></xml>",
            "<xml><A >x</A></xml>",
            "<xml><A>x</A ></xml>",
            "<xml><A>x</B></xml>",
            "<xml><A>x<!-- c --></A></xml>",
            "<?xml version=\"1.0\"?><xml/>",
            "\u{feff}<xml></xml>",
            "<xml><a:b>x</a:b></xml>",
            "<xml><A>x</A></xml><B/>",
            "<xml><A>x</A>",
            "<xml><A><![CDATA[x]></A></xml>",
            "<xml><L><Item>a</Item></L></xml>",
        ] {
            assert_eq!(plain::read(odd), None, "{odd:?}");
        }
        let many = format!("<xml>{}</xml>", "<A/>".repeat(MAX_FIELDS + 1));
        assert_eq!(plain::read(&many), None);
        assert_eq!(parse_str(&many), Err(XmlError::TooManyFields));
    }

    /// List items count too, in every list together, whether written `<Item>a</Item>` or
    /// `<Item/>`; up to the limit a list reads whole.
    #[test]
    fn refuses_too_many_list_items() {
        let list = |items: &str| format!("<xml><L>{items}</L><M><Item>m</Item></M></xml>");
        let full = list(&"<Item>a</Item>".repeat(MAX_ITEMS - 1));
        let fields = parse_str(&full).unwrap();
        assert!(matches!(&fields.0[0].1, ValueRef::List(items) if items.len() == MAX_ITEMS - 1));
        for item in ["<Item>a</Item>", "<Item/>"] {
            let over = list(&item.repeat(MAX_ITEMS));
            assert_eq!(parse_str(&over), Err(XmlError::TooManyFields), "{item}");
        }
    }

    mod same_as_full_reader {
        use super::super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        /// Mostly text and CDATA the plain path takes; sometimes entities, lists, markup and
        /// bytes it must leave to the full reader.
        fn piece() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => "[a-zA-Z0-9 _\t\n\r]{0,6}",
                6 => "[a-z \\]>&<\n]{0,6}".prop_map(|t| format!("<![CDATA[{t}]]>")),
                1 => select(vec![
                    "&amp;", "&lt;", "&#x4F60;", "&bogus;", "&", "<", ">", "]]>", "]", "<Item>a</Item>",
                    "<Item/>", "<Item><![CDATA[b]]></Item>", "<!-- c -->", "<?pi x?>",
                    "\u{3000}", "\u{a0}", "你好", "\u{0}", "<![CDATA[", "</A>", "<A>", "/>",
                ])
                .prop_map(str::to_owned),
            ]
        }

        fn name() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                8 => select(vec!["A", "Event", "ChangeType", "Item", "xml", "_x", "x1"]),
                1 => select(vec!["1x", "a-b", "a:b", "Ä", ""]),
            ]
        }

        fn element() -> impl Strategy<Value = String> {
            (name(), prop::collection::vec(piece(), 0..4), 0..40u8).prop_map(|(n, pieces, form)| {
                let content = pieces.concat();
                match form {
                    0..4 => format!("<{n}/>"),
                    4 => format!("<{n} />"),
                    5 => format!("<{n}>{content}</{n} >"),
                    6 => format!("<{n}>{content}</A>"),
                    7 => format!("<{n} a=\"1\">{content}</{n}>"),
                    _ => format!("<{n}>{content}</{n}>"),
                }
            })
        }

        fn document() -> impl Strategy<Value = String> {
            let around = || {
                prop_oneof![
                    8 => select(vec!["", " ", "\n\t", "\r\n"]),
                    1 => select(vec!["\u{feff}", "x", "<!-- c -->", "\u{3000}"]),
                ]
            };
            (
                around(),
                prop_oneof![8 => Just("xml"), 1 => select(vec!["root", "A"])],
                prop::collection::vec((around(), element()), 0..12),
                around(),
                prop_oneof![8 => Just("</xml>"), 1 => select(vec!["</root>", "</xml >", ""])],
                around(),
            )
                .prop_map(|(before, root, elements, inside, close, after)| {
                    let mut doc = format!("{before}<{root}>");
                    for (gap, element) in elements {
                        doc.push_str(gap);
                        doc.push_str(&element);
                    }
                    format!("{doc}{inside}{close}{after}")
                })
        }

        fn fixture() -> impl Strategy<Value = String> {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/events");
            let mut texts: Vec<String> = std::fs::read_dir(root)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "xml"))
                .map(|p| std::fs::read_to_string(p).unwrap())
                .collect();
            texts.sort();
            select(texts)
        }

        /// A fixture with a piece inserted, or a span removed, at a char boundary.
        fn mutated_fixture() -> impl Strategy<Value = String> {
            (
                fixture(),
                any::<usize>(),
                0usize..30,
                piece(),
                any::<bool>(),
            )
                .prop_map(|(text, at, len, piece, insert)| {
                    let boundary = |i: usize| {
                        (0..=i.min(text.len()))
                            .rev()
                            .find(|&b| text.is_char_boundary(b))
                            .unwrap_or(0)
                    };
                    let at = boundary(at % (text.len() + 1));
                    if insert {
                        format!("{}{piece}{}", &text[..at], &text[at..])
                    } else {
                        let end = boundary(at + len);
                        format!("{}{}", &text[..at], &text[end..])
                    }
                })
        }

        fn check(doc: &str) -> Result<(), TestCaseError> {
            if let Some(fast) = plain::read(doc) {
                prop_assert_eq!(Ok(fast), read_full(doc), "{:?}", doc);
            }
            Ok(())
        }

        /// 2048 cases unless `PROPTEST_CASES` says otherwise.
        fn config() -> ProptestConfig {
            let cases = std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2048);
            ProptestConfig {
                cases,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn on_generated_documents(doc in document()) {
                check(&doc)?;
            }

            #[test]
            fn on_mutated_fixtures(doc in mutated_fixture()) {
                check(&doc)?;
            }
        }
    }
}
