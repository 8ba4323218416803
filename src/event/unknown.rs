//! Events this version has no type for: kept as raw XML plus every element.

use super::json::JsonOut;
use crate::xml::{Fields, Value};

/// A callback of a kind this version does not type (other events, plain messages, the
/// third-party `InfoType` form, or a known kind missing a required field).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnknownEvent {
    /// The decrypted XML exactly as received.
    pub raw_xml: String,
    /// Every child element, in document order.
    pub fields: Fields,
}

impl UnknownEvent {
    pub(crate) fn new(raw_xml: String, fields: Fields) -> Self {
        UnknownEvent { raw_xml, fields }
    }

    /// The text of element `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.text(name)
    }

    /// `CreateTime`, or the third-party `TimeStamp`, as a number.
    pub fn create_time(&self) -> Option<i64> {
        self.text("CreateTime")
            .or_else(|| self.text("TimeStamp"))
            .and_then(|t| t.parse().ok())
    }

    pub(crate) fn write(&self, out: &mut JsonOut) {
        for (name, value) in self.fields.iter() {
            match (name, value) {
                ("CreateTime", Value::Text(t)) => match t.parse::<i64>() {
                    Ok(n) => out.insert_or_append("create_time".into(), n.into()),
                    Err(_) => out.raw(name, value),
                },
                _ => out.raw(name, value),
            }
        }
    }
}
