//! Picking typed values out of a parsed document, keeping what is left over.
//!
//! A typed event takes the elements it knows; everything else stays in its `extra` list, so a
//! field WeCom adds tomorrow still reaches handlers and the JSON form. The picker reads the
//! document as borrowed by [`crate::xml::parse_str`]: each value a typed event keeps is copied
//! once, into the event, and nothing is copied for the elements it only looks at.

use crate::xml::{FieldsRef, MAX_FIELDS, Value, ValueRef};

/// Leftover elements of a typed event, in document order.
pub type Extra = Vec<(String, Value)>;

/// Why a document could not become a typed event (it then becomes [`super::UnknownEvent`]).
#[derive(Debug)]
pub(crate) struct NotTyped;

/// One bit per element of a document (the reader refuses more than [`MAX_FIELDS`]).
const USED_WORDS: usize = MAX_FIELDS.div_ceil(64);

/// Takes named elements out of [`FieldsRef`], remembering which were used.
pub(crate) struct Picker<'a> {
    fields: &'a [(&'a str, ValueRef<'a>)],
    used: [u64; USED_WORDS],
}

impl<'a> Picker<'a> {
    pub(crate) fn new(fields: &'a FieldsRef<'a>) -> Self {
        Picker {
            fields: &fields.0,
            used: [0; USED_WORDS],
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|(n, _)| *n == name)
    }

    fn mark(&mut self, i: usize) {
        if let Some(word) = self.used.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    fn is_used(&self, i: usize) -> bool {
        self.used
            .get(i / 64)
            .is_some_and(|word| word & (1 << (i % 64)) != 0)
    }

    /// The value of `name`, marked as used.
    fn value(&mut self, name: &str) -> Option<&'a ValueRef<'a>> {
        let i = self.position(name)?;
        self.mark(i);
        self.fields.get(i).map(|(_, v)| v)
    }

    /// The text of `name`, marked as used, without copying it; `None` when it is missing or a
    /// list. For the discriminators (`Event`, `ChangeType`), which only select the type.
    pub(crate) fn discriminator(&mut self, name: &str) -> Option<&'a str> {
        self.value(name)?.as_text()
    }

    /// Optional text; an element that holds a list is not text (the event becomes unknown).
    pub(crate) fn text(&mut self, name: &str) -> Result<Option<String>, NotTyped> {
        match self.value(name) {
            None => Ok(None),
            Some(ValueRef::Text(t)) => Ok(Some(t.as_ref().to_owned())),
            Some(ValueRef::List(_)) => Err(NotTyped),
        }
    }

    /// Required text.
    pub(crate) fn required(&mut self, name: &str) -> Result<String, NotTyped> {
        self.text(name)?.ok_or(NotTyped)
    }

    /// Optional integer; empty text counts as absent, anything else non-numeric is an error.
    pub(crate) fn number(&mut self, name: &str) -> Result<Option<i64>, NotTyped> {
        match self.value(name) {
            None => Ok(None),
            Some(ValueRef::Text(t)) if t.is_empty() => Ok(None),
            Some(ValueRef::Text(t)) => t.parse().map(Some).map_err(|_| NotTyped),
            Some(ValueRef::List(_)) => Err(NotTyped),
        }
    }

    /// Optional integer that may also arrive as a placeholder or other text (official samples
    /// show `<StrategyId><![CDATA[STRATEGY_ID]]></StrategyId>`): a non-number is left among the
    /// extras, as text, instead of making the event unknown.
    pub(crate) fn number_or_extra(&mut self, name: &str) -> Option<i64> {
        let i = self.position(name)?;
        let Some((_, ValueRef::Text(text))) = self.fields.get(i) else {
            return None;
        };
        let parsed = text.trim().parse().ok();
        if parsed.is_some() || text.trim().is_empty() {
            self.mark(i);
        }
        parsed
    }

    /// A list from repeated children (`<Item>`) or the legacy comma-joined text.
    pub(crate) fn list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.value(name)? {
            ValueRef::List(items) => Some(items.iter().map(|i| i.as_ref().to_owned()).collect()),
            ValueRef::Text(t) if t.is_empty() => Some(Vec::new()),
            ValueRef::Text(t) => Some(t.split(',').map(|s| s.trim().to_owned()).collect()),
        }
    }

    /// Everything not taken.
    pub(crate) fn rest(self) -> Extra {
        self.fields
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_used(*i))
            .map(|(_, (name, value))| ((*name).to_owned(), value.to_value()))
            .collect()
    }
}
