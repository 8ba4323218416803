//! `Event = change_external_tag`: a corp or strategy customer tag (or group) changed.

use super::fields::{Extra, NotTyped, Picker};
use super::header::Header;
use super::json::JsonOut;

/// The `ChangeType` of a `change_external_tag` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TagChange {
    /// `create`: a tag or tag group was created.
    Create,
    /// `update`: a tag or tag group was changed.
    Update,
    /// `delete`: a tag or tag group was deleted (a group's tags go with it, without callbacks).
    Delete,
    /// `shuffle`: tag order changed; resync every tag's `order` (`Id` = the group, or empty = all).
    Shuffle,
}

impl TagChange {
    /// The `ChangeType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            TagChange::Create => "create",
            TagChange::Update => "update",
            TagChange::Delete => "delete",
            TagChange::Shuffle => "shuffle",
        }
    }

    /// Parse a `ChangeType` string.
    pub fn parse(s: &str) -> Option<Self> {
        [
            TagChange::Create,
            TagChange::Update,
            TagChange::Delete,
            TagChange::Shuffle,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// A `change_external_tag` event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagEvent {
    /// The common header.
    pub header: Header,
    /// What happened.
    pub change: TagChange,
    /// `Id`: the tag or tag group (for `shuffle`, the group; empty means every group).
    pub id: Option<String>,
    /// `TagType`: `tag` or `tag_group` (not sent with `shuffle`).
    pub tag_type: Option<String>,
    /// `StrategyId`: the strategy (规则组) the tag belongs to, if any. A non-numeric value is
    /// kept in `extra` (and so as a string in the JSON).
    pub strategy_id: Option<i64>,
    /// Elements this version does not know, in document order.
    pub extra: Extra,
}

impl TagEvent {
    pub(crate) fn take(
        header: Header,
        change: TagChange,
        mut p: Picker<'_>,
    ) -> Result<Self, NotTyped> {
        Ok(TagEvent {
            header,
            change,
            id: p.text("Id")?,
            tag_type: p.text("TagType")?,
            strategy_id: p.number_or_extra("StrategyId"),
            extra: p.rest(),
        })
    }

    pub(crate) fn write(&self, out: &mut JsonOut) {
        out.opt_text("id", &self.id);
        out.opt_text("tag_type", &self.tag_type);
        out.opt_number("strategy_id", self.strategy_id);
        out.extra(&self.extra);
    }
}
