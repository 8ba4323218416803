//! Picking typed values out of a parsed document, keeping what is left over.
//!
//! A typed event takes the elements it knows; everything else stays in its `extra` list, so a
//! field WeCom adds tomorrow still reaches handlers and the JSON form.

use crate::xml::{Fields, Value};

/// Leftover elements of a typed event, in document order.
pub type Extra = Vec<(String, Value)>;

/// Why a document could not become a typed event (it then becomes [`super::UnknownEvent`]).
#[derive(Debug)]
pub(crate) struct NotTyped;

/// Takes named elements out of [`Fields`], remembering which were used.
pub(crate) struct Picker<'a> {
    fields: &'a Fields,
    used: Vec<bool>,
}

impl<'a> Picker<'a> {
    pub(crate) fn new(fields: &'a Fields) -> Self {
        Picker {
            fields,
            used: vec![false; fields.0.len()],
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.fields.0.iter().position(|(n, _)| n == name)
    }

    /// The value of `name`, marked as used.
    pub(crate) fn value(&mut self, name: &str) -> Option<&'a Value> {
        let i = self.position(name)?;
        self.used[i] = true;
        Some(&self.fields.0[i].1)
    }

    /// Optional text; an element that holds a list is not text (the event becomes unknown).
    pub(crate) fn text(&mut self, name: &str) -> Result<Option<String>, NotTyped> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Text(t)) => Ok(Some(t.clone())),
            Some(Value::List(_)) => Err(NotTyped),
        }
    }

    /// Required text.
    pub(crate) fn required(&mut self, name: &str) -> Result<String, NotTyped> {
        self.text(name)?.ok_or(NotTyped)
    }

    /// Optional integer; empty text counts as absent, anything else non-numeric is an error.
    pub(crate) fn number(&mut self, name: &str) -> Result<Option<i64>, NotTyped> {
        match self.text(name)? {
            None => Ok(None),
            Some(t) if t.is_empty() => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|_| NotTyped),
        }
    }

    /// Optional integer that may also arrive as a placeholder or other text (official samples
    /// show `<StrategyId><![CDATA[STRATEGY_ID]]></StrategyId>`): a non-number is left among the
    /// extras, as text, instead of making the event unknown.
    pub(crate) fn number_or_extra(&mut self, name: &str) -> Option<i64> {
        let i = self.position(name)?;
        let Value::Text(text) = &self.fields.0[i].1 else {
            return None;
        };
        let parsed = text.trim().parse().ok();
        if parsed.is_some() || text.trim().is_empty() {
            self.used[i] = true;
        }
        parsed
    }

    /// A list from repeated children (`<Item>`) or the legacy comma-joined text.
    pub(crate) fn list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.value(name)? {
            Value::List(items) => Some(items.clone()),
            Value::Text(t) if t.is_empty() => Some(Vec::new()),
            Value::Text(t) => Some(t.split(',').map(|s| s.trim().to_owned()).collect()),
        }
    }

    /// Everything not taken.
    pub(crate) fn rest(self) -> Extra {
        self.fields
            .0
            .iter()
            .zip(self.used)
            .filter(|(_, used)| !used)
            .map(|(field, _)| field.clone())
            .collect()
    }
}
