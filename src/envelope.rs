//! The outer XML of a POSTed callback: `<xml><ToUserName/><AgentID/><Encrypt/></xml>`.
//!
//! Only `Encrypt` is trusted (it is covered by `msg_signature`); `ToUserName` and `AgentID` are
//! unsigned hints kept for logs. Element order is free, values may be CDATA or plain text, and
//! `AgentID` may be empty or missing. Parsing goes through the crate's XML reader, which refuses
//! DOCTYPEs.

use std::borrow::Cow;

use crate::xml::{self, XmlError};

/// The parsed outer envelope of an encrypted callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The base64 ciphertext: the only signed part.
    pub encrypt: String,
    /// `ToUserName`: the CorpID (or SuiteID); unsigned, a hint only.
    pub to_user_name: Option<String>,
    /// `AgentID`: the receiving app; unsigned, often empty or missing.
    pub agent_id: Option<String>,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The body is not acceptable XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The body has no (or an empty) `<Encrypt>` element.
    #[error("body has no Encrypt element")]
    MissingEncrypt,
}

impl Envelope {
    /// Parse a callback body.
    ///
    /// # Errors
    /// [`EnvelopeError`] for malformed XML, a DOCTYPE, or a missing `Encrypt`.
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let [encrypt, to_user_name, agent_id] = texts(body, ["Encrypt", "ToUserName", "AgentID"])?;
        Ok(Envelope {
            encrypt: encrypt.ok_or(EnvelopeError::MissingEncrypt)?.into_owned(),
            to_user_name: to_user_name.map(Cow::into_owned),
            agent_id: agent_id.map(Cow::into_owned),
        })
    }

    /// Only the `Encrypt` text of a callback body, borrowed from it where it has no escapes
    /// (what a callback needs: no copy of its ciphertext).
    ///
    /// # Errors
    /// As [`Envelope::parse`].
    pub fn encrypt_of(body: &[u8]) -> Result<Cow<'_, str>, EnvelopeError> {
        let [encrypt] = texts(body, ["Encrypt"])?;
        encrypt.ok_or(EnvelopeError::MissingEncrypt)
    }

    /// Render the envelope as WeCom sends it (CDATA values; `AgentID` only when set).
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(self.encrypt.len() + 128);
        out.push_str("<xml>");
        if let Some(to) = &self.to_user_name {
            push_cdata(&mut out, "ToUserName", to);
        }
        push_cdata(&mut out, "Encrypt", &self.encrypt);
        if let Some(agent) = &self.agent_id {
            push_cdata(&mut out, "AgentID", agent);
        }
        out.push_str("</xml>");
        out
    }
}

/// The first non-empty text of each of `names` in `body`. The reader borrows from the body:
/// a value is copied only where it had escapes to undo.
fn texts<'a, const N: usize>(
    body: &'a [u8],
    names: [&str; N],
) -> Result<[Option<Cow<'a, str>>; N], EnvelopeError> {
    let mut found = [const { None }; N];
    for (name, value) in xml::parse(body)?.0 {
        let xml::ValueRef::Text(text) = value else {
            continue;
        };
        if let Some(i) = names.iter().position(|n| *n == name)
            && found[i].is_none()
            && !text.is_empty()
        {
            found[i] = Some(text);
        }
    }
    Ok(found)
}

fn push_cdata(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str("><![CDATA[");
    // A value can never close the CDATA section early.
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]></");
    out.push_str(name);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_free_and_agent_optional() {
        let e = Envelope::parse(
            b"<xml>\n<Encrypt>abc=</Encrypt><ToUserName><![CDATA[ww1]]></ToUserName><AgentID><![CDATA[]]></AgentID></xml>",
        )
        .unwrap();
        assert_eq!(e.encrypt, "abc=");
        assert_eq!(e.to_user_name.as_deref(), Some("ww1"));
        assert_eq!(e.agent_id, None);
        assert_eq!(Envelope::parse(&e.to_xml().into_bytes()).unwrap(), e);
    }

    #[test]
    fn encrypt_of_borrows_what_parse_copies() {
        let body = b"<xml><Encrypt></Encrypt><ToUserName>ww1</ToUserName><Encrypt><![CDATA[abc=]]></Encrypt><Encrypt>x</Encrypt></xml>";
        let encrypt = Envelope::encrypt_of(body).unwrap();
        assert!(matches!(encrypt, Cow::Borrowed("abc=")), "{encrypt:?}");
        assert_eq!(Envelope::parse(body).unwrap().encrypt, encrypt);
        assert_eq!(
            Envelope::encrypt_of(b"<xml><ToUserName>x</ToUserName></xml>").unwrap_err(),
            EnvelopeError::MissingEncrypt
        );
    }

    #[test]
    fn missing_encrypt_is_named() {
        let err = Envelope::parse(b"<xml><ToUserName>x</ToUserName></xml>").unwrap_err();
        assert_eq!(err.to_string(), "body has no Encrypt element");
    }
}
