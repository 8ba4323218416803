//! A small, strict reader for WeCom's flat callback XML: `<xml><Name>value</Name>…</xml>`.
//!
//! It owns one job: turn a document into the ordered list of the root's child elements, each
//! with its text (CDATA or plain, entities resolved) or, for a container like `MemChangeList`,
//! the texts of its own children. Both the envelope and the event parser build on it.
//!
//! It refuses what WeCom never sends and attackers do: a DOCTYPE (so no entity declarations,
//! no external entities, no expansion bombs), unknown entity references, nesting deeper than a
//! container of values, and more than [`MAX_FIELDS`] elements.

use quick_xml::Reader;
use quick_xml::events::Event as XmlEvent;

/// The most child elements a callback document may have.
pub const MAX_FIELDS: usize = 256;

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
    /// More than [`MAX_FIELDS`] elements.
    #[error("xml has too many elements")]
    TooManyFields,
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

/// Parse a callback document into its root's child elements.
///
/// # Errors
/// See [`XmlError`].
pub fn parse(input: &[u8]) -> Result<Fields, XmlError> {
    let text = std::str::from_utf8(input)
        .map_err(|_| XmlError::Malformed("document is not utf-8".into()))?;
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;

    let mut fields = Vec::with_capacity(16);
    let mut depth = 0usize;
    let mut seen_root = false;
    // The element being read at depth 1, and (for containers) the item at depth 2.
    let mut current: Option<(String, Value)> = None;
    let mut item: Option<String> = None;

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
                        current =
                            Some((name_of(start.name().as_ref())?, Value::Text(String::new())));
                    }
                    3 => {
                        if let Some((name, value @ Value::Text(_))) = current.as_mut() {
                            if let Value::Text(t) = value
                                && !t.trim().is_empty()
                            {
                                return Err(XmlError::Malformed(format!(
                                    "element {name} mixes text and elements"
                                )));
                            }
                            *value = Value::List(Vec::new());
                        }
                        item = Some(String::new());
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
                    fields.push((name_of(empty.name().as_ref())?, Value::Text(String::new())));
                }
                2 => {
                    if let Some((_, value)) = current.as_mut() {
                        match value {
                            Value::List(items) => items.push(String::new()),
                            Value::Text(_) => *value = Value::List(vec![String::new()]),
                        }
                    }
                }
                _ => return Err(XmlError::TooDeep),
            },
            XmlEvent::End(_) => {
                match depth {
                    2 => {
                        if let Some((name, mut value)) = current.take() {
                            if let Value::Text(t) = &mut value {
                                let trimmed = t.trim();
                                if trimmed.len() != t.len() {
                                    *t = trimmed.to_owned();
                                }
                            }
                            fields.push((name, value));
                        }
                    }
                    3 => {
                        if let (Some((_, Value::List(items))), Some(text)) =
                            (current.as_mut(), item.take())
                        {
                            items.push(text.trim().to_owned());
                        }
                    }
                    _ => {}
                }
                depth = depth.saturating_sub(1);
            }
            XmlEvent::Text(t) => {
                // Whitespace between elements is the common case: skip it without decoding.
                let collected = match depth {
                    2 => matches!(current, Some((_, Value::Text(_)))),
                    3 => true,
                    _ => false,
                };
                if !collected && t.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let piece = t
                    .unescape()
                    .map_err(|e| XmlError::Malformed(short(&e.to_string())))?;
                append_text(depth, &mut current, &mut item, &piece)?;
            }
            XmlEvent::CData(c) => {
                let piece = std::str::from_utf8(&c)
                    .map_err(|_| XmlError::Malformed("cdata is not utf-8".into()))?;
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
    Ok(Fields(fields))
}

fn append_text(
    depth: usize,
    current: &mut Option<(String, Value)>,
    item: &mut Option<String>,
    piece: &str,
) -> Result<(), XmlError> {
    match depth {
        0 | 1 if !piece.trim().is_empty() => {
            return Err(XmlError::Malformed("text outside the elements".into()));
        }
        2 => match current.as_mut() {
            Some((_, Value::Text(t))) if t.is_empty() => *t = piece.to_owned(),
            Some((_, Value::Text(t))) => t.push_str(piece),
            Some((name, Value::List(_))) if !piece.trim().is_empty() => {
                return Err(XmlError::Malformed(format!(
                    "element {name} mixes text and elements"
                )));
            }
            _ => {}
        },
        3 => {
            if let Some(t) = item.as_mut() {
                t.push_str(piece);
            }
        }
        _ => {}
    }
    Ok(())
}

fn name_of(raw: &[u8]) -> Result<String, XmlError> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| XmlError::Malformed("element name is not utf-8".into()))
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
        .unwrap();
        assert_eq!(fields.text("A"), Some("x"));
        assert_eq!(fields.text("B"), Some("1"));
        assert_eq!(
            fields.get("L"),
            Some(&Value::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(fields.text("E"), Some(""));
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><xml><A>&lol2;</A></xml>"#;
        assert_eq!(parse(bomb), Err(XmlError::Doctype));
        let undeclared = b"<xml><A>&xxe;</A></xml>";
        assert!(matches!(parse(undeclared), Err(XmlError::Malformed(_))));
        assert_eq!(
            parse(b"<xml><A>&lt;&#20320;</A></xml>").unwrap().text("A"),
            Some("<你")
        );
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
}
